// Pool setup/teardown: tapnet (both firewall backends) against the original's
// one-process-per-command sequence, in one sandbox, one run; then network()/release()
// throughput and latency. Prints JSON on stdout.
//
// Processes are counted by the PID namespace's PID cursor (lib.ts `pidCursor`): the sandbox
// has its own PID namespace, so the PIDs handed out during a step are the processes it made,
// plus any threads they started (a thread takes a PID too). A warm-up round before measuring
// lets Node start its own threads (libuv's pool) outside the counted steps.
//
// Env: BENCH_SIZES (default 1,10,100,250), BENCH_REPEATS (3), BENCH_ACQUIRE_OPS (50000),
// BENCH_ACQUIRE_POOL (100).
import { execFileSync } from 'node:child_process';
import { buildPolicy, createFirewall } from '../../packages/firewall/dist/index.js';
import { createTapPool, planPool } from '../../packages/tap-pool/dist/index.js';
import { Pool } from '../../packages/tapnet/dist/index.js';
import {
  assertSandbox,
  loadavg,
  median,
  numberList,
  percentile,
  pidCursor,
  progress,
  round,
} from './lib.ts';
import { originalSetup, originalTeardown, replay } from './original-replay.ts';

assertSandbox();
const sizes = numberList(process.env.BENCH_SIZES, '1,10,100,250');
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const acquireOps = Number(process.env.BENCH_ACQUIRE_OPS ?? 50_000);
const acquirePoolSize = Number(process.env.BENCH_ACQUIRE_POOL ?? 100);
const UPLINK = 'bup0';

interface Step {
  ms: number;
  pids: number;
}
interface Run {
  setup: Step;
  teardown: Step;
}
type Backend = 'nft' | 'iptables';
const BACKENDS: readonly Backend[] = ['nft', 'iptables'];

async function measure(fn: () => Promise<unknown>): Promise<Step> {
  const pid0 = pidCursor();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  return { ms: round(ms, 1), pids: pidCursor() - pid0 };
}

function summarize(runs: Run[]): Record<string, unknown> {
  const pick = (step: keyof Run, key: keyof Step) => runs.map((r) => r[step][key]);
  const out: Record<string, unknown> = { runs };
  for (const step of ['setup', 'teardown'] as const) {
    const ms = pick(step, 'ms');
    out[`${step}Ms`] = round(median(ms), 1);
    out[`${step}MsMin`] = Math.min(...ms);
    out[`${step}MsMax`] = Math.max(...ms);
    out[`${step}Pids`] = median(pick(step, 'pids'));
  }
  return out;
}

/** Devices + firewall only: the same work the replay does, like for like. */
async function tapnetDevicesAndFirewall(n: number, backend: Backend): Promise<Run> {
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
  let taps: Awaited<ReturnType<typeof createTapPool>> | undefined;
  const setup = await measure(async () => {
    taps = await createTapPool(plan);
    await firewall.apply(policy);
  });
  const teardown = await measure(async () => {
    await firewall.remove('bn');
    await taps?.remove();
  });
  return { setup, teardown };
}

/** The whole pool: devices, firewall, dnsmasq answering on every gateway, metadata server. */
async function tapnetPool(n: number, backend: Backend): Promise<Run> {
  let pool: Pool | undefined;
  const setup = await measure(async () => {
    pool = await Pool.create({
      size: n,
      prefix: 'bp',
      firewall: backend,
      uplink: UPLINK,
      upstreamDns: [],
    });
  });
  const teardown = await measure(async () => pool?.dispose());
  return { setup, teardown };
}

execFileSync('ip', ['link', 'add', UPLINK, 'type', 'bridge']);
execFileSync('ip', ['addr', 'add', '198.51.100.2/24', 'dev', UPLINK]);
execFileSync('ip', ['link', 'set', UPLINK, 'up']);

type Summary = Record<string, unknown>;
const results: {
  benchmark: string;
  sizes: number[];
  repeats: number;
  loadavgStart: string;
  loadavgEnd?: string;
  original: Record<number, Summary>;
  originalCommands: Record<number, { setup: number; teardown: number }>;
  network: Record<Backend, Record<number, Summary>>;
  pool: Record<Backend, Record<number, Summary>>;
  acquire?: Record<string, unknown>;
} = {
  benchmark: 'pool',
  sizes,
  repeats,
  loadavgStart: loadavg(),
  original: {},
  originalCommands: {},
  network: { nft: {}, iptables: {} },
  pool: { nft: {}, iptables: {} },
};

// Warm-up, not counted: loads every module, starts Node's thread pool, primes the tools' caches.
for (const backend of BACKENDS) {
  await tapnetDevicesAndFirewall(1, backend);
  await tapnetPool(1, backend);
}
await replay(originalSetup(1, UPLINK));
await replay(originalTeardown(1, UPLINK));

for (const n of sizes) {
  results.originalCommands[n] = {
    setup: originalSetup(n, UPLINK).length,
    teardown: originalTeardown(n, UPLINK).length,
  };
  // Interleaved per repeat, so drift on a shared machine hits baseline and tapnet alike.
  const runs: {
    original: Run[];
    network: Record<Backend, Run[]>;
    pool: Record<Backend, Run[]>;
  } = {
    original: [],
    network: { nft: [], iptables: [] },
    pool: { nft: [], iptables: [] },
  };
  for (let r = 0; r < repeats; r++) {
    runs.original.push({
      setup: await measure(() => replay(originalSetup(n, UPLINK))),
      teardown: await measure(() => replay(originalTeardown(n, UPLINK))),
    });
    for (const backend of BACKENDS) {
      runs.network[backend].push(await tapnetDevicesAndFirewall(n, backend));
      runs.pool[backend].push(await tapnetPool(n, backend));
    }
  }
  results.original[n] = summarize(runs.original);
  for (const backend of BACKENDS) {
    results.network[backend][n] = summarize(runs.network[backend]);
    results.pool[backend][n] = summarize(runs.pool[backend]);
  }
  progress(`pool bench: ${n} networks done (loadavg ${loadavg()})`);
}

// network()/release(): the bookkeeping a VM engine does per VM, on a live pool.
function latencySummary(lat: ArrayLike<number>, totalMs: number): Record<string, number> {
  const sorted = Float64Array.from(lat).sort();
  return {
    ops: sorted.length,
    opsPerSec: Math.round((sorted.length / totalMs) * 1000),
    p50us: round(percentile(sorted, 50) * 1000, 1),
    p99us: round(percentile(sorted, 99) * 1000, 1),
    maxUs: round((sorted[sorted.length - 1] ?? Number.NaN) * 1000, 1),
  };
}
{
  const pool = await Pool.create({
    size: acquirePoolSize,
    prefix: 'ba',
    uplink: UPLINK,
    upstreamDns: [],
  });
  const handler = () => new Response('x');
  const acquire: Record<string, unknown> = { poolSize: acquirePoolSize };
  results.acquire = acquire;

  // 1. One VM at a time: network() + setHandler() + release().
  {
    const lat = new Float64Array(acquireOps);
    const t0 = performance.now();
    for (let i = 0; i < acquireOps; i++) {
      const s = performance.now();
      const network = pool.network();
      network.setHandler(handler);
      network.release();
      lat[i] = performance.now() - s;
    }
    acquire.cycle = latencySummary(lat, performance.now() - t0);
  }
  // 2. Fill and drain: take every network, then give them all back (the pool at its limit).
  {
    const rounds = Math.max(1, Math.floor(acquireOps / acquirePoolSize / 2));
    const acq: number[] = [];
    const rel: number[] = [];
    let acqMs = 0;
    let relMs = 0;
    for (let r = 0; r < rounds; r++) {
      const held: ReturnType<typeof pool.network>[] = [];
      let t0 = performance.now();
      for (let i = 0; i < acquirePoolSize; i++) {
        const s = performance.now();
        const network = pool.network();
        network.setHandler(handler);
        held.push(network);
        acq.push(performance.now() - s);
      }
      acqMs += performance.now() - t0;
      t0 = performance.now();
      for (const network of held) {
        const s = performance.now();
        network.release();
        rel.push(performance.now() - s);
      }
      relMs += performance.now() - t0;
    }
    acquire.fillAcquire = latencySummary(acq, acqMs);
    acquire.fillRelease = latencySummary(rel, relMs);
  }
  // 3. The waiting form: await acquire() with every network free.
  {
    const ops = Math.min(acquireOps, 20_000);
    const lat = new Float64Array(ops);
    const t0 = performance.now();
    for (let i = 0; i < ops; i++) {
      const s = performance.now();
      const network = await pool.acquire();
      network.release();
      lat[i] = performance.now() - s;
    }
    acquire.asyncCycle = latencySummary(lat, performance.now() - t0);
  }
  // Baseline, same loop shape: the original's bookkeeping (a list of networks with an in-use
  // flag, a linear scan for the first free one under a lock, the handler a field).
  {
    interface Entry {
      i: number;
      inUse: boolean;
      handler: (() => Response) | undefined;
    }
    const networks: Entry[] = Array.from({ length: acquirePoolSize }, (_, i) => ({
      i,
      inUse: false,
      handler: undefined,
    }));
    let locked = false;
    const take = () => {
      if (locked) throw new Error('re-entered');
      locked = true;
      try {
        const n = networks.find((x) => !x.inUse);
        if (!n) throw new Error('all networks in use');
        n.inUse = true;
        return n;
      } finally {
        locked = false;
      }
    };
    const give = (n: Entry) => {
      n.handler = undefined;
      n.inUse = false;
    };
    const lat = new Float64Array(acquireOps);
    const t0 = performance.now();
    for (let i = 0; i < acquireOps; i++) {
      const s = performance.now();
      const n = take();
      n.handler = handler;
      give(n);
      lat[i] = performance.now() - s;
    }
    acquire.baselineCycle = latencySummary(lat, performance.now() - t0);
  }
  await pool.dispose();
}
results.loadavgEnd = loadavg();
process.stdout.write(`${JSON.stringify(results)}\n`);
