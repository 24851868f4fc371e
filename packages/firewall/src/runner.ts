import { execa } from 'execa';
import { FirewallCommandError } from './errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs one OS command (argv, never a shell); resolves whatever the exit code. */
export type Runner = (argv: readonly string[], options?: { input?: string }) => Promise<RunResult>;

/** The real runner: execa with an argv array, stdin for rulesets, no shell. */
export const defaultRunner: Runner = async (argv, options = {}) => {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('runner: empty argv');
  const result = await execa(file, args, {
    reject: false,
    shell: false,
    input: options.input ?? '',
    stripFinalNewline: false,
    timeout: 60_000,
  });
  // A missing binary has no exit code; report it like a shell would (127) with execa's reason.
  const exitCode = typeof result.exitCode === 'number' ? result.exitCode : 127;
  const stderr =
    String(result.stderr ?? '') || (result.failed ? String(result.shortMessage ?? '') : '');
  return { stdout: String(result.stdout ?? ''), stderr, exitCode };
};

/** Wraps a runner to count the processes it starts. */
export function countingRunner(runner: Runner): { runner: Runner; count: () => number } {
  let count = 0;
  return {
    runner: (argv, options) => {
      count += 1;
      return runner(argv, options);
    },
    count: () => count,
  };
}

/** Runs argv and throws FirewallCommandError (argv, exit code, stderr, stdin) unless it exits 0. */
export async function runChecked(
  runner: Runner,
  argv: readonly string[],
  input?: string,
): Promise<string> {
  const result = await runner(argv, input === undefined ? undefined : { input });
  if (result.exitCode !== 0)
    throw new FirewallCommandError(argv, result.exitCode, result.stderr, input);
  return result.stdout;
}
