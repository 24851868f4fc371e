// IPv4 addresses as unsigned 32-bit numbers, and CIDR ranges over them: the one parser every
// package uses, so "what is a valid IPv4 address" is decided in one place.

/** An IPv4 range: `base` is the network address (host bits zero), `prefixLength` 0 to 32. */
export interface Cidr {
  readonly base: number;
  readonly prefixLength: number;
}

/** A parsed `a.b.c.d/n`: the range, and whether the text was already its network address. */
export interface ParsedCidr extends Cidr {
  /** False when the text had host bits set (`10.0.0.1/24`); `base` has them cleared. */
  readonly canonical: boolean;
}

const MASKS: readonly number[] = Array.from({ length: 33 }, (_, p) =>
  p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0,
);
const PREFIX_LENGTH = /^(?:[0-9]|[12][0-9]|3[0-2])$/;

/**
 * Parses a strict dotted quad ("10.0.0.1") to an unsigned 32-bit number, or undefined. Leading
 * zeros are refused: "010" is octal to some parsers (inet_aton) and decimal to others, so the
 * same text could name two hosts. No shorthand ("10.1"), no spaces. A hand-written scan, not
 * a regular expression: the metadata service runs it on every request.
 */
export function parseIPv4(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
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

/** True for a strict dotted quad (see `parseIPv4`). */
export function isIPv4(text: unknown): text is string {
  return parseIPv4(text) !== undefined;
}

/** The dotted quad of an unsigned 32-bit number. */
export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** The netmask of a prefix length as an unsigned 32-bit number (0 outside 0..32). */
export function maskOf(prefixLength: number): number {
  return MASKS[prefixLength] ?? 0;
}

/** How many addresses a range of this prefix length holds. */
export function sizeOf(prefixLength: number): number {
  return 2 ** (32 - prefixLength);
}

/**
 * Parses `a.b.c.d/n` (prefix length 0 to 32, no leading zeros), or undefined. A bare address
 * is a /32 only with `bareAddress: true`: where a subnet is expected, `10.0.0.0` alone is more
 * likely a mistake than a one-host network. Host bits are cleared; `canonical` says if any were set.
 */
export function parseCidr(
  text: unknown,
  options: { bareAddress?: boolean } = {},
): ParsedCidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash === -1 && !options.bareAddress) return undefined;
  const address = parseIPv4(slash === -1 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  let prefixLength = 32;
  if (slash !== -1) {
    const lengthText = text.slice(slash + 1);
    if (!PREFIX_LENGTH.test(lengthText)) return undefined;
    prefixLength = Number(lengthText);
  }
  const base = (address & maskOf(prefixLength)) >>> 0;
  return { base, prefixLength, canonical: base === address };
}

/** `a.b.c.d/n` of a range. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.base)}/${cidr.prefixLength}`;
}

/** The last address of a range (its broadcast address). */
export function lastOf(cidr: Cidr): number {
  return cidr.base + sizeOf(cidr.prefixLength) - 1;
}

export function contains(cidr: Cidr, address: number): boolean {
  return address >= cidr.base && address <= lastOf(cidr);
}

/** True when two ranges share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastOf(b) && b.base <= lastOf(a);
}

/** 127.0.0.0/8. */
export const LOOPBACK: Cidr = Object.freeze({ base: 0x7f000000, prefixLength: 8 });
