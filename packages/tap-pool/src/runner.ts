import { execa } from 'execa';
import { CommandError } from './errors.js';

export interface RunnerResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs one OS command (argv, never a shell); resolves whatever the exit code. */
export type Runner = (
  argv: readonly string[],
  options?: { input?: string },
) => Promise<RunnerResult>;

/** The real runner: execa with an argv array, stdin from `input`, never rejecting on exit codes. */
export const defaultRunner: Runner = async (argv, options = {}) => {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('Expected `argv` to have a command, got `[]` (array)');
  const result = await execa(file, args, {
    reject: false,
    input: options.input ?? '',
    stripFinalNewline: false,
    timeout: 120_000,
  });
  const exitCode = result.exitCode ?? (result.failed ? -1 : 0);
  const stderr =
    String(result.stderr ?? '') ||
    (result.failed && result.exitCode === undefined ? String(result.message ?? '') : '');
  return { stdout: String(result.stdout ?? ''), stderr, exitCode };
};

/** A runner that counts the processes it starts. */
export interface CountingRunner {
  run: Runner;
  readonly count: number;
}

export function countingRunner(runner: Runner): CountingRunner {
  let count = 0;
  return {
    run: (argv, options) => {
      count += 1;
      return runner(argv, options);
    },
    get count() {
      return count;
    },
  };
}

/** Runs argv and throws CommandError (argv, exit code, stderr, input as cause) unless it exits 0. */
export async function runChecked(
  runner: Runner,
  what: string,
  argv: readonly string[],
  input?: string,
): Promise<string> {
  const result = await runner(argv, input === undefined ? {} : { input });
  if (result.exitCode !== 0) {
    throw new CommandError(what, {
      argv: [...argv],
      exitCode: result.exitCode,
      stderr: result.stderr,
      ...(input === undefined ? {} : { input }),
    });
  }
  return result.stdout;
}
