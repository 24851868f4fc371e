// The state folder dnsmasq's config, lease and pid files live in. Whoever could write there
// could swap the config root's dnsmasq reads, or plant a symlink at the lease file that dnsmasq
// (root) then writes through: the folder and every folder above it must be ours or root's and
// writable by nobody else, and our own files are written without following symlinks.
import {
  currentIdentity,
  describeUnsafeFolder,
  ensureRegularFileSync,
  ensureSecureFolder,
} from '@tapnet/internal';
import { DhcpDnsError } from './errors.js';

export { writeFileAtomic } from '@tapnet/internal';

/**
 * Creates the folder (0700) when missing and the lease file when missing, refusing
 * (ERR_UNSAFE_STATE_DIR, nothing else changed) a folder others could write and a lease file
 * that is not a plain file of ours (a symlink, FIFO, ...).
 */
export function prepareStateDir(stateDir: string, leasePath: string): void {
  const problem = ensureSecureFolder(stateDir);
  if (problem) {
    throw new DhcpDnsError(
      'ERR_UNSAFE_STATE_DIR',
      `${describeUnsafeFolder(stateDir, problem, currentIdentity())}; nothing was changed`,
    );
  }
  try {
    ensureRegularFileSync(leasePath, 0o644);
  } catch (error) {
    throw new DhcpDnsError(
      'ERR_UNSAFE_STATE_DIR',
      `Expected the lease file \`${leasePath}\` to be a plain file of ours, got one that is not (${(error as NodeJS.ErrnoException).code})`,
      { cause: error },
    );
  }
}
