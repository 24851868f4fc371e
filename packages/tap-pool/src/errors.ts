const brand = Symbol.for('@tapnet/tap-pool.error');

/** Base of every error this package throws; `code` is stable, `instanceof` survives duplicate installs. */
export class TapPoolError extends Error {
  readonly code: string = 'ERR_TAP_POOL';
  override name = 'TapPoolError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    Object.defineProperty(this, brand, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    if (!(brand in value)) return false;
    // `this` is the class `instanceof` was asked about: match subclasses by name, so a copy of the
    // class from a second install of this package is accepted too.
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked about, a subclass too
    if (this === TapPoolError) return true;
    let proto = Object.getPrototypeOf(value);
    while (proto) {
      // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked about, a subclass too
      if (proto.constructor?.name === this.name && Object.hasOwn(proto, 'constructor')) return true;
      proto = Object.getPrototypeOf(proto);
    }
    return false;
  }
}

/** An option is missing, of the wrong type, out of range or unknown. */
export class InvalidOptionError extends TapPoolError {
  override readonly code = 'ERR_INVALID_OPTION';
  override name = 'InvalidOptionError';
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
  override name = 'PlanConflictError';
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
export const MESSAGE_OUTPUT_CHARS = 300;

/** "`a`, `b`, `c`, `d`, `e` and 4091 more": the first `shown` items and a count. */
export function listSome(items: readonly string[], shown = MESSAGE_ITEMS): string {
  const head = items
    .slice(0, shown)
    .map((item) => `\`${item}\``)
    .join(', ');
  return items.length > shown ? `${head} and ${items.length - shown} more` : head;
}

/**
 * The start of a command's output, at most `chars` characters: `ip -batch` reports the first
 * failing line first, and with `-force` goes on to print one error per failing line after it.
 */
export function clip(text: string, chars = MESSAGE_OUTPUT_CHARS): string {
  const trimmed = text.trim();
  if (trimmed.length <= chars) return trimmed;
  const rest = trimmed.slice(chars).split('\n').length;
  return `${trimmed.slice(0, chars)}… (${rest} more line${rest === 1 ? '' : 's'} in \`cause.stderr\`)`;
}

/** A device with a planned name exists already; nothing was changed. */
export class DeviceExistsError extends TapPoolError {
  override readonly code = 'ERR_DEVICE_EXISTS';
  override name = 'DeviceExistsError';
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
  override name = 'CommandError';
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
  override name = 'AllNetworksInUseError';
}

/** The state record forbids the operation (a live pool with this prefix), or is unreadable. */
export class StateError extends TapPoolError {
  override readonly code: string = 'ERR_STATE';
  override name = 'StateError';
}

const DESCRIBE_CHARS = 120;

/** `name (type)` text for messages: "`0` (number)". */
export function describeValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (typeof value === 'object' && value !== null) {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  } else text = String(value);
  // A whole plan or network list would make a message of kilobytes.
  if (text.length > DESCRIBE_CHARS) text = `${text.slice(0, DESCRIBE_CHARS - 3)}...`;
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${text}\` (${type})`;
}

/** Writing a sysctl failed; `cause` is the file system error. */
export class SysctlError extends TapPoolError {
  override readonly code = 'ERR_SYSCTL';
  override name = 'SysctlError';
}

/**
 * Another live pool holds the prefix's claim (this process too). A StateError, so callers that
 * caught the record's refusal still catch this; `pid` is the holder's, 0 when it did not say.
 */
export class PrefixInUseError extends StateError {
  override readonly code = 'ERR_PREFIX_IN_USE';
  override name = 'PrefixInUseError';
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
  override name = 'UnsafeStateDirError';
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
