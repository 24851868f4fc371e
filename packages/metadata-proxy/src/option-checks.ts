import { checks, describeValue, expectedMessage, firstUnknownKey } from '@tapnet/internal';
import { InvalidOptionError } from './errors.js';

// The checks the options share, reporting through this package's InvalidOptionError with the
// kit's wording ("Expected `port` to be an integer from 0 to 65535, got `"80"` (string)").

function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(expectedMessage(field, expected, value));
}

const check = checks(fail);

/** An integer from min to max; with `infinity`, `Infinity` too (a limit turned off). */
export function integer(
  value: unknown,
  label: string,
  min: number,
  max: number,
  infinity = false,
): number {
  if (infinity && value === Number.POSITIVE_INFINITY) return value;
  if (infinity && !Number.isSafeInteger(value))
    fail(label, `an integer from ${min} to ${max} or Infinity`, value);
  return check.integer(label, value, min, max);
}

export function boolean(value: unknown, label: string): boolean {
  return check.boolean(label, value);
}

export function plainObject(value: unknown, label: string): Record<string, unknown> {
  return check.object(label, value);
}

/** Throws for the first key of `object` not in `known`. */
export function unknownKeys(
  object: Record<string, unknown>,
  known: readonly string[],
  label: string,
): void {
  const key = firstUnknownKey(object, known);
  if (key === undefined) return;
  throw new InvalidOptionError(
    `Expected \`${label}\` to have only ${known.map((k) => `\`${k}\``).join(', ')}, got \`${key}\``,
  );
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII and spaces/tabs, not starting or ending with whitespace.
const HEADER_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?$/;

export function headerName(value: unknown, label: string): string {
  if (typeof value !== 'string' || !HEADER_NAME.test(value))
    fail(label, 'an HTTP header name', value);
  return value.toLowerCase();
}

export function headerValue(value: unknown, label: string): string {
  if (typeof value !== 'string' || !HEADER_VALUE.test(value))
    fail(label, 'printable ASCII without leading or trailing spaces', value);
  return value;
}

/** A rate: a number above 0, or `Infinity` (no limit). */
export function rate(value: unknown, label: string): number {
  if (
    value !== Number.POSITIVE_INFINITY &&
    (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value))
  ) {
    fail(label, 'a number above 0 or Infinity', value);
  }
  return value;
}

export { describeValue };
