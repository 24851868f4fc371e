import { exitCodeOf } from '@tapnet/internal';
import { execa } from 'execa';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs argv and returns its result whatever the exit code (for probes that expect failure). */
export async function run(
  argv: readonly string[],
  options: { input?: string; timeout?: number } = {},
): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('run: empty argv');
  const result = await execa(file, args, {
    reject: false,
    input: options.input,
    timeout: options.timeout ?? 30_000,
    stripFinalNewline: true,
  });
  return {
    // The kit's one mapping: 127 for a command that never started, 124 for the timeout.
    exitCode: exitCodeOf(result),
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  };
}

/** Runs argv and throws with its stderr when it fails. */
export async function runOk(
  argv: readonly string[],
  options: { input?: string; timeout?: number } = {},
): Promise<string> {
  const result = await run(argv, options);
  if (result.exitCode !== 0) {
    throw new Error(
      `\`${argv.join(' ')}\` exited ${result.exitCode}: ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}
