// The pool's scale section: create/dispose from 1 to 4096 networks on both backends, the growth
// from 100 to 4096 networks, and memory per network.
import type { Backend, BenchRecord, PoolResult, PoolScaleResult } from '../results.ts';
import { fmt, resultOf, table } from './format.ts';

const BACKENDS: readonly Backend[] = ['nft', 'iptables'];

/** Time at `to` networks over time at `from`, or undefined when either is missing. */
export function growth(
  r: PoolScaleResult,
  backend: Backend,
  step: 'createMs' | 'disposeMs',
  from = 100,
  to = 4096,
): number | undefined {
  const a = r.backends[backend][from]?.[step];
  const b = r.backends[backend][to]?.[step];
  return a && b ? b / a : undefined;
}

export function renderPoolScale(record: BenchRecord | undefined): string {
  const r = resultOf<PoolResult>(record)?.scale;
  if (!r) return '';
  const out: string[] = [
    `\n**Scale: \`Pool.create\` / \`dispose\` up to ${fmt(Math.max(...r.sizes))} networks** (/${r.prefixLength} networks in ${r.subnet}, no uplink; median of ${r.repeats} run(s), the backends interleaved per repeat; load average ${r.loadavgStart.split(' ').slice(0, 3).join(' ')} at the start). Memory per network: the benchmark process's RSS growth with the pool up plus dnsmasq's RSS, over the networks.\n`,
  ];
  const rows = r.sizes.map((n) => {
    const row = [fmt(n)];
    for (const b of BACKENDS) {
      const s = r.backends[b][n];
      if (!s) {
        row.push('failed', '', '');
        continue;
      }
      row.push(
        `${fmt(s.createMs)} ms`,
        `${fmt(s.disposeMs)} ms`,
        `${fmt(s.kiBPerNetwork, 1)} KiB (dnsmasq ${fmt(s.dnsmasqRssKiB / 1024, 1)} MiB)`,
      );
    }
    return row;
  });
  out.push(
    table(
      [
        'networks',
        'nft create',
        'nft dispose',
        'nft memory / network',
        'iptables create',
        'iptables dispose',
        'iptables memory / network',
      ],
      rows,
    ),
  );
  if (r.sizes.includes(100) && r.sizes.includes(4096)) {
    const cell = (b: Backend, step: 'createMs' | 'disposeMs') => {
      const g = growth(r, b, step);
      return g === undefined ? '–' : `${fmt(g, 1)}×${g <= 10 ? '' : ' (over 10×)'}`;
    };
    out.push(
      '\n**Growth from 100 to 4096 networks** (41× the networks; the goal is at most 10× the time)\n',
      table(
        ['', 'create', 'dispose'],
        BACKENDS.map((b) => [b, cell(b, 'createMs'), cell(b, 'disposeMs')]),
      ),
    );
  }
  const failures = BACKENDS.flatMap((b) =>
    Object.entries(r.errors[b]).map(([n, message]) => `- ${b}, ${n} networks: ${message}`),
  );
  if (failures.length > 0) out.push('\nFailed runs:\n', ...failures);
  return out.join('\n');
}
