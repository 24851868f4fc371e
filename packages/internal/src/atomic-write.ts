// Writing a file in a folder without following a symlink anyone planted there: the data goes to
// a new file with an unpredictable name, created exclusively (O_EXCL also refuses a symlink at
// that name), and is then renamed (or, for an exclusive first write, linked) into place. rename
// and link replace or refuse a symlink at the final name; they never write through it.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface AtomicWriteOptions {
  /** Permission bits of the new file; default 0o600. */
  mode?: number;
  /**
   * Fail with EEXIST (and change nothing) when `path` exists, as a symlink too: the write that
   * claims a name.
   */
  exclusive?: boolean;
}

/** A fresh name beside `path` that nobody can guess in advance. */
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
}

export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const tmp = temporaryName(path);
  const fd = openSync(tmp, CREATE_NEW, options.mode ?? 0o600);
  try {
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.exclusive) linkSync(tmp, path);
    else renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  if (options.exclusive) {
    // link(2) has no promise form worth the difference; the write is small.
    writeFileAtomicSync(path, data, options);
    return;
  }
  const tmp = temporaryName(path);
  const handle = await open(tmp, CREATE_NEW, options.mode ?? 0o600);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Makes sure `path` is a regular file of ours that a program may then open and write itself
 * (dnsmasq's lease file): created when missing, never through a symlink (ELOOP), never a FIFO or
 * device (refused). Throws the fs error, or one with code `ENOTREG`.
 */
export function ensureRegularFileSync(path: string, mode = 0o600): void {
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    mode,
  );
  try {
    const stats = fstatSync(fd);
    const uid = process.geteuid?.() ?? 0;
    if (!stats.isFile() || stats.nlink !== 1 || (stats.uid !== uid && stats.uid !== 0)) {
      throw Object.assign(
        new Error(
          `Expected \`${path}\` to be a regular file of ours with one link, got ${stats.isFile() ? `one owned by uid ${stats.uid} with ${stats.nlink} links` : 'something else'}`,
        ),
        { code: 'ENOTREG' },
      );
    }
  } finally {
    closeSync(fd);
  }
}
