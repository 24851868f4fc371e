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

/**
 * The builders' command line (`node e2e/guest/build.ts`, which tapnet.sh setup runs): when
 * `module` (its import.meta.filename) is the script Node was started with, builds with progress
 * on stderr tagged `[tag]`, then prints the image's paths on stdout; exit 1 on failure.
 */
export function buildFromCommandLine<T extends GuestImageFiles>(
  module: string,
  tag: string,
  build: (options: { log: (line: string) => void }) => Promise<T>,
  summary: (image: T) => string = () => '',
): void {
  if (!process.argv[1] || resolve(process.argv[1]) !== module) return;
  const started = performance.now();
  build({ log: (line) => console.error(`[${tag}] ${line}`) }).then(
    (image) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.error(`[${tag}] ready in ${seconds} s${summary(image)}`);
      console.log(`kernel  ${image.kernel}\ninitrd  ${image.initrd}\nversion ${image.version}`);
    },
    (error: unknown) => {
      console.error(
        `[${tag}] build failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      process.exit(1);
    },
  );
}

/** What every built guest image has: its kernel, its initramfs and a version naming its inputs. */
export interface GuestImageFiles {
  kernel: string;
  initrd: string;
  version: string;
}
