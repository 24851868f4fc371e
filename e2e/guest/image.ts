// Packing and publishing a guest image: the initramfs as a newc cpio archive, and the finished
// image folder moved into the cache in one rename.
import { createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { execa } from 'execa';
import { exists, GuestBuildError } from './common.ts';

/**
 * Writes `image.json` into the finished `work` folder and publishes it as `imageDir` with one
 * rename (a concurrent reader sees all of the image or none), then drops the images of earlier
 * inputs in `cacheDir`: dead weight, with an hour's grace for a run still booting one.
 */
export async function publishImage(options: {
  work: string;
  imageDir: string;
  manifestPath: string;
  cacheDir: string;
  image: object;
}): Promise<void> {
  const { work, imageDir, manifestPath, cacheDir, image } = options;
  await writeFile(join(work, 'image.json'), `${JSON.stringify(image, null, 2)}\n`);
  await rm(imageDir, { recursive: true, force: true });
  await rename(work, imageDir).catch(async (error: unknown) => {
    if (!(await exists(manifestPath))) throw error;
  });
  for (const name of await readdir(cacheDir)) {
    const path = join(cacheDir, name);
    if (!name.startsWith('image-') || path === imageDir) continue;
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000)
      await rm(path, { recursive: true, force: true });
  }
}

/** Every path under `dir`, relative, parents first, as cpio's file list wants it. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

/** Packs `dir` as a gzipped (or, with `gzip: false`, plain) newc cpio archive at `dest`: `cpio -o -H newc | gzip`, no shell. */
export async function packInitramfs(
  dir: string,
  dest: string,
  options: { gzip?: boolean } = {},
): Promise<void> {
  const files = await listTree(dir);
  const cpio = execa('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--quiet'], {
    cwd: dir,
    input: `.\n${files.join('\n')}\n`,
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
  });
  const [, result] = await Promise.all([
    options.gzip === false
      ? pipeline(cpio.stdout, createWriteStream(dest))
      : pipeline(cpio.stdout, createGzip({ level: 9 }), createWriteStream(dest)),
    cpio,
  ]);
  if (result.exitCode !== 0) {
    throw new GuestBuildError(`cpio exited ${result.exitCode}: ${String(result.stderr)}`);
  }
}
