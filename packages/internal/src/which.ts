import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export interface WhichOptions {
  /** The search path; default `process.env.PATH`. */
  searchPath?: string;
  /** Folders searched after `searchPath`, e.g. `['/usr/sbin', '/sbin']` for root's tools. */
  also?: readonly string[];
  /** Default: a regular file this process may execute. Injectable for tests. */
  isExecutable?: (path: string) => boolean;
}

/** A regular file this process may execute (a folder has the x bit too). */
export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The first executable `name` on the search path, or undefined. Empty and relative entries are
 * skipped: they mean "the current folder", and a binary found there is whatever the folder a
 * command happened to start in holds. A `name` with a slash is not searched for.
 */
export function which(name: string, options: WhichOptions = {}): string | undefined {
  if (name === '' || name.includes('/')) return undefined;
  const searchPath = options.searchPath ?? process.env.PATH ?? '';
  const isExecutable = options.isExecutable ?? isExecutableFile;
  for (const dir of [...searchPath.split(delimiter), ...(options.also ?? [])]) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}
