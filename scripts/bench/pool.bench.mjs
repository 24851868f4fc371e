// Pool setup/teardown: tapnet (both firewall backends) against the original's
// one-process-per-command sequence, in one sandbox, one run. Prints JSON on stdout.
// Processes are counted by the PID namespace's PID cursor: the sandbox has its own PID
// namespace, so the PIDs handed out during a step are the processes (and threads) it made.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildPolicy, createFirewall } from '../../packages/firewall/dist/index.js';
import { createTapPool, planPool } from '../../packages/tap-pool/dist/index.js';
import { Pool } from '../../packages/tapnet/dist/index.js';
import { originalSetup, originalTeardown, replay } from './original-replay.mjs';

const sizes = (process.env.BENCH_SIZES ?? '1,10,100,250').split(',').map(Number);
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const UPLINK = 'bup0';

// The last PID handed out in this PID namespace (the last field of /proc/loadavg).
const pidCursor = () => Number(readFileSync('/proc/loadavg', 'utf8').trim().split(' ').at(-1));

async function measure(fn) {
  const pid0 = pidCursor();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  return { ms, pids: pidCursor() - pid0 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function repeat(fn) {
  const runs = [];
  for (let i = 0; i < repeats; i++) runs.push(await fn());
  return {
    setupMs: median(runs.map((r) => r.setup.ms)),
    teardownMs: median(runs.map((r) => r.teardown.ms)),
    setupPids: median(runs.map((r) => r.setup.pids)),
    teardownPids: median(runs.map((r) => r.teardown.pids)),
  };
}

execFileSync('ip', ['link', 'add', UPLINK, 'type', 'bridge']);
execFileSync('ip', ['addr', 'add', '198.51.100.2/24', 'dev', UPLINK]);
execFileSync('ip', ['link', 'set', UPLINK, 'up']);

const results = { sizes, repeats, original: {}, network: {}, pool: {} };
for (const n of sizes) {
  results.original[n] = await repeat(async () => ({
    setup: await measure(() => replay(originalSetup(n, UPLINK))),
    teardown: await measure(() => replay(originalTeardown(n, UPLINK))),
  }));
  for (const backend of ['nft', 'iptables']) {
    // Like for like with the replay: devices + firewall only.
    results.network[backend] ??= {};
    results.pool[backend] ??= {};
    results.network[backend][n] = await repeat(async () => {
      const plan = planPool({ size: n, prefix: 'bn', stateDir: '/run/tapnet' });
      const firewall = createFirewall({ backend });
      const policy = buildPolicy({
        prefix: 'bn',
        networks: plan.networks.map((x) => ({
          device: x.device,
          subnet: x.subnet,
          gateway: x.gateway,
        })),
        uplink: UPLINK,
      });
      let taps;
      const setup = await measure(async () => {
        taps = await createTapPool(plan);
        await firewall.apply(policy);
      });
      const teardown = await measure(async () => {
        await firewall.remove('bn');
        await taps.remove();
      });
      return { setup, teardown };
    });
    // The whole pool: devices, firewall, dnsmasq ready on every gateway, metadata server.
    results.pool[backend][n] = await repeat(async () => {
      let pool;
      const setup = await measure(async () => {
        pool = await Pool.create({ size: n, prefix: 'bp', firewall: backend, uplink: UPLINK });
      });
      const teardown = await measure(() => pool.dispose());
      return { setup, teardown };
    });
  }
  process.stderr.write(`pool bench: ${n} networks done\n`);
}

// Acquire/release on a pool of 100: the bookkeeping a VM engine does per VM.
{
  const pool = await Pool.create({ size: 100, prefix: 'ba', uplink: UPLINK });
  const ops = Number(process.env.BENCH_ACQUIRE_OPS ?? 50_000);
  const lat = new Float64Array(ops);
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) {
    const s = performance.now();
    const network = pool.network();
    network.setHandler(() => new Response('x'));
    network.release();
    lat[i] = performance.now() - s;
  }
  const total = performance.now() - t0;
  lat.sort();
  results.acquire = {
    ops,
    opsPerSec: Math.round((ops / total) * 1000),
    p50us: Math.round(lat[Math.floor(ops * 0.5)] * 1000 * 10) / 10,
    p99us: Math.round(lat[Math.floor(ops * 0.99)] * 1000 * 10) / 10,
  };
  await pool.dispose();
}
process.stdout.write(`${JSON.stringify(results)}\n`);
