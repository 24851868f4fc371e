import { InvalidQemuArgError, show } from './errors.js';
import { assertCarriable } from './escape.js';

const QEMU_ID = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** QEMU's id rule (`id_wellformed`): a letter, then letters, digits, `-`, `.` and `_`. */
export function validateId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !QEMU_ID.test(value)) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a QEMU id (a letter, then letters, digits, \`-\`, \`.\` or \`_\`), got ${show(value)}`,
      field,
    );
  }
  return value;
}

/** Linux's `dev_valid_name`: 1 to 15 bytes, not `.`/`..`, no `/`, `:` or whitespace (and no control characters). */
export function validateIfname(value: unknown, field: string): string {
  if (
    typeof value !== 'string' ||
    value === '' ||
    Buffer.byteLength(value) > 15 ||
    value === '.' ||
    value === '..' ||
    /[/:\s\p{Cc}]/u.test(value)
  ) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a network interface name of 1 to 15 bytes without \`/\`, \`:\` or whitespace, got ${show(value)}`,
      field,
    );
  }
  return value;
}

export function validateInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be an integer from ${min} to ${max}, got ${show(value)}`,
      field,
    );
  }
  return value;
}

export function validatePort(value: unknown, field: string, min = 1): number {
  return validateInteger(value, field, min, 65535);
}

export function validateBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean')
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a boolean, got ${show(value)}`,
      field,
    );
  return value;
}

/** A string QEMU can carry: non-empty, no newline or NUL. */
export function validateText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a non-empty string, got ${show(value)}`,
      field,
    );
  }
  assertCarriable(value, field);
  return value;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Dotted-quad IPv4 address in canonical form (no leading zeros, which `inet_aton` reads as octal). */
export function validateIpv4(value: unknown, field: string): string {
  if (typeof value !== 'string' || !IPV4.test(value)) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be an IPv4 address like \`10.0.2.2\`, got ${show(value)}`,
      field,
    );
  }
  return value;
}

export function ipv4ToInt(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export interface Ipv4Network {
  address: number;
  prefix: number;
  mask: number;
}

/** `a.b.c.d/n` with n from 4 to 32 (slirp's range) and no host bits set. */
export function validateIpv4Network(value: unknown, field: string): Ipv4Network {
  const fail = (): never => {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be an IPv4 network like \`10.0.2.0/24\` (prefix 4 to 32, no host bits), got ${show(value)}`,
      field,
    );
  };
  if (typeof value !== 'string') return fail();
  const match = /^([^/]+)\/(\d{1,2})$/.exec(value);
  if (!match || !IPV4.test(match[1]!)) return fail();
  const prefix = Number(match[2]);
  if (prefix < 4 || prefix > 32 || String(prefix) !== match[2]) return fail();
  const mask = prefix === 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
  const address = ipv4ToInt(match[1]!);
  if ((address & mask) >>> 0 !== address) return fail();
  return { address, prefix, mask };
}

export function inNetwork(address: string, network: Ipv4Network): boolean {
  return (ipv4ToInt(address) & network.mask) >>> 0 === network.address;
}

/**
 * A unicast MAC `xx:xx:xx:xx:xx:xx` (hex, either case), returned lower-case. Multicast (low bit of
 * the first octet) and all-zero addresses are rejected: QEMU treats zero as "unset".
 */
export function validateMac(value: unknown, field: string): string {
  const fail = (why: string): never => {
    throw new InvalidQemuArgError(`Expected \`${field}\` to be ${why}, got ${show(value)}`, field);
  };
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(value)) {
    return fail('a MAC address like `52:54:00:12:34:56`');
  }
  const mac = value.toLowerCase();
  if (Number.parseInt(mac.slice(0, 2), 16) & 1)
    return fail('a unicast MAC address (first octet even)');
  if (mac === '00:00:00:00:00:00') return fail('a non-zero MAC address');
  return mac;
}

/** A null-prototype copy of an options object, rejecting unknown keys. */
export function copyOptions<K extends string>(
  value: unknown,
  field: string,
  keys: readonly K[],
): Partial<Record<K, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be an object, got ${show(value)}`,
      field,
    );
  }
  const copy = Object.create(null) as Partial<Record<K, unknown>>;
  for (const key of Object.keys(value)) {
    if (!(keys as readonly string[]).includes(key)) {
      const name = field === 'options' ? key : `${field}.${key}`;
      throw new InvalidQemuArgError(
        `Expected \`${name}\` to be absent (known options: ${keys.join(', ')}), got ${show((value as Record<string, unknown>)[key])}`,
        name,
      );
    }
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) copy[key as K] = v;
  }
  return copy;
}
