// Whether a folder, and every folder above it, is safe to keep state in: nobody but root or we
// can write to any of them, so nobody else can plant, swap or rename what we keep there.
import { lstatSync, mkdirSync, realpathSync, type Stats } from 'node:fs';
import { resolve, sep } from 'node:path';

/** Who may own and write a safe folder besides root. */
export interface Identity {
  uid: number;
  gid: number;
}

/** The first folder on the way down that someone else could write, and why. */
export interface UnsafeFolder {
  path: string;
  uid: number;
  /** The permission bits, e.g. `0777` or `1777`. */
  mode: string;
  reason: string;
}

export type FolderStats = Pick<Stats, 'isDirectory' | 'isSymbolicLink' | 'mode' | 'uid' | 'gid'>;

export function currentIdentity(): Identity {
  return { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 };
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Pure: why one folder on the path is unsafe, or undefined. `last` is the folder itself (the
 * others are above it). A sticky world-writable folder such as `/tmp` is fine above: there,
 * others cannot rename or delete what we own, and the folder below it is checked in turn.
 */
export function folderProblem(
  stats: FolderStats,
  who: Identity,
  last: boolean,
): string | undefined {
  if (stats.uid !== 0 && stats.uid !== who.uid) {
    return `it is owned by uid ${stats.uid}, not by root or us (${who.uid})`;
  }
  // A symlink's own mode means nothing; where it points is checked separately.
  if (stats.isSymbolicLink()) return undefined;
  if (!stats.isDirectory()) return 'it is not a directory';
  const mode = stats.mode & 0o7777;
  if (!last && mode & 0o1000) return undefined;
  if (mode & 0o002) return `it is writable by others (mode ${octal(mode)})`;
  if (mode & 0o020 && stats.gid !== who.gid) {
    return `it is writable by group ${stats.gid}, which is not ours (${who.gid}) (mode ${octal(mode)})`;
  }
  return undefined;
}

function problemAt(path: string, stats: FolderStats, reason: string): UnsafeFolder {
  return { path, uid: stats.uid, mode: octal(stats.mode), reason };
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * Checks `/` down to `dir` (absolute, or resolved from the working directory). A symlink on the
 * way must be owned by root or us, and the folders it leads to are checked the same way. Folders
 * that do not exist yet end the walk (the deepest existing one is judged as a parent): undefined
 * means safe so far.
 */
export function checkFolderChain(
  dir: string,
  who: Identity = currentIdentity(),
): UnsafeFolder | undefined {
  return walk(resolve(dir), who, true);
}

/** `endIsTarget` false: the end of `absolute` is a parent of the folder asked about. */
function walk(absolute: string, who: Identity, endIsTarget: boolean): UnsafeFolder | undefined {
  const parts = absolute.split(sep).filter(Boolean);
  let path = '/';
  for (let i = -1; i < parts.length; i++) {
    if (i >= 0) path = path === '/' ? `/${parts[i]}` : `${path}/${parts[i]}`;
    const last = endIsTarget && i === parts.length - 1;
    let stats: FolderStats;
    try {
      stats = lstatSync(path);
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      return { path, uid: -1, mode: '?', reason: `it could not be read (${errno(error)})` };
    }
    const reason = folderProblem(stats, who, last);
    if (reason) return problemAt(path, stats, reason);
    if (stats.isSymbolicLink()) {
      let target: string;
      try {
        target = realpathSync(path);
      } catch (error) {
        return problemAt(path, stats, `it could not be resolved (${errno(error)})`);
      }
      // The target has no symlinks left, so this recurses once.
      const below = walk(target, who, last);
      if (below) return below;
    }
  }
  return undefined;
}

/**
 * Makes sure `dir` exists and it and every folder above it are safe: checks the existing part,
 * creates what is missing one level at a time with mode 0700, then checks the whole chain again
 * (someone may have made a missing folder first). Returns the first unsafe folder, or undefined.
 */
export function ensureSecureFolder(
  dir: string,
  who: Identity = currentIdentity(),
): UnsafeFolder | undefined {
  const absolute = resolve(dir);
  const before = walk(absolute, who, true);
  if (before) return before;
  let path = '';
  for (const part of absolute.split(sep).filter(Boolean)) {
    path = `${path}/${part}`;
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (error) {
      if (errno(error) !== 'EEXIST') {
        return { path, uid: -1, mode: '?', reason: `it could not be created (${errno(error)})` };
      }
    }
  }
  return walk(absolute, who, true);
}

/** "Expected `/x` and every folder above it to be ..., got `/x`, owned by uid 0: it is writable by others (mode 0777)". */
export function describeUnsafeFolder(dir: string, problem: UnsafeFolder, who: Identity): string {
  const found = problem.uid < 0 ? problem.reason : `owned by uid ${problem.uid}: ${problem.reason}`;
  return `Expected \`${dir}\` and every folder above it to be owned by root or uid ${who.uid} and writable by nobody else, got \`${problem.path}\`, ${found}`;
}
