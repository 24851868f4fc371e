// The noisy-neighbour section: the well-behaved networks with and without the attacker.
import type { BenchRecord, NoisyKind, NoisyResult } from '../results.ts';
import { fmt, renderFailed, resultOf, table } from './format.ts';

export function renderNoisy(record: BenchRecord | undefined): string {
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
