import * as kit from '@tapnet/internal';
import { describeValue } from '@tapnet/internal';
import { InvalidOptionError } from './errors.js';

// The IPv4 arithmetic is the kit's, one parser for every package; what is here is what the
// metadata service adds (remote-address unwrapping, a throwing subnet parser). The public
// functions are typed here, not re-exported, so the published types never name the kit.

/** An IPv4 subnet as integers: `base` has no host bits set, `prefixLength` is 0 to 32. */
export interface Cidr {
  readonly base: number;
  readonly prefixLength: number;
}

/**
 * Parses a strict dotted-quad IPv4 address ("10.0.0.1"; no leading zeros, no shorthand) into an
 * unsigned 32-bit integer, or undefined.
 */
export const parseIPv4: (text: unknown) => number | undefined = kit.parseIPv4;

/** Formats an unsigned 32-bit integer as a dotted quad. */
export const formatIPv4: (value: number) => string = kit.formatIPv4;

/** The netmask of a prefix length as an unsigned 32-bit integer. */
export const maskOf: (prefixLength: number) => number = kit.maskOf;

/** "a.b.c.d/p" of a parsed subnet. */
export const formatCidr: (cidr: Cidr) => string = kit.formatCidr;

/** True when two subnets share at least one address. */
export const overlaps: (a: Cidr, b: Cidr) => boolean = kit.overlaps;

/**
 * The IPv4 address a socket's remote address stands for, as an integer, or undefined when it is
 * not IPv4 (plain IPv6, a unix socket). Dual-stack sockets report IPv4 peers as
 * `::ffff:a.b.c.d`; that form is unwrapped so it maps to the same network.
 */
export function remoteIPv4(address: string | undefined): number | undefined {
  if (address === undefined) return undefined;
  const direct = kit.parseIPv4(address);
  if (direct !== undefined) return direct;
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:') {
    return kit.parseIPv4(address.slice(7));
  }
  return undefined;
}

/** The canonical text of a remote address: `::ffff:a.b.c.d` becomes `a.b.c.d`. */
export function normalizeRemoteAddress(address: string | undefined): string {
  if (address === undefined) return '';
  const ip = remoteIPv4(address);
  return ip === undefined ? address.toLowerCase() : kit.formatIPv4(ip);
}

/**
 * Parses "a.b.c.d/p" (or a bare address, meaning /32). Host bits are cleared, so
 * "192.168.150.1/24" is the subnet 192.168.150.0/24.
 */
export function parseCidr(text: unknown, label = 'cidr'): Cidr {
  const cidr = kit.parseCidr(text, { bareAddress: true });
  if (cidr === undefined) {
    throw new InvalidOptionError(
      `Expected \`${label}\` to be an IPv4 subnet like "192.168.150.0/24", got ${describeValue(text)}`,
    );
  }
  return { base: cidr.base, prefixLength: cidr.prefixLength };
}
