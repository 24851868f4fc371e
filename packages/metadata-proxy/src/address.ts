import { describe, InvalidOptionError } from './errors.js';

/** An IPv4 subnet as integers: `network` has no host bits set. */
export interface Cidr {
  readonly network: number;
  readonly prefix: number;
}

const MASKS: readonly number[] = Array.from({ length: 33 }, (_, p) =>
  p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0,
);

/** The netmask of a prefix length as an unsigned 32-bit integer. */
export function maskOf(prefix: number): number {
  return MASKS[prefix] ?? 0;
}

/**
 * Parses a strict dotted-quad IPv4 address ("10.0.0.1"; no leading zeros, no shorthand) into an
 * unsigned 32-bit integer, or undefined.
 */
export function parseIPv4(text: string): number | undefined {
  const length = text.length;
  if (length < 7 || length > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      // "01" is octal to some parsers and decimal to others: refuse it.
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + octet;
}

/** Formats an unsigned 32-bit integer as a dotted quad. */
export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * The IPv4 address a socket's remote address stands for, as an integer, or undefined when it is
 * not IPv4 (plain IPv6, a unix socket). Dual-stack sockets report IPv4 peers as
 * `::ffff:a.b.c.d`; that form is unwrapped so it maps to the same network.
 */
export function remoteIPv4(address: string | undefined): number | undefined {
  if (address === undefined) return undefined;
  const direct = parseIPv4(address);
  if (direct !== undefined) return direct;
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:') {
    return parseIPv4(address.slice(7));
  }
  return undefined;
}

/** The canonical text of a remote address: `::ffff:a.b.c.d` becomes `a.b.c.d`. */
export function normalizeRemoteAddress(address: string | undefined): string {
  if (address === undefined) return '';
  const ip = remoteIPv4(address);
  return ip === undefined ? address.toLowerCase() : formatIPv4(ip);
}

/**
 * Parses "a.b.c.d/p" (or a bare address, meaning /32). Host bits are cleared, so
 * "192.168.150.1/24" is the subnet 192.168.150.0/24.
 */
export function parseCidr(text: unknown, label = 'cidr'): Cidr {
  const fail = () =>
    new InvalidOptionError(
      `Expected \`${label}\` to be an IPv4 subnet like "192.168.150.0/24", got ${describe(text)}`,
    );
  if (typeof text !== 'string') throw fail();
  const slash = text.indexOf('/');
  const address = parseIPv4(slash === -1 ? text : text.slice(0, slash));
  if (address === undefined) throw fail();
  let prefix = 32;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(p)) throw fail();
    prefix = Number(p);
  }
  return { network: (address & maskOf(prefix)) >>> 0, prefix };
}

/** "a.b.c.d/p" of a parsed subnet. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.network)}/${cidr.prefix}`;
}

/** True when two subnets share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const mask = maskOf(Math.min(a.prefix, b.prefix));
  return (a.network & mask) >>> 0 === (b.network & mask) >>> 0;
}
