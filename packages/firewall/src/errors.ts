import { clip, describeValue, errorFamily } from '@tapnet/internal';

const family = errorFamily('@tapnet/firewall');

/**
 * Base of every error this package throws. `code` is stable; `instanceof` works across duplicate
 * installs of the package (a `Symbol.for` brand per class, see the kit's `errorFamily`).
 */
export class FirewallError extends Error {
  static {
    family.base(FirewallError, 'FirewallError');
  }
  static readonly code: string = 'ERR_FIREWALL';
  readonly code: string = 'ERR_FIREWALL';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A policy option has the wrong type or value. `field` names it, e.g. `networks[2].gateway`. */
export class InvalidPolicyError extends FirewallError {
  static override readonly code = 'ERR_INVALID_POLICY';
  override readonly code = 'ERR_INVALID_POLICY';
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** Applying the ruleset failed; nothing of ours was left behind. `cause` is the failed command. */
export class FirewallApplyError extends FirewallError {
  static override readonly code = 'ERR_FIREWALL_APPLY';
  override readonly code = 'ERR_FIREWALL_APPLY';
}

/** Neither nft nor iptables-restore can be used (missing binary, no permission, no kernel support). */
export class BackendUnavailableError extends FirewallError {
  static override readonly code = 'ERR_BACKEND_UNAVAILABLE';
  override readonly code = 'ERR_BACKEND_UNAVAILABLE';
}

/** Watching our rules failed: the event stream ended or could not start (it is restarted). */
export class FirewallWatchError extends FirewallError {
  static override readonly code = 'ERR_FIREWALL_WATCH';
  override readonly code = 'ERR_FIREWALL_WATCH';
}

/**
 * An OS command failed; carries its argv, exit code, stderr and the stdin it was given. The
 * message quotes the start of stderr (at 4096 networks the whole would be tens of kilobytes).
 */
export class FirewallCommandError extends FirewallError {
  static override readonly code = 'ERR_FIREWALL_COMMAND';
  override readonly code = 'ERR_FIREWALL_COMMAND';
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  /** The ruleset / restore file given on stdin, if any. */
  readonly input: string | undefined;

  constructor(argv: readonly string[], exitCode: number, stderr: string, input?: string) {
    super(
      `\`${argv.join(' ')}\` exited with ${exitCode}: ${clip(stderr, 'stderr') || '(no stderr)'}`,
    );
    this.argv = Object.freeze([...argv]);
    this.exitCode = exitCode;
    this.stderr = stderr;
    this.input = input;
  }
}

/**
 * A command's output could not be read (not the format it has), so whatever it was asked
 * (are our rules there? what would conflict?) could not be told. `.output` holds all of it.
 */
export class FirewallOutputError extends FirewallError {
  static override readonly code = 'ERR_FIREWALL_OUTPUT';
  override readonly code = 'ERR_FIREWALL_OUTPUT';
  /** What printed it, e.g. `iptables-save`. */
  readonly source: string;
  readonly output: string;

  constructor(source: string, expected: string, got: string, output: string) {
    super(`Expected ${expected} from \`${source}\`, got ${describeValue(got)}; could not tell`);
    this.source = source;
    this.output = output;
  }
}

// A brand per class, named by its key: written out, as a bundler may rename the classes.
family.members({
  InvalidPolicyError,
  FirewallApplyError,
  BackendUnavailableError,
  FirewallWatchError,
  FirewallCommandError,
  FirewallOutputError,
});
