// The per-VM traffic limits section: measured rates against the configured ones, and what
// applying limits costs at pool sizes up to 4096.
import type { BenchRecord, LimitsResult } from '../results.ts';
import { fmt, renderFailed, resultOf, table } from './format.ts';

export function renderLimits(record: BenchRecord | undefined): string {
  const r = resultOf<LimitsResult>(record);
  if (!r) return renderFailed(record);
  const unlimited = (direction: string) =>
    r.rates.find((x) => x.limitMbit === null && x.direction === direction)?.measuredMbit;
  return [
    `iperf3, TCP, ${r.seconds} s per run (the first second omitted), between the host and a stand-in VM: a veth named like a pool's network, its other end in a namespace (tc shapes a device whatever its kind; the veth keeps QEMU's hub out of the numbers; the packet tests measure through QEMU). Upload is the VM's egress (shaped on its IFB), download its ingress (the TAP's tbf). Unlimited, the same path measured ${fmt(unlimited('upload'))} mbit/s up and ${fmt(unlimited('download'))} mbit/s down.\n`,
    table(
      ['limit', 'direction', 'measured', 'measured / limit'],
      r.rates
        .filter((x) => x.limitMbit !== null)
        .map((x) => [
          `${fmt(x.limitMbit)} mbit`,
          x.direction === 'upload' ? 'upload (VM egress)' : 'download (VM ingress)',
          `${fmt(x.measuredMbit, 2)} mbit/s`,
          x.ratio === null ? '–' : fmt(x.ratio, 3),
        ]),
    ),
    '\nApplying a pool-wide default (`createShaper`: `ip -batch` for the IFBs, `tc -batch`, `nft -f`), changing one network (median of the runs), reading every counter, and removing (IFBs by link group, the nft table). Processes counted by the sandbox PID cursor (threads included).\n',
    table(
      ['networks', 'limits', 'apply', 'one network', 'counters', 'remove'],
      r.costs.map((c) => [
        fmt(c.size),
        c.limits,
        `${fmt(c.applyMs)} ms, ${fmt(c.applyPids)} pids`,
        `${fmt(c.setOneMs, 1)} ms, ${fmt(c.setOnePids)} pid(s)`,
        `${fmt(c.countersMs)} ms, ${fmt(c.countersPids)} pid(s)`,
        `${fmt(c.removeMs)} ms, ${fmt(c.removePids)} pids`,
      ]),
    ),
  ].join('\n');
}
