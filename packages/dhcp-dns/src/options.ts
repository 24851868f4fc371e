import { InvalidConfigError } from './errors.js';
import {
  formatIPv4,
  isDnsName,
  isInterfaceName,
  isIPv4,
  isIPv6,
  isLeaseTime,
  isPort,
  isSafeAbsolutePath,
  isSrvLabel,
  isTagName,
  parseIPv4,
  prefixLengthOfNetmask,
} from './validate.js';

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

export const defaults = Object.freeze({
  metadataIp: '169.254.169.254',
  metadataNames: Object.freeze(['taskcluster']),
  upstream: 'host' as const,
  leaseTime: '20m',
  // `.internal` is reserved for private use (ICANN, 2024): never a public name.
  domain: 'tapnet.internal',
  dnsmasqPath: 'dnsmasq',
  readyTimeoutMs: 10_000,
  restart: Object.freeze({
    maxQuickFailures: 5,
    initialDelayMs: 200,
    maxDelayMs: 10_000,
    quickFailureWindowMs: 10_000,
  }),
});

export const MAX_NETWORKS = 4096;

export const fileNames = Object.freeze({
  config: 'dnsmasq.conf',
  leases: 'dnsmasq.leases',
  pid: 'dnsmasq.pid',
});

function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidConfigError(field, expected, value);
}

function plainObject(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(field, 'an object', value);
  return value as Record<string, unknown>;
}

function array(field: string, value: unknown, max = 10_000): readonly unknown[] {
  if (!Array.isArray(value)) fail(field, 'an array', value);
  if (value.length > max) fail(field, `an array of at most ${max} items`, value);
  return value;
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    fail(field, `an integer from ${min} to ${max}`, value);
  }
  return value as number;
}

function rejectUnknown(
  field: string,
  object: Record<string, unknown>,
  known: readonly string[],
): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key))
      fail(
        `${field}${field ? '.' : ''}${key}`,
        `one of ${known.map((k) => `\`${k}\``).join(', ')} (unknown option)`,
        object[key],
      );
  }
}

function dnsName(field: string, value: unknown): string {
  if (!isDnsName(value))
    fail(field, 'a DNS name (RFC 1123 labels: letters, digits, inner hyphens)', value);
  return value.toLowerCase();
}

function normalizeNetworks(value: unknown): NormalizedNetwork[] {
  const list = array('networks', value, MAX_NETWORKS);
  if (list.length === 0) fail('networks', `an array of 1 to ${MAX_NETWORKS} networks`, value);
  const names = new Set<string>();
  const devices = new Set<string>();
  const result: NormalizedNetwork[] = [];
  list.forEach((item, i) => {
    const at = `networks[${i}]`;
    const n = plainObject(at, item);
    rejectUnknown(at, n, ['name', 'device', 'gateway', 'netmask', 'rangeStart', 'rangeEnd']);
    if (!isTagName(n.name))
      fail(`${at}.name`, 'a name of 1 to 32 letters, digits, `_` or `-`', n.name);
    if (names.has(n.name)) fail(`${at}.name`, 'a name no other network has', n.name);
    if (!isInterfaceName(n.device))
      fail(
        `${at}.device`,
        'an interface name of 1 to 15 letters, digits, `_`, `.` or `-`',
        n.device,
      );
    if (devices.has(n.device)) fail(`${at}.device`, 'a device no other network has', n.device);
    const prefixLength = prefixLengthOfNetmask(n.netmask);
    if (prefixLength === undefined)
      fail(`${at}.netmask`, 'an IPv4 netmask from 128.0.0.0 to 255.255.255.252', n.netmask);
    const mask = parseIPv4(n.netmask)!;
    const gateway = parseIPv4(n.gateway);
    if (gateway === undefined) fail(`${at}.gateway`, 'an IPv4 address', n.gateway);
    const first = (gateway & mask) >>> 0;
    const last = (first | (~mask >>> 0)) >>> 0;
    const inSubnet = (x: number) => x > first && x < last;
    if (!inSubnet(gateway))
      fail(`${at}.gateway`, `a host address in ${formatIPv4(first)}/${prefixLength}`, n.gateway);
    const start = parseIPv4(n.rangeStart);
    if (start === undefined || !inSubnet(start))
      fail(
        `${at}.rangeStart`,
        `a host address in ${formatIPv4(first)}/${prefixLength}`,
        n.rangeStart,
      );
    const end = parseIPv4(n.rangeEnd);
    if (end === undefined || !inSubnet(end))
      fail(`${at}.rangeEnd`, `a host address in ${formatIPv4(first)}/${prefixLength}`, n.rangeEnd);
    if (end < start)
      fail(
        `${at}.rangeEnd`,
        `an address not below rangeStart ${n.rangeStart as string}`,
        n.rangeEnd,
      );
    if (gateway >= start && gateway <= end)
      fail(
        `${at}.gateway`,
        `an address outside the range ${n.rangeStart as string}-${n.rangeEnd as string}`,
        n.gateway,
      );
    for (const other of result) {
      if (first <= other.last && other.first <= last) {
        fail(
          `${at}.gateway`,
          `a subnet that does not overlap ${other.name}'s ${formatIPv4(other.first)}/${other.prefixLength}`,
          n.gateway,
        );
      }
    }
    names.add(n.name);
    devices.add(n.device);
    result.push(
      Object.freeze({
        name: n.name,
        device: n.device,
        gateway: n.gateway as string,
        netmask: n.netmask as string,
        rangeStart: n.rangeStart as string,
        rangeEnd: n.rangeEnd as string,
        prefixLength,
        first,
        last,
      }),
    );
  });
  return result;
}

function normalizeHostRecords(value: unknown): NormalizedRecords['hostRecords'] {
  if (value === undefined) return [];
  return array('hostRecords', value).map((item, i) => {
    const at = `hostRecords[${i}]`;
    const r = plainObject(at, item);
    rejectUnknown(at, r, ['names', 'ipv4', 'ipv6']);
    const names = array(`${at}.names`, r.names, 100);
    if (names.length === 0) fail(`${at}.names`, 'a non-empty array of DNS names', r.names);
    const record: { names: string[]; ipv4?: string; ipv6?: string } = {
      names: names.map((name, j) => dnsName(`${at}.names[${j}]`, name)),
    };
    if (r.ipv4 !== undefined) {
      if (!isIPv4(r.ipv4)) fail(`${at}.ipv4`, 'an IPv4 address', r.ipv4);
      record.ipv4 = r.ipv4;
    }
    if (r.ipv6 !== undefined) {
      if (!isIPv6(r.ipv6)) fail(`${at}.ipv6`, 'an IPv6 address', r.ipv6);
      record.ipv6 = r.ipv6;
    }
    if (record.ipv4 === undefined && record.ipv6 === undefined)
      fail(`${at}.ipv4`, 'an IPv4 address (or `ipv6` set)', r.ipv4);
    return Object.freeze(record);
  });
}

function srvLabel(field: string, value: unknown): string {
  const label = typeof value === 'string' && !value.startsWith('_') ? `_${value}` : value;
  if (!isSrvLabel(label))
    fail(field, 'an SRV label (`http` or `_http`: letters, digits, inner hyphens)', value);
  return label.toLowerCase();
}

function normalizeSrvRecords(value: unknown): NormalizedSrvRecord[] {
  if (value === undefined) return [];
  return array('srvRecords', value).map((item, i) => {
    const at = `srvRecords[${i}]`;
    const r = plainObject(at, item);
    rejectUnknown(at, r, ['service', 'protocol', 'domain', 'target', 'port', 'priority', 'weight']);
    const service = srvLabel(`${at}.service`, r.service);
    const protocol = srvLabel(`${at}.protocol`, r.protocol);
    const domain = r.domain === undefined ? undefined : dnsName(`${at}.domain`, r.domain);
    const target = dnsName(`${at}.target`, r.target);
    if (!isPort(r.port)) fail(`${at}.port`, 'an integer from 0 to 65535', r.port);
    const priority =
      r.priority === undefined ? 0 : integer(`${at}.priority`, r.priority, 0, 65_535);
    const weight = r.weight === undefined ? 0 : integer(`${at}.weight`, r.weight, 0, 65_535);
    const name = [service, protocol, ...(domain ? [domain] : [])].join('.');
    if (name.length > 253)
      fail(`${at}.domain`, 'a domain that keeps the SRV name within 253 characters', r.domain);
    return Object.freeze({ name, target, port: r.port, priority, weight });
  });
}

function normalizeMetadataNames(value: unknown): string[] {
  if (value === undefined) return [...defaults.metadataNames];
  return array('metadataNames', value, 100).map((name, i) => dnsName(`metadataNames[${i}]`, name));
}

/** Validates the records `reload()` may change, with the same rules as `start()`. */
export function normalizeRecords(input: unknown): NormalizedRecords {
  const o = plainObject('records', input);
  rejectUnknown('', o, ['metadataNames', 'hostRecords', 'srvRecords']);
  return {
    metadataNames: normalizeMetadataNames(o.metadataNames),
    hostRecords: normalizeHostRecords(o.hostRecords),
    srvRecords: normalizeSrvRecords(o.srvRecords),
  };
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
  const o = Object.assign(
    Object.create(null) as Record<string, unknown>,
    plainObject('options', input),
  );
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
