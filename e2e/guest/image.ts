// A guest image in the cache: found by a hash of everything that goes into it, its initramfs
// packed as a newc cpio archive, and the finished image folder moved into the cache in one rename.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
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

/** Where an image of these inputs lives in `cacheDir`, and the image when it is built already. */
export interface ImageSlot<T> {
  /** 16 hex digits of the inputs' hash: part of the folder name and the image's version. */
  key: string;
  imageDir: string;
  manifestPath: string;
  cached: T | undefined;
}

/**
 * The cache slot for an image built from `settings` (anything JSON) and `files` (path in the
 * guest → text): any change to either is a new key, so a stale image is never reused.
 */
export async function locateImage<T extends { kernel: string; initrd: string }>(
  cacheDir: string,
  settings: object,
  files: ReadonlyMap<string, string>,
): Promise<ImageSlot<T>> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(settings));
  for (const [target, text] of files) hash.update(`\0${target}\0${text}`);
  const key = hash.digest('hex').slice(0, 16);
  const imageDir = join(cacheDir, `image-${key}`);
  const manifestPath = join(imageDir, 'image.json');
  const manifest = await readFile(manifestPath, 'utf8').then(
    (text) => JSON.parse(text) as T,
    () => undefined,
  );
  const complete =
    manifest !== undefined && (await exists(manifest.kernel)) && (await exists(manifest.initrd));
  return { key, imageDir, manifestPath, cached: complete ? manifest : undefined };
}
