const brand = Symbol.for('@tapnet/user-network.error');

/**
 * Base class of every error this package throws; `code` is stable, `message` is for people.
 * `instanceof` works across duplicate installs: it checks a `Symbol.for` brand and the code.
 */
export class UserNetworkError extends Error {
  static readonly code: string = 'ERR_USER_NETWORK';
  static readonly errorName: string = 'UserNetworkError';
  readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    const ctor = new.target as typeof UserNetworkError;
    this.code = ctor.code;
    this.name = ctor.errorName;
    Object.defineProperty(this, brand, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(brand in value)) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass being tested against.
    const code = this.code;
    return code === UserNetworkError.code || (value as { code?: unknown }).code === code;
  }
}

export class InvalidOptionError extends UserNetworkError {
  static override readonly code = 'ERR_INVALID_OPTION';
  static override readonly errorName = 'InvalidOptionError';
}

export class ReleasedError extends UserNetworkError {
  static override readonly code = 'ERR_RELEASED';
  static override readonly errorName = 'ReleasedError';
}

export class BridgeNotFoundError extends UserNetworkError {
  static override readonly code = 'ERR_BRIDGE_NOT_FOUND';
  static override readonly errorName = 'BridgeNotFoundError';
}

export class UnsafeFolderError extends UserNetworkError {
  static override readonly code = 'ERR_UNSAFE_FOLDER';
  static override readonly errorName = 'UnsafeFolderError';
}

export class SocketInUseError extends UserNetworkError {
  static override readonly code = 'ERR_SOCKET_IN_USE';
  static override readonly errorName = 'SocketInUseError';
}

/** Describes a received value for messages: "`0` (number)". */
export function describe(value: unknown): string {
  if (value === null) return '`null`';
  if (value === undefined) return '`undefined`';
  if (typeof value === 'string') return `\`${JSON.stringify(value).slice(1, -1)}\` (string)`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `\`${String(value)}\` (${typeof value})`;
  }
  if (typeof value === 'function') return '(function)';
  if (Array.isArray(value)) return '(array)';
  return `(${typeof value})`;
}
