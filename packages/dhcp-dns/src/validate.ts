import { isIPv6 as nodeIsIPv6 } from 'node:net';
import { isIPv4 as kitIsIPv4, parseIPv4 } from '@tapnet/internal';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const SRV_LABEL = /^_[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A host name per RFC 1123: dot-separated labels of letters, digits and inner hyphens; no trailing dot. */
export function isDnsName(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253) return false;
  return value.split('.').every((label) => LABEL.test(label));
}

/** An SRV service or protocol label: `_` then an RFC 1123 label, e.g. `_http`, `_tcp`. */
export function isSrvLabel(value: unknown): value is string {
  return typeof value === 'string' && SRV_LABEL.test(value);
}

/** A strict dotted quad (no leading zeros, no shorthand): the kit's one IPv4 parser. */
export const isIPv4: (value: unknown) => value is string = kitIsIPv4;

/** An IPv6 address without zone index (a `%` would reach dnsmasq's parser). */
export function isIPv6(value: unknown): value is string {
  return typeof value === 'string' && !value.includes('%') && nodeIsIPv6(value);
}

/** A netmask with contiguous ones, /1 to /30 (a DHCP network needs room for a gateway and a client). */
export function prefixLengthOfNetmask(value: unknown): number | undefined {
  const n = parseIPv4(value);
  if (n === undefined) return undefined;
  const inverted = ~n >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return undefined;
  const prefix = 32 - Math.log2(inverted + 1);
  return prefix >= 1 && prefix <= 30 ? prefix : undefined;
}

/** A tag name for dnsmasq's `set:`/`tag:`: short, and nothing dnsmasq's parser treats specially. */
export function isTagName(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(value);
}

/** A Linux interface name: 1-15 characters; here restricted to letters, digits, `_`, `.`, `-`. */
export function isInterfaceName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    /^[A-Za-z0-9_.-]{1,15}$/.test(value) &&
    value !== '.' &&
    value !== '..'
  );
}

/**
 * An absolute path that can sit in a dnsmasq config line as is: no whitespace, quotes,
 * backslashes, `#`, `,` or control characters (dnsmasq's parser gives all of them meaning).
 */
export function isSafeAbsolutePath(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= 1024 &&
    /^\/[A-Za-z0-9_.+@:/-]*$/.test(value) &&
    !value.split('/').includes('..')
  );
}

/** A dnsmasq lease time: seconds (integer, at least 120), `<n>[smhdw]` (at least 2 minutes), or `infinite`. */
export function isLeaseTime(value: unknown): value is string | number {
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && value >= 120 && value <= 2 ** 31 - 1;
  if (typeof value !== 'string') return false;
  if (value === 'infinite') return true;
  const match = /^([1-9][0-9]{0,9})([smhdw]?)$/.exec(value);
  if (!match) return false;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] as '' | 's'];
  const seconds = Number(match[1]) * unit;
  return seconds >= 120 && seconds <= 2 ** 31 - 1;
}

export function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65_535;
}
