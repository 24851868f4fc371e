import type { Stats } from 'node:fs';
import { folderProblem } from '@tapnet/internal';

/**
 * Why a folder is not safe for the metadata socket, or undefined when it is. Anyone who can
 * write to the folder could swap the socket for their own and answer the guest's metadata
 * requests, so: a directory, owned by us or root, not writable by others (world-writable, or
 * group-writable with a group other than ours). UserNetwork.create applies the same rule to every
 * folder above it too (a sticky one such as `/tmp` is fine there).
 */
export function unsafeFolderReason(
  stats: Pick<Stats, 'isDirectory' | 'mode' | 'uid' | 'gid'>,
  uid: number,
  gid: number,
): string | undefined {
  return folderProblem(
    {
      isDirectory: () => stats.isDirectory(),
      isSymbolicLink: () => false,
      mode: stats.mode,
      uid: stats.uid,
      gid: stats.gid,
    },
    { uid, gid },
    true,
  );
}

/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;
