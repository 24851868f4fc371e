import { parseIPv4 } from '@tapnet/internal';
import type { DnsmasqOptions, NormalizedNetwork, NormalizedOptions } from './options.js';
import { normalizeOptions } from './options.js';

/**
 * dnsmasq's configuration for `options`, one option per line. Pure; every value has been
 * validated by normalizeOptions (no newline, NUL, `#`, `,`, quote or space can get here), so
 * no input can start a line of its own or add a field to one.
 */
export function buildDnsmasqConfig(options: DnsmasqOptions): string {
  return renderConfig(normalizeOptions(options));
}

/** Upper bound of `dhcp-lease-max` (2^20): room for every address of 4096 /24 ranges (1 036 288). */
export const MAX_LEASES = 1_048_576;

/**
 * Room for every address of every range, so guests filling their own range (a guest can only
 * take addresses of its own, see the `tag:<device>` ranges) never leave another network
 * without a lease; at most MAX_LEASES to bound dnsmasq's memory.
 */
export function leaseMax(networks: readonly NormalizedNetwork[]): number {
  let total = 0;
  for (const n of networks) total += ipv4Number(n.rangeEnd) - ipv4Number(n.rangeStart) + 1;
  return Math.min(total, MAX_LEASES);
}

function ipv4Number(ip: string): number {
  return parseIPv4(ip)!;
}

/**
 * `names`, each single-label one also as `<name>.<domain>`: what a resolver with the search
 * list asks for a bare name (systemd-resolved never sends a bare one to DNS). A name with a
 * dot is asked as it is (ndots:1 in glibc and musl), so it needs no second spelling.
 */
export function withDomain(names: readonly string[], domain: string | null): string[] {
  if (domain === null) return [...names];
  const result: string[] = [];
  for (const name of names) {
    result.push(name);
    const qualified = `${name}.${domain}`;
    if (!name.includes('.') && qualified.length <= 253) result.push(qualified);
  }
  return [...new Set(result)];
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
    // No version.bind / id.server / author.bind answers (CHAOS TXT): a guest learns nothing
    // about the host's dnsmasq to pick exploits by.
    'no-ident',
    `dhcp-lease-max=${leaseMax(o.networks)}`,
    `dhcp-leasefile=${o.leasePath}`,
    `pid-file=${o.pidPath}`,
  ];
  if (o.upstream === 'host') lines.push('resolv-file=/etc/resolv.conf');
  else {
    lines.push('no-resolv');
    for (const server of o.upstream) lines.push(`server=${server}`);
  }
  // Answered here and only here: a name under the guests' domain is never sent upstream.
  if (o.domain !== null) lines.push(`local=/${o.domain}/`);
  for (const n of o.networks) {
    // dnsmasq tags every DHCP request with the name of the interface it arrived on. Without
    // `tag:<device>` a range serves any request that names its subnet through option 118
    // (subnet selection), a relay address (giaddr) or a ciaddr, whatever TAP it came from.
    // With it, a range and its options are used only for requests that arrived on the
    // network's own TAP. The options also need the range's tag, so neither a device named
    // like another network nor a range used elsewhere can pick them.
    const onDevice = `tag:${n.device}`;
    lines.push(
      `interface=${n.device}`,
      `dhcp-range=${onDevice},set:${n.name},${n.rangeStart},${n.rangeEnd},${n.netmask},${o.leaseTime}`,
      `dhcp-option=${onDevice},tag:${n.name},option:router,${n.gateway}`,
      `dhcp-option=${onDevice},tag:${n.name},option:dns-server,${n.gateway}`,
    );
    if (o.domain !== null) {
      lines.push(
        `dhcp-option=${onDevice},tag:${n.name},option:domain-name,${o.domain}`,
        `dhcp-option=${onDevice},tag:${n.name},option:domain-search,${o.domain}`,
      );
    }
  }
  for (const name of o.metadataNames)
    lines.push(`host-record=${withDomain([name], o.domain).join(',')},${o.metadataIp}`);
  for (const r of o.hostRecords) {
    const addresses = [r.ipv4, r.ipv6].filter((a): a is string => a !== undefined);
    lines.push(`host-record=${[...withDomain(r.names, o.domain), ...addresses].join(',')}`);
  }
  for (const r of o.srvRecords)
    lines.push(`srv-host=${r.name},${r.target},${r.port},${r.priority},${r.weight}`);
  return `${lines.join('\n')}\n`;
}
