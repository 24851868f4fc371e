const brand = Symbol.for('@tapnet/metadata-proxy.error');

/**
 * Base class of every error this package throws; `code` is stable, `message` is for people.
 * `instanceof` works across duplicate installs of the package: it checks a `Symbol.for` brand
 * and the stable code rather than the prototype chain.
 */
export class MetadataProxyError extends Error {
  static readonly code: string = 'ERR_METADATA_PROXY';
  static readonly errorName: string = 'MetadataProxyError';
  readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    const ctor = new.target as typeof MetadataProxyError;
    this.code = ctor.code;
    this.name = ctor.errorName;
    Object.defineProperty(this, brand, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(brand in value)) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass being tested against.
    const code = this.code;
    return code === MetadataProxyError.code || (value as { code?: unknown }).code === code;
  }
}

export class InvalidOptionError extends MetadataProxyError {
  static override readonly code = 'ERR_INVALID_OPTION';
  static override readonly errorName = 'InvalidOptionError';
}

export class ListenError extends MetadataProxyError {
  static override readonly code = 'ERR_LISTEN';
  static override readonly errorName = 'ListenError';
}

export class UnknownNetworkError extends MetadataProxyError {
  static override readonly code = 'ERR_UNKNOWN_NETWORK';
  static override readonly errorName = 'UnknownNetworkError';
}

export class NetworkOverlapError extends MetadataProxyError {
  static override readonly code = 'ERR_NETWORK_OVERLAP';
  static override readonly errorName = 'NetworkOverlapError';
}

export class DuplicateNetworkError extends MetadataProxyError {
  static override readonly code = 'ERR_DUPLICATE_NETWORK';
  static override readonly errorName = 'DuplicateNetworkError';
}

export class ClosedError extends MetadataProxyError {
  static override readonly code = 'ERR_CLOSED';
  static override readonly errorName = 'ClosedError';
}

/** A forwarding target failed or timed out; emitted with the `error` event, never thrown. */
export class UpstreamError extends MetadataProxyError {
  static override readonly code = 'ERR_UPSTREAM';
  static override readonly errorName = 'UpstreamError';
}

/** A handler threw, rejected or returned something that is not a response. */
export class HandlerError extends MetadataProxyError {
  static override readonly code = 'ERR_HANDLER';
  static override readonly errorName = 'HandlerError';
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
