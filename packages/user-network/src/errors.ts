import { errorFamily } from '@tapnet/internal';

const family = errorFamily('@tapnet/user-network');

/**
 * Base class of every error this package throws; `code` is stable, `message` is for people.
 * `instanceof` works across duplicate installs of the package: a `Symbol.for` brand per class
 * (the kit's `errorFamily`), not the prototype chain.
 */
export class UserNetworkError extends Error {
  static {
    family.base(UserNetworkError, 'UserNetworkError');
  }
  static readonly code: string = 'ERR_USER_NETWORK';
  readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = (new.target as typeof UserNetworkError).code;
  }
}

export class InvalidOptionError extends UserNetworkError {
  static {
    family.member(InvalidOptionError, 'InvalidOptionError');
  }
  static override readonly code = 'ERR_INVALID_OPTION';
}

export class ReleasedError extends UserNetworkError {
  static {
    family.member(ReleasedError, 'ReleasedError');
  }
  static override readonly code = 'ERR_RELEASED';
}

export class BridgeNotFoundError extends UserNetworkError {
  static {
    family.member(BridgeNotFoundError, 'BridgeNotFoundError');
  }
  static override readonly code = 'ERR_BRIDGE_NOT_FOUND';
}

export class UnsafeFolderError extends UserNetworkError {
  static {
    family.member(UnsafeFolderError, 'UnsafeFolderError');
  }
  static override readonly code = 'ERR_UNSAFE_FOLDER';
}

export class SocketInUseError extends UserNetworkError {
  static {
    family.member(SocketInUseError, 'SocketInUseError');
  }
  static override readonly code = 'ERR_SOCKET_IN_USE';
}
