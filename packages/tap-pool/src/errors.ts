import { clip as clipOutput, errorFamily } from '@tapnet/internal';

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
  override readonly code = 'ERR_PLAN_CONFLICT';
  readonly conflicts: readonly Conflict[];

  constructor(conflicts: readonly Conflict[]) {
    const shown = conflicts.slice(0, 5).map((c) => `${c.network} conflicts with ${c.with}`);
    const more = conflicts.length > 5 ? `; and ${conflicts.length - 5} more` : '';
    super(`Expected the planned networks to be free on this host, got: ${shown.join('; ')}${more}`);
    this.conflicts = conflicts;
  }
}

/** How many items of a list a message names before it counts the rest. */
export const MESSAGE_ITEMS = 5;
/** At most this much of a command's output goes into a message; all of it is on `cause`. */
export { MESSAGE_OUTPUT_CHARS } from '@tapnet/internal';

/** "`a`, `b`, `c`, `d`, `e` and 4091 more": the first `shown` items and a count. */
export function listSome(items: readonly string[], shown = MESSAGE_ITEMS): string {
  const head = items
    .slice(0, shown)
    .map((item) => `\`${item}\``)
    .join(', ');
  return items.length > shown ? `${head} and ${items.length - shown} more` : head;
}

/** The start of a command's output for a message; all of it stays in `cause.stderr`. */
export function clip(text: string, chars?: number): string {
  return clipOutput(text, 'cause.stderr', chars);
}

/** A device with a planned name exists already; nothing was changed. */
export class DeviceExistsError extends TapPoolError {
  override readonly code = 'ERR_DEVICE_EXISTS';
  /** Every existing device; the message names the first few. */
  readonly devices: readonly string[];

  constructor(devices: readonly string[]) {
    super(
      `Expected no device named like the pool's, got existing ${listSome(devices)}; nothing was changed`,
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

/**
 * An OS command failed. The message has the argv and the start of its output (bounded, see
 * `clip`); `cause` (also `details`) has all of it and the script it was given.
 */
export class CommandError extends TapPoolError {
  override readonly code = 'ERR_COMMAND_FAILED';
  declare readonly cause: CommandFailure;
  readonly details: CommandFailure;

  constructor(message: string, failure: CommandFailure) {
    super(
      `${message}: \`${failure.argv.join(' ')}\` exited ${failure.exitCode}: ${clip(failure.stderr)}`,
      {
        cause: failure,
      },
    );
    this.details = failure;
  }
}

/** Every network of the pool is held. */
export class AllNetworksInUseError extends TapPoolError {
  override readonly code = 'ERR_ALL_NETWORKS_IN_USE';
}

/** The state record forbids the operation (a live pool with this prefix), or is unreadable. */
export class StateError extends TapPoolError {
  override readonly code: string = 'ERR_STATE';
}

/** Writing a sysctl failed; `cause` is the file system error. */
export class SysctlError extends TapPoolError {
  override readonly code = 'ERR_SYSCTL';
}

/**
 * Another live pool holds the prefix's claim (this process too). A StateError, so callers that
 * caught the record's refusal still catch this; `pid` is the holder's, 0 when it did not say.
 */
export class PrefixInUseError extends StateError {
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

// A brand per class, named by its key: written out, as a bundler may rename the classes.
family.members({
  InvalidOptionError,
  PlanConflictError,
  DeviceExistsError,
  CommandError,
  AllNetworksInUseError,
  StateError,
  SysctlError,
  PrefixInUseError,
  UnsafeStateDirError,
});
