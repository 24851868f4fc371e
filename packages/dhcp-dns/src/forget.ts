import { parseIPv4 } from '@tapnet/internal';
import { DhcpType, encodeDhcpMessage, ipv4Bytes } from './dhcp-message.js';
import type { NormalizedNetwork } from './options.js';

/**
 * One line of dnsmasq's lease file as dnsmasq holds it: unlike `parseLeaseFile` (which keeps
 * Ethernet leases for events), every hardware type and length a client may have used, since
 * a DHCPRELEASE must name the lease's exact hardware address to remove it.
 */
export interface LeaseEntry {
  ip: string;
  htype: number;
  chaddr: Buffer;
}

// dnsmasq writes "[<type>-]xx:xx:..." (the type only when it is not Ethernet, or when the
// address is empty), up to 16 bytes.
const HARDWARE = /^(?:([0-9a-f]{2})-)?((?:[0-9a-f]{2}(?::[0-9a-f]{2}){0,15})?)$/;

/** The IPv4 lease lines of `text` whose address lies in `network`'s subnet. Pure. */
export function leaseEntriesOf(text: string, network: NormalizedNetwork): LeaseEntry[] {
  const entries: LeaseEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || !/^[0-9]+$/.test(fields[0]!)) continue;
    const [, hardware, ip] = fields as [string, string, string];
    const n = parseIPv4(ip);
    if (n === undefined || n <= network.first || n >= network.last) continue;
    const match = HARDWARE.exec(hardware.toLowerCase());
    if (!match) continue;
    const htype = match[1] === undefined ? 1 : Number.parseInt(match[1], 16);
    const chaddr = Buffer.from((match[2] ?? '').replaceAll(':', ''), 'hex');
    entries.push({ ip, htype, chaddr });
  }
  return entries;
}

/** The lease file without the lines of `network`'s subnet (for a dnsmasq that is not running). Pure. */
export function withoutNetwork(text: string, network: NormalizedNetwork): string {
  const kept = text.split('\n').filter((line) => {
    const ip = line.trim().split(/\s+/)[2];
    const n = parseIPv4(ip);
    return n === undefined || n <= network.first || n >= network.last;
  });
  return kept.join('\n');
}

/**
 * The DHCPRELEASE a client holding `entry` would send to `network`'s server: dnsmasq drops
 * the lease whose address (ciaddr) and hardware address match, if the server identifier
 * (option 54) is the address it serves the network from. No client identifier is sent, so
 * dnsmasq matches by hardware address even for leases taken with one. Pure.
 */
export function releaseMessage(entry: LeaseEntry, network: NormalizedNetwork, xid: number): Buffer {
  return encodeDhcpMessage({
    type: DhcpType.RELEASE,
    xid,
    htype: entry.htype,
    chaddr: entry.chaddr,
    ciaddr: entry.ip,
    options: new Map([[54, ipv4Bytes(network.gateway)]]),
  });
}
