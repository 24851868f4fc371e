import { formatIPv4, maskOf, parseIPv4 } from '@tapnet/internal';
import type { NormalizedNetwork } from './options.js';
import { array, fail, ipv4, plainObject, rejectUnknown } from './options-checks.js';
import { isInterfaceName, isTagName, prefixLengthOfNetmask } from './validate.js';

export const MAX_NETWORKS = 4096;

const NETWORK_KEYS = ['name', 'device', 'gateway', 'netmask', 'rangeStart', 'rangeEnd'];

/** The `networks` option: each a host subnet of its own, none overlapping another. */
export function normalizeNetworks(value: unknown): NormalizedNetwork[] {
  const list = array('networks', value, MAX_NETWORKS);
  if (list.length === 0) fail('networks', `an array of 1 to ${MAX_NETWORKS} networks`, value);
  const names = new Set<string>();
  const devices = new Set<string>();
  const result: NormalizedNetwork[] = [];
  list.forEach((item, i) => {
    const network = normalizeNetwork(`networks[${i}]`, item, names, devices, result);
    names.add(network.name);
    devices.add(network.device);
    result.push(network);
  });
  return result;
}

function normalizeNetwork(
  at: string,
  item: unknown,
  names: ReadonlySet<string>,
  devices: ReadonlySet<string>,
  earlier: readonly NormalizedNetwork[],
): NormalizedNetwork {
  const n = plainObject(at, item);
  rejectUnknown(at, n, NETWORK_KEYS);
  const { name, device } = n;
  if (!isTagName(name)) fail(`${at}.name`, 'a name of 1 to 32 letters, digits, `_` or `-`', name);
  if (names.has(name)) fail(`${at}.name`, 'a name no other network has', name);
  if (!isInterfaceName(device))
    fail(`${at}.device`, 'an interface name of 1 to 15 letters, digits, `_`, `.` or `-`', device);
  if (devices.has(device)) fail(`${at}.device`, 'a device no other network has', device);
  const prefixLength = prefixLengthOfNetmask(n.netmask);
  if (prefixLength === undefined || typeof n.netmask !== 'string')
    fail(`${at}.netmask`, 'an IPv4 netmask from 128.0.0.0 to 255.255.255.252', n.netmask);
  const mask = maskOf(prefixLength);
  const gateway = ipv4(`${at}.gateway`, n.gateway);
  const first = (gateway.value & mask) >>> 0;
  const last = (first | (~mask >>> 0)) >>> 0;
  const subnet = `${formatIPv4(first)}/${prefixLength}`;
  const inSubnet = (x: number) => x > first && x < last;
  const hostAddress = (field: string, value: unknown) => {
    const address = parseIPv4(value);
    if (address === undefined || typeof value !== 'string' || !inSubnet(address))
      fail(field, `a host address in ${subnet}`, value);
    return { text: value, value: address };
  };
  hostAddress(`${at}.gateway`, n.gateway);
  const start = hostAddress(`${at}.rangeStart`, n.rangeStart);
  const end = hostAddress(`${at}.rangeEnd`, n.rangeEnd);
  if (end.value < start.value)
    fail(`${at}.rangeEnd`, `an address not below rangeStart ${start.text}`, n.rangeEnd);
  if (gateway.value >= start.value && gateway.value <= end.value)
    fail(`${at}.gateway`, `an address outside the range ${start.text}-${end.text}`, n.gateway);
  for (const other of earlier) {
    if (first <= other.last && other.first <= last) {
      fail(
        `${at}.gateway`,
        `a subnet that does not overlap ${other.name}'s ${formatIPv4(other.first)}/${other.prefixLength}`,
        n.gateway,
      );
    }
  }
  return Object.freeze({
    name,
    device,
    gateway: gateway.text,
    netmask: n.netmask,
    rangeStart: start.text,
    rangeEnd: end.text,
    prefixLength,
    first,
    last,
  });
}
