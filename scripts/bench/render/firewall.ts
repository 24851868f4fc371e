// The firewall-alone section: apply, re-apply, status, a watch's repair and remove per backend
// and size, and what a packet pays for the ruleset (a VM stand-in's request latency at size 1
// against the largest size), so a big pool is shown not to be a slow pool.
import type { BenchRecord, FirewallScaleResult } from '../results.ts';
import { fmt, renderFailed, resultOf, table } from './format.ts';

export function renderFirewall(record: BenchRecord | undefined): string {
  const r = resultOf<FirewallScaleResult>(record);
  if (!r) return renderFailed(record);
  const rows = r.results;
  const lines = [
    `/28 networks in a /16, no uplink; a VM stand-in (a veth peer in a namespace, plugged in as one of the pool's devices) makes ${fmt(r.requests)} requests to the metadata address, a new TCP connection each, and the first tenth is dropped as warm-up.\n`,
    table(
      [
        'backend',
        'networks',
        'apply',
        're-apply',
        'status',
        'watch repair',
        'remove',
        'request p50 / p99',
      ],
      rows.map((x) => [
        x.backend,
        fmt(x.size),
        `${fmt(x.applyMs)} ms`,
        `${fmt(x.reapplyMs)} ms`,
        `${fmt(x.statusMs)} ms`,
        `${fmt(x.watchRepairMs)} ms`,
        `${fmt(x.removeMs)} ms`,
        `${fmt(x.perPacket.p50, 3)} / ${fmt(x.perPacket.p99, 3)} ms`,
      ]),
    ),
  ];
  const growth = [...new Set(rows.map((x) => x.backend))].flatMap((backend) => {
    const mine = rows.filter((x) => x.backend === backend).sort((a, b) => a.size - b.size);
    const small = mine[0];
    const large = mine.at(-1);
    if (!small || !large || small === large) return [];
    return [
      [
        backend,
        `${fmt(small.size)} → ${fmt(large.size)}`,
        `${fmt(large.applyMs / small.applyMs, 1)}×`,
        `${fmt(large.removeMs / small.removeMs, 1)}×`,
        `${fmt(large.perPacket.p50 / small.perPacket.p50, 2)}×`,
      ],
    ];
  });
  if (growth.length > 0) {
    lines.push(
      '\nGrowth from the smallest to the largest size (the per-packet column is the one that says whether a big pool is a slow pool):\n',
      table(['backend', 'networks', 'apply', 'remove', 'request p50'], growth),
    );
  }
  return lines.join('\n');
}
