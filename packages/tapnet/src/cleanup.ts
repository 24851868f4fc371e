import { join } from 'node:path';
import { stopStaleDnsmasq } from '@tapnet/dhcp-dns';
import { cleanupFirewall } from '@tapnet/firewall';
import {
  type CleanupReport,
  checkStateDir,
  claimPrefix,
  cleanupPool,
  cleanupShaping,
  DEFAULTS,
  isAlive,
  type PrefixClaim,
  readState,
  type ShapingCleanupReport,
  statePath,
} from '@tapnet/tap-pool';

export interface LeftoverReport {
  prefix: string;
  /** Set when the pool's recorded process is still running: then nothing was touched. */
  running?: number;
  dnsmasqStopped: boolean;
  firewall: { removed: string[] };
  taps: CleanupReport;
  /** The IFBs and packet-rate table of the pool's traffic limits. */
  limits: ShapingCleanupReport;
}

/**
 * Removes what a crashed pool with this prefix left behind: its dnsmasq (by pid file and config
 * path), its firewall table/chains, and the TAPs its state record names. A pool that is alive
 * (it holds the prefix's claim, whatever its state folder, or its record names a live process)
 * is left alone; nothing that is not recorded and marked as ours is deleted. A state folder
 * others could write is refused (ERR_UNSAFE_STATE_DIR) before anything is read from it.
 */
export async function cleanupLeftovers(
  prefix: string,
  stateDir: string = DEFAULTS.stateDir,
  claim?: PrefixClaim,
): Promise<LeftoverReport> {
  checkStateDir(stateDir);
  // Holding the claim for the whole cleanup: no pool can start with this prefix meanwhile.
  let held = claim;
  if (held === undefined) {
    try {
      held = await claimPrefix(prefix, { role: 'cleanup' });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_PREFIX_IN_USE') throw error;
      return runningReport(prefix, (error as { pid: number }).pid);
    }
  }
  try {
    const pid = recordedPid(prefix, stateDir);
    if (pid !== undefined && isAlive(pid)) return runningReport(prefix, pid);
    const dnsmasqStopped = await stopStaleDnsmasq(join(stateDir, prefix));
    // TAPs before the firewall, so none is ever up without its rules (see Pool.dispose()).
    const taps = await cleanupPool(prefix, { stateDir, claim: held });
    const limits = await cleanupShaping(prefix);
    const firewall = await cleanupFirewall(prefix);
    return { prefix, dnsmasqStopped, firewall, taps, limits };
  } finally {
    if (claim === undefined) await held.release();
  }
}

function runningReport(prefix: string, pid: number): LeftoverReport {
  return {
    prefix,
    running: pid,
    dnsmasqStopped: false,
    firewall: { removed: [] },
    taps: { removedDevices: [], removedAddresses: [], restoredSysctls: [], skipped: [] },
    limits: { removedDevices: [], removedTables: [] },
  };
}

/** The pid a pool's state record names; undefined without a record, or with one tap-pool refuses. */
export function recordedPid(prefix: string, stateDir: string): number | undefined {
  try {
    return readState(statePath(stateDir, prefix))?.pid;
  } catch {
    return undefined;
  }
}
