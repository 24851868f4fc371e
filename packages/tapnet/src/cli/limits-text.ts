import { formatRate, type NormalizedTrafficLimits } from '@tapnet/tap-pool';

/** `egress 20mbit, ingress 100mbit, 1000 pkt/s` or `none`, for the CLI's tables (pure). */
export function limitsText(limits: NormalizedTrafficLimits): string {
  const parts: string[] = [];
  if (limits.egress) parts.push(`egress ${formatRate(limits.egress.rate)}`);
  if (limits.ingress) parts.push(`ingress ${formatRate(limits.ingress.rate)}`);
  if (limits.packetsPerSecond !== undefined) parts.push(`${limits.packetsPerSecond} pkt/s`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}
