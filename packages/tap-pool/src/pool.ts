import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { countingRunner, describeValue } from '@tapnet/internal';
import { claimPrefix, type PrefixClaim } from './claim.js';
import { configureScript, deviceSysctls, IP_FORWARD, metadataCidr, tapScript } from './commands.js';
import { DeviceExistsError, InvalidOptionError, StateError } from './errors.js';
import { parseAddrJson, parseLinkDetails, parseRouteJson, ROUTES_ARGV, readLinks } from './host.js';
import { DEFAULTS, validatePrefix, validateStateDir } from './options.js';
import { checkConflicts, type PoolPlan, planPool } from './plan.js';
import { defaultRunner, type Runner, runChecked } from './runner.js';
import {
  checkStateDir,
  deleteState,
  deviceMark,
  ensureStateDir,
  isAlive,
  readState,
  type StateRecord,
  statePath,
  writeState,
} from './state.js';
import {
  type CleanupReport,
  matchesScheme,
  readSysctl,
  teardown,
  writeSysctl,
} from './teardown.js';

export type { CleanupReport } from './teardown.js';

export interface CreateTapPoolOptions {
  runner?: Runner;
  /** Where sysctls are read and written; default `/proc/sys` (a test seam for fake runners). */
  sysctlRoot?: string;
  /**
   * When a record of a crashed run (its pid is gone) exists for the prefix, clean it up first
   * instead of throwing StateError. Default false.
   */
  cleanupStale?: boolean;
  /**
   * The prefix's claim, when the caller took it already (the tapnet facade claims before it
   * applies its firewall); it stays the caller's to release. Without it, createTapPool claims
   * the prefix itself and releases it when the pool is removed.
   */
  claim?: PrefixClaim;
  /** Key for claims this call takes itself (see claimPrefix's `scope`); a test seam. */
  claimScope?: string;
  /**
   * Turn `net.ipv4.ip_forward` on (restored by remove). Default true; false for a pool that
   * forwards nothing (no uplink, no extra destinations): then ip_forward is left as it is.
   */
  ipForward?: boolean;
}

export interface CleanupOptions {
  stateDir?: string;
  runner?: Runner;
  /** Where sysctls are read and written; default `/proc/sys`. */
  sysctlRoot?: string;
  /** The prefix's claim, when the caller holds it; otherwise cleanupPool claims it for its run. */
  claim?: PrefixClaim;
  /** Key for claims this call takes itself (see claimPrefix's `scope`); a test seam. */
  claimScope?: string;
}

export interface TapPool extends AsyncDisposable {
  readonly plan: PoolPlan;
  /** Deletes exactly what create made and restores what it changed; idempotent. */
  remove(): Promise<void>;
  /** How many OS processes create and remove have started so far. */
  processCount(): number;
}

const PROC_SYS = '/proc/sys';

/** Re-derives the plan from its own options, so nothing hand-edited reaches an `ip` script. */
function verifyPlan(plan: PoolPlan): void {
  if (typeof plan !== 'object' || plan === null) {
    throw new InvalidOptionError(
      `Expected \`plan\` to be a plan from planPool(), got ${describeValue(plan)}`,
    );
  }
  const again = planPool({
    size: plan.size,
    prefix: plan.prefix,
    subnet: plan.range,
    prefixLength: plan.prefixLength,
    metadataIp: plan.metadataIp,
    ipv6: plan.ipv6,
    ...(plan.owner ? { owner: plan.owner } : {}),
    stateDir: plan.stateDir,
  });
  if (JSON.stringify(again) !== JSON.stringify({ ...plan })) {
    throw new InvalidOptionError(
      'Expected `plan` to be a plan from planPool(), unchanged; it was modified',
    );
  }
}

/** Throws StateError when a live pool holds the prefix; cleans up or refuses a crashed one. */
async function checkRecord(
  path: string,
  prefix: string,
  runner: Runner,
  root: string,
  cleanupStale: boolean,
): Promise<void> {
  const existing = readState(path);
  if (!existing) return;
  if (isAlive(existing.pid)) {
    throw new StateError(
      `Expected no live pool with prefix \`${prefix}\`, got one owned by pid ${existing.pid} (\`${path}\`)`,
    );
  }
  if (!cleanupStale) {
    throw new StateError(
      `Expected no state record for prefix \`${prefix}\`, got one left by pid ${existing.pid}, which is gone: run cleanupPool('${prefix}') first (\`${path}\`)`,
    );
  }
  await teardown(existing, runner, root);
  deleteState(path);
}

/**
 * Creates every TAP of the plan with its address, hardening sysctls and link up, the metadata IP
 * on `lo` (when absent) and `net.ipv4.ip_forward=1` (unless `ipForward: false`), in a constant
 * number of processes.
 * Nothing is changed when it throws: a failure half-way is rolled back.
 */
export async function createTapPool(
  plan: PoolPlan,
  options: CreateTapPoolOptions = {},
): Promise<TapPool> {
  verifyPlan(plan);
  const opts: CreateTapPoolOptions = Object.assign(Object.create(null), options);
  const given = opts.claim;
  if (given !== undefined && (given.prefix !== plan.prefix || given.released)) {
    throw new InvalidOptionError(
      `Expected \`claim\` to be a held claim of prefix \`${plan.prefix}\`, got ${given.released ? 'a released one' : `one of \`${given.prefix}\``}`,
    );
  }
  // Refuses a state folder others could write before anything exists; creates it 0700.
  ensureStateDir(plan.stateDir);
  // The prefix is ours before anything is read or changed, whatever state folder others use.
  const claim = given ?? (await claimPrefix(plan.prefix, { scope: opts.claimScope }));
  try {
    return await createClaimed(plan, opts, claim, given === undefined);
  } catch (error) {
    if (given === undefined) await claim.release();
    throw error;
  }
}

async function createClaimed(
  plan: PoolPlan,
  opts: CreateTapPoolOptions,
  claim: PrefixClaim,
  ownClaim: boolean,
): Promise<TapPool> {
  const root = opts.sysctlRoot ?? PROC_SYS;
  const counter = countingRunner(opts.runner ?? defaultRunner);
  const run = counter.runner;
  const path = statePath(plan.stateDir, plan.prefix);
  await checkRecord(path, plan.prefix, run, root, opts.cleanupStale === true);

  const [addrText, routeText] = await Promise.all([
    runChecked(run, 'Could not list devices', ['ip', '-details', '-json', 'addr', 'show']),
    runChecked(run, 'Could not list routes', ROUTES_ARGV),
  ]);
  const links = parseLinkDetails(addrText);
  const host = { ...parseAddrJson(addrText), routes: parseRouteJson(routeText) };
  const taken = plan.networks.filter((n) => links.has(n.device)).map((n) => n.device);
  if (taken.length > 0) throw new DeviceExistsError(taken);
  checkConflicts(plan, host);

  const metadata = metadataCidr(plan);
  const addMetadataIp = !host.addresses.some((a) => a.dev === 'lo' && a.cidr === metadata);
  const priorForward = readSysctl(root, IP_FORWARD);
  const mark = deviceMark(plan.prefix, randomBytes(8).toString('hex'));
  const record: StateRecord = {
    version: 1,
    prefix: plan.prefix,
    pid: process.pid,
    createdAt: new Date().toISOString(),
    range: plan.range,
    linkGroup: plan.linkGroup,
    mark,
    devices: plan.networks.map((n) => n.device),
    tapsCreated: false,
    configured: false,
    metadataIp: addMetadataIp ? { cidr: metadata, added: false } : null,
    ipForward:
      opts.ipForward === false || priorForward === '1' ? null : { prior: priorForward, value: '1' },
  };
  // Intent first: a crash from here on leaves a record that cleanupPool can act on.
  writeState(path, plan.stateDir, record, true);

  try {
    await runChecked(
      run,
      'Could not create the TAP devices',
      ['ip', '-batch', '-'],
      tapScript(plan, mark),
    );
    record.tapsCreated = true;
    writeState(path, plan.stateDir, record);

    const ipv6 = existsSync(`${root}/net/ipv6`);
    for (const write of deviceSysctls(plan)) {
      if (!ipv6 && write.key.startsWith('net.ipv6.')) continue;
      writeSysctl(root, write.key, write.value);
    }

    await runChecked(
      run,
      'Could not configure the TAP devices',
      ['ip', '-batch', '-'],
      configureScript(plan, addMetadataIp),
    );
    record.configured = true;
    if (record.metadataIp) record.metadataIp.added = true;
    writeState(path, plan.stateDir, record);

    if (record.ipForward) writeSysctl(root, IP_FORWARD, record.ipForward.value);
  } catch (error) {
    try {
      await teardown(record, run, root);
      deleteState(path);
    } catch {
      // The record stays for cleanupPool, disowned (pid 0) so that this very process can run it;
      // the first error is the one to report.
      try {
        writeState(path, plan.stateDir, { ...record, pid: 0 });
      } catch {
        // the record on disk still names this process; cleanupPool works once it has exited
      }
    }
    throw error;
  }

  let removed = false;
  let removing: Promise<void> | undefined;
  const remove = (): Promise<void> => {
    if (removed) return Promise.resolve();
    removing ??= (async () => {
      try {
        await teardown(record, run, root);
        deleteState(path);
        removed = true;
        // Last: until everything is gone, nobody else may create or clean up this prefix.
        if (ownClaim) await claim.release();
      } finally {
        removing = undefined;
      }
    })();
    return removing;
  };
  return {
    plan,
    remove,
    processCount: counter.count,
    [Symbol.asyncDispose]: remove,
  };
}

/**
 * Removes the leftovers of a crashed run with this prefix, as its state record lists them; never
 * deletes a device the record does not name or that is no longer a TAP. Without a record nothing
 * is removed and devices of the naming scheme are reported as skipped.
 */
export async function cleanupPool(
  prefix: string,
  options: CleanupOptions = {},
): Promise<CleanupReport> {
  const name = validatePrefix(prefix);
  const opts: CleanupOptions = Object.assign(Object.create(null), options);
  const stateDir = validateStateDir(opts.stateDir ?? DEFAULTS.stateDir);
  const runner = opts.runner ?? defaultRunner;
  const root = opts.sysctlRoot ?? PROC_SYS;
  // A record in a folder others can write could name anything: refuse before reading it.
  checkStateDir(stateDir);
  const given = opts.claim;
  if (given !== undefined && (given.prefix !== name || given.released)) {
    throw new InvalidOptionError(
      `Expected \`claim\` to be a held claim of prefix \`${name}\`, got ${given.released ? 'a released one' : `one of \`${given.prefix}\``}`,
    );
  }
  // While we hold the claim no pool can start with this prefix; a live one makes this throw.
  const claim = given ?? (await claimPrefix(name, { scope: opts.claimScope, role: 'cleanup' }));
  try {
    return await cleanupClaimed(name, stateDir, runner, root);
  } finally {
    if (given === undefined) await claim.release();
  }
}

async function cleanupClaimed(
  name: string,
  stateDir: string,
  runner: Runner,
  root: string,
): Promise<CleanupReport> {
  const path = statePath(stateDir, name);
  const record = readState(path);
  if (!record) {
    const links = await readLinks(runner);
    const skipped = [...links.keys()]
      .filter((link) => matchesScheme(name, link))
      .map((link) => ({ name: link, reason: 'no state record for this prefix' }));
    return { removedDevices: [], removedAddresses: [], restoredSysctls: [], skipped };
  }
  if (record.prefix !== name) {
    throw new StateError(
      `Expected the state record \`${path}\` to be for prefix \`${name}\`, got \`${record.prefix}\``,
    );
  }
  if (isAlive(record.pid)) {
    throw new StateError(
      `Expected the pool \`${name}\` to be gone, got a live owner, pid ${record.pid} (\`${path}\`)`,
    );
  }
  const report = await teardown(record, runner, root);
  deleteState(path);
  return report;
}
