// The firewall alone at 1 … 4096 networks on both backends, in a sandbox of its own:
// apply, re-apply over our own rules, status (the drift check), a watch's repair after
// someone flushed our rules, remove; and a VM stand-in's request latency through the ruleset
// (a veth peer in a namespace, new TCP connection per request, to the metadata address) so a
// big pool is not a slow pool. Prints one JSON object on stdout, progress on stderr.
//
//   node packages/firewall/bench/scale.ts [--sizes 1,10,100,1000,4096] [--backends nft,iptables]
//                                         [--requests 400]
//
// (or BENCH_FW_SIZES / BENCH_FW_BACKENDS / BENCH_FW_REQUESTS in the environment, as the
// `pnpm bench` harness passes sizes). Inside the harness's sandbox (TAPNET_SANDBOX=1) it runs
// as it is; otherwise it re-executes itself in fresh network, PID and mount namespaces (never
// the host's rules).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs, promisify } from 'node:util';
import { sandboxArgv } from '../../../scripts/sandbox.ts';
import { buildPolicy, createFirewall, type Policy } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: process.env.BENCH_FW_SIZES ?? '1,10,100,1000,4096' },
    backends: { type: 'string', default: process.env.BENCH_FW_BACKENDS ?? 'nft,iptables' },
    requests: { type: 'string', default: process.env.BENCH_FW_REQUESTS ?? '400' },
  },
});

// Outside the harness's sandbox, run again inside one made the way the test runner and the
// benchmark harness make theirs (scripts/sandbox.ts: own /sys, /run/netns, up loopback).
if (process.env.TAPNET_SANDBOX !== '1') {
  const argv = sandboxArgv([
    process.execPath,
    ...process.execArgv,
    import.meta.filename,
    ...process.argv.slice(2),
  ]);
  const result = spawnSync(argv[0]!, argv.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, TAPNET_HOST_NETNS: readlinkSync('/proc/self/ns/net') },
  });
  process.exit(result.status ?? 1);
}

const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { stdio: 'pipe' });
const progress = (message: string) =>
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const ms = (start: bigint) => Math.round(Number(process.hrtime.bigint() - start) / 1e4) / 100;
const timed = async (fn: () => Promise<unknown>) => {
  const start = process.hrtime.bigint();
  await fn();
  return ms(start);
};

const PREFIX = 'fb';
/** /28 networks in 10.200.0.0/16: network i is 10.200.(i >> 4).((i & 15) << 4)/28. */
function policyOf(size: number): Policy {
  const networks = Array.from({ length: size }, (_, i) => {
    const base = `10.200.${i >> 4}.`;
    const low = (i & 15) << 4;
    return { device: `fb${i}`, subnet: `${base}${low}/28`, gateway: `${base}${low + 1}` };
  });
  return buildPolicy({ prefix: PREFIX, networks, uplink: null });
}

/** Breaks our rules the way a firewall service's reload would. */
function breakRules(backend: 'nft' | 'iptables'): void {
  if (backend === 'nft') sh('nft', 'flush', 'ruleset');
  else sh('iptables', '-t', 'filter', '-F', `TAPNET-${PREFIX.toUpperCase()}-INPUT`);
}

// The VM stand-in: a veth whose host end is the policy's LAST device (the worst case for a
// ruleset that is walked network by network), its peer in namespace `vm` with a subnet address.
const METADATA = '169.254.169.254';
sh('ip', 'addr', 'add', `${METADATA}/32`, 'dev', 'lo');
const server = createServer((_req, res) => res.end('ok\n'));
await new Promise<void>((resolve) => server.listen(80, METADATA, resolve));

function plugVm(policy: Policy): void {
  const last = policy.networks.at(-1)!;
  const [a, b, c, d] = last.gateway.split('.').map(Number) as [number, number, number, number];
  const vmAddress = `${a}.${b}.${c}.${d + 1}`;
  spawnSync('ip', ['netns', 'del', 'vm']);
  sh('ip', 'netns', 'add', 'vm');
  sh('ip', 'link', 'add', last.device, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'vm');
  sh('ip', 'addr', 'add', `${last.gateway}/28`, 'dev', last.device);
  sh('ip', 'link', 'set', last.device, 'up');
  sh('ip', '-n', 'vm', 'link', 'set', 'lo', 'up');
  sh('ip', '-n', 'vm', 'addr', 'add', `${vmAddress}/28`, 'dev', 'eth0');
  sh('ip', '-n', 'vm', 'link', 'set', 'eth0', 'up');
  sh('ip', '-n', 'vm', 'route', 'add', 'default', 'via', last.gateway);
}

function unplugVm(policy: Policy): void {
  spawnSync('ip', ['link', 'del', policy.networks.at(-1)!.device]);
  spawnSync('ip', ['netns', 'del', 'vm']);
}

// One new TCP connection per request (as a guest's curl), sequential; the client runs in the
// VM's namespace and reports each request's milliseconds.
const CLIENT = `
const http = require('node:http');
const n = Number(process.argv[1]);
const out = [];
(async () => {
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await new Promise((resolve, reject) => {
      http.get({ host: '${METADATA}', port: 80, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

// Asynchronous: the server answering it runs in this process.
async function latency(requests: number): Promise<{ p50: number; p90: number; p99: number }> {
  const { stdout: raw } = await promisify(execFile)(
    'ip',
    ['netns', 'exec', 'vm', process.execPath, '-e', CLIENT, String(requests)],
    { encoding: 'utf8' },
  );
  const sorted = (JSON.parse(raw) as number[]).slice(requests / 10).sort((x, y) => x - y);
  const at = (p: number) =>
    Math.round(
      sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! * 1000,
    ) / 1000;
  return { p50: at(50), p90: at(90), p99: at(99) };
}

const sizes = values.sizes.split(',').map(Number);
const backends = values.backends.split(',') as ('nft' | 'iptables')[];
const requests = Number(values.requests);
const results: Record<string, unknown>[] = [];
const loadStart = loadavg();
progress(`load ${loadStart}`);
for (const backend of backends) {
  for (const size of sizes) {
    const policy = policyOf(size);
    const firewall = createFirewall({ backend });
    plugVm(policy);
    const apply = await timed(() => firewall.apply(policy));
    const reapply = await timed(() => firewall.apply(policy));
    const status = await timed(async () => {
      const s = await firewall.status(policy);
      if (!s.intact) throw new Error(`Expected our ${backend} rules intact after apply`);
    });
    const perPacket = await latency(requests);
    // A watch's repair: from breaking our rules to its re-apply done (it reports when).
    let drifted: (at: Date) => void = () => {};
    const repaired = new Promise<Date>((resolve) => {
      drifted = resolve;
    });
    const watch = await firewall.watch(policy, {
      interval: 100,
      onDrift: (e) => drifted(e.reappliedAt),
    });
    // Let the watch's first check (at start) pass before breaking the rules.
    await firewall.status(policy);
    const broken = Date.now();
    breakRules(backend);
    const watchRepair = (await repaired).getTime() - broken;
    await watch.close();
    const remove = await timed(() => firewall.remove());
    unplugVm(policy);
    const row = {
      backend,
      size,
      applyMs: apply,
      reapplyMs: reapply,
      statusMs: status,
      watchRepairMs: watchRepair,
      removeMs: remove,
      perPacket,
    };
    progress(JSON.stringify(row));
    results.push(row);
  }
}
server.close();
process.stdout.write(
  `${JSON.stringify({ loadStart, loadEnd: loadavg(), requests, results }, null, 2)}\n`,
);
