import { constants } from 'node:os';

/** What a command did. `exitCode` is always a number: see `exitCodeOf`. */
export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Written to the command's stdin (rulesets, `ip -batch` scripts); empty when absent. */
  input?: string;
}

/** Runs one OS command (argv, never a shell); resolves whatever the exit code. */
export type Runner = (argv: readonly string[], options?: RunOptions) => Promise<RunResult>;

/**
 * The exit code of a command that could not be started (missing binary, no permission): 127,
 * what a shell reports for "command not found". Callers and people already read 127 that way,
 * and it cannot be mistaken for a command's own failure, which -1 (not an exit status at all)
 * could be once it has passed through anything that takes it modulo 256 (255).
 */
export const EXIT_NOT_STARTED = 127;
/** The exit code of a command killed for running past the timeout, as GNU `timeout` reports it. */
export const EXIT_TIMED_OUT = 124;
/**
 * How long one command may run: two minutes. A firewall restore of 4096 networks or an
 * `ip -batch` of thousands of devices takes seconds on a loaded 2-core machine; a command still
 * running after two minutes is stuck (a held xtables lock, a hung netlink call), and failing
 * loudly then beats hanging the caller. (The two copies this replaces used 60 s and 120 s.)
 */
export const RUN_TIMEOUT_MS = 120_000;

interface ExecaOutcome {
  exitCode?: number | undefined;
  signal?: string | undefined;
  timedOut?: boolean;
  failed?: boolean;
}

/**
 * The part of execa's `execa` function the runner calls. Each package passes its own import of
 * execa (`createRunner(execa)`): the kit is bundled into packages and has no runtime dependency
 * of its own, so execa stays a dependency of the packages that run commands, and a package that
 * uses only the kit's other parts pulls nothing in.
 */
export type Execa = (
  file: string,
  args: readonly string[],
  options: {
    reject: false;
    shell: false;
    input: string;
    stripFinalNewline: false;
    timeout: number;
  },
) => PromiseLike<
  ExecaOutcome & { stdout?: unknown; stderr?: unknown; shortMessage?: string | undefined }
>;

/**
 * One number for every way a command ends: its own exit code; 124 when the timeout killed it;
 * 128 + the signal number when a signal did (as a shell reports it); 127 when it never started.
 */
export function exitCodeOf(result: ExecaOutcome): number {
  if (result.timedOut) return EXIT_TIMED_OUT;
  if (typeof result.exitCode === 'number') return result.exitCode;
  if (result.signal) {
    const number = (constants.signals as Record<string, number | undefined>)[result.signal];
    if (number !== undefined) return 128 + number;
  }
  return result.failed ? EXIT_NOT_STARTED : 0;
}

/**
 * The real runner: execa with an argv array, stdin from `input`, never a shell, never rejecting
 * on exit codes. A package's default runner is `createRunner(execa)`.
 */
export function createRunner(execa: Execa, options: { timeoutMs?: number } = {}): Runner {
  const timeout = options.timeoutMs ?? RUN_TIMEOUT_MS;
  return async (argv, runOptions = {}) => {
    const [file, ...args] = argv;
    if (!file) throw new TypeError('Expected `argv` to have a command, got `[]` (array)');
    const result = await execa(file, args, {
      reject: false,
      shell: false,
      input: runOptions.input ?? '',
      stripFinalNewline: false,
      timeout,
    });
    const stderr = String(result.stderr ?? '');
    // Not started, timed out, killed: execa's one-line reason says which, where stderr is empty.
    const reason = result.failed && stderr === '' ? String(result.shortMessage ?? '') : '';
    return {
      stdout: String(result.stdout ?? ''),
      stderr: stderr || reason,
      exitCode: exitCodeOf(result),
    };
  };
}

/** A runner that counts the processes it starts (for "how many processes did that take"). */
export interface CountingRunner {
  runner: Runner;
  count(): number;
}

export function countingRunner(runner: Runner): CountingRunner {
  let count = 0;
  return {
    runner: (argv, options) => {
      count += 1;
      return runner(argv, options);
    },
    count: () => count,
  };
}

/** One command a recording runner was given. */
export interface RecordedCall {
  argv: readonly string[];
  input: string | undefined;
}

/** A runner that records every command and answers from `answer` instead of running it. */
export interface RecordingRunner {
  runner: Runner;
  readonly calls: readonly RecordedCall[];
}

/**
 * For unit tests of code that drives the OS: `answer` says what each command printed and how it
 * exited (default: nothing, exit 0).
 */
export function recordingRunner(
  answer: (call: RecordedCall) => Partial<RunResult> | undefined = () => undefined,
): RecordingRunner {
  const calls: RecordedCall[] = [];
  return {
    runner: async (argv, options = {}) => {
      const call = { argv: [...argv], input: options.input };
      calls.push(call);
      return { stdout: '', stderr: '', exitCode: 0, ...answer(call) };
    },
    calls,
  };
}

/**
 * Runs argv and returns its stdout when it exits 0; otherwise throws what `failure` makes of the
 * result (the package's own error, carrying argv, exit code, stderr and the input).
 */
export async function runChecked(
  runner: Runner,
  argv: readonly string[],
  input: string | undefined,
  failure: (result: RunResult) => Error,
): Promise<string> {
  const result = await runner(argv, input === undefined ? {} : { input });
  if (result.exitCode !== 0) throw failure(result);
  return result.stdout;
}
