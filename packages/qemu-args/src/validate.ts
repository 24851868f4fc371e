import {
  type Cidr,
  checks,
  contains,
  describeValue,
  expectedMessage,
  isIPv4,
  parseCidr,
  parseIPv4,
} from '@tapnet/internal';
import { InvalidQemuArgError } from './errors.js';
import { assertCarriable } from './escape.js';

function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidQemuArgError(expectedMessage(field, expected, value), field);
}

const check = checks(fail);

const QEMU_ID = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** QEMU's id rule (`id_wellformed`): a letter, then letters, digits, `-`, `.` and `_`. */
export function validateId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !QEMU_ID.test(value)) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a QEMU id (a letter, then letters, digits, \`-\`, \`.\` or \`_\`), got ${describeValue(value)}`,
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
      `Expected \`${field}\` to be a network interface name of 1 to 15 bytes without \`/\`, \`:\` or whitespace, got ${describeValue(value)}`,
      field,
    );
  }
  return value;
}

export function validateInteger(value: unknown, field: string, min: number, max: number): number {
  return check.integer(field, value, min, max);
}

export function validatePort(value: unknown, field: string, min = 1): number {
  return validateInteger(value, field, min, 65535);
}

export function validateBoolean(value: unknown, field: string): boolean {
  return check.boolean(field, value);
}

/** A string QEMU can carry: non-empty, no newline or NUL. */
export function validateText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a non-empty string, got ${describeValue(value)}`,
      field,
    );
  }
  assertCarriable(value, field);
  return value;
}

/** Dotted-quad IPv4 address in canonical form (no leading zeros, which `inet_aton` reads as octal). */
export function validateIpv4(value: unknown, field: string): string {
  if (!isIPv4(value)) fail(field, 'an IPv4 address like `10.0.2.2`', value);
  return value;
}

/** `a.b.c.d/n` with n from 4 to 32 (slirp's range) and no host bits set. */
export function validateIpv4Network(value: unknown, field: string): Cidr {
  const cidr = parseCidr(value);
  if (!cidr?.canonical || cidr.prefixLength < 4) {
    fail(field, 'an IPv4 network like `10.0.2.0/24` (prefix 4 to 32, no host bits)', value);
  }
  return cidr;
}

/** `address` (a valid dotted quad) lies in `network`. */
export function inNetwork(address: string, network: Cidr): boolean {
  const value = parseIPv4(address);
  return value !== undefined && contains(network, value);
}

/**
 * A unicast MAC `xx:xx:xx:xx:xx:xx` (hex, either case), returned lower-case. Multicast (low bit of
 * the first octet) and all-zero addresses are rejected: QEMU treats zero as "unset".
 */
export function validateMac(value: unknown, field: string): string {
  const fail = (why: string): never => {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be ${why}, got ${describeValue(value)}`,
      field,
    );
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
  const object = check.object(field, value);
  const copy = Object.create(null) as Partial<Record<K, unknown>>;
  for (const key of Object.keys(object)) {
    if (!(keys as readonly string[]).includes(key)) {
      const name = field === 'options' ? key : `${field}.${key}`;
      fail(name, `absent (known options: ${keys.join(', ')})`, object[key]);
    }
    const v = object[key];
    if (v !== undefined) copy[key as K] = v;
  }
  return copy;
}
