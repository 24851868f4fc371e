import { createRunner, runChecked as runCheckedWith } from '@tapnet/internal';
import { execa } from 'execa';
import { FirewallCommandError } from './errors.js';

export { countingRunner } from '@tapnet/internal';

export interface RunResult {
  stdout: string;
  stderr: string;
  /** The exit code; 127 when the command could not be started, 124 when it timed out (120 s). */
  exitCode: number;
}

/** Runs one OS command (argv, never a shell); resolves whatever the exit code. */
export type Runner = (argv: readonly string[], options?: { input?: string }) => Promise<RunResult>;

/** The real runner: execa with an argv array, stdin for rulesets, no shell. */
export const defaultRunner: Runner = createRunner(execa);

/** Runs argv and throws FirewallCommandError (argv, exit code, stderr, stdin) unless it exits 0. */
export function runChecked(
  runner: Runner,
  argv: readonly string[],
  input?: string,
): Promise<string> {
  return runCheckedWith(
    runner,
    argv,
    input,
    (result) => new FirewallCommandError(argv, result.exitCode, result.stderr, input),
  );
}
