import { Dnsmasq, LlmnrResponder } from '@tapnet/dhcp-dns';
import {
  createFirewall,
  type DriftEvent,
  detectUplink,
  type Firewall,
  type FirewallWatch,
  type Policy,
} from '@tapnet/firewall';
import { MetadataServer } from '@tapnet/metadata-proxy';
import {
  checkConflicts,
  claimPrefix,
  createShaper,
  createTapPool,
  ensureStateDir,
  isAlive,
  type PoolPlan,
  type PrefixClaim,
  readHostSnapshot,
  type Shaper,
  type TapPool,
} from '@tapnet/tap-pool';
import { cleanupLeftovers, recordedPid } from './cleanup.js';
import { PrefixInUseError } from './errors.js';
import { assertEgressFits } from './limits.js';
import { type NormalizedPoolOptions, normalizeOptions, type PoolOptions } from './options.js';
import { findTool } from './tools.js';
import { type PoolParts, planParts } from './translate.js';
import { assertUplinkPresent } from './uplink.js';

/** A running pool's pieces, made by `startPool` and owned by the Pool from then on. */
export interface Parts {
  options: NormalizedPoolOptions;
  /** The conntrack binary, when the host has one: flows are flushed on release. */
  conntrack: string | undefined;
  plan: PoolPlan;
  policy: Policy;
  uplink: string | null;
  taps: TapPool;
  /** Per-VM traffic limits (tc, IFBs, nft packet-rate caps). */
  shaper: Shaper;
  firewall: Firewall;
  dnsmasq: Dnsmasq;
  metadata: MetadataServer;
  /** The prefix's host-wide claim (see tap-pool's claimPrefix): taken first, released last. */
  claim: PrefixClaim;
  llmnr: LlmnrResponder | undefined;
  /** Keeps the firewall applied from creation until dispose() removes it. */
  watch: FirewallWatch;
}

/** Every option validated and the pool planned; nothing on the host changed. */
export interface Prepared {
  options: NormalizedPoolOptions;
  uplink: string | null;
  parts: PoolParts;
}

/**
 * Validates every option (the facade's own, then each package's through its normaliser) and
 * plans the pool. Reads the host (the default route, the devices) but changes nothing: an
 * `uplink` that names no device here is refused now, not compiled into rules that match nothing.
 */
export async function preparePool(input: PoolOptions): Promise<Prepared> {
  const options = normalizeOptions(input);
  const uplink = options.uplink === undefined ? await detectUplink() : options.uplink;
  const parts = planParts(options, uplink);
  assertEgressFits(options.limits.traffic, parts.plan);
  if (typeof options.uplink === 'string') {
    assertUplinkPresent(options.uplink, (await readHostSnapshot()).devices);
  }
  return { options, uplink, parts };
}

/**
 * Claims the prefix host-wide whatever `stateDir` each pool uses, before anything is applied: a
 * loser changes nothing, so its rollback can never remove the winner's rules. Makes the state
 * folder (0700) first: nothing is read from or written to one others could write.
 */
export async function claimPool(prepared: Prepared): Promise<PrefixClaim> {
  ensureStateDir(prepared.options.stateDir);
  const { prefix } = prepared.parts.plan;
  try {
    return await claimPrefix(prefix);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_PREFIX_IN_USE') throw error;
    throw new PrefixInUseError(prefix, (error as { pid: number }).pid);
  }
}

/** Where a started pool's firewall watch reports (the Pool, once it exists). */
export interface WatchEvents {
  onDrift(event: DriftEvent): void;
  onError(error: Error): void;
}

/**
 * Applies a prepared pool with its prefix claimed: firewall → TAPs → dnsmasq → LLMNR →
 * metadata server → firewall watch. If a step fails, the steps before it are undone in reverse
 * and the first error is thrown (rollback failures as its `rollbackErrors`).
 */
export async function startPool(
  prepared: Prepared,
  claim: PrefixClaim,
  events: WatchEvents,
): Promise<Parts> {
  const { options: o, uplink, parts } = prepared;
  const { plan, policy } = parts;
  // A live pool (this process included) owns the prefix; a crashed one's leftovers (its
  // record names a dead process) would block this one and are removed first.
  const owner = recordedPid(plan.prefix, o.stateDir);
  if (owner !== undefined && isAlive(owner)) throw new PrefixInUseError(plan.prefix, owner);
  if (o.cleanupStale && owner !== undefined) await cleanupLeftovers(plan.prefix, o.stateDir, claim);
  checkConflicts(plan, await readHostSnapshot());

  const conntrack = findTool('conntrack');
  const undo: (() => Promise<void>)[] = [];
  try {
    // The firewall first: its rules match interface names, so they are in force before a TAP
    // exists and a QEMU could attach to it (or IPv4 forwarding is turned on).
    const firewall = createFirewall({ backend: o.firewall });
    undo.push(() => firewall.remove(plan.prefix));
    await firewall.apply(policy);
    // IPv4 forwarding only when guests may reach something beyond the host: the uplink or an
    // `allow` entry. Without either the pool forwards nothing and leaves ip_forward as it is.
    const taps = await createTapPool(plan, {
      claim,
      ipForward: policy.uplink !== null || policy.allow.length > 0,
    });
    undo.push(() => taps.remove());
    // Every network starts with the pool's default limits, in force before any VM can attach.
    const shaper = await createShaper(plan, { defaults: o.limits.traffic });
    undo.push(() => shaper.remove());
    const dnsmasq = await Dnsmasq.start(parts.dnsmasq);
    undo.push(() => dnsmasq.stop());
    // After dnsmasq: the TAPs have their gateway addresses, which the group is joined on.
    const llmnr = parts.llmnr ? await LlmnrResponder.start(parts.llmnr) : undefined;
    if (llmnr) undo.push(() => llmnr.stop());
    const metadata = await MetadataServer.create({
      host: o.metadataIp,
      port: o.metadataPort,
      ...(parts.hardening !== undefined && { hardening: parts.hardening }),
    });
    undo.push(() => metadata.close());
    for (const n of plan.networks) metadata.addNetwork(n.device, n.subnet);
    // Rules removed by someone else (a firewall service's reload, `nft flush ruleset`) are
    // put back within about a second, for as long as the pool lives.
    const watch = await firewall.watch(policy, events);
    undo.push(() => watch.close());
    return {
      options: o,
      conntrack,
      plan,
      policy,
      uplink,
      taps,
      shaper,
      firewall,
      dnsmasq,
      metadata,
      claim,
      llmnr,
      watch,
    };
  } catch (error) {
    const rollbackErrors: unknown[] = [];
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (rollbackError) {
        rollbackErrors.push(rollbackError);
      }
    }
    if (rollbackErrors.length > 0 && typeof error === 'object' && error !== null) {
      Object.defineProperty(error, 'rollbackErrors', { value: rollbackErrors, enumerable: false });
    }
    throw error;
  }
}
