// What both guest builders (build.ts: busybox; debian.ts: Debian) share: where the repository
// and the guest cache are, the build's error, and running a tool for its output.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

/** The repository's root, from this file's place in it (never from the working directory). */
export const repoRoot = resolve(import.meta.dirname, '../..');
export const guestCacheDir = join(repoRoot, '.cache/guest');

export class GuestBuildError extends Error {
  override name = 'GuestBuildError';
  readonly code = 'ERR_GUEST_BUILD';
}

export async function out(
  file: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<string> {
  const result = await execa(file, args, {
    reject: false,
    cwd: options.cwd,
    stripFinalNewline: true,
  });
  if (result.exitCode !== 0) {
    throw new GuestBuildError(
      `\`${[file, ...args].join(' ')}\` exited ${result.exitCode}: ${String(result.stderr || result.stdout)}`,
    );
  }
  return String(result.stdout);
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
