import { errorFamily } from '@tapnet/internal';

const family = errorFamily('@tapnet/tap-pool');

/** Base of every error this package throws; `code` is stable, `instanceof` survives duplicate installs. */
export class TapPoolError extends Error {
  static {
    family.base(TapPoolError, 'TapPoolError');
  }
  readonly code: string = 'ERR_TAP_POOL';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An option is missing, of the wrong type, out of range or unknown. */
export class InvalidOptionError extends TapPoolError {
  static {
    family.member(InvalidOptionError, 'InvalidOptionError');
  }
  override readonly code = 'ERR_INVALID_OPTION';
}

export interface Conflict {
  /** The planned network (or device) that conflicts. */
  network: string;
  /** What it conflicts with, e.g. `route 10.0.0.0/8 dev eth0`. */
  with: string;
}

/** The plan overlaps the metadata IP, loopback, or a device, route or address already on the host. */
export class PlanConflictError extends TapPoolError {
  static {
    family.member(PlanConflictError, 'PlanConflictError');
  }
  override readonly code = 'ERR_PLAN_CONFLICT';
  readonly conflicts: readonly Conflict[];

  constructor(conflicts: readonly Conflict[]) {
    const shown = conflicts.slice(0, 5).map((c) => `${c.network} conflicts with ${c.with}`);
    const more = conflicts.length > 5 ? `; and ${conflicts.length - 5} more` : '';
    super(`Expected the planned networks to be free on this host, got: ${shown.join('; ')}${more}`);
    this.conflicts = conflicts;
  }
}

/** A device with a planned name exists already; nothing was changed. */
export class DeviceExistsError extends TapPoolError {
  static {
    family.member(DeviceExistsError, 'DeviceExistsError');
  }
  override readonly code = 'ERR_DEVICE_EXISTS';
  readonly devices: readonly string[];

  constructor(devices: readonly string[]) {
    super(
      `Expected no device named like the pool's, got existing ${devices.map((d) => `\`${d}\``).join(', ')}; nothing was changed`,
    );
    this.devices = devices;
  }
}

/** What a failed OS call was, attached as `cause` of a CommandError. */
export interface CommandFailure {
  argv: readonly string[];
  exitCode: number;
  stderr: string;
  /** What was written to its stdin (an `ip -batch` script). */
  input?: string;
}

/** An OS command failed. */
export class CommandError extends TapPoolError {
  static {
    family.member(CommandError, 'CommandError');
  }
  override readonly code = 'ERR_COMMAND_FAILED';
  declare readonly cause: CommandFailure;

  constructor(message: string, failure: CommandFailure) {
    super(
      `${message}: \`${failure.argv.join(' ')}\` exited ${failure.exitCode}: ${failure.stderr.trim()}`,
      {
        cause: failure,
      },
    );
  }
}

/** Every network of the pool is held. */
export class AllNetworksInUseError extends TapPoolError {
  static {
    family.member(AllNetworksInUseError, 'AllNetworksInUseError');
  }
  override readonly code = 'ERR_ALL_NETWORKS_IN_USE';
}

/** The state record forbids the operation (a live pool with this prefix), or is unreadable. */
export class StateError extends TapPoolError {
  static {
    family.member(StateError, 'StateError');
  }
  override readonly code: string = 'ERR_STATE';
}

/** Writing a sysctl failed; `cause` is the file system error. */
export class SysctlError extends TapPoolError {
  static {
    family.member(SysctlError, 'SysctlError');
  }
  override readonly code = 'ERR_SYSCTL';
}

/**
 * Another live pool holds the prefix's claim (this process too). A StateError, so callers that
 * caught the record's refusal still catch this; `pid` is the holder's, 0 when it did not say.
 */
export class PrefixInUseError extends StateError {
  static {
    family.member(PrefixInUseError, 'PrefixInUseError');
  }
  override readonly code = 'ERR_PREFIX_IN_USE';
  readonly prefix: string;
  readonly pid: number;

  constructor(prefix: string, pid: number, options?: { cause?: unknown }) {
    const owner =
      pid > 0
        ? `pid ${pid}${pid === process.pid ? ' (this process)' : ''}`
        : 'a process that did not answer';
    super(
      `Expected no live pool with prefix \`${prefix}\`, got one owned by ${owner}, holding the prefix's claim`,
      options,
    );
    this.prefix = prefix;
    this.pid = pid;
  }
}

/** The state folder, or one above it, could be written by someone else; nothing was changed. */
export class UnsafeStateDirError extends TapPoolError {
  static {
    family.member(UnsafeStateDirError, 'UnsafeStateDirError');
  }
  override readonly code = 'ERR_UNSAFE_STATE_DIR';
  /** The folder that is unsafe (the state folder or one above it). */
  readonly path: string;
  /** Its owner's uid (-1 when it could not be read). */
  readonly owner: number;
  /** Its permission bits, e.g. `0777`. */
  readonly mode: string;

  constructor(message: string, problem: { path: string; uid: number; mode: string }) {
    super(message);
    this.path = problem.path;
    this.owner = problem.uid;
    this.mode = problem.mode;
  }
}
