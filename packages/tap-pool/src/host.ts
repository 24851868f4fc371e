import { StateError } from './errors.js';
import type { HostSnapshot } from './plan.js';
import { defaultRunner, type Runner, runChecked } from './runner.js';

interface IpAddrEntry {
  ifname?: string;
  group?: string | number;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

interface IpRouteEntry {
  type?: string;
  dst?: string;
  dev?: string;
}

function parseJsonArray<T>(text: string, what: string): T[] {
  try {
    const value: unknown = JSON.parse(text.trim() || '[]');
    if (Array.isArray(value)) return value as T[];
  } catch {
    // reported below
  }
  throw new StateError(
    `Expected \`${what}\` to print a JSON array, got ${JSON.stringify(text.slice(0, 200))}`,
  );
}

/** Devices and IPv4 addresses from `ip -json addr show` output. */
export function parseAddrJson(text: string): Pick<HostSnapshot, 'devices' | 'addresses'> {
  const devices: string[] = [];
  const addresses: HostSnapshot['addresses'] = [];
  for (const link of parseJsonArray<IpAddrEntry>(text, 'ip -json addr show')) {
    if (typeof link.ifname !== 'string') continue;
    devices.push(link.ifname);
    for (const addr of link.addr_info ?? []) {
      if (addr.family === 'inet' && addr.local)
        addresses.push({ dev: link.ifname, cidr: `${addr.local}/${addr.prefixlen ?? 32}` });
    }
  }
  return { devices, addresses };
}

/**
 * IPv4 routes from `ip -json -4 route show table all` output, without the kernel's local and
 * broadcast entries (they mirror addresses, which are listed on their own).
 */
export function parseRouteJson(text: string): HostSnapshot['routes'] {
  const routes: HostSnapshot['routes'] = [];
  for (const route of parseJsonArray<IpRouteEntry>(text, 'ip -json -4 route show table all')) {
    if (typeof route.dst !== 'string') continue;
    if (route.type === 'local' || route.type === 'broadcast' || route.type === 'multicast')
      continue;
    const dst = route.dst === 'default' || route.dst.includes('/') ? route.dst : `${route.dst}/32`;
    routes.push(route.dev ? { dst, dev: route.dev } : { dst });
  }
  return routes;
}

export interface LinkInfo {
  name: string;
  /** `tun/tap`, `veth`, `bridge`, ... or `unknown`. */
  kind: string;
  /** Only TAP devices made by `ip tuntap` (kind tun, type tap) count as ours. */
  isTap: boolean;
  /** Link group as `ip` prints it: a number, or a name such as `default`. */
  group: string;
  /** The device's ifalias ('' when none): tapnet's TAPs carry their run's mark there. */
  alias: string;
}

/** Links and their kinds from `ip -details -json link show` output. */
export function parseLinkDetails(text: string): Map<string, LinkInfo> {
  const links = new Map<string, LinkInfo>();
  for (const link of parseJsonArray<IpAddrEntry>(text, 'ip -details -json link show')) {
    if (typeof link.ifname !== 'string') continue;
    const kind = link.linkinfo?.info_kind ?? 'unknown';
    const type = link.linkinfo?.info_data?.type;
    links.set(link.ifname, {
      name: link.ifname,
      kind: kind === 'tun' ? `tun/${type ?? '?'}` : kind,
      isTap: kind === 'tun' && type === 'tap',
      group: String(link.group ?? 'default'),
      alias: typeof link.ifalias === 'string' ? link.ifalias : '',
    });
  }
  return links;
}

/** Every IPv4 route of every table, as JSON: what a plan must not overlap. */
export const ROUTES_ARGV: readonly string[] = [
  'ip',
  '-json',
  '-4',
  'route',
  'show',
  'table',
  'all',
];

/** Reads devices, IPv4 routes (all tables) and IPv4 addresses in two processes. */
export async function readHostSnapshot(runner: Runner = defaultRunner): Promise<HostSnapshot> {
  const [addr, route] = await Promise.all([
    runChecked(runner, 'Could not list addresses', ['ip', '-json', 'addr', 'show']),
    runChecked(runner, 'Could not list routes', ROUTES_ARGV),
  ]);
  return { ...parseAddrJson(addr), routes: parseRouteJson(route) };
}

/**
 * Every link with its kind, group and ifalias: `ip -details -json link show`. Not `addr show`:
 * with n links, each with an address, iproute2 matches every address against every link (n²:
 * 3× the time at 4096 TAPs) and prints 20 % more JSON to parse.
 */
export async function readLinks(runner: Runner): Promise<Map<string, LinkInfo>> {
  const text = await runChecked(runner, 'Could not list devices', [
    'ip',
    '-details',
    '-json',
    'link',
    'show',
  ]);
  return parseLinkDetails(text);
}

/** The IPv4 addresses of one device (one kernel lookup, however many devices there are). */
export async function readAddressesOf(
  runner: Runner,
  device: string,
): Promise<HostSnapshot['addresses']> {
  const text = await runChecked(runner, `Could not list the addresses of ${device}`, [
    'ip',
    '-json',
    '-4',
    'addr',
    'show',
    'dev',
    device,
  ]);
  return parseAddrJson(text).addresses;
}
