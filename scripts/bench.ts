// `pnpm bench`: runs every benchmark under scripts/bench/ (and the metadata proxy's own) in a
// sandbox of its own (fresh network, PID and mount namespaces, as the test command makes them),
// collects the JSON each prints, saves it, and writes BENCHMARKS.md from it. Every number in
// BENCHMARKS.md comes from that JSON.
//
// Usage: node scripts/bench.ts [--quick] [--only NAME,...] [--out FILE] [--render RESULTS.json]
//   --quick   small sizes and few repeats (a smoke test, about 1-2 minutes)
//   --only    run some benchmarks: pool, proxy, proxy-networks, proxy-memory, guest, noisy
//   --out     where to write the report (default BENCHMARKS.md at the repository root)
//   --render  write the report from a saved results file, measuring nothing
// Raw results: .test-results/bench/<time>.json (git-ignored).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type {
  BenchRecord,
  BenchResults,
  GuestResult,
  LatencySummary,
  LoadStats,
  Machine,
  NoisyKind,
  NoisyResult,
  PoolResult,
  ProxyMemoryResult,
  ProxyNetworksResult,
  ProxyResult,
  SampleStats,
  StepSummary,
} from './bench/results.ts';
import { sandboxArgv } from './sandbox.ts';

const root = resolve(import.meta.dirname, '..');
process.chdir(root);
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(root, 'BENCHMARKS.md') },
    render: { type: 'string' },
  },
});

const TIMEOUT_MS = 30 * 60_000;
const quick = flags.quick;

/** The benchmarks: argv (run in a sandbox) and env for a full and a quick run. */
interface Benchmark {
  name: string;
  argv: string[];
  env: Record<string, string>;
}

const benchmarks: Benchmark[] = [
  {
    name: 'pool',
    argv: [process.execPath, 'scripts/bench/pool.bench.ts'],
    env: quick
      ? { BENCH_SIZES: '1,10', BENCH_REPEATS: '1', BENCH_ACQUIRE_OPS: '5000' }
      : { BENCH_SIZES: '1,10,100,250', BENCH_REPEATS: '3', BENCH_ACQUIRE_OPS: '50000' },
  },
  {
    name: 'proxy',
    argv: [
      process.execPath,
      'packages/metadata-proxy/bench/proxy.bench.ts',
      ...(quick
        ? ['--duration-ms', '300', '--rounds', '2']
        : ['--duration-ms', '2000', '--rounds', '5']),
    ],
    env: {},
  },
  {
    name: 'proxy-networks',
    argv: [process.execPath, 'scripts/bench/proxy-networks.bench.ts'],
    env: quick
      ? { BENCH_PROXY_DURATION_MS: '300', BENCH_PROXY_ROUNDS: '2' }
      : { BENCH_PROXY_DURATION_MS: '2000', BENCH_PROXY_ROUNDS: '5' },
  },
  {
    name: 'proxy-memory',
    argv: [process.execPath, '--expose-gc', 'scripts/bench/proxy-networks.bench.ts', '--memory'],
    env: quick ? { BENCH_MEMORY_SIZES: '50' } : { BENCH_MEMORY_SIZES: '50,250' },
  },
  {
    name: 'guest',
    argv: [process.execPath, 'scripts/bench/guest.bench.ts'],
    env: quick
      ? {
          BENCH_BOOTS: '1',
          BENCH_DEBIAN_BOOTS: '1',
          BENCH_DHCP_SAMPLES: '3',
          BENCH_DNS_QUERIES: '300',
        }
      : {
          BENCH_BOOTS: '3',
          BENCH_DEBIAN_BOOTS: '2',
          BENCH_DHCP_SAMPLES: '10',
          BENCH_DNS_QUERIES: '2000',
        },
  },
  {
    name: 'noisy',
    argv: [process.execPath, 'scripts/bench/noisy.bench.ts'],
    env: quick ? { BENCH_NOISY_SECONDS: '15' } : { BENCH_NOISY_SECONDS: '30' },
  },
];

// ---------------------------------------------------------------------------------------------
// Measuring

function firstLine(argv: string[]): string | undefined {
  try {
    return execFileSync(argv[0]!, argv.slice(1), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .split('\n')
      .find((l) => l.trim())
      ?.trim();
  } catch (error) {
    const e = error as { code?: string; status?: number };
    return `unavailable (${e.code ?? e.status})`;
  }
}

/** The commit measured, with `+dirty` when the work tree had changes. */
function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    memAvailableGiB:
      Math.round((Number(/^MemAvailable:\s*(\d+)/m.exec(meminfo)?.[1] ?? 0) / 2 ** 20) * 10) / 10,
    kernel: firstLine(['uname', '-r']),
    node: process.version,
    qemu: firstLine(['qemu-system-x86_64', '--version']),
    nft: firstLine(['nft', '--version']),
    iptables: firstLine(['iptables', '--version']),
    dnsmasq: firstLine(['dnsmasq', '--version']),
    busybox: firstLine(['busybox']),
    kvm: existsSync('/dev/kvm') ? 'present (the guest benchmark uses TCG regardless)' : 'absent',
  };
}

function runSandboxed(bench: Benchmark, hostNetns: string): Promise<BenchRecord> {
  return new Promise((resolveRun) => {
    const argv = sandboxArgv(bench.argv);
    const started = Date.now();
    const loadavgBefore = readFileSync('/proc/loadavg', 'utf8').trim();
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...bench.env, TAPNET_HOST_NETNS: hostNetns },
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const record: BenchRecord = {
        name: bench.name,
        argv: bench.argv.map((a) => (a === process.execPath ? 'node' : a)),
        env: bench.env,
        exit: code ?? signal,
        seconds: Math.round((Date.now() - started) / 100) / 10,
        loadavgBefore,
        loadavgAfter: readFileSync('/proc/loadavg', 'utf8').trim(),
      };
      try {
        record.result = parseOutput(stdout);
      } catch (error) {
        record.error = `no JSON result (exit ${code ?? signal}): ${(error as Error).message}; stdout: ${stdout.slice(-500)}`;
      }
      if (code !== 0 && !record.error) record.error = `exited ${code ?? signal}`;
      resolveRun(record);
    });
  });
}

/** The whole output as JSON (pretty-printed results), else its last JSON line. */
function parseOutput(stdout: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch {
    const lines = stdout.trim().split('\n').reverse();
    for (const line of lines) {
      try {
        return JSON.parse(line);
      } catch {}
    }
    throw new Error('nothing parsed');
  }
}

async function measureAll(): Promise<BenchResults> {
  if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun')) {
    console.error('bench needs root and /dev/net/tun (it makes devices in sandboxes)');
    process.exit(2);
  }
  for (const pkg of ['tap-pool', 'firewall', 'dhcp-dns', 'metadata-proxy', 'tapnet']) {
    if (!existsSync(join(root, 'packages', pkg, 'dist/index.js'))) {
      console.error(`packages/${pkg}/dist is missing: run \`pnpm build\` first`);
      process.exit(2);
    }
  }
  const only = flags.only?.split(',');
  const selected = benchmarks.filter((b) => !only || only.includes(b.name));
  const hostNetns = readlinkSync('/proc/self/ns/net');
  const results: BenchResults = {
    quick,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: machine(),
    loadavgBefore: readFileSync('/proc/loadavg', 'utf8').trim(),
    benchmarks: {},
  };
  for (const bench of selected) {
    console.error(`\n=== ${bench.name} (loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()})`);
    const record = await runSandboxed(bench, hostNetns);
    results.benchmarks[bench.name] = record;
    console.error(
      `=== ${bench.name}: ${record.error ? `FAILED: ${record.error}` : 'ok'} in ${record.seconds} s`,
    );
  }
  results.loadavgAfter = readFileSync('/proc/loadavg', 'utf8').trim();
  return results;
}

// ---------------------------------------------------------------------------------------------
// Rendering: everything below reads only the results object.

const fmt = (n: number | null | undefined, digits = 0): string =>
  n === undefined || n === null || Number.isNaN(n)
    ? '–'
    : Number(n).toLocaleString('en-US', {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
const pct = (a: number, b: number | undefined): string => (b ? `${fmt((a / b) * 100, 1)} %` : '–');
const ratio = (a: number, b: number | undefined): string => (b ? `${fmt(a / b, 2)}×` : '–');
const table = (head: string[], rows: (string | undefined)[][]): string =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

/** A benchmark's output as its result type: the results file is this script's own output. */
function resultOf<T>(record: BenchRecord | undefined): T | undefined {
  return record?.result as T | undefined;
}

function renderFailed(record: BenchRecord | undefined): string {
  return `**Not measured in this run**: ${record ? record.error : 'not selected'}.`;
}

function renderPool(record: BenchRecord | undefined): string {
  const r = resultOf<PoolResult>(record);
  if (!r) return renderFailed(record);
  const sizes = r.sizes;
  const out: string[] = [];
  out.push(
    `Sizes ${sizes.join(', ')}; median of ${r.repeats} run(s) each, the original, tapnet (nft) and tapnet (iptables) interleaved per repeat. ` +
      '"tasks" = PIDs handed out in the sandbox\'s PID namespace during the step (processes, plus any threads they start).',
  );
  for (const step of ['setup', 'teardown'] as const) {
    out.push(
      `\n**Devices + firewall, ${step}** (like for like with the replay: TAPs, addresses, links, rules${step === 'setup' ? ', sysctls' : ''})\n`,
    );
    const rows = sizes.map((n) => {
      const o = r.original[n]!;
      const row = [
        String(n),
        `${fmt(o[`${step}Ms`])} ms`,
        fmt(o[`${step}Pids`]),
        fmt(r.originalCommands?.[n]?.[step]),
      ];
      for (const b of ['nft', 'iptables'] as const) {
        const t = r.network[b][n]!;
        row.push(
          `${fmt(t[`${step}Ms`], 1)} ms`,
          fmt(t[`${step}Pids`]),
          pct(t[`${step}Ms`], o[`${step}Ms`]),
        );
      }
      return row;
    });
    out.push(
      table(
        [
          'networks',
          'original (replayed)',
          'tasks',
          'commands',
          'tapnet nft',
          'tasks',
          '% of original',
          'tapnet iptables',
          'tasks',
          '% of original',
        ],
        rows,
      ),
    );
  }
  out.push(
    "\n**Full `Pool.create` / `dispose`** (adds dnsmasq answering DNS on every gateway and the metadata server; compared with the replay's devices + firewall, which has neither)\n",
  );
  out.push(
    table(
      [
        'networks',
        'original setup (replayed)',
        'create nft',
        'tasks',
        '% of original',
        'create iptables',
        'tasks',
        '% of original',
        'dispose nft',
        'dispose iptables',
      ],
      sizes.map((n) => {
        const o = r.original[n]!;
        const pn = r.pool.nft[n]!;
        const pi = r.pool.iptables[n]!;
        return [
          String(n),
          `${fmt(o.setupMs)} ms`,
          `${fmt(pn.setupMs)} ms`,
          fmt(pn.setupPids),
          pct(pn.setupMs, o.setupMs),
          `${fmt(pi.setupMs)} ms`,
          fmt(pi.setupPids),
          pct(pi.setupMs, o.setupMs),
          `${fmt(pn.teardownMs)} ms`,
          `${fmt(pi.teardownMs)} ms`,
        ];
      }),
    ),
  );
  // Growth with N: the largest size over the second smallest (e.g. t(250)/t(10)).
  if (sizes.length >= 2) {
    const lo = sizes.includes(10) ? 10 : sizes[0]!;
    const hi = sizes.at(-1)!;
    if (hi !== lo) {
      type BySize = Record<number, StepSummary>;
      const at = (x: BySize, n: number) => x[n]!;
      const g = (x: BySize) => ratio(at(x, hi).setupMs, at(x, lo).setupMs);
      const gd = (x: BySize) => ratio(at(x, hi).teardownMs, at(x, lo).teardownMs);
      const pids = (x: BySize) => `${at(x, lo).setupPids} → ${at(x, hi).setupPids}`;
      out.push(
        `\n**Growth from ${lo} to ${hi} networks** (t(${hi}) / t(${lo}); ${hi / lo}× the networks)\n`,
      );
      out.push(
        table(
          ['', 'setup', 'teardown', `tasks at ${lo} → ${hi}`],
          [
            ['original (replayed)', g(r.original), gd(r.original), pids(r.original)],
            [
              'tapnet devices + firewall, nft',
              g(r.network.nft),
              gd(r.network.nft),
              pids(r.network.nft),
            ],
            [
              'tapnet devices + firewall, iptables',
              g(r.network.iptables),
              gd(r.network.iptables),
              pids(r.network.iptables),
            ],
            ['tapnet Pool.create, nft', g(r.pool.nft), gd(r.pool.nft), pids(r.pool.nft)],
            [
              'tapnet Pool.create, iptables',
              g(r.pool.iptables),
              gd(r.pool.iptables),
              pids(r.pool.iptables),
            ],
          ],
        ),
      );
    }
  }
  if (sizes.includes(100)) {
    const o = r.original[100]!.setupMs;
    out.push(
      `\nTarget "100 networks in under 5 % of the original's time": devices + firewall ${pct(r.network.nft[100]!.setupMs, o)} (nft), ${pct(r.network.iptables[100]!.setupMs, o)} (iptables); ` +
        `full Pool.create ${pct(r.pool.nft[100]!.setupMs, o)} (nft), ${pct(r.pool.iptables[100]!.setupMs, o)} (iptables).`,
    );
  } else {
    out.push("\n(100 networks not in this run's sizes: the 5 % target is not evaluated.)");
  }
  out.push(
    "\nHow the tasks are counted: the last field of `/proc/loadavg` is the last PID handed out in the reader's PID namespace; each benchmark has its own, so the difference across a step is the tasks it created. " +
      "The replay's count equals its number of commands (the \"commands\" column), which checks the method. Threads take PIDs too, so a tool that starts threads counts once per thread; a warm-up round starts Node's own worker threads before anything is counted. Pool.create's count includes dnsmasq.",
  );
  return out.join('\n');
}

function renderAcquire(record: BenchRecord | undefined): string {
  const a = resultOf<PoolResult>(record)?.acquire;
  if (!a) return renderFailed(record);
  const row = (label: string, x: LatencySummary) => [
    label,
    fmt(x.ops),
    fmt(x.opsPerSec),
    `${fmt(x.p50us, 1)} µs`,
    `${fmt(x.p99us, 1)} µs`,
    `${fmt(x.maxUs, 1)} µs`,
  ];
  const rows = [
    row('`network()` + `setHandler()` + `release()`, one at a time', a.cycle),
    row('`network()` + `setHandler()` while filling the pool', a.fillAcquire),
    row('`release()` while draining the full pool', a.fillRelease),
    row('`await acquire()` + `release()`', a.asyncCycle),
  ];
  if (a.baselineCycle)
    rows.push(
      row(
        "baseline: the original's bookkeeping (list scan + in-use flag, handler a field), same loop",
        a.baselineCycle,
      ),
    );
  const out = [
    `On a live pool of ${a.poolSize} networks (the metadata server running; \`release()\` clears the handler and cuts the network's connections).\n`,
    table(['operation', 'ops', 'ops/s', 'p50', 'p99', 'max'], rows),
  ];
  if (a.baselineCycle) {
    out.push(
      `\nThe tapnet cycle runs at ${ratio(a.cycle.opsPerSec, a.baselineCycle.opsPerSec)} the baseline's rate: the baseline does no metadata-server work and is a floor, not a competitor.`,
    );
  }
  return out.join('\n');
}

function renderProxy(record: BenchRecord | undefined): string {
  const r = resultOf<ProxyResult>(record);
  if (!r) return renderFailed(record);
  const row = (label: string, x: LoadStats, base?: LoadStats) => [
    label,
    fmt(x.requestsPerSecond),
    `${fmt(x.p50Ms, 3)} ms`,
    `${fmt(x.p99Ms, 3)} ms`,
    fmt(x.errors),
    base ? ratio(x.requestsPerSecond, base.requestsPerSecond) : '1.00× (baseline)',
  ];
  return [
    `${r.benchmark}; ${r.connections} keep-alive connections, ${r.rounds} rounds of ${r.durationMsPerRound} ms per server, alternating; hardening: ${r.hardening}. Load generator: a worker thread in the same process (it shares the CPU with the servers).\n`,
    table(
      ['server', 'requests/s', 'p50', 'p99', 'errors', 'throughput vs bare'],
      [
        row('bare node:http', r.bare),
        row('metadata proxy, node-style handler', r.proxy, r.bare),
        row('metadata proxy, fetch-style handler', r.proxyFetch, r.bare),
      ],
    ),
    `\nMedian of the per-round ratios (proxy / bare): ${fmt(r.proxyThroughputRatio, 3)} (rounds: ${r.proxyThroughputRatioPerRound.map((x) => fmt(x, 3)).join(', ')}); target ≥ ${r.target}.`,
  ].join('\n');
}

function renderProxyNetworks(record: BenchRecord | undefined): string {
  const r = resultOf<ProxyNetworksResult>(record);
  if (!r) return renderFailed(record);
  const rows: string[][] = [];
  for (const [label, s] of Object.entries(r.scenarios)) {
    rows.push([
      label,
      fmt(s.bare.requestsPerSecond),
      `${fmt(s.bare.p50Ms, 3)} / ${fmt(s.bare.p99Ms, 3)} ms`,
      fmt(s.proxy.requestsPerSecond),
      `${fmt(s.proxy.p50Ms, 3)} / ${fmt(s.proxy.p99Ms, 3)} ms`,
      `${fmt(s.throughputRatio, 3)} (${s.throughputRatioPerRound.map((x) => fmt(x, 2)).join(', ')})`,
      fmt(s.bare.errors + s.proxy.errors),
    ]);
  }
  return [
    `The proxy on 169.254.169.254:80 with ${r.networksRegistered} networks registered (10.200.i.0/24, a node-style handler each); a bare node:http server with the same handler on 169.254.169.254:81. ` +
      `${r.connections} keep-alive connections, one request in flight each, bound to source addresses in 1 subnet or spread over ${r.networksRegistered}; ${r.rounds} rounds of ${r.durationMsPerRound} ms per server, alternating. Hardening: ${r.hardening}.\n`,
    table(
      [
        'networks sending',
        'bare req/s',
        'bare p50 / p99',
        'proxy req/s',
        'proxy p50 / p99',
        'proxy / bare (median; per round)',
        'errors',
      ],
      rows,
    ),
  ].join('\n');
}

function renderProxyMemory(record: BenchRecord | undefined): string {
  const r = resultOf<ProxyMemoryResult>(record);
  if (!r) return renderFailed(record);
  const kib = (b: number) => `${fmt(b / 1024, 1)} KiB`;
  return [
    `Server process after \`gc()\`: ${kib(r.base.rssBytes)} RSS, ${kib(r.base.heapBytes)} heap with no network. Per network = (value − that) / networks; the clients run in a child process.\n`,
    table(
      [
        'networks',
        'open connections',
        'heap / network, registered + handler',
        'RSS / network, registered + handler',
        'heap / network, + 1 keep-alive connection',
        'RSS / network, + 1 keep-alive connection',
      ],
      r.steps.map((s) => [
        fmt(s.networks),
        fmt(s.openConnections),
        kib(s.perNetwork.registeredHeapBytes),
        kib(s.perNetwork.registeredRssBytes),
        kib(s.perNetwork.connectedHeapBytes),
        kib(s.perNetwork.connectedRssBytes),
      ]),
    ),
    "\nRSS moves in pages and with the allocator's arenas, so its per-network figure is coarse; the heap figure is the steadier one.",
  ].join('\n');
}

function renderGuest(record: BenchRecord | undefined): string {
  const r = resultOf<GuestResult>(record);
  if (!r) return renderFailed(record);
  const out: string[] = [];
  if (r.boots) {
    const m = r.boots.median;
    out.push(
      `**Boot to first metadata answer**, median of ${r.boots.count} boot(s) of the e2e test guest under ${r.boots.accel.toUpperCase()}, virtio-net on a facade pool's TAP; times from QEMU's start. Baseline in the same run: the same guest without a NIC.\n`,
    );
    out.push(
      table(
        ['milestone', 'median', 'runs'],
        [
          [
            'baseline (no NIC): `init reached`',
            `${fmt(m.baselineInitMs)} ms`,
            r.boots.baseline.map((b) => fmt(b.initMs)).join(', '),
          ],
          [
            '`init reached` (kernel booted)',
            `${fmt(m.initMs)} ms`,
            r.boots.runs.map((b) => fmt(b.initMs)).join(', '),
          ],
          [
            'NIC up (drivers loaded)',
            `${fmt(m.nicMs)} ms`,
            r.boots.runs.map((b) => fmt(b.nicMs)).join(', '),
          ],
          [
            'DHCP lease (udhcpc bound)',
            `${fmt(m.leaseMs)} ms`,
            r.boots.runs.map((b) => fmt(b.leaseMs)).join(', '),
          ],
          [
            '`taskcluster` resolved',
            `${fmt(m.dnsMs)} ms`,
            r.boots.runs.map((b) => fmt(b.dnsMs)).join(', '),
          ],
          [
            '**first metadata request at the handler**',
            `**${fmt(m.firstMetadataRequestMs)} ms**`,
            r.boots.runs.map((b) => fmt(b.firstMetadataRequestMs)).join(', '),
          ],
        ],
      ),
    );
    out.push(
      `\nFrom \`init reached\` to the first metadata request: ${fmt(m.initToFirstRequestMs)} ms (median), of which NIC up → lease ${fmt(m.nicToLeaseMs)} ms; the rest is the guest loading drivers under TCG and running its tools. Console markers are timestamped when the host reads them.`,
    );
  } else {
    out.push('Guest boots were not run.');
  }
  if (r.debian) {
    const d = r.debian;
    const mib = (bytes: number) => `${fmt(bytes / 1048576, 0)} MiB`;
    out.push(
      `\n**A stock distribution: the Debian guest** (bookworm from Debian's packages: systemd-networkd for DHCP, systemd-resolved as resolver; root filesystem ${mib(d.rootfsBytes)}, initramfs ${mib(d.initrdBytes)}), median of ${d.count} boot(s) under ${d.accel.toUpperCase()} on a facade pool's TAP, times from QEMU's start. Its scenario is fetched ${d.byName ? 'by name (`http://taskcluster/…`, resolved answering over LLMNR)' : 'from the metadata IP'}; the busybox rows above are the same run's comparison.\n`,
    );
    out.push(
      table(
        ['milestone', 'median', 'runs'],
        [
          [
            '**first metadata request at the handler**',
            `**${fmt(d.median.firstMetadataRequestMs)} ms**`,
            d.runs.map((b) => fmt(b.firstMetadataRequestMs)).join(', '),
          ],
          [
            'powered off',
            `${fmt(d.median.exitMs)} ms`,
            d.runs.map((b) => fmt(b.exitMs)).join(', '),
          ],
        ],
      ),
    );
  }
  if (r.dhcp) {
    const row = (label: string, s: SampleStats) => [
      label,
      fmt(s.samples),
      `${fmt(s.p50Ms, 1)} ms`,
      `${fmt(s.p99Ms, 1)} ms`,
      `${fmt(s.minMs, 1)} ms`,
      `${fmt(s.maxMs, 1)} ms`,
    ];
    out.push(
      '\n**DHCP, host side**: tapnet\'s dnsmasq (a pool\'s config) and nft firewall, a veth peer in a namespace as the VM running `busybox udhcpc`; times from udhcpc\'s own log lines as the host reads them ("discover", "select for" = offer received, "lease of … obtained").\n',
    );
    out.push(
      table(
        ['interval', 'samples', 'p50', 'p99', 'min', 'max'],
        [
          ...(r.dhcp.newMacOffer
            ? [
                row('discover → offer, new MAC each time', r.dhcp.newMacOffer),
                ...(r.dhcp.knownMacOffer
                  ? [row('discover → offer, same MAC again', r.dhcp.knownMacOffer)]
                  : []),
              ]
            : []),
          row('discover → lease, new MAC each time (new address)', r.dhcp.newMac),
          row('discover → lease, same MAC again', r.dhcp.knownMac),
          row('udhcpc process start → lease, new MAC', r.dhcp.newMacWithProcessStart),
        ],
      ),
    );
    out.push(
      "\nThe time includes udhcpc's own work and both DHCP round trips (discover/offer, request/ack); there is no separate baseline DHCP server in this run.",
    );
  }
  if (r.dns) {
    const row = (label: string, s: SampleStats) => [
      label,
      fmt(s.samples),
      `${fmt(s.p50Ms * 1000)} µs`,
      `${fmt(s.p99Ms * 1000)} µs`,
      `${fmt(s.maxMs * 1000)} µs`,
      fmt(s.errors),
    ];
    out.push(
      "\n**DNS, host side**: A queries for `taskcluster`, one at a time with node:dgram from the VM's namespace (through the veth and the firewall) to its gateway; baseline: a node:dgram responder with a canned answer on that namespace's loopback, queried by the same client, alternating in blocks of 100.\n",
    );
    out.push(
      table(
        ['server', 'queries', 'p50', 'p99', 'max', 'errors'],
        [
          row('tapnet dnsmasq on the gateway', r.dns.dnsmasq),
          row('baseline: canned answer on loopback', r.dns.baseline),
        ],
      ),
    );
  }
  return out.join('\n');
}

function renderNoisy(record: BenchRecord | undefined): string {
  const r = resultOf<NoisyResult>(record);
  if (!r) return renderFailed(record);
  const ms = (x: number | null | undefined) =>
    x === null || x === undefined ? '–' : `${fmt(x, x < 10 ? 2 : 1)} ms`;
  const kinds: [NoisyKind, string][] = [
    ['dhcp', 'DHCP DISCOVER → ACK (own MAC)'],
    ['dns', 'DNS `taskcluster` from the gateway'],
    ['metadata', 'metadata GET, new connection'],
  ];
  const failures = (k: { failures: number; samples: number }) =>
    `${fmt(k.failures)} / ${fmt(k.samples)}`;
  const statuses = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([status, n]) => `${status}×${fmt(n)}`)
      .join(', ');
  const a = r.attacker;
  return [
    `A facade pool of 4; one VM stand-in (a namespace on the pool's TAP through a QEMU hub) per network. Three well-behaved stand-ins each do a DHCP exchange, a DNS query and a metadata request every ${r.periodMs} ms for ${r.seconds} s, first with the fourth idle (baseline), then while it runs every attack of issue 11 at once. An operation not done within ${fmt(r.timeoutMs)} ms counts as failed. Latencies pooled over the three; p50 / p99 of the successful ones.\n`,
    table(
      ['operation', 'no attacker p50 / p99', 'failed', 'under attack p50 / p99', 'failed'],
      kinds.map(([kind, label]) => [
        label,
        `${ms(r.baseline[kind].p50Ms)} / ${ms(r.baseline[kind].p99Ms)}`,
        failures(r.baseline[kind]),
        `${ms(r.attacked[kind].p50Ms)} / ${ms(r.attacked[kind].p99Ms)}`,
        failures(r.attacked[kind]),
      ]),
    ),
    `\nThe attacker (what it tried → what it got): connection flood ${fmt(a.connectionFlood.attempted)} connections (at most ${fmt(a.connectionFlood.peakHeld)} held, kept half-open after the server's FIN; answers ${statuses(a.connectionFloodAnswers)}); ` +
      `slow headers ${fmt(a.slowHeaders.attempted)} connections (${fmt(a.slowHeaders.peakHeld)} at once); request flood ${fmt(a.requestFlood.sent)} requests (${statuses(a.requestFloodStatuses)}); ` +
      `DHCP starvation ${fmt(a.dhcpStarvation.discovers)} DISCOVERs → ${fmt(a.dhcpStarvation.acks)} leases taken; DNS flood ${fmt(a.dnsFlood.sent)} queries (half of them forwarded upstream) → ${fmt(a.dnsFlood.answered)} answered; ` +
      `conntrack flood ${fmt(a.conntrackFlood.udpSent)} UDP + ${fmt(a.conntrackFlood.tcpAttempted)} TCP flows (the sandbox's table peaked at ${fmt(r.conntrackPeak)} entries).`,
    `\nThe drill's checks (no failure under attack, metadata p99 ≤ ${fmt(r.metadataP99LimitMs)} ms, the attacker's minimum load): **${r.drillPassed ? 'passed' : 'FAILED'}**.`,
  ].join('\n');
}

function render(results: BenchResults): string {
  const m = results.machine;
  const b = results.benchmarks;
  const cores = m.cores;
  const loads = [
    results.loadavgBefore,
    results.loadavgAfter,
    ...Object.values(b).flatMap((x) => [x?.loadavgBefore, x?.loadavgAfter]),
  ]
    .filter((l): l is string => Boolean(l))
    .map((l) => Number(l.split(' ')[0]));
  const maxLoad = Math.max(...loads);
  // The benchmarks load the machine themselves (a load generator shares the cores with the
  // servers, and the 1-minute average lags into the next benchmark): only the load before the
  // run began says whether other work was there.
  const startLoad = Number(String(results.loadavgBefore ?? '0').split(' ')[0]);
  const busy = startLoad > cores * 0.5;
  const perBench = (name: string) => {
    const x = b[name];
    return x
      ? `\n_Run ${x.seconds} s; loadavg before \`${x.loadavgBefore}\`, after \`${x.loadavgAfter}\`${x.note ? `; ${x.note}` : ''}._\n`
      : '';
  };
  const lines = [
    '# Benchmarks',
    '',
    `Generated by \`pnpm bench\`${results.quick ? ' **with `--quick` (small sizes, few repeats: a smoke run, not a measurement to quote)**' : ''} on ${results.date}. Every number below comes from that run's JSON; baselines were measured in the same run.`,
    '',
    busy
      ? `> **Noisy run.** The 1-minute load average was ${fmt(startLoad, 2)} on ${cores} core(s) before this run began (and reached ${fmt(maxLoad, 2)} during it, its own load included): other work shared the machine. Ratios measured back to back (interleaved or alternating) hold up better than absolute times; p99s and the guest boot times are the least reliable. Regenerate on a quiet machine before quoting.`
      : `> A quiet start: the 1-minute load average was ${fmt(startLoad, 2)} on ${cores} core(s) when this run began; it reached ${fmt(maxLoad, 2)} during the run, the benchmarks' own load included.`,
    '',
    '## Machine',
    '',
    table(
      ['', ''],
      [
        ['CPU', `${m.cpu} (${m.cores} cores available)`],
        [
          'memory',
          `${fmt(m.memoryGiB, 1)} GiB (${fmt(m.memAvailableGiB, 1)} GiB available at start)`,
        ],
        ['kernel', m.kernel],
        ['Node', m.node],
        ['QEMU', m.qemu],
        ['nft', m.nft],
        ['iptables', m.iptables],
        ['dnsmasq', m.dnsmasq],
        ['busybox', m.busybox],
        ['KVM', m.kvm],
        ['date', results.date],
        ['commit', results.commit ?? 'unknown'],
        ['loadavg before / after', `\`${results.loadavgBefore}\` / \`${results.loadavgAfter}\``],
      ],
    ),
    '',
    '## Re-running',
    '',
    '```sh',
    './tapnet.sh bench            # setup (build, guest image), then the benchmarks; or, set up already:',
    'pnpm build && pnpm bench     # full run, rewrites BENCHMARKS.md',
    'pnpm bench --quick           # smoke run (small sizes, few repeats)',
    'pnpm bench --only pool,proxy # some benchmarks: pool, proxy, proxy-networks, proxy-memory, guest, noisy',
    'node scripts/bench.ts --render .test-results/bench/<time>.json  # report from saved results',
    '```',
    '',
    "Needs root and `/dev/net/tun`. Each benchmark runs in a sandbox of its own (fresh network, PID and mount namespaces, as `pnpm test` makes them); nothing changes in the host's network namespace. Raw results are saved to `.test-results/bench/`.",
    '',
    '## Which numbers are noisy',
    '',
    `- Everything here ran on ${cores} core(s)${busy ? ' shared with other work' : ''}. Where a benchmark has a baseline it was measured interleaved with it (the pool: per repeat; the proxy: alternating rounds; DNS: alternating blocks), so the ratios are steadier than the absolute times.`,
    '- p99 and max latencies catch scheduler hiccups and garbage collections: treat single-run p99s as rough.',
    "- Proxy throughput: the load generator shares the CPU with the servers, so requests/s measures the whole loop, and a round's ratio can swing either way; the median over rounds is the figure to read.",
    '- Full `Pool.create` includes waiting until dnsmasq answers DNS on every gateway, so it varies more than devices + firewall.',
    '- Guest boots run under TCG (software emulation): their absolute times depend heavily on the CPU and its load; the per-milestone split and the no-NIC baseline are what to compare.',
    '- Memory per network is a difference of process-wide figures after `gc()`; RSS in particular is coarse.',
    '- Noisy neighbour: the attacker, the three probes, four QEMU hubs, dnsmasq and the metadata server share the cores, so the attacked p99s say as much about CPU contention as about the services; the failure counts are the figures that matter.',
    '',
    '## Pool create and dispose vs the original',
    '',
    "The baseline is the original Go package's sequence (one `ip`/`iptables` process per command: a TAP, its address and link, 4 chains with their rules and NAT per network, then the same one by one on teardown) replayed from `scripts/bench/original-replay.ts` in the same sandbox. tapnet does the same work in a constant number of processes (`ip -batch`, one `nft -f` or `iptables-restore`).",
    perBench('pool'),
    renderPool(b.pool),
    '',
    '## `network()` / `release()`',
    '',
    renderAcquire(b.pool),
    '',
    '## Metadata proxy vs bare node:http',
    '',
    '### One network, loopback (`packages/metadata-proxy/bench/proxy.bench.ts`)',
    perBench('proxy'),
    renderProxy(b.proxy),
    '',
    '### 1 vs 50 networks sending (`scripts/bench/proxy-networks.bench.ts`)',
    perBench('proxy-networks'),
    renderProxyNetworks(b['proxy-networks']),
    '',
    '### Memory per network',
    perBench('proxy-memory'),
    renderProxyMemory(b['proxy-memory']),
    '',
    "## Guest: QEMU start to first metadata answer, and tapnet's part",
    perBench('guest'),
    renderGuest(b.guest),
    '',
    '## Noisy neighbour',
    perBench('noisy'),
    renderNoisy(b.noisy),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------

let results: BenchResults;
if (flags.render) {
  results = JSON.parse(readFileSync(flags.render, 'utf8')) as BenchResults;
} else {
  results = await measureAll();
  const dir = join(root, '.test-results/bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${results.date.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.error(`\nraw results: ${relative(root, file)}`);
}
writeFileSync(flags.out, render(results));
console.error(`wrote ${relative(root, resolve(flags.out)) || flags.out}`);
const failed = Object.values(results.benchmarks).filter((x) => x?.error);
if (failed.length > 0) {
  console.error(`failed: ${failed.map((x) => x?.name).join(', ')}`);
  process.exit(1);
}
