import {
  type Cidr,
  contains,
  describeValue,
  formatCidr,
  lastOf,
  overlaps,
  parseCidr,
  parseIPv4,
} from '@tapnet/internal';
import { InvalidPolicyError } from './errors.js';

export interface FirewallNetwork {
  /** Host-side device of the VM (TAP), e.g. `tn0`. */
  device: string;
  /** The network's IPv4 subnet, e.g. `10.231.3.0/24`. */
  subnet: string;
  /** The host's address on `device`, inside `subnet`. */
  gateway: string;
}

export interface AllowEntry {
  cidr: string;
  /** Only when leaving through this device (null/absent: any device). */
  via?: string | null;
}

export interface PolicyOptions {
  /** Names the table/chains: nft table `inet tapnet_<prefix>`, iptables chains `TAPNET-<PREFIX>-...`. */
  prefix: string;
  networks: readonly FirewallNetwork[];
  /** Default `169.254.169.254`. */
  metadataIp?: string;
  /** Default 80. */
  metadataPort?: number;
  /** Interface for NAT'ed egress; `null` (the default) forwards nothing but `allow` entries. */
  uplink?: string | null;
  /** Extra forward destinations (e.g. VPN routes), may be private ranges; never another pool subnet. */
  allow?: readonly AllowEntry[];
  /** Default false: all IPv6 from/to the TAPs is dropped. */
  ipv6?: boolean;
  /**
   * Most connections one VM may have tracked by conntrack at once (its new ones beyond are
   * dropped). Default `DEFAULT_CONNECTIONS` (8192).
   */
  connections?: number;
  /**
   * Default false. True opens LLMNR (UDP 5355) from each TAP to 224.0.0.252 and to its own
   * gateway, and answers from the gateway's port 5355 back to that TAP's subnet only.
   */
  llmnr?: boolean;
}

export interface PolicyNetwork {
  readonly device: string;
  readonly subnet: string;
  readonly gateway: string;
}

export interface PolicyAllow {
  readonly cidr: string;
  readonly via: string | null;
}

/** A normalised, validated, frozen policy: only `buildPolicy` makes one. */
export interface Policy {
  readonly prefix: string;
  readonly networks: readonly PolicyNetwork[];
  readonly metadataIp: string;
  readonly metadataPort: number;
  readonly uplink: string | null;
  readonly allow: readonly PolicyAllow[];
  readonly ipv6: boolean;
  readonly connections: number;
  readonly llmnr: boolean;
}

/**
 * Per-VM conntrack cap. Sized so a busy CI job never meets it: closed TCP connections
 * (TIME_WAIT) are not counted, so it is about concurrency: 8192 open connections, or a DNS
 * lookup rate of ~270/s sustained (each UDP flow is tracked 30 s). Yet one VM holds at most
 * 3 % of a 262144-entry table (the kernel's default on hosts with 4 GiB or more).
 */
export const DEFAULT_CONNECTIONS = 8192;
/** nft `ct count` and iptables `connlimit` take an unsigned 32-bit number; stay well inside. */
export const MAX_CONNECTIONS = 2 ** 31 - 1;

/** Destinations never forwarded to (unless an `allow` entry says so). */
export const BLOCKED_DESTINATIONS: readonly string[] = Object.freeze([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  // Azure's WireServer: a VM on an Azure host would reach it with the host's address.
  '168.63.129.16/32',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4', // includes 255.255.255.255
]);

/** Ranges a VM subnet may not overlap: they cannot be a link's subnet. */
const RESERVED_FOR_SUBNETS: readonly [string, Cidr][] = [
  ['0.0.0.0/8', { base: 0, prefixLength: 8 }],
  ['127.0.0.0/8', { base: 0x7f000000, prefixLength: 8 }],
  ['224.0.0.0/4', { base: 0xe0000000, prefixLength: 4 }],
  ['240.0.0.0/4', { base: 0xf0000000, prefixLength: 4 }],
];

export const MAX_NETWORKS = 4096;
export const PREFIX_PATTERN = /^[a-z][a-z0-9_]{0,11}$/;
const DEVICE_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;
const KNOWN_OPTIONS = [
  'prefix',
  'networks',
  'metadataIp',
  'metadataPort',
  'uplink',
  'allow',
  'ipv6',
  'connections',
  'llmnr',
];
const RENAMED_OPTIONS: Record<string, string> = {
  uplinkDevice: 'uplink',
  interfaces: 'networks',
  taps: 'networks',
};

const DEFAULTS = {
  metadataIp: '169.254.169.254',
  metadataPort: 80,
  uplink: null,
  allow: [],
  ipv6: false,
  connections: DEFAULT_CONNECTIONS,
  llmnr: false,
};

const built = new WeakSet<object>();

function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidPolicyError(
    field,
    `Expected \`${field}\` to be ${expected}, got ${describeValue(value)}`,
  );
}

export function isDeviceName(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_PATTERN.test(value) && value !== '.' && value !== '..';
}

function device(field: string, value: unknown): string {
  if (!isDeviceName(value)) {
    fail(field, 'an interface name of 1 to 15 characters from [A-Za-z0-9_.-]', value);
  }
  return value;
}

/** Validates and normalises options into a frozen Policy; throws InvalidPolicyError naming the field. Pure. */
export function buildPolicy(options: PolicyOptions): Policy {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    fail('options', 'an object', options);
  }
  const input: Record<string, unknown> = Object.assign(Object.create(null), options);
  for (const key of Object.keys(input)) {
    if (KNOWN_OPTIONS.includes(key)) continue;
    const hint = RENAMED_OPTIONS[key] ? `; it is called \`${RENAMED_OPTIONS[key]}\`` : '';
    throw new InvalidPolicyError(
      key,
      `Unknown option \`${key}\`${hint}; known options: ${KNOWN_OPTIONS.join(', ')}`,
    );
  }
  const o = { ...DEFAULTS, ...stripUndefined(input) } as Record<string, unknown>;

  if (typeof o.prefix !== 'string' || !PREFIX_PATTERN.test(o.prefix)) {
    fail(
      'prefix',
      'a string of 1 to 12 characters from [a-z0-9_] starting with a letter',
      o.prefix,
    );
  }
  const prefix = o.prefix;

  if (typeof o.metadataIp !== 'string' || parseIPv4(o.metadataIp) === undefined) {
    fail('metadataIp', 'an IPv4 address', o.metadataIp);
  }
  const metadataIp = o.metadataIp;
  const metadataAddress = parseIPv4(metadataIp)!;
  const port = o.metadataPort;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    fail('metadataPort', 'an integer from 1 to 65535', port);
  }
  if (typeof o.ipv6 !== 'boolean') fail('ipv6', 'a boolean', o.ipv6);
  const connections = o.connections;
  if (
    typeof connections !== 'number' ||
    !Number.isInteger(connections) ||
    connections < 1 ||
    connections > MAX_CONNECTIONS
  ) {
    fail('connections', `an integer from 1 to ${MAX_CONNECTIONS}`, connections);
  }
  if (typeof o.llmnr !== 'boolean') fail('llmnr', 'a boolean', o.llmnr);

  const rawNetworks = o.networks;
  if (!Array.isArray(rawNetworks) || rawNetworks.length < 1 || rawNetworks.length > MAX_NETWORKS) {
    fail('networks', `an array of 1 to ${MAX_NETWORKS} networks`, rawNetworks);
  }
  const networks: PolicyNetwork[] = [];
  const subnets: { cidr: Cidr; index: number }[] = [];
  const devices = new Map<string, number>();
  rawNetworks.forEach((raw: unknown, index: number) => {
    const at = `networks[${index}]`;
    if (typeof raw !== 'object' || raw === null)
      fail(at, 'an object with device, subnet and gateway', raw);
    const n = raw as Record<string, unknown>;
    const name = device(`${at}.device`, n.device);
    const seen = devices.get(name);
    if (seen !== undefined)
      fail(`${at}.device`, `a device not already used by \`networks[${seen}]\``, name);
    devices.set(name, index);
    const cidr = typeof n.subnet === 'string' ? parseCidr(n.subnet) : undefined;
    if (!cidr?.canonical || cidr.prefixLength < 1 || cidr.prefixLength > 30) {
      fail(
        `${at}.subnet`,
        'an IPv4 CIDR with no host bits set and a prefix length from 1 to 30',
        n.subnet,
      );
    }
    for (const [name, reserved] of RESERVED_FOR_SUBNETS) {
      if (overlaps(cidr, reserved)) fail(`${at}.subnet`, `a subnet outside \`${name}\``, n.subnet);
    }
    if (contains(cidr, metadataAddress)) {
      fail(`${at}.subnet`, `a subnet not containing the metadata IP \`${metadataIp}\``, n.subnet);
    }
    const gateway = typeof n.gateway === 'string' ? parseIPv4(n.gateway) : undefined;
    if (
      gateway === undefined ||
      !contains(cidr, gateway) ||
      gateway === cidr.base ||
      gateway === lastOf(cidr)
    ) {
      fail(
        `${at}.gateway`,
        `an IPv4 address inside \`${formatCidr(cidr)}\` other than its network and broadcast address`,
        n.gateway,
      );
    }
    subnets.push({ cidr, index });
    networks.push(
      Object.freeze({ device: name, subnet: formatCidr(cidr), gateway: n.gateway as string }),
    );
  });
  // Sorted by start, overlapping subnets are neighbours: O(N log N) for large pools.
  const sorted = [...subnets].sort((a, b) => a.cidr.base - b.cidr.base);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (overlaps(a.cidr, b.cidr)) {
      const [first, second] = a.index < b.index ? [a, b] : [b, a];
      fail(
        `networks[${second.index}].subnet`,
        `a subnet not overlapping \`networks[${first.index}].subnet\` (${formatCidr(first.cidr)})`,
        formatCidr(second.cidr),
      );
    }
  }

  let uplink: string | null = null;
  if (o.uplink !== null) {
    uplink = device('uplink', o.uplink);
    if (devices.has(uplink))
      fail('uplink', 'an interface that is not one of the networks’ devices', uplink);
  }

  if (!Array.isArray(o.allow)) fail('allow', 'an array of { cidr, via? }', o.allow);
  const allow: PolicyAllow[] = [];
  const allowCidrs: { cidr: Cidr; via: string | null; index: number }[] = [];
  (o.allow as unknown[]).forEach((raw, index) => {
    const at = `allow[${index}]`;
    if (typeof raw !== 'object' || raw === null) fail(at, 'an object { cidr, via? }', raw);
    const entry = raw as Record<string, unknown>;
    const cidr = typeof entry.cidr === 'string' ? parseCidr(entry.cidr) : undefined;
    if (!cidr?.canonical) fail(`${at}.cidr`, 'an IPv4 CIDR with no host bits set', entry.cidr);
    let via: string | null = null;
    if (entry.via !== undefined && entry.via !== null) {
      via = device(`${at}.via`, entry.via);
      if (devices.has(via))
        fail(`${at}.via`, 'an interface that is not one of the networks’ devices', via);
    }
    // Interval sets refuse overlapping elements, so do we, with a better message.
    for (const other of allowCidrs) {
      if (other.via === via && overlaps(other.cidr, cidr)) {
        fail(`${at}.cidr`, `a range not overlapping \`allow[${other.index}].cidr\``, entry.cidr);
      }
    }
    allowCidrs.push({ cidr, via, index });
    allow.push(Object.freeze({ cidr: formatCidr(cidr), via }));
  });

  const policy: Policy = Object.freeze({
    prefix,
    networks: Object.freeze(networks),
    metadataIp,
    metadataPort: port,
    uplink,
    allow: Object.freeze(allow),
    ipv6: o.ipv6,
    connections,
    llmnr: o.llmnr,
  });
  built.add(policy);
  return policy;
}

function stripUndefined(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of Object.entries(input)) if (value !== undefined) out[key] = value;
  return out;
}

/** Throws unless `policy` came from buildPolicy (compilers trust its validation). */
export function assertPolicy(policy: unknown): asserts policy is Policy {
  if (typeof policy !== 'object' || policy === null || !built.has(policy)) {
    throw new InvalidPolicyError(
      'policy',
      `Expected \`policy\` to be made by buildPolicy(), got ${describeValue(policy)}`,
    );
  }
}
