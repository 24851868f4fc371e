// The pool section: create/dispose against the original's replay, and network()/release().
import type { BenchRecord, LatencySummary, PoolResult, StepSummary } from '../results.ts';
import { fmt, pct, ratio, renderFailed, resultOf, table } from './format.ts';

export function renderPool(record: BenchRecord | undefined): string {
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

export function renderAcquire(record: BenchRecord | undefined): string {
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
