import { parseIPv4 } from '@tapnet/internal';
import type { NormalizedNetwork } from './options.js';

export interface Lease {
  /**
   * Name of the network whose subnet holds `ip`. dnsmasq's lease file does not record the
   * interface; each range is bound to its network's device (`tag:<device>`), so this is also
   * the network the lease was given on.
   */
  network: string;
  mac: string;
  ip: string;
  hostname?: string;
  expiresAt: Date;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/**
 * Parses dnsmasq's lease file ("<expiry> <mac> <ip> <hostname|*> <client-id|*>" per line),
 * keeping IPv4 leases that fall into one of `networks`. Lines it does not understand are skipped.
 */
export function parseLeaseFile(text: string, networks: readonly NormalizedNetwork[]): Lease[] {
  const leases: Lease[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const [expiry, mac, ip, hostname] = fields as [string, string, string, string];
    if (!/^[0-9]+$/.test(expiry) || !MAC.test(mac.toLowerCase())) continue;
    const n = parseIPv4(ip);
    if (n === undefined) continue;
    const network = networks.find((x) => n > x.first && n < x.last);
    if (!network) continue;
    // dnsmasq writes 0 for an infinite lease.
    const seconds = Number(expiry);
    const lease: Lease = {
      network: network.name,
      mac: mac.toLowerCase(),
      ip,
      expiresAt: new Date(seconds === 0 ? 8.64e15 : seconds * 1000),
    };
    if (hostname !== '*') lease.hostname = hostname;
    leases.push(lease);
  }
  return leases;
}

export function leaseKey(lease: Lease): string {
  return `${lease.mac} ${lease.ip}`;
}

export interface LeaseChanges {
  /** New leases, and renewed ones (expiry moved). */
  added: Lease[];
  /** Gone from the file before their expiry: the client released them (or dnsmasq reused the address). */
  released: Lease[];
  /** Gone at or after their expiry. */
  expired: Lease[];
}

/** What changed between two readings of the lease file, judged at `now`. */
export function diffLeases(
  before: ReadonlyMap<string, Lease>,
  after: readonly Lease[],
  now: Date,
): LeaseChanges {
  const changes: LeaseChanges = { added: [], released: [], expired: [] };
  const current = currentLeases(after, now);
  for (const [key, lease] of current) {
    const old = before.get(key);
    if (!old || old.expiresAt.getTime() !== lease.expiresAt.getTime()) changes.added.push(lease);
  }
  for (const [key, lease] of before) {
    if (current.has(key)) continue;
    if (lease.expiresAt.getTime() <= now.getTime()) changes.expired.push(lease);
    else changes.released.push(lease);
  }
  return changes;
}

/** The leases of a reading that have not expired at `now`, by key. */
export function currentLeases(leases: readonly Lease[], now: Date): Map<string, Lease> {
  const map = new Map<string, Lease>();
  for (const lease of leases) {
    if (lease.expiresAt.getTime() > now.getTime()) map.set(leaseKey(lease), lease);
  }
  return map;
}
