import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import {
  buildDnsmasqConfig,
  Dnsmasq,
  type DnsmasqOptions,
  type ForgetResult,
  type Lease,
  LlmnrResponder,
  type LlmnrResponderOptions,
  type LlmnrStats,
  planLlmnr,
  type RestartEvent,
  stopStaleDnsmasq,
} from '@tapnet/dhcp-dns';
import {
  buildPolicy,
  cleanupFirewall,
  createFirewall,
  type DriftEvent,
  detectUplink,
  type Firewall,
  type FirewallStatus,
  type FirewallWatch,
  type Policy,
} from '@tapnet/firewall';
import {
  type MetadataRequestEvent,
  MetadataServer,
  normalizeHardening,
} from '@tapnet/metadata-proxy';
import { macFromSeed } from '@tapnet/qemu-args';
import {
  type CleanupReport,
  checkConflicts,
  checkStateDir,
  claimPrefix,
  cleanupPool,
  createTapPool,
  ensureStateDir,
  type Holding,
  isAlive,
  NetworkAllocator,
  type NetworkPlan,
  type PoolPlan,
  type PrefixClaim,
  planPool,
  readHostSnapshot,
  readState,
  statePath,
  type TapPool,
} from '@tapnet/tap-pool';
import { ConntrackFlusher } from './conntrack.js';
import { PoolDisposedError, PrefixInUseError } from './errors.js';
import { createPoolMetrics, type PoolMetrics, type PoolMetricsOptions } from './metrics.js';
import { Network, type NetworkHost } from './network.js';
import { type NormalizedPoolOptions, normalizeOptions, type PoolOptions } from './options.js';
import { findBinary } from './which.js';

/** Payload of `leases-forgotten`: a released network's leases dropped before it is handed out again. */
export interface LeasesForgottenEvent extends ForgetResult {
  network: string;
}

/**
 * The events a Pool emits and their arguments: `on`/`once`/`off` check both, so a misspelt
 * event name or a listener of the wrong shape fails to compile.
 */
export interface PoolEvents {
  lease: [Lease];
  'dnsmasq-restart': [RestartEvent];
  'leases-forgotten': [LeasesForgottenEvent];
  'firewall-drift': [DriftEvent];
  'metadata-request': [MetadataRequestEvent];
  error: [Error];
  /** EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: keyof PoolEvents, listener: (...args: never[]) => void];
  removeListener: [event: keyof PoolEvents, listener: (...args: never[]) => void];
}

export interface PoolStatus {
  prefix: string;
  size: number;
  inUse: number;
  available: number;
  /** `acquire()` calls waiting for a network. */
  waiting: number;
  /** The interface guests' traffic leaves by (NAT), or null: then only `allow` entries are forwarded. */
  uplink: string | null;
  /**
   * `net.ipv4.ip_forward` is 1 (the same reading as `firewall.forwarding`). The pool turns it on
   * only when it has an uplink or `allow` entries; it may be on for other reasons of the host.
   */
  forwarding: boolean;
  /** Whether a released network's tracked flows are flushed (needs the `conntrack` tool). */
  conntrackFlush: boolean;
  /** `reapplied`: times our rules were found changed by someone else and applied again. */
  firewall: FirewallStatus & { reapplied: number };
  dnsmasq: ReturnType<Dnsmasq['status']>;
  metadata: ReturnType<MetadataServer['stats']>;
  /** The LLMNR responder's counters; null when `llmnr: false`. */
  llmnr: LlmnrStats | null;
  networks: { name: string; subnet: string; gateway: string; inUse: boolean; lease?: Lease }[];
}

interface Parts {
  options: NormalizedPoolOptions;
  /** The conntrack binary, when the host has one: flows are flushed on release. */
  conntrack: string | undefined;
  plan: PoolPlan;
  policy: Policy;
  uplink: string | null;
  taps: TapPool;
  firewall: Firewall;
  dnsmasq: Dnsmasq;
  metadata: MetadataServer;
  /** The prefix's host-wide claim (see tap-pool's claimPrefix): taken first, released last. */
  claim: PrefixClaim;
  llmnr: LlmnrResponder | undefined;
}

export interface LeftoverReport {
  prefix: string;
  /** Set when the pool's recorded process is still running: then nothing was touched. */
  running?: number;
  dnsmasqStopped: boolean;
  firewall: { removed: string[] };
  taps: CleanupReport;
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
  stateDir = '/run/tapnet',
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
    // TAPs before the firewall, so none is ever up without its rules (see dispose()).
    const taps = await cleanupPool(prefix, { stateDir, claim: held });
    const firewall = await cleanupFirewall(prefix);
    return { prefix, dnsmasqStopped, firewall, taps };
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
    taps: emptyCleanup(),
  };
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function emptyCleanup(): CleanupReport {
  return { removedDevices: [], removedAddresses: [], restoredSysctls: [], skipped: [] };
}

/** The pid a pool's state record names; undefined without a record, or with one tap-pool refuses. */
function recordedPid(prefix: string, stateDir: string): number | undefined {
  try {
    return readState(statePath(stateDir, prefix))?.pid;
  } catch {
    return undefined;
  }
}

/**
 * A fixed set of isolated networks, one per VM: TAP devices, firewall, one dnsmasq and one
 * metadata server, created together by `Pool.create` and removed together by `dispose()`.
 *
 * Events: `lease` (Lease), `dnsmasq-restart` ({ attempt, delayMs, ... }), `leases-forgotten`
 * ({ network, released, restarted, remaining }: a released network's leases dropped),
 * `firewall-drift` ({ backend, reason, reappliedAt }: our rules were changed by someone else,
 * e.g. `nft flush ruleset`, and applied again), `metadata-request` ({ network, method, url,
 * status, remoteAddress }, once a request is answered), `error` (Error; emitted only while
 * someone listens, so a handler's failure never crashes the process).
 */
export class Pool extends EventEmitter<PoolEvents> implements AsyncDisposable {
  readonly #parts: Parts;
  readonly #allocator: NetworkAllocator<NetworkPlan>;
  readonly #live = new Map<NetworkPlan, Network>();
  /** The newest lease per device, with when it arrived, so a network only reports its own VM's lease. */
  readonly #leases = new Map<string, { lease: Lease; at: number }>();
  #disposing: Promise<void> | undefined;
  readonly #closing = new AbortController();
  readonly #flusher: ConntrackFlusher | undefined;
  /** Released networks whose DHCP leases dnsmasq is dropping; dispose() waits for them. */
  readonly #forgetting = new Set<Promise<void>>();
  /** Keeps the firewall applied from creation until dispose() removes it. */
  #watch: FirewallWatch | undefined;

  private constructor(parts: Parts) {
    super();
    this.#parts = parts;
    this.#allocator = new NetworkAllocator(parts.plan.networks);
    this.#flusher = parts.conntrack
      ? new ConntrackFlusher(parts.conntrack, (error) => this.#emitError(error))
      : undefined;
    parts.dnsmasq.on('lease', (lease: Lease) => {
      this.#leases.set(lease.network, { lease, at: performance.now() });
      this.emit('lease', lease);
    });
    parts.dnsmasq.on('restart', (info) => this.emit('dnsmasq-restart', info));
    parts.dnsmasq.on('failed', (error: Error) => this.#emitError(error));
    parts.dnsmasq.on('error', (error: Error) => this.#emitError(error));
    // Only while someone listens: the server builds no request event otherwise.
    this.on('newListener', (event) => {
      if (event === 'metadata-request' && this.listenerCount('metadata-request') === 0) {
        parts.metadata.on('request', this.#forwardRequest);
      }
    });
    this.on('removeListener', (event) => {
      if (event === 'metadata-request' && this.listenerCount('metadata-request') === 0) {
        parts.metadata.off('request', this.#forwardRequest);
      }
    });
    parts.metadata.on('error', ({ error }) =>
      this.#emitError(error instanceof Error ? error : new Error(String(error))),
    );
  }

  readonly #forwardRequest = (event: MetadataRequestEvent) => this.emit('metadata-request', event);

  #emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /**
   * Creates `size` networks (≈ the original's `NewPool(N)`): plan → TAPs → firewall → dnsmasq →
   * metadata server. Every option is validated before anything changes; if a step fails, the
   * steps before it are undone in reverse and the first error is thrown.
   */
  static async create(options: PoolOptions): Promise<Pool> {
    const o = normalizeOptions(options);
    const plan = planPool({
      size: o.size,
      prefix: o.prefix,
      ...(o.subnet !== undefined && { subnet: o.subnet }),
      ...(o.prefixLength !== undefined && { prefixLength: o.prefixLength }),
      metadataIp: o.metadataIp,
      ipv6: o.ipv6,
      ...(o.owner !== undefined && { owner: o.owner }),
      stateDir: o.stateDir,
    });
    const uplink = o.uplink === undefined ? await detectUplink() : o.uplink;
    const policy = buildPolicy({
      prefix: plan.prefix,
      networks: plan.networks.map((n) => ({
        device: n.device,
        subnet: n.subnet,
        gateway: n.gateway,
      })),
      metadataIp: o.metadataIp,
      metadataPort: o.metadataPort,
      uplink,
      allow: o.allow,
      ipv6: o.ipv6,
      connections: o.limits.connections,
      llmnr: o.llmnr,
    });
    const dnsOptions: DnsmasqOptions = {
      networks: plan.networks.map((n) => ({
        name: n.device,
        device: n.device,
        gateway: n.gateway,
        netmask: n.netmask,
        rangeStart: n.dhcpRange.start,
        rangeEnd: n.dhcpRange.end,
      })),
      stateDir: join(o.stateDir, plan.prefix),
      metadataIp: o.metadataIp,
      metadataNames: o.metadataNames,
      hostRecords: o.hostRecords,
      srvRecords: o.srvRecords,
      upstream: o.upstreamDns,
      leaseTime: o.leaseTime,
      ...(o.dnsDomain !== undefined && { domain: o.dnsDomain }),
      ...(o.dnsmasqRestart !== undefined && { restart: o.dnsmasqRestart }),
    };
    buildDnsmasqConfig(dnsOptions); // validates records and names; nothing is written yet
    const llmnrOptions: LlmnrResponderOptions = {
      networks: plan.networks.map((n) => ({
        name: n.device,
        gateway: n.gateway,
        netmask: n.netmask,
      })),
      metadataIp: o.metadataIp,
      metadataNames: o.metadataNames,
      hostRecords: o.hostRecords,
    };
    if (o.llmnr) planLlmnr(llmnrOptions);
    if (o.metadataHardening !== undefined) normalizeHardening(o.metadataHardening);
    // Nothing is read from or written to a state folder others could write; it is made 0700.
    ensureStateDir(o.stateDir);
    // The prefix is claimed before anything is applied, host-wide whatever `stateDir` each pool
    // uses: a loser changes nothing, so its rollback can never remove the winner's rules.
    let claim: PrefixClaim;
    try {
      claim = await claimPrefix(plan.prefix);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_PREFIX_IN_USE') throw error;
      throw new PrefixInUseError(plan.prefix, (error as { pid: number }).pid);
    }
    try {
      return await Pool.#createClaimed({
        o,
        plan,
        policy,
        uplink,
        dnsOptions,
        llmnrOptions,
        claim,
      });
    } catch (error) {
      await claim.release();
      throw error;
    }
  }

  /** Everything Pool.create validated and planned, with the prefix claimed; nothing applied yet. */
  static async #createClaimed(ready: {
    o: NormalizedPoolOptions;
    plan: PoolPlan;
    policy: Policy;
    uplink: string | null;
    dnsOptions: DnsmasqOptions;
    llmnrOptions: LlmnrResponderOptions;
    claim: PrefixClaim;
  }): Promise<Pool> {
    const { o, plan, policy, uplink, dnsOptions, llmnrOptions, claim } = ready;
    // A live pool (this process included) owns the prefix; a crashed one's leftovers (its
    // record names a dead process) would block this one and are removed first.
    const owner = recordedPid(plan.prefix, o.stateDir);
    if (owner !== undefined && isAlive(owner)) throw new PrefixInUseError(plan.prefix, owner);
    if (o.cleanupStale && owner !== undefined)
      await cleanupLeftovers(plan.prefix, o.stateDir, claim);
    checkConflicts(plan, await readHostSnapshot());

    const conntrack = await findBinary('conntrack');
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
      const dnsmasq = await Dnsmasq.start(dnsOptions);
      undo.push(() => dnsmasq.stop());
      // After dnsmasq: the TAPs have their gateway addresses, which the group is joined on.
      const llmnr = o.llmnr ? await LlmnrResponder.start(llmnrOptions) : undefined;
      if (llmnr) undo.push(() => llmnr.stop());
      const metadata = await MetadataServer.create({
        host: o.metadataIp,
        port: o.metadataPort,
        ...(o.metadataHardening !== undefined && { hardening: o.metadataHardening }),
      });
      undo.push(() => metadata.close());
      for (const n of plan.networks) metadata.addNetwork(n.device, n.subnet);
      const pool = new Pool({
        options: o,
        plan,
        policy,
        uplink,
        taps,
        firewall,
        dnsmasq,
        metadata,
        llmnr,
        conntrack,
        claim,
      });
      // Rules removed by someone else (a firewall service's reload, `nft flush ruleset`) are
      // put back within about a second, for as long as the pool lives.
      pool.#watch = await firewall.watch(policy, {
        onDrift: (event: DriftEvent) => pool.emit('firewall-drift', event),
        onError: (error: Error) => pool.#emitError(error),
      });
      undo.push(() => pool.#watch!.close());
      return pool;
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
        Object.defineProperty(error, 'rollbackErrors', {
          value: rollbackErrors,
          enumerable: false,
        });
      }
      throw error;
    }
  }

  get prefix(): string {
    return this.#parts.plan.prefix;
  }

  get size(): number {
    return this.#parts.plan.size;
  }

  /** How many `acquire()` calls are waiting for a network. */
  get waiting(): number {
    return this.#allocator.waiting;
  }

  /** The plan every network was made from (names, subnets, gateways, DHCP ranges). */
  get plan(): PoolPlan {
    return this.#parts.plan;
  }

  /** Hands out an unused network, or throws `AllNetworksInUseError` (≈ `Pool.Network()`). */
  network(): Network {
    this.#assertOpen();
    return this.#wrap(this.#allocator.acquire());
  }

  /** Waits for a network to be free (FIFO), up to `timeout` ms or until `signal` aborts. */
  async acquire(options: { signal?: AbortSignal; timeout?: number } = {}): Promise<Network> {
    this.#assertOpen();
    // dispose() aborts every waiter, so none is left pending on a pool that is gone.
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const holding = await this.#allocator.acquireAsync({ ...options, signal });
    if (this.#disposing) {
      holding.release();
      throw new PoolDisposedError();
    }
    return this.#wrap(holding);
  }

  #wrap(holding: Holding<NetworkPlan>): Network {
    const plan = holding.item;
    const acquiredAt = performance.now();
    // The MAC `Network.mac` gives this network's VM (lower-case, as dnsmasq's lease file).
    const mac = macFromSeed(plan.macSeed).toLowerCase();
    const host: NetworkHost = {
      setHandler: (handler) => this.#parts.metadata.setHandler(plan.device, handler),
      lease: () => {
        const entry = this.#leases.get(plan.device);
        return entry && entry.at >= acquiredAt ? entry.lease : undefined;
      },
      release: () => {
        this.#parts.metadata.clear(plan.device);
        this.#live.delete(plan);
        // In the background: done in milliseconds, long before a next VM on the network has
        // booted and taken its lease; dispose() waits for it.
        this.#flusher?.flush(plan.network, plan.netmask);
        this.#forgetThenFree(holding, mac);
      },
      heldByAnother: () => holding.released && this.#allocator.isHeld(plan),
    };
    const network = new Network(plan, host);
    this.#live.set(plan, network);
    return network;
  }

  /**
   * Hands `plan` back to the allocator once dnsmasq holds no lease of it but its own VM's, so
   * the next VM finds the whole DHCP range free (a guest may have taken every address with
   * made-up MACs; issue 11). The usual case, no lease or only the one for the network's MAC
   * (which the next VM, with that MAC, takes over anyway), goes back at once. Otherwise dnsmasq
   * drops the network's leases first (milliseconds, in the background; dispose() waits), and
   * until then no `acquire()` or `network()` gets it. Emits `leases-forgotten`
   * ({ network, released, restarted, remaining }).
   */
  #forgetThenFree(holding: Holding<NetworkPlan>, mac: string): void {
    const plan = holding.item;
    const { dnsmasq } = this.#parts;
    const foreign = dnsmasq
      .leases()
      .filter((lease) => lease.network === plan.device && lease.mac !== mac).length;
    // dispose() stops dnsmasq anyway.
    if (foreign === 0 || this.#closing.signal.aborted) {
      holding.release();
      return;
    }
    // The DHCPRELEASEs cost other networks nothing; the fallback (a restart of dnsmasq, a DNS
    // pause for every network) only when what is left could refuse the next VM: leases over
    // half the range.
    const range = ipNumber(plan.dhcpRange.end) - ipNumber(plan.dhcpRange.start) + 1;
    const done: Promise<void> = dnsmasq
      .forgetLeases(plan.device, { restart: foreign > range / 2 })
      .then(
        (result) => {
          this.emit('leases-forgotten', { network: plan.device, ...result });
        },
        (error: unknown) =>
          this.#emitError(error instanceof Error ? error : new Error(String(error))),
      )
      .finally(() => {
        this.#forgetting.delete(done);
        holding.release();
      });
    this.#forgetting.add(done);
  }

  #assertOpen(): void {
    if (this.#disposing) throw new PoolDisposedError();
  }

  async status(): Promise<PoolStatus> {
    this.#assertOpen();
    const { plan, uplink, firewall, policy, dnsmasq, metadata } = this.#parts;
    const firewallStatus = await firewall.status(policy);
    const live = new Set(this.#live.keys());
    return {
      prefix: plan.prefix,
      size: plan.size,
      inUse: this.#allocator.inUse,
      available: this.#allocator.available,
      waiting: this.#allocator.waiting,
      uplink,
      // One truth with `firewall.forwarding`: the kernel's ip_forward as read now.
      forwarding: firewallStatus.forwarding,
      conntrackFlush: this.#parts.conntrack !== undefined,
      firewall: { ...firewallStatus, reapplied: this.#watch?.reapplied ?? 0 },
      dnsmasq: dnsmasq.status(),
      metadata: metadata.stats(),
      llmnr: this.#parts.llmnr?.stats() ?? null,
      networks: plan.networks.map((n) => {
        const lease = live.has(n) ? this.#live.get(n)?.lease : undefined;
        return {
          name: n.device,
          subnet: n.subnet,
          gateway: n.gateway,
          inUse: live.has(n),
          ...(lease && { lease }),
        };
      }),
    };
  }

  /**
   * Prometheus metrics of this pool (prom-client), registered in `options.registry` (default: a
   * registry of their own): networks by state, metadata requests and latency by network,
   * refused connections, leases, dnsmasq restarts, firewall intact. `close()` unregisters them.
   */
  metrics(options: PoolMetricsOptions = {}): PoolMetrics {
    this.#assertOpen();
    return createPoolMetrics(this, options);
  }

  /**
   * Releases every network, stops the metadata server and dnsmasq, removes the firewall rules
   * and the devices and restores sysctls (≈ `Pool.Dispose()`). Idempotent; every step runs even
   * when an earlier one fails, except the firewall's removal: it stays while a TAP could not be
   * removed (that TAP stays isolated; `tapnet cleanup` finishes). The first failure is thrown.
   */
  dispose(): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  async #dispose(): Promise<void> {
    this.#closing.abort(new PoolDisposedError());
    for (const network of [...this.#live.values()]) network.release();
    await this.#flusher?.idle();
    await Promise.all(this.#forgetting);
    const { metadata, dnsmasq, firewall, taps, plan, claim } = this.#parts;
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<void>) => {
      try {
        await step();
        return true;
      } catch (error) {
        errors.push(error);
        return false;
      }
    };
    await attempt(() => metadata.close());
    if (this.#parts.llmnr) await attempt(() => this.#parts.llmnr!.stop());
    await attempt(() => dnsmasq.stop());
    // The firewall goes last, and only once the TAPs are gone: a TAP left behind (its removal
    // failed) stays isolated, and `tapnet cleanup` can finish the job.
    // The watch keeps the rules while TAPs exist, and ends before they are removed: nothing
    // puts them back after (firewall.remove also ends it, this makes the order explicit).
    const tapsRemoved = await attempt(() => taps.remove());
    await attempt(async () => this.#watch?.close());
    if (tapsRemoved) await attempt(() => firewall.remove(plan.prefix));
    // The prefix is given up last, and only when everything is gone: while anything of this pool
    // may remain, no other pool or cleanup may act on the prefix (the process's exit frees it).
    if (errors.length === 0) await claim.release();
    this.removeAllListeners('lease');
    if (errors.length > 0) throw errors[0];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
