import { type HostRecord, isDnsName, type SrvRecord } from '@tapnet/dhcp-dns';
import type { MetadataServerOptions } from '@tapnet/metadata-proxy';
import { describeValue, InvalidOptionError } from './errors.js';
import { type Limits, type NormalizedLimits, normalizeLimits } from './limits.js';

export type FirewallBackendOption = 'auto' | 'nft' | 'iptables';

export interface PoolOptions {
  /** How many networks (VMs at once). */
  size: number;
  /** Names every host resource: devices `<prefix><i>`, the firewall table, the state record. Default `tn`. */
  prefix?: string;
  /** The IPv4 range networks are carved from. Default `10.231.0.0/16`. */
  subnet?: string;
  /** Prefix length of each network, 16 to 30. Default 24. */
  prefixLength?: number;
  /** Firewall backend. Default `auto` (nftables when usable, else iptables). */
  firewall?: FirewallBackendOption;
  /** Interface for NAT'ed egress; default: the default route's device; `null`: forward nothing. */
  uplink?: string | null;
  /** The metadata service's address. Default `169.254.169.254`. */
  metadataIp?: string;
  /** The metadata service's port. Default 80. */
  metadataPort?: number;
  /** Names that resolve to the metadata IP. Default `['taskcluster']`. */
  metadataNames?: readonly string[];
  hostRecords?: readonly HostRecord[];
  srvRecords?: readonly SrvRecord[];
  /** Upstream DNS: `'host'` (the host's resolvers, default), `[]` (local names only) or servers. */
  upstreamDns?: readonly string[] | 'host';
  /** DHCP lease time, e.g. `'20m'` (default) or seconds. */
  leaseTime?: string | number;
  /**
   * Guests' DNS domain, sent over DHCP as domain name and search list (options 15 and 119), so
   * resolvers that never send a bare name to DNS (systemd-resolved) still find
   * `taskcluster.<domain>`. Default `tapnet.internal`; `null`: none.
   */
  dnsDomain?: string | null;
  /** Extra forward destinations guests may reach (like the original's VPN routes). */
  allow?: readonly { cidr: string; via?: string }[];
  /** Give guests IPv6 on their TAPs (default false: IPv6 off and dropped). */
  ipv6?: boolean;
  /**
   * Per-VM limits: `connections` (conntrack entries per VM, default 8192), and every network's
   * default `egress`/`ingress` rate (`'100mbit'`, `'12.5MB/s'`, bits/s; optional `burst`) and
   * `packetsPerSecond` (default: none).
   */
  limits?: Limits;
  /**
   * Answer LLMNR (UDP 5355) for the metadata names and host records on every TAP, so guests
   * whose resolver never sends single-label names to DNS (systemd-resolved) resolve
   * `taskcluster`. Default true.
   */
  llmnr?: boolean;
  /** Where state records, leases and dnsmasq's config live. Default `/run/tapnet`. */
  stateDir?: string;
  /** Owner of the TAP devices, so an unprivileged QEMU can open them. */
  owner?: { uid?: number; gid?: number };
  /** Hardening of the metadata service (see @tapnet/metadata-proxy). */
  metadataHardening?: MetadataServerOptions['hardening'];
  /**
   * Before creating, remove what a crashed pool with the same prefix left behind (its state
   * record names a dead process). Default true; false makes such leftovers an error.
   */
  cleanupStale?: boolean;
  /**
   * dnsmasq's restart policy (see @tapnet/dhcp-dns): by default it gives up after 5 failures
   * within 10 s of a restart (like systemd's start limit), then `status().dnsmasq.state` is
   * `failed` and an `error` is emitted.
   */
  dnsmasqRestart?: {
    maxQuickFailures?: number;
    initialDelayMs?: number;
    maxDelayMs?: number;
    quickFailureWindowMs?: number;
  };
}

export interface NormalizedPoolOptions {
  size: number;
  prefix: string;
  subnet: string | undefined;
  prefixLength: number | undefined;
  firewall: FirewallBackendOption;
  uplink: string | null | undefined;
  metadataIp: string;
  metadataPort: number;
  metadataNames: readonly string[];
  hostRecords: readonly HostRecord[];
  srvRecords: readonly SrvRecord[];
  upstreamDns: readonly string[] | 'host';
  leaseTime: string | number;
  dnsDomain: string | null | undefined;
  allow: readonly { cidr: string; via?: string }[];
  ipv6: boolean;
  limits: NormalizedLimits;
  llmnr: boolean;
  stateDir: string;
  owner: { uid?: number; gid?: number } | undefined;
  metadataHardening: MetadataServerOptions['hardening'] | undefined;
  cleanupStale: boolean;
  dnsmasqRestart: PoolOptions['dnsmasqRestart'];
}

const known = new Set([
  'size',
  'prefix',
  'subnet',
  'prefixLength',
  'firewall',
  'uplink',
  'metadataIp',
  'metadataPort',
  'metadataNames',
  'hostRecords',
  'srvRecords',
  'upstreamDns',
  'leaseTime',
  'dnsDomain',
  'allow',
  'ipv6',
  'limits',
  'llmnr',
  'stateDir',
  'owner',
  'metadataHardening',
  'cleanupStale',
  'dnsmasqRestart',
]);

/** Names people reach for that mean one of ours. */
const renamed: Record<string, string> = {
  n: 'size',
  N: 'size',
  count: 'size',
  networks: 'size',
  upstream: 'upstreamDns',
  dns: 'upstreamDns',
  records: 'hostRecords',
  srv: 'srvRecords',
  backend: 'firewall',
  uplinkInterface: 'uplink',
  names: 'metadataNames',
  lease: 'leaseTime',
  domain: 'dnsDomain',
  searchDomain: 'dnsDomain',
  cidr: 'subnet',
  range: 'subnet',
};

/**
 * The pool's options with defaults in one place. The facade checks its own options here; each
 * package validates the options it owns when `Pool.create` plans (before anything changes).
 */
export function normalizeOptions(input: PoolOptions): NormalizedPoolOptions {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidOptionError(
      'options',
      `Expected options to be an object, got ${describeValue(input)}`,
    );
  }
  const o: Record<string, unknown> = Object.assign(Object.create(null), input);
  for (const key of Object.keys(o)) {
    if (known.has(key)) continue;
    const hint = renamed[key] ? `; did you mean \`${renamed[key]}\`?` : '';
    throw new InvalidOptionError(key, `Unknown option \`${key}\`${hint}`);
  }
  const size = o.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 4096) {
    throw new InvalidOptionError(
      'size',
      `Expected \`size\` to be an integer from 1 to 4096, got ${describeValue(size)}`,
    );
  }
  const firewall = o.firewall ?? 'auto';
  if (firewall !== 'auto' && firewall !== 'nft' && firewall !== 'iptables') {
    throw new InvalidOptionError(
      'firewall',
      `Expected \`firewall\` to be one of 'auto', 'nft', 'iptables', got ${describeValue(firewall)}`,
    );
  }
  const uplink = o.uplink;
  if (
    uplink !== undefined &&
    uplink !== null &&
    (typeof uplink !== 'string' || !/^[^\s/:]{1,15}$/.test(uplink))
  ) {
    throw new InvalidOptionError(
      'uplink',
      `Expected \`uplink\` to be an interface name (1 to 15 bytes, no whitespace, '/' or ':') or null, got ${describeValue(uplink)}`,
    );
  }
  const metadataPort = o.metadataPort ?? 80;
  if (
    typeof metadataPort !== 'number' ||
    !Number.isInteger(metadataPort) ||
    metadataPort < 1 ||
    metadataPort > 65535
  ) {
    throw new InvalidOptionError(
      'metadataPort',
      `Expected \`metadataPort\` to be an integer from 1 to 65535, got ${describeValue(metadataPort)}`,
    );
  }
  for (const key of ['metadataNames', 'hostRecords', 'srvRecords', 'allow'] as const) {
    if (o[key] !== undefined && !Array.isArray(o[key])) {
      throw new InvalidOptionError(
        key,
        `Expected \`${key}\` to be an array, got ${describeValue(o[key])}`,
      );
    }
  }
  const upstreamDns = o.upstreamDns ?? 'host';
  if (upstreamDns !== 'host' && !Array.isArray(upstreamDns)) {
    throw new InvalidOptionError(
      'upstreamDns',
      `Expected \`upstreamDns\` to be 'host' or an array of server addresses, got ${describeValue(upstreamDns)}`,
    );
  }
  const ipv6 = o.ipv6 ?? false;
  if (typeof ipv6 !== 'boolean') {
    throw new InvalidOptionError(
      'ipv6',
      `Expected \`ipv6\` to be a boolean, got ${describeValue(ipv6)}`,
    );
  }
  const llmnr = o.llmnr ?? true;
  if (typeof llmnr !== 'boolean') {
    throw new InvalidOptionError(
      'llmnr',
      `Expected \`llmnr\` to be a boolean, got ${describeValue(llmnr)}`,
    );
  }
  // Every package must be able to name its resources after the prefix: devices (15 bytes with
  // the index), nft tables and iptables chains (the firewall's 12 characters).
  const prefix = o.prefix ?? 'tn';
  if (typeof prefix !== 'string' || !/^[a-z][a-z0-9]{0,11}$/.test(prefix)) {
    throw new InvalidOptionError(
      'prefix',
      `Expected \`prefix\` to be 1 to 12 characters of a-z and 0-9, starting with a letter, got ${describeValue(prefix)}`,
    );
  }
  const cleanupStale = o.cleanupStale ?? true;
  if (typeof cleanupStale !== 'boolean') {
    throw new InvalidOptionError(
      'cleanupStale',
      `Expected \`cleanupStale\` to be a boolean, got ${describeValue(cleanupStale)}`,
    );
  }
  const dnsDomain = o.dnsDomain;
  if (dnsDomain !== undefined && dnsDomain !== null && !isDnsName(dnsDomain)) {
    throw new InvalidOptionError(
      'dnsDomain',
      `Expected \`dnsDomain\` to be a DNS name (RFC 1123 labels: letters, digits, inner hyphens; no trailing dot) or null, got ${describeValue(dnsDomain)}`,
    );
  }
  const stateDir = o.stateDir ?? '/run/tapnet';
  if (typeof stateDir !== 'string' || !stateDir.startsWith('/')) {
    throw new InvalidOptionError(
      'stateDir',
      `Expected \`stateDir\` to be an absolute path, got ${describeValue(stateDir)}`,
    );
  }
  return {
    size,
    prefix,
    subnet: o.subnet as string | undefined,
    prefixLength: o.prefixLength as number | undefined,
    firewall,
    uplink: uplink as string | null | undefined,
    metadataIp: (o.metadataIp as string | undefined) ?? '169.254.169.254',
    metadataPort,
    metadataNames: (o.metadataNames as readonly string[] | undefined) ?? ['taskcluster'],
    hostRecords: (o.hostRecords as readonly HostRecord[] | undefined) ?? [],
    srvRecords: (o.srvRecords as readonly SrvRecord[] | undefined) ?? [],
    upstreamDns: upstreamDns as readonly string[] | 'host',
    leaseTime: (o.leaseTime as string | number | undefined) ?? '20m',
    // undefined: @tapnet/dhcp-dns's default (`tapnet.internal`).
    dnsDomain: dnsDomain as string | null | undefined,
    allow: (o.allow as readonly { cidr: string; via?: string }[] | undefined) ?? [],
    ipv6,
    limits: normalizeLimits(o.limits),
    llmnr,
    stateDir,
    owner: o.owner as { uid?: number; gid?: number } | undefined,
    metadataHardening: o.metadataHardening as MetadataServerOptions['hardening'] | undefined,
    cleanupStale,
    dnsmasqRestart: o.dnsmasqRestart as PoolOptions['dnsmasqRestart'],
  };
}
