import { clip, errorFamily } from '@tapnet/internal';

// The family's base brand is `Symbol.for('tapnet.error')`, as before the kit: errors from an
// older copy of the facade are still `instanceof TapnetError`.
const family = errorFamily('tapnet');

/** Base class of the facade's own errors; `instanceof` works across duplicate installs. */
export class TapnetError extends Error {
  static {
    family.base(TapnetError, 'TapnetError');
  }
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** An option of `Pool.create` (or a method argument) is not what it should be. */
export class InvalidOptionError extends TapnetError {
  static {
    family.member(InvalidOptionError, 'InvalidOptionError');
  }
  readonly option: string;
  constructor(option: string, message: string, options?: ErrorOptions) {
    super('ERR_INVALID_OPTION', message, options);
    this.option = option;
  }
}

/** A `Network` handle was used after `release()`. */
export class ReleasedError extends TapnetError {
  static {
    family.member(ReleasedError, 'ReleasedError');
  }
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
  static {
    family.member(PrefixInUseError, 'PrefixInUseError');
  }
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

/** `uplink` names no network device in this network namespace: rules for it would match nothing. */
export class UplinkNotFoundError extends TapnetError {
  static {
    family.member(UplinkNotFoundError, 'UplinkNotFoundError');
  }
  readonly uplink: string;
  constructor(uplink: string) {
    super(
      'ERR_UPLINK_NOT_FOUND',
      `Expected \`uplink\` to name a network device here, got \`${uplink}\` (no such device); \`null\` for no uplink`,
    );
    this.uplink = uplink;
  }
}

/**
 * A network's metadata handler (or the upstream it forwards to) failed; emitted as the pool's
 * `error` event, never thrown. `network` names the network, `cause` is the failure.
 */
export class MetadataHandlerError extends TapnetError {
  static {
    family.member(MetadataHandlerError, 'MetadataHandlerError');
  }
  readonly network: string;
  constructor(network: string, cause: unknown) {
    super(
      'ERR_METADATA_HANDLER',
      `The metadata handler of network ${network} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.network = network;
  }
}

export class PoolDisposedError extends TapnetError {
  static {
    family.member(PoolDisposedError, 'PoolDisposedError');
  }
  constructor() {
    super('ERR_POOL_DISPOSED', 'The pool has been disposed');
  }
}

/**
 * Flushing a released network's connection-tracking entries failed (`conntrack -D`); emitted
 * (never thrown) as the pool's `error` event. The message quotes the tool's output, bounded;
 * `argv`, `exitCode` (127: it could not be started) and the whole `stderr` are on the error.
 */
export class ConntrackError extends TapnetError {
  static {
    family.member(ConntrackError, 'ConntrackError');
  }
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number, stderr: string) {
    super(
      'ERR_CONNTRACK',
      `\`conntrack ${argv.slice(1).join(' ')}\` failed (exit ${exitCode}): ${clip(stderr, 'error.stderr') || 'no output'}`,
    );
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}
