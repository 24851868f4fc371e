import { nullPrototypeCopy } from '@tapnet/internal';
import { defaults, fileNames } from './defaults.js';
import { array, dnsName, fail, integer, plainObject, rejectUnknown } from './options-checks.js';
import { normalizeNetworks } from './options-networks.js';
import { normalizeRecords } from './options-records.js';
import { isIPv4, isIPv6, isLeaseTime, isSafeAbsolutePath } from './validate.js';

export { defaults, fileNames } from './defaults.js';
export { MAX_NETWORKS } from './options-networks.js';
export { normalizeRecords } from './options-records.js';

export interface DhcpNetwork {
  /** Tag for this network in dnsmasq's config and in lease events, e.g. `tn0`. */
  name: string;
  /** The interface (TAP) dnsmasq serves this network on. */
  device: string;
  /** The host's address on `device`: router and DNS server for the guest. */
  gateway: string;
  netmask: string;
  rangeStart: string;
  rangeEnd: string;
}

export interface HostRecord {
  names: readonly string[];
  ipv4?: string;
  ipv6?: string;
}

export interface SrvRecord {
  /** `http` or `_http`. */
  service: string;
  /** `tcp` or `_tcp`. */
  protocol: string;
  domain?: string;
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface RestartOptions {
  /** Consecutive quick failures after which the supervisor gives up. */
  maxQuickFailures?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A run shorter than this counts as a quick failure. */
  quickFailureWindowMs?: number;
}

export interface DnsmasqOptions {
  networks: readonly DhcpNetwork[];
  /** Folder for the config, lease and pid files (must exist). */
  stateDir: string;
  metadataIp?: string;
  metadataNames?: readonly string[];
  hostRecords?: readonly HostRecord[];
  srvRecords?: readonly SrvRecord[];
  /** `'host'`: the host's /etc/resolv.conf; a list: only these servers; `[]`: local names only. */
  upstream?: readonly string[] | 'host';
  leaseTime?: string | number;
  /**
   * DNS domain of the guests, sent as DHCP options 15 (domain name) and 119 (search list):
   * the metadata names and host records also answer under it, and any other name under it
   * is answered locally (NXDOMAIN), never forwarded. `null`: none of this.
   */
  domain?: string | null;
  dnsmasqPath?: string;
  restart?: RestartOptions;
  readyTimeoutMs?: number;
}

export interface NormalizedNetwork extends DhcpNetwork {
  readonly prefixLength: number;
  /** First and last address of the subnet, as numbers. */
  readonly first: number;
  readonly last: number;
}

export interface NormalizedSrvRecord {
  /** `_service._proto[.domain]` */
  readonly name: string;
  readonly target: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

export interface NormalizedRecords {
  readonly metadataNames: readonly string[];
  readonly hostRecords: readonly Readonly<{
    names: readonly string[];
    ipv4?: string;
    ipv6?: string;
  }>[];
  readonly srvRecords: readonly NormalizedSrvRecord[];
}

export interface NormalizedOptions extends NormalizedRecords {
  readonly networks: readonly NormalizedNetwork[];
  readonly stateDir: string;
  readonly metadataIp: string;
  readonly upstream: readonly string[] | 'host';
  readonly leaseTime: string;
  readonly domain: string | null;
  readonly dnsmasqPath: string;
  readonly restart: Readonly<Required<RestartOptions>>;
  readonly readyTimeoutMs: number;
  readonly configPath: string;
  readonly leasePath: string;
  readonly pidPath: string;
}

const knownOptions = [
  'networks',
  'stateDir',
  'metadataIp',
  'metadataNames',
  'hostRecords',
  'srvRecords',
  'upstream',
  'leaseTime',
  'domain',
  'dnsmasqPath',
  'restart',
  'readyTimeoutMs',
  'runner',
] as const;

/** One place for defaults and validation: a bad value throws InvalidConfigError naming it. */
export function normalizeOptions(input: unknown): NormalizedOptions {
  const o = nullPrototypeCopy(plainObject('options', input));
  rejectUnknown('', o, knownOptions);
  const networks = normalizeNetworks(o.networks);

  if (!isSafeAbsolutePath(o.stateDir)) {
    fail('stateDir', 'an absolute path of letters, digits and `_.+@:/-` (no `..`)', o.stateDir);
  }
  const stateDir = o.stateDir.length > 1 ? o.stateDir.replace(/\/+$/, '') : o.stateDir;

  const metadataIp = o.metadataIp ?? defaults.metadataIp;
  if (!isIPv4(metadataIp)) fail('metadataIp', 'an IPv4 address', o.metadataIp);

  let upstream: readonly string[] | 'host' = defaults.upstream;
  if (o.upstream !== undefined && o.upstream !== 'host') {
    if (!Array.isArray(o.upstream))
      fail('upstream', "`'host'` or an array of IP addresses", o.upstream);
    upstream = array('upstream', o.upstream, 50).map((server, i) => {
      if (!isIPv4(server) && !isIPv6(server))
        fail(`upstream[${i}]`, 'an IPv4 or IPv6 address', server);
      return server;
    });
  }

  const leaseTime = o.leaseTime ?? defaults.leaseTime;
  if (!isLeaseTime(leaseTime)) {
    fail(
      'leaseTime',
      'seconds (an integer of at least 120), `<n>[smhdw]` of at least 2 minutes, or `infinite`',
      o.leaseTime,
    );
  }

  const domain =
    o.domain === null
      ? null
      : dnsName('domain', o.domain === undefined ? defaults.domain : o.domain);

  const dnsmasqPath = o.dnsmasqPath ?? defaults.dnsmasqPath;
  if (typeof dnsmasqPath !== 'string' || dnsmasqPath.length === 0 || dnsmasqPath.includes('\0')) {
    fail('dnsmasqPath', 'a non-empty path or command name', o.dnsmasqPath);
  }

  const restartInput = o.restart === undefined ? {} : plainObject('restart', o.restart);
  rejectUnknown('restart', restartInput, Object.keys(defaults.restart));
  const restart = Object.freeze({
    maxQuickFailures: integer(
      'restart.maxQuickFailures',
      restartInput.maxQuickFailures ?? defaults.restart.maxQuickFailures,
      1,
      1000,
    ),
    initialDelayMs: integer(
      'restart.initialDelayMs',
      restartInput.initialDelayMs ?? defaults.restart.initialDelayMs,
      0,
      600_000,
    ),
    maxDelayMs: integer(
      'restart.maxDelayMs',
      restartInput.maxDelayMs ?? defaults.restart.maxDelayMs,
      0,
      3_600_000,
    ),
    quickFailureWindowMs: integer(
      'restart.quickFailureWindowMs',
      restartInput.quickFailureWindowMs ?? defaults.restart.quickFailureWindowMs,
      0,
      3_600_000,
    ),
  });
  if (restart.maxDelayMs < restart.initialDelayMs) {
    fail(
      'restart.maxDelayMs',
      `an integer not below restart.initialDelayMs (${restart.initialDelayMs})`,
      restartInput.maxDelayMs,
    );
  }
  const readyTimeoutMs = integer(
    'readyTimeoutMs',
    o.readyTimeoutMs ?? defaults.readyTimeoutMs,
    100,
    600_000,
  );
  const records = normalizeRecords({
    metadataNames: o.metadataNames,
    hostRecords: o.hostRecords,
    srvRecords: o.srvRecords,
  });

  return Object.freeze({
    networks,
    stateDir,
    metadataIp,
    ...records,
    upstream,
    leaseTime: String(leaseTime),
    domain,
    dnsmasqPath,
    restart,
    readyTimeoutMs,
    configPath: join(stateDir, fileNames.config),
    leasePath: join(stateDir, fileNames.leases),
    pidPath: join(stateDir, fileNames.pid),
  });
}

function join(dir: string, file: string): string {
  return dir === '/' ? `/${file}` : `${dir}/${file}`;
}
