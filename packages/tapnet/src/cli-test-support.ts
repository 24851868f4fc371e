// What the privileged CLI tests share: the built `tapnet` binary, running one command, and
// starting `tapnet up` until it has printed its table. Not a test file; no test imports another.
import { resolve } from 'node:path';
import { waitFor } from '@tapnet/testing';
import { execa } from 'execa';

export const bin = resolve(import.meta.dirname, '../dist/bin.js');

/** Runs `tapnet ARGS…` to its end (60 s at most); never rejects on the exit code. */
export const tapnet = (args: string[], options: { input?: string } = {}) =>
  execa(process.execPath, [bin, ...args], {
    reject: false,
    all: true,
    timeout: 60_000,
    ...options,
  });

/** Starts `tapnet up …` and resolves once it printed its table; `output()` is all it said. */
export async function startUp(args: string[]) {
  const child = execa(process.execPath, [bin, 'up', ...args], { reject: false, all: true });
  let output = '';
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => output.includes('Ctrl-C to dispose'), {
    what: `\`tapnet up ${args.join(' ')}\` to print its table`,
    timeout: 30_000,
    seen: () => output,
  });
  return { child, output: () => output };
}
