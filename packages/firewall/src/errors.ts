const brand = Symbol.for('@tapnet/firewall.error');

/**
 * Base of every error this package throws. `code` is stable; `instanceof` works across duplicate
 * installs of the package: the base checks the `Symbol.for` brand, subclasses the brand plus code.
 */
export class FirewallError extends Error {
  static readonly code: string = 'ERR_FIREWALL';
  readonly code: string = 'ERR_FIREWALL';
  override readonly name: string = 'FirewallError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    Object.defineProperty(this, brand, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[brand] !== true) return false;
    // `this` is the class instanceof was called on: subclasses must match their own code.
    // biome-ignore lint/complexity/noThisInStatic: dispatch on the subclass is the point
    const expected: string = this.code;
    return expected === FirewallError.code || (value as { code?: unknown }).code === expected;
  }
}

/** A policy option has the wrong type or value. `field` names it, e.g. `networks[2].gateway`. */
export class InvalidPolicyError extends FirewallError {
  static override readonly code = 'ERR_INVALID_POLICY';
  override readonly code = 'ERR_INVALID_POLICY';
  override readonly name = 'InvalidPolicyError';
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
  override readonly name = 'FirewallApplyError';
}

/** Neither nft nor iptables-restore can be used (missing binary, no permission, no kernel support). */
export class BackendUnavailableError extends FirewallError {
  static override readonly code = 'ERR_BACKEND_UNAVAILABLE';
  override readonly code = 'ERR_BACKEND_UNAVAILABLE';
  override readonly name = 'BackendUnavailableError';
}

/** Watching our rules failed: the event stream ended or could not start (it is restarted). */
export class FirewallWatchError extends FirewallError {
  static override readonly code = 'ERR_FIREWALL_WATCH';
  override readonly code = 'ERR_FIREWALL_WATCH';
  override readonly name = 'FirewallWatchError';
}

/** An OS command failed; carries its argv, exit code, stderr and the stdin it was given. */
export class FirewallCommandError extends FirewallError {
  static override readonly code = 'ERR_FIREWALL_COMMAND';
  override readonly code = 'ERR_FIREWALL_COMMAND';
  override readonly name = 'FirewallCommandError';
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  /** The ruleset / restore file given on stdin, if any. */
  readonly input: string | undefined;

  constructor(argv: readonly string[], exitCode: number, stderr: string, input?: string) {
    super(`\`${argv.join(' ')}\` exited with ${exitCode}: ${stderr.trim() || '(no stderr)'}`);
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
  override readonly name = 'FirewallOutputError';
  /** What printed it, e.g. `iptables-save`. */
  readonly source: string;
  readonly output: string;

  constructor(source: string, expected: string, got: string, output: string) {
    super(`Expected ${expected} from \`${source}\`, got ${describeValue(got)}; could not tell`);
    this.source = source;
    this.output = output;
  }
}

/** Describes a value for "got `x` (type)" in messages. */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${text}\` (${type})`;
}
