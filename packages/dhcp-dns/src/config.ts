import type { DnsmasqOptions, NormalizedOptions } from './options.js';
import { normalizeOptions } from './options.js';

/**
 * dnsmasq's configuration for `options`, one option per line. Pure; every value has been
 * validated by normalizeOptions (no newline, NUL, `#`, `,`, quote or space can get here), so
 * no input can start a line of its own or add a field to one.
 */
export function buildDnsmasqConfig(options: DnsmasqOptions): string {
  return renderConfig(normalizeOptions(options));
}

export function renderConfig(o: NormalizedOptions): string {
  const lines: string[] = [
    // Bind each listed interface's own addresses, and follow them if they change; unlike
    // bind-interfaces it also checks the arrival interface (CVE-2012-3411).
    'bind-dynamic',
    'except-interface=lo',
    'no-hosts',
    'domain-needed',
    'bogus-priv',
    'strict-order',
    'dhcp-no-override',
    'dhcp-authoritative',
    'dhcp-ignore-names',
    'no-ping',
    `dhcp-lease-max=${Math.max(1000, o.networks.length * 4)}`,
    `dhcp-leasefile=${o.leasePath}`,
    `pid-file=${o.pidPath}`,
  ];
  if (o.upstream === 'host') lines.push('resolv-file=/etc/resolv.conf');
  else {
    lines.push('no-resolv');
    for (const server of o.upstream) lines.push(`server=${server}`);
  }
  for (const n of o.networks) {
    lines.push(
      `interface=${n.device}`,
      `dhcp-range=set:${n.name},${n.rangeStart},${n.rangeEnd},${n.netmask},${o.leaseTime}`,
      `dhcp-option=tag:${n.name},option:router,${n.gateway}`,
      `dhcp-option=tag:${n.name},option:dns-server,${n.gateway}`,
    );
  }
  for (const name of o.metadataNames) lines.push(`host-record=${name},${o.metadataIp}`);
  for (const r of o.hostRecords) {
    const addresses = [r.ipv4, r.ipv6].filter((a): a is string => a !== undefined);
    lines.push(`host-record=${[...r.names, ...addresses].join(',')}`);
  }
  for (const r of o.srvRecords)
    lines.push(`srv-host=${r.name},${r.target},${r.port},${r.priority},${r.weight}`);
  return `${lines.join('\n')}\n`;
}
