import { createRunner, runChecked as runCheckedWith } from '@tapnet/internal';
import { execa } from 'execa';
import { CommandError } from './errors.js';

export interface RunnerResult {
  stdout: string;
  stderr: string;
  /** The exit code; 127 when the command could not be started, 124 when it timed out (120 s). */
  exitCode: number;
}

/** Runs one OS command (argv, never a shell); resolves whatever the exit code. */
export type Runner = (
  argv: readonly string[],
  options?: { input?: string },
) => Promise<RunnerResult>;

/** The real runner: execa with an argv array, stdin from `input`, never rejecting on exit codes. */
export const defaultRunner: Runner = createRunner(execa);

/** Runs argv and throws CommandError (argv, exit code, stderr, input as cause) unless it exits 0. */
export function runChecked(
  runner: Runner,
  what: string,
  argv: readonly string[],
  input?: string,
): Promise<string> {
  return runCheckedWith(runner, argv, input, (result) => {
    return new CommandError(what, {
      argv: [...argv],
      exitCode: result.exitCode,
      stderr: result.stderr,
      ...(input === undefined ? {} : { input }),
    });
  });
}
