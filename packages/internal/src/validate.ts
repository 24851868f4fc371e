// Option validation primitives and the one value describer. Each package keeps its own error
// class: the checks here report through the `fail` a package gives them, so a message reads the
// same ("Expected `x` to be ..., got `0` (number)") whichever package threw it.

/** Throws the package's own error for `field` ("Expected `field` to be `expected`, got ..."). */
export type Fail = (field: string, expected: string, value: unknown) => never;

const MAX_SHOWN = 80;

/**
 * How a received value is shown in messages: the value in backticks, then its type. Strings
 * are JSON-quoted, so `""`, `"80"` (not the number 80) and control characters (`"a\nb"`: a
 * header injection attempt) are visible; objects and arrays as JSON, cut at 80 characters.
 */
export function describeValue(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${textOf(value)}\` (${type})`;
}

function textOf(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return cut(JSON.stringify(value));
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return `[function ${value.name || '(anonymous)'}]`;
    case 'object':
      if (value === null) return 'null';
      try {
        return cut(JSON.stringify(value) ?? Object.prototype.toString.call(value));
      } catch {
        // cyclic, or a BigInt inside
        return Object.prototype.toString.call(value);
      }
    default:
      return String(value);
  }
}

function cut(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 3)}...` : text;
}

/** "Expected `field` to be expected, got `value` (type)". */
export function expectedMessage(field: string, expected: string, value: unknown): string {
  return `Expected \`${field}\` to be ${expected}, got ${describeValue(value)}`;
}

/** An object literal's shape: not null, not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A safe integer from `min` to `max`, both included. */
export function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** The first own key of `object` not in `known`, or undefined. */
export function firstUnknownKey(
  object: Record<string, unknown>,
  known: ReadonlySet<string> | readonly string[],
): string | undefined {
  const has = Array.isArray(known)
    ? (key: string) => known.includes(key)
    : (key: string) => (known as ReadonlySet<string>).has(key);
  for (const key of Object.keys(object)) if (!has(key)) return key;
  return undefined;
}

/** A null-prototype shallow copy: a later `__proto__` or `constructor` key is just a key. */
export function nullPrototypeCopy(object: object): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, object);
}

/** The checks every options normaliser needs, reporting through the package's `fail`. */
export interface Checks {
  readonly fail: Fail;
  /** An object (not null, not an array); returns it. */
  object(field: string, value: unknown): Record<string, unknown>;
  /** An integer from min to max; returns it. */
  integer(field: string, value: unknown, min: number, max: number): number;
  boolean(field: string, value: unknown): boolean;
  /** An array of at most `max` items; returns it. */
  array(field: string, value: unknown, max?: number): readonly unknown[];
}

export function checks(fail: Fail): Checks {
  return {
    fail,
    object(field, value) {
      if (!isPlainObject(value)) fail(field, 'an object', value);
      return value;
    },
    integer(field, value, min, max) {
      if (!isIntegerIn(value, min, max)) fail(field, `an integer from ${min} to ${max}`, value);
      return value;
    },
    boolean(field, value) {
      if (typeof value !== 'boolean') fail(field, 'a boolean', value);
      return value;
    },
    array(field, value, max = 10_000) {
      if (!Array.isArray(value)) fail(field, 'an array', value);
      if (value.length > max) fail(field, `an array of at most ${max} items`, value);
      return value;
    },
  };
}
