import {
  type Cidr,
  contains,
  formatCidr,
  formatIPv4,
  LOOPBACK,
  lastOf,
  maskOf,
  overlaps,
  parseCidr,
  parseIPv4,
  sizeOf,
} from '@tapnet/internal';
import { type Conflict, PlanConflictError } from './errors.js';
import { isUsableUnicast, normalizeOptions, type TapPoolOptions } from './options.js';

export interface NetworkPlan {
  index: number;
  /** `${prefix}${index}` */
  device: string;
  /** e.g. `10.231.3.0/24` */
  subnet: string;
  network: string;
  prefixLength: number;
  netmask: string;
  broadcast: string;
  /** The host's address on the TAP: the first usable one. */
  gateway: string;
  /** gateway + 1 .. last usable */
  dhcpRange: { start: string; end: string };
  /** Stable seed the facade turns into the guest's MAC: `${prefix}:${index}`. */
  macSeed: string;
}

export interface PoolPlan {
  prefix: string;
  size: number;
  /** The range the networks are carved from. */
  range: string;
  prefixLength: number;
  metadataIp: string;
  ipv6: boolean;
  owner?: { uid?: number; gid?: number };
  stateDir: string;
  /**
   * The link group every TAP joins (derived from the prefix), so that removal deletes them all
   * in one kernel call instead of one RCU wait per device.
   */
  linkGroup: number;
  networks: NetworkPlan[];
}

/** A link group number for a prefix: FNV-1a, kept clear of 0 (default) and small hand-picked numbers. */
export function linkGroupOf(prefix: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`tapnet:${prefix}`)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return 0x10000 + (hash % 0x7fff0000);
}

/** What is on the host already, as read by `readHostSnapshot`. */
export interface HostSnapshot {
  devices: string[];
  routes: { dst: string; dev?: string }[];
  addresses: { dev: string; cidr: string }[];
}

/** Derives every network of a pool from the options; pure. Throws InvalidOptionError / PlanConflictError. */
export function planPool(options: TapPoolOptions): PoolPlan {
  const o = normalizeOptions(options);
  const step = sizeOf(o.prefixLength);
  const networks: NetworkPlan[] = [];
  for (let index = 0; index < o.size; index++) {
    const base = o.range.base + index * step;
    const last = base + step - 1;
    networks.push({
      index,
      device: `${o.prefix}${index}`,
      subnet: `${formatIPv4(base)}/${o.prefixLength}`,
      network: formatIPv4(base),
      prefixLength: o.prefixLength,
      netmask: formatIPv4(maskOf(o.prefixLength)),
      broadcast: formatIPv4(last),
      gateway: formatIPv4(base + 1),
      dhcpRange: { start: formatIPv4(base + 2), end: formatIPv4(last - 1) },
      macSeed: `${o.prefix}:${index}`,
    });
  }
  const plan: PoolPlan = {
    prefix: o.prefix,
    size: o.size,
    range: formatCidr(o.range),
    prefixLength: o.prefixLength,
    metadataIp: o.metadataIp,
    ipv6: o.ipv6,
    ...(o.owner ? { owner: { ...o.owner } } : {}),
    stateDir: o.stateDir,
    linkGroup: linkGroupOf(o.prefix),
    networks,
  };
  const conflicts = planConflicts(plan);
  if (conflicts.length > 0) throw new PlanConflictError(conflicts);
  return plan;
}

function subnetsOf(plan: PoolPlan): { network: NetworkPlan; cidr: Cidr }[] {
  return plan.networks.map((network) => {
    const cidr = parseCidr(network.subnet, { bareAddress: true });
    if (!cidr?.canonical)
      throw new PlanConflictError([
        { network: network.subnet, with: 'nothing: it is not an IPv4 network' },
      ]);
    return { network, cidr };
  });
}

/** Conflicts of a plan with itself, the metadata IP and addresses no network may use. */
function planConflicts(plan: PoolPlan): Conflict[] {
  const conflicts: Conflict[] = [];
  const subnets = subnetsOf(plan);
  const metadata = parseIPv4(plan.metadataIp);
  const seen = new Set<string>();
  for (const { network, cidr } of subnets) {
    if (seen.has(network.device))
      conflicts.push({ network: network.device, with: 'another network of the plan' });
    seen.add(network.device);
    if (metadata !== undefined && contains(cidr, metadata)) {
      conflicts.push({ network: network.subnet, with: `the metadata IP ${plan.metadataIp}` });
    }
    if (overlaps(cidr, LOOPBACK))
      conflicts.push({ network: network.subnet, with: 'loopback 127.0.0.0/8' });
    else if (!isUsableUnicast(cidr.base) || !isUsableUnicast(lastOf(cidr))) {
      conflicts.push({
        network: network.subnet,
        with: 'reserved addresses (0.0.0.0/8 or 224.0.0.0/3)',
      });
    }
  }
  const sorted = [...subnets].sort((a, b) => a.cidr.base - b.cidr.base);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (overlaps(a.cidr, b.cidr))
      conflicts.push({
        network: b.network.subnet,
        with: `network ${a.network.subnet} of the plan`,
      });
  }
  return conflicts;
}

/**
 * Throws PlanConflictError listing every planned network or device that overlaps what the host
 * has already: devices with a planned name, routes (other than the default route) and addresses.
 * Pure.
 */
export function checkConflicts(plan: PoolPlan, host: HostSnapshot): void {
  const conflicts = planConflicts(plan);
  const planned = new Set(plan.networks.map((n) => n.device));
  for (const device of host.devices) {
    if (planned.has(device))
      conflicts.push({ network: device, with: `existing device \`${device}\`` });
  }
  const subnets = subnetsOf(plan).sort((a, b) => a.cidr.base - b.cidr.base);
  const findOverlaps = (cidr: Cidr, what: string): void => {
    // Binary search for the first planned network that ends at or after cidr's start.
    let lo = 0;
    let hi = subnets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lastOf(subnets[mid]!.cidr) < cidr.base) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < subnets.length && subnets[i]!.cidr.base <= lastOf(cidr); i++) {
      conflicts.push({ network: subnets[i]!.network.subnet, with: what });
    }
  };
  for (const route of host.routes) {
    if (route.dst === 'default') continue;
    const cidr = parseCidr(route.dst, { bareAddress: true });
    if (!cidr || cidr.prefixLength === 0) continue; // IPv6 or 0.0.0.0/0
    findOverlaps(cidr, `route ${route.dst}${route.dev ? ` dev ${route.dev}` : ''}`);
  }
  for (const address of host.addresses) {
    const cidr = parseCidr(address.cidr, { bareAddress: true });
    if (!cidr) continue; // IPv6
    findOverlaps(cidr, `address ${address.cidr} on ${address.dev}`);
  }
  if (conflicts.length > 0) throw new PlanConflictError(conflicts);
}
