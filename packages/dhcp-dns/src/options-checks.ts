import { checks, firstUnknownKey, parseIPv4 } from '@tapnet/internal';
import { InvalidConfigError } from './errors.js';
import { isDnsName } from './validate.js';

// The checks every part of the options shares, reporting through this package's
// InvalidConfigError ("Expected `networks[0].gateway` to be ..., got ...").

export function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidConfigError(field, expected, value);
}

const check = checks(fail);

export const plainObject = (field: string, value: unknown): Record<string, unknown> =>
  check.object(field, value);

export const array = (field: string, value: unknown, max?: number): readonly unknown[] =>
  check.array(field, value, max);

export const integer = (field: string, value: unknown, min: number, max: number): number =>
  check.integer(field, value, min, max);

/** Throws for the first key of `object` not in `known`, naming the keys that are. */
export function rejectUnknown(
  field: string,
  object: Record<string, unknown>,
  known: readonly string[],
): void {
  const key = firstUnknownKey(object, known);
  if (key === undefined) return;
  fail(
    `${field}${field ? '.' : ''}${key}`,
    `one of ${known.map((k) => `\`${k}\``).join(', ')} (unknown option)`,
    object[key],
  );
}

/** A DNS name, lower-cased. */
export function dnsName(field: string, value: unknown): string {
  if (!isDnsName(value))
    fail(field, 'a DNS name (RFC 1123 labels: letters, digits, inner hyphens)', value);
  return value.toLowerCase();
}

/** An IPv4 address: its text and its number. */
export function ipv4(field: string, value: unknown): { text: string; value: number } {
  const parsed = parseIPv4(value);
  if (parsed === undefined || typeof value !== 'string') fail(field, 'an IPv4 address', value);
  return { text: value, value: parsed };
}
