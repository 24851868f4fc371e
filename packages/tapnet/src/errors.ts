const brand = Symbol.for('tapnet.error');

/** Base class of the facade's own errors; `instanceof` works across duplicate installs. */
export class TapnetError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, brand, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses check the prototype chain; the base accepts any tapnet error, from any copy.
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class `instanceof` was asked about
    if (this !== TapnetError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && brand in value;
  }
}

/** An option of `Pool.create` (or a method argument) is not what it should be. */
export class InvalidOptionError extends TapnetError {
  readonly option: string;
  constructor(option: string, message: string, options?: ErrorOptions) {
    super('ERR_INVALID_OPTION', message, options);
    this.option = option;
  }
}

/** A `Network` handle was used after `release()`. */
export class ReleasedError extends TapnetError {
  /**
   * `heldByAnother` (the device) given: the network went to another holder since, so this handle is stale (the
   * message says so, and that the network itself is in use).
   */
  constructor(what: string, options: { heldByAnother?: string } = {}) {
    super(
      'ERR_RELEASED',
      options.heldByAnother === undefined
        ? `${what} has been released and cannot be used any more`
        : `${what}: this handle was released; ${options.heldByAnother} now belongs to another holder`,
    );
  }
}

/** Another pool (in this process or another) holds the prefix. */
export class PrefixInUseError extends TapnetError {
  readonly prefix: string;
  readonly pid: number;
  constructor(prefix: string, pid: number) {
    super(
      'ERR_PREFIX_IN_USE',
      `A pool with prefix \`${prefix}\` is running (pid ${pid}${pid === process.pid ? ', this process' : ''}); dispose it or choose another \`prefix\``,
    );
    this.prefix = prefix;
    this.pid = pid;
  }
}

export class PoolDisposedError extends TapnetError {
  constructor() {
    super('ERR_POOL_DISPOSED', 'The pool has been disposed');
  }
}

/** Describes a value for error messages: "`0` (number)". */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `\`${JSON.stringify(value)}\` (string)`;
  if (value === null) return '`null`';
  if (Array.isArray(value)) return `\`${JSON.stringify(value)}\` (array)`;
  if (typeof value === 'object') return 'an object';
  return `\`${String(value)}\` (${typeof value})`;
}
