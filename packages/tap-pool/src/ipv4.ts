// IPv4 addresses as unsigned 32-bit numbers, and CIDR ranges over them.

export interface Cidr {
  /** The network address (host bits zero). */
  base: number;
  prefixLength: number;
}

const QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** Parses a dotted quad (no leading zeros, which some tools read as octal); undefined when invalid. */
export function parseIpv4(text: string): number | undefined {
  const match = QUAD.exec(text);
  if (!match) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(match[i]);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function sizeOf(prefixLength: number): number {
  return 2 ** (32 - prefixLength);
}

/** Parses `a.b.c.d/len` (or a bare address as /32). `strict` refuses host bits. */
export function parseCidr(text: string, strict: boolean): Cidr | undefined {
  const [address, length, extra] = text.split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const value = parseIpv4(address);
  if (value === undefined) return undefined;
  let prefixLength = 32;
  if (length !== undefined) {
    if (!/^(0|[1-9]\d?)$/.test(length)) return undefined;
    prefixLength = Number(length);
    if (prefixLength > 32) return undefined;
  }
  const base = (value & maskOf(prefixLength)) >>> 0;
  if (strict && base !== value) return undefined;
  return { base, prefixLength };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefixLength}`;
}

export function lastOf(cidr: Cidr): number {
  return cidr.base + sizeOf(cidr.prefixLength) - 1;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastOf(b) && b.base <= lastOf(a);
}

export function contains(cidr: Cidr, address: number): boolean {
  return address >= cidr.base && address <= lastOf(cidr);
}

export const LOOPBACK: Cidr = { base: 0x7f000000, prefixLength: 8 };
