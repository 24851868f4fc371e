import {
  defaults as dnsDefaults,
  type HostRecord,
  isDnsName,
  type RestartOptions,
  type SrvRecord,
} from '@tapnet/dhcp-dns';
import { type AllowEntry, type Backend, isDeviceName } from '@tapnet/firewall';
import { checks, firstUnknownKey, isPlainObject, nullPrototypeCopy } from '@tapnet/internal';
import { type MetadataServerOptions, DEFAULTS as metadataDefaults } from '@tapnet/metadata-proxy';
import { MAX_SIZE, DEFAULTS as tapDefaults } from '@tapnet/tap-pool';
import { InvalidOptionError } from './errors.js';
import { type Limits, type NormalizedLimits, normalizeLimits } from './limits.js';
import { fail } from './option-errors.js';

export type FirewallBackendOption = 'auto' | Backend;

/** `firewall`'s choices: auto (nftables when usable, else iptables) or one of the firewall's backends. */
export const FIREWALL_BACKENDS: readonly FirewallBackendOption[] = ['auto', 'nft', 'iptables'];

const check = checks(fail);

function isBackendOption(value: unknown): value is FirewallBackendOption {
  return (FIREWALL_BACKENDS as readonly unknown[]).includes(value);
}

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
  allow?: readonly AllowEntry[];
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
  dnsmasqRestart?: RestartOptions;
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
  allow: readonly AllowEntry[];
  ipv6: boolean;
  limits: NormalizedLimits;
  llmnr: boolean;
  stateDir: string;
  owner: { uid?: number; gid?: number } | undefined;
  metadataHardening: MetadataServerOptions['hardening'] | undefined;
  cleanupStale: boolean;
  dnsmasqRestart: RestartOptions | undefined;
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
  if (!isPlainObject(input)) fail('options', 'an object', input);
  const o = nullPrototypeCopy(input);
  const unknown = firstUnknownKey(o, known);
  if (unknown !== undefined) {
    const hint = renamed[unknown] ? `; did you mean \`${renamed[unknown]}\`?` : '';
    throw new InvalidOptionError(unknown, `Unknown option \`${unknown}\`${hint}`);
  }
  const size = check.integer('size', o.size, 1, MAX_SIZE);
  const firewall = o.firewall ?? 'auto';
  if (!isBackendOption(firewall)) {
    fail('firewall', `one of ${FIREWALL_BACKENDS.map((b) => `'${b}'`).join(', ')}`, firewall);
  }
  // The firewall's rule for interface names, the one that matters: its rules name the uplink.
  const uplink = o.uplink;
  if (uplink !== undefined && uplink !== null && !isDeviceName(uplink)) {
    fail('uplink', 'an interface name (1 to 15 bytes of A-Z a-z 0-9 _ . -) or null', uplink);
  }
  const metadataPort = check.integer(
    'metadataPort',
    o.metadataPort ?? metadataDefaults.port,
    1,
    65535,
  );
  for (const key of ['metadataNames', 'hostRecords', 'srvRecords', 'allow'] as const) {
    if (o[key] !== undefined && !Array.isArray(o[key])) fail(key, 'an array', o[key]);
  }
  const upstreamDns = o.upstreamDns ?? dnsDefaults.upstream;
  if (upstreamDns !== 'host' && !Array.isArray(upstreamDns)) {
    fail('upstreamDns', "'host' or an array of server addresses", upstreamDns);
  }
  const ipv6 = check.boolean('ipv6', o.ipv6 ?? tapDefaults.ipv6);
  const llmnr = check.boolean('llmnr', o.llmnr ?? true);
  // Every package must be able to name its resources after the prefix: devices (15 bytes with
  // the index), nft tables and iptables chains (the firewall's 12 characters).
  const prefix = o.prefix ?? tapDefaults.prefix;
  if (typeof prefix !== 'string' || !/^[a-z][a-z0-9]{0,11}$/.test(prefix)) {
    fail('prefix', '1 to 12 characters of a-z and 0-9, starting with a letter', prefix);
  }
  const cleanupStale = check.boolean('cleanupStale', o.cleanupStale ?? true);
  const dnsDomain = o.dnsDomain;
  if (dnsDomain !== undefined && dnsDomain !== null && !isDnsName(dnsDomain)) {
    fail(
      'dnsDomain',
      'a DNS name (RFC 1123 labels: letters, digits, inner hyphens; no trailing dot) or null',
      dnsDomain,
    );
  }
  const stateDir = o.stateDir ?? tapDefaults.stateDir;
  if (typeof stateDir !== 'string' || !stateDir.startsWith('/')) {
    fail('stateDir', 'an absolute path', stateDir);
  }
  return {
    size,
    prefix,
    subnet: o.subnet as string | undefined,
    prefixLength: o.prefixLength as number | undefined,
    firewall,
    uplink: uplink as string | null | undefined,
    metadataIp: (o.metadataIp as string | undefined) ?? tapDefaults.metadataIp,
    metadataPort,
    metadataNames: (o.metadataNames as readonly string[] | undefined) ?? dnsDefaults.metadataNames,
    hostRecords: (o.hostRecords as readonly HostRecord[] | undefined) ?? [],
    srvRecords: (o.srvRecords as readonly SrvRecord[] | undefined) ?? [],
    upstreamDns: upstreamDns as readonly string[] | 'host',
    leaseTime: (o.leaseTime as string | number | undefined) ?? dnsDefaults.leaseTime,
    // undefined: @tapnet/dhcp-dns's default (`tapnet.internal`).
    dnsDomain: dnsDomain as string | null | undefined,
    allow: (o.allow as readonly AllowEntry[] | undefined) ?? [],
    ipv6,
    limits: normalizeLimits(o.limits),
    llmnr,
    stateDir,
    owner: o.owner as { uid?: number; gid?: number } | undefined,
    metadataHardening: o.metadataHardening as MetadataServerOptions['hardening'] | undefined,
    cleanupStale,
    dnsmasqRestart: o.dnsmasqRestart as RestartOptions | undefined,
  };
}
