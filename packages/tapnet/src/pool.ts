import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import {
  buildDnsmasqConfig,
  Dnsmasq,
  type DnsmasqOptions,
  type Lease,
  LlmnrResponder,
  type LlmnrResponderOptions,
  type LlmnrStats,
  planLlmnr,
  stopStaleDnsmasq,
} from '@tapnet/dhcp-dns';
import {
  buildPolicy,
  cleanupFirewall,
  createFirewall,
  detectUplink,
  type Firewall,
  type FirewallStatus,
  type Policy,
} from '@tapnet/firewall';
import { MetadataServer, normalizeHardening } from '@tapnet/metadata-proxy';
import {
  type CleanupReport,
  checkConflicts,
  cleanupPool,
  createTapPool,
  isAlive,
  NetworkAllocator,
  type NetworkPlan,
  type PoolPlan,
  planPool,
  readHostSnapshot,
  readState,
  statePath,
  type TapPool,
} from '@tapnet/tap-pool';
import { ConntrackFlusher } from './conntrack.js';
import { findBinary } from './doctor.js';
import { PoolDisposedError, PrefixInUseError } from './errors.js';
import { Network, type NetworkHost } from './network.js';
import { type NormalizedPoolOptions, normalizeOptions, type PoolOptions } from './options.js';

export interface PoolStatus {
  prefix: string;
  size: number;
  inUse: number;
  available: number;
  /** `acquire()` calls waiting for a network. */
  waiting: number;
  /** The interface guests' traffic leaves by (NAT), or null when the pool forwards nothing. */
  uplink: string | null;
  forwarding: boolean;
  /** Whether a released network's tracked flows are flushed (needs the `conntrack` tool). */
  conntrackFlush: boolean;
  firewall: FirewallStatus;
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
 * path), its firewall table/chains, and the TAPs its state record names. A pool whose recorded
 * process is alive is left alone; nothing that is not recorded as ours is deleted.
 */
export async function cleanupLeftovers(
  prefix: string,
  stateDir = '/run/tapnet',
): Promise<LeftoverReport> {
  const pid = recordedPid(prefix, stateDir);
  if (pid !== undefined && isAlive(pid)) {
    return {
      prefix,
      running: pid,
      dnsmasqStopped: false,
      firewall: { removed: [] },
      taps: emptyCleanup(),
    };
  }
  const dnsmasqStopped = await stopStaleDnsmasq(join(stateDir, prefix));
  // TAPs before the firewall, so none is ever up without its rules (see dispose()).
  const taps = await cleanupPool(prefix, { stateDir });
  const firewall = await cleanupFirewall(prefix);
  return { prefix, dnsmasqStopped, firewall, taps };
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
 * Events: `lease` (Lease), `dnsmasq-restart` ({ attempt, delayMs, ... }), `error` (Error; emitted
 * only while someone listens, so a handler's failure never crashes the process).
 */
export class Pool extends EventEmitter implements AsyncDisposable {
  readonly #parts: Parts;
  readonly #allocator: NetworkAllocator<NetworkPlan>;
  readonly #live = new Map<NetworkPlan, Network>();
  /** The newest lease per device, with when it arrived, so a network only reports its own VM's lease. */
  readonly #leases = new Map<string, { lease: Lease; at: number }>();
  #disposing: Promise<void> | undefined;
  readonly #closing = new AbortController();
  readonly #flusher: ConntrackFlusher | undefined;

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
    parts.dnsmasq.on('restart', (info: unknown) => this.emit('dnsmasq-restart', info));
    parts.dnsmasq.on('failed', (error: Error) => this.#emitError(error));
    parts.dnsmasq.on('error', (error: Error) => this.#emitError(error));
    parts.metadata.on('error', (event: { network?: string; error?: Error } | Error) =>
      this.#emitError(event instanceof Error ? event : (event.error ?? new Error(String(event)))),
    );
  }

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
    // A live pool (this process included) owns the prefix; a crashed one's leftovers (its
    // record names a dead process) would block this one and are removed first.
    const owner = recordedPid(plan.prefix, o.stateDir);
    if (owner !== undefined && isAlive(owner)) throw new PrefixInUseError(plan.prefix, owner);
    if (o.cleanupStale && owner !== undefined) await cleanupLeftovers(plan.prefix, o.stateDir);
    checkConflicts(plan, await readHostSnapshot());

    const conntrack = await findBinary('conntrack');
    const undo: (() => Promise<void>)[] = [];
    try {
      // The firewall first: its rules match interface names, so they are in force before a TAP
      // exists and a QEMU could attach to it (or IPv4 forwarding is turned on).
      const firewall = createFirewall({ backend: o.firewall });
      undo.push(() => firewall.remove(plan.prefix));
      await firewall.apply(policy);
      const taps = await createTapPool(plan);
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
      return new Pool({
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
      });
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
    const plan = await this.#allocator.acquireAsync({ ...options, signal });
    if (this.#disposing) {
      this.#allocator.release(plan);
      throw new PoolDisposedError();
    }
    return this.#wrap(plan);
  }

  #wrap(plan: NetworkPlan): Network {
    const acquiredAt = performance.now();
    const host: NetworkHost = {
      setHandler: (handler) => this.#parts.metadata.setHandler(plan.device, handler),
      lease: () => {
        const entry = this.#leases.get(plan.device);
        return entry && entry.at >= acquiredAt ? entry.lease : undefined;
      },
      release: () => {
        this.#parts.metadata.clear(plan.device);
        this.#live.delete(plan);
        this.#allocator.release(plan);
        // In the background: done in milliseconds, long before a next VM on the network has
        // booted and taken its lease; dispose() waits for it.
        this.#flusher?.flush(plan.network, plan.netmask);
      },
    };
    const network = new Network(plan, host);
    this.#live.set(plan, network);
    return network;
  }

  #assertOpen(): void {
    if (this.#disposing) throw new PoolDisposedError();
  }

  async status(): Promise<PoolStatus> {
    const { plan, uplink, firewall, policy, dnsmasq, metadata } = this.#parts;
    const live = new Set(this.#live.keys());
    return {
      prefix: plan.prefix,
      size: plan.size,
      inUse: this.#allocator.inUse,
      available: this.#allocator.available,
      waiting: this.#allocator.waiting,
      uplink,
      forwarding: uplink !== null,
      conntrackFlush: this.#parts.conntrack !== undefined,
      firewall: await firewall.status(policy),
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
   * Releases every network, stops the metadata server and dnsmasq, removes the firewall rules
   * and the devices and restores sysctls (≈ `Pool.Dispose()`). Idempotent; every step runs even
   * when an earlier one fails, and the first failure is thrown.
   */
  dispose(): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  async #dispose(): Promise<void> {
    this.#closing.abort(new PoolDisposedError());
    for (const network of [...this.#live.values()]) network.release();
    await this.#flusher?.idle();
    const { metadata, dnsmasq, firewall, taps, plan } = this.#parts;
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
    if (await attempt(() => taps.remove())) await attempt(() => firewall.remove(plan.prefix));
    this.removeAllListeners('lease');
    if (errors.length > 0) throw errors[0];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
