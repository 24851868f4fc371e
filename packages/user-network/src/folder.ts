import type { Stats } from 'node:fs';

/**
 * Why a folder is not safe for the metadata socket, or undefined when it is. Anyone who can
 * write to the folder could swap the socket for their own and answer the guest's metadata
 * requests, so: a directory, owned by us or root, not writable by others (world-writable, or
 * group-writable with a group other than ours).
 */
export function unsafeFolderReason(
  stats: Pick<Stats, 'isDirectory' | 'mode' | 'uid' | 'gid'>,
  uid: number,
  gid: number,
): string | undefined {
  if (!stats.isDirectory()) return 'it is not a directory';
  if (stats.uid !== uid && stats.uid !== 0)
    return `it is owned by uid ${stats.uid}, not by us (${uid}) or root`;
  const mode = stats.mode & 0o7777;
  const octal = `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
  if (mode & 0o002) return `it is world-writable (mode ${octal})`;
  if (mode & 0o020 && stats.gid !== gid) {
    return `it is writable by group ${stats.gid}, which is not ours (${gid}) (mode ${octal})`;
  }
  return undefined;
}

/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;
