import { errorFamily } from '@tapnet/internal';

const family = errorFamily('@tapnet/metadata-proxy');

/**
 * Base class of every error this package throws; `code` is stable, `message` is for people.
 * `instanceof` works across duplicate installs of the package: a `Symbol.for` brand per class
 * (the kit's `errorFamily`), not the prototype chain.
 */
export class MetadataProxyError extends Error {
  static {
    family.base(MetadataProxyError, 'MetadataProxyError');
  }
  static readonly code: string = 'ERR_METADATA_PROXY';
  readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = (new.target as typeof MetadataProxyError).code;
  }
}

export class InvalidOptionError extends MetadataProxyError {
  static {
    family.member(InvalidOptionError, 'InvalidOptionError');
  }
  static override readonly code = 'ERR_INVALID_OPTION';
}

export class ListenError extends MetadataProxyError {
  static {
    family.member(ListenError, 'ListenError');
  }
  static override readonly code = 'ERR_LISTEN';
}

export class UnknownNetworkError extends MetadataProxyError {
  static {
    family.member(UnknownNetworkError, 'UnknownNetworkError');
  }
  static override readonly code = 'ERR_UNKNOWN_NETWORK';
}

export class NetworkOverlapError extends MetadataProxyError {
  static {
    family.member(NetworkOverlapError, 'NetworkOverlapError');
  }
  static override readonly code = 'ERR_NETWORK_OVERLAP';
}

export class DuplicateNetworkError extends MetadataProxyError {
  static {
    family.member(DuplicateNetworkError, 'DuplicateNetworkError');
  }
  static override readonly code = 'ERR_DUPLICATE_NETWORK';
}

export class ClosedError extends MetadataProxyError {
  static {
    family.member(ClosedError, 'ClosedError');
  }
  static override readonly code = 'ERR_CLOSED';
}

/** A forwarding target failed or timed out; emitted with the `error` event, never thrown. */
export class UpstreamError extends MetadataProxyError {
  static {
    family.member(UpstreamError, 'UpstreamError');
  }
  static override readonly code = 'ERR_UPSTREAM';
}

/** A handler threw, rejected or returned something that is not a response. */
export class HandlerError extends MetadataProxyError {
  static {
    family.member(HandlerError, 'HandlerError');
  }
  static override readonly code = 'ERR_HANDLER';
}
