import { EventEmitter } from 'node:events';
import type { DnsStats, Lease } from '@tapnet/dhcp-dns';
import { parseIPv4, sizeOf } from '@tapnet/internal';
import type { MetadataErrorEvent, MetadataRequestEvent } from '@tapnet/metadata-proxy';
import { macFromSeed } from '@tapnet/qemu-args';
import { type Holding, NetworkAllocator, type NetworkPlan, type PoolPlan } from '@tapnet/tap-pool';
import { ConntrackFlusher } from './conntrack.js';
import { claimPool, type Parts, preparePool, startPool } from './create.js';
import { removeParts } from './dispose.js';
import { MetadataHandlerError, PoolDisposedError } from './errors.js';
import type { PoolEvents, PoolStatus } from './events.js';
import { assertEgressFits, type NetworkLimits, networkLimits } from './limits.js';
import { createPoolMetrics, type PoolMetrics, type PoolMetricsOptions } from './metrics.js';
import { Network, type NetworkHost } from './network.js';
import type { PoolOptions } from './options.js';
import { blocksOf } from './span.js';
import { resetThenFree, trafficStatus } from './traffic.js';

export type { LeftoverReport } from './cleanup.js';
export { cleanupLeftovers } from './cleanup.js';
export type { LeasesForgottenEvent, PoolEvents, PoolStatus } from './events.js';

/**
 * A fixed set of isolated networks, one per VM: TAP devices, firewall, one dnsmasq and one
 * metadata server, created together by `Pool.create` and removed together by `dispose()`.
 *
 * Events: `lease` (Lease), `dnsmasq-restart` ({ attempt, delayMs, ... }), `leases-forgotten`
 * ({ network, released, restarted, remaining }: a released network's leases dropped),
 * `firewall-drift` ({ backend, reason, reappliedAt }: our rules were changed by someone else,
 * e.g. `nft flush ruleset`, and applied again), `metadata-request` ({ network, method, url,
 * status, remoteAddress }, once a request is answered), `error` (Error, a network's metadata
 * handler failing a `MetadataHandlerError` naming the network; emitted only while someone
 * listens, so a handler's failure never crashes the process).
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
    // The network's name travels with the failure: which VM's handler failed matters.
    parts.metadata.on('error', ({ network, error }: MetadataErrorEvent) =>
      this.#emitError(new MetadataHandlerError(network, error)),
    );
  }

  readonly #forwardRequest = (event: MetadataRequestEvent) => this.emit('metadata-request', event);

  #emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /**
   * Creates `size` networks (≈ the original's `NewPool(N)`): plan → TAPs → firewall → dnsmasq →
   * metadata server. Every option is validated before anything changes (a bad one is an
   * `InvalidOptionError` naming it by this facade's path); if a step fails, the steps before it
   * are undone in reverse and the first error is thrown.
   */
  static async create(options: PoolOptions): Promise<Pool> {
    const prepared = await preparePool(options);
    const claim = await claimPool(prepared);
    // Drift and watch errors are reported once the pool exists to report them.
    let pool: Pool | undefined;
    try {
      const parts = await startPool(prepared, claim, {
        onDrift: (event) => pool?.emit('firewall-drift', event),
        onError: (error) => {
          if (pool) pool.#emitError(error);
        },
      });
      pool = new Pool(parts);
      return pool;
    } catch (error) {
      await claim.release();
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

  /**
   * Hands out an unused network, or throws `AllNetworksInUseError` (≈ `Pool.Network()`).
   * `limits` override the pool's default for this VM, in force before it returns.
   */
  network(options: { limits?: NetworkLimits } = {}): Network {
    this.#assertOpen();
    const limits = this.#limitsOf(options.limits);
    const holding = this.#allocator.acquire();
    if (limits) {
      try {
        this.#parts.shaper.setSync(holding.item.device, limits);
      } catch (error) {
        holding.release();
        throw error;
      }
    }
    return this.#wrap(holding);
  }

  /** The limits a network is to get, or undefined for the pool's default; validated. */
  #limitsOf(input: NetworkLimits | undefined) {
    if (input === undefined) return undefined;
    const limits = networkLimits(input, this.#parts.shaper.defaults);
    assertEgressFits(limits, this.#parts.plan);
    return limits;
  }

  /**
   * Waits for a network to be free (FIFO), up to `timeout` ms or until `signal` aborts.
   * `limits` override the pool's default for this VM, in force before it resolves.
   */
  async acquire(
    options: { signal?: AbortSignal; timeout?: number; limits?: NetworkLimits } = {},
  ): Promise<Network> {
    this.#assertOpen();
    const limits = this.#limitsOf(options.limits);
    // dispose() aborts every waiter, so none is left pending on a pool that is gone.
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const holding = await this.#allocator.acquireAsync({ ...options, signal });
    if (this.#disposing) {
      holding.release();
      throw new PoolDisposedError();
    }
    if (limits) {
      try {
        await this.#parts.shaper.set(holding.item.device, limits);
      } catch (error) {
        // Back to the pool's default before anyone else gets it (the shaper rolled back).
        holding.release();
        throw error;
      }
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
        // booted and taken its lease; dispose() waits for it. dispose() flushes the whole
        // pool's span at once instead (one process per block, not per network).
        if (!this.#closing.signal.aborted) this.#flusher?.flush(plan.network, plan.netmask);
        // The next VM starts with the pool's default limits: put back before the network is free.
        const reset = resetThenFree(this.#parts.shaper, plan.device, {
          free: () => this.#forgetThenFree(holding, mac),
          onError: (error) => this.#emitError(error),
          closing: () => this.#closing.signal.aborted,
        });
        if (reset) {
          this.#forgetting.add(reset);
          void reset.finally(() => this.#forgetting.delete(reset));
        }
      },
      heldByAnother: () => holding.released && this.#allocator.isHeld(plan),
      limits: () => this.#parts.shaper.limits(plan.device),
      setLimits: (limits) => {
        const next = networkLimits(limits, this.#parts.shaper.defaults);
        assertEgressFits(next, this.#parts.plan);
        return this.#parts.shaper.set(plan.device, next);
      },
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
    // This network's leases only: a release costs the same whatever the other networks hold.
    const foreign = dnsmasq.leasesOf(plan.device).filter((lease) => lease.mac !== mac).length;
    // dispose() stops dnsmasq anyway.
    if (foreign === 0 || this.#closing.signal.aborted) {
      holding.release();
      return;
    }
    // The DHCPRELEASEs cost other networks nothing; the fallback (a restart of dnsmasq, a DNS
    // pause for every network) only when what is left could refuse the next VM: leases over
    // half the range.
    // The DHCP range is every address but the network's, the gateway's and the broadcast.
    const range = sizeOf(plan.prefixLength) - 3;
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
    const [firewallStatus, traffic] = await Promise.all([
      firewall.status(policy),
      trafficStatus(this.#parts.shaper),
    ]);
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
      firewall: { ...firewallStatus, reapplied: this.#parts.watch.reapplied },
      dnsmasq: dnsmasq.status(),
      metadata: metadata.stats(),
      llmnr: this.#parts.llmnr?.stats() ?? null,
      limits: { connections: this.#parts.options.limits.connections, ...traffic.defaults },
      networks: plan.networks.map((n) => {
        const lease = live.has(n) ? this.#live.get(n)?.lease : undefined;
        return {
          name: n.device,
          subnet: n.subnet,
          gateway: n.gateway,
          inUse: live.has(n),
          ...(lease && { lease }),
          ...traffic.of(n.device),
        };
      }),
    };
  }

  /**
   * dnsmasq's DNS counters since it last started (see `Dnsmasq#dnsStats` of @tapnet/dhcp-dns),
   * or undefined: dnsmasq not serving, no answer within `timeoutMs` (default 1000), or the pool
   * disposed. Never rejects.
   */
  dnsStats(options: { timeoutMs?: number } = {}): Promise<DnsStats | undefined> {
    if (this.#disposing) return Promise.resolve(undefined);
    return this.#parts.dnsmasq.dnsStats(options);
  }

  /**
   * Prometheus metrics of this pool (prom-client), registered in `options.registry` (default: a
   * registry of their own): networks by state, metadata requests and latency by network,
   * refused connections, leases, dnsmasq restarts and DNS counters, firewall intact, limited
   * traffic. `close()` unregisters them.
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
    const live = [...this.#live.values()];
    for (const network of live) network.release();
    if (live.length > 0 && this.#flusher) {
      const { plan } = this.#parts;
      const first = plan.networks[0];
      if (first) {
        const perNetwork = sizeOf(first.prefixLength);
        for (const block of blocksOf(parseIPv4(first.network) ?? 0, plan.size * perNetwork))
          this.#flusher.flush(block.network, block.netmask);
      }
    }
    await this.#flusher?.idle();
    await Promise.all(this.#forgetting);
    const errors = await removeParts(this.#parts);
    this.removeAllListeners('lease');
    if (errors.length > 0) throw errors[0];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
