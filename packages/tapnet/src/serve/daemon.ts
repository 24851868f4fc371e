import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type MetadataHandler, type NetworkStats, Response } from '@tapnet/metadata-proxy';
import type { NormalizedTrafficLimits } from '@tapnet/tap-pool';
import type { PoolStatus } from '../events.js';
import type { NetworkLimits } from '../limits.js';
import type { PoolMetrics } from '../metrics.js';
import type { Network } from '../network.js';
import type { Pool } from '../pool.js';
import { ApiError } from './errors.js';
import { resolveHandler } from './handler-spec.js';
import { type Gone, type HolderState, holderGone, readStartTime } from './holders.js';
import type { AcquireRequest, HandlerSpec, RequestContext } from './request.js';

/** One line of `GET /v1/events` and of the log: what happened, when. */
export interface ApiEvent {
  event: string;
  at: string;
  [key: string]: unknown;
}

interface Held {
  id: string;
  network: Network;
  holder: HolderState;
  /** The handler's kind (`default`: the daemon's `--metadata`), null for none. */
  handler: string | null;
  acquiredAt: string;
  netdevId: string;
  qemuArgs: string[];
}

export interface DaemonOptions {
  /** Handler for networks acquired without one (`--metadata`). */
  defaultHandler?: MetadataHandler;
  /** Where `path`/`unix:` handler sources may point; undefined refuses them. */
  handlerRoot?: string;
  /** How often holders are checked, ms. Default 500. */
  holderIntervalMs?: number;
  metrics?: PoolMetrics;
}

export interface NetworkInfo {
  name: string;
  inUse: boolean;
  subnet: string;
  gateway: string;
  metadataIp: string;
  mac?: string;
  id?: string;
  netdev?: string;
  device?: string;
  qemuArgs?: string[];
  holder?: { pid?: number; ttl?: number; expiresAt?: string };
  acquiredAt?: string;
  handler?: string | null;
  lease?: unknown;
  metadata?: NetworkStats;
  limits: { connections: number } & NormalizedTrafficLimits;
}

/**
 * The daemon's state over one pool: which networks are held, by whom, until when, and with
 * which handler. HTTP-free: the server translates requests into these calls. Emits `event`
 * (ApiEvent) for the event stream and the log.
 */
export class Daemon extends EventEmitter<{ event: [ApiEvent] }> {
  readonly pool: Pool;
  readonly #held = new Map<string, Held>();
  readonly #options: DaemonOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #connections: number;
  #closing = false;

  constructor(pool: Pool, options: DaemonOptions & { connections: number }) {
    super();
    this.pool = pool;
    this.#options = options;
    this.#connections = options.connections;
    this.#timer = setInterval(() => this.#checkHolders(), options.holderIntervalMs ?? 500);
    pool.on('lease', (lease) => this.#emit('lease', { ...lease }));
    pool.on('dnsmasq-restart', (info) => this.#emit('dnsmasq-restart', { ...info }));
    pool.on('firewall-drift', (drift) => this.#emit('firewall-drift', { ...drift }));
    pool.on('leases-forgotten', (e) => this.#emit('leases-forgotten', { ...e }));
    // A handler's failure names its network (MetadataHandlerError); anything else is the pool's.
    pool.on('error', (error) => {
      const { code, network } = error as { code?: unknown; network?: unknown };
      if (code === 'ERR_METADATA_HANDLER' && typeof network === 'string')
        this.#emit('handler-error', { network, message: error.message });
      else
        this.#emit('error', { ...(typeof code === 'string' && { code }), message: error.message });
    });
  }

  get context(): RequestContext {
    return { handlerRoot: this.#options.handlerRoot };
  }

  get closing(): boolean {
    return this.#closing;
  }

  #watchingRequests = false;

  /** Turns metadata request events on while `on` (someone streams or logs them). */
  watchRequests(on: boolean): void {
    if (on === this.#watchingRequests) return;
    this.#watchingRequests = on;
    if (on) this.pool.on('metadata-request', this.#onRequest);
    else this.pool.off('metadata-request', this.#onRequest);
  }

  readonly #onRequest = (r: {
    network?: string | undefined;
    method: string;
    url: string;
    status: number;
  }) =>
    this.#emit('metadata-request', {
      network: r.network ?? null,
      method: r.method,
      url: r.url,
      status: r.status,
    });

  #emit(event: string, fields: Record<string, unknown>): void {
    this.emit('event', { event, at: new Date().toISOString(), ...fields });
  }

  #assertOpen(): void {
    if (this.#closing) throw new ApiError(503, 'ERR_DISPOSING', 'The daemon is shutting down');
  }

  async acquire(request: AcquireRequest, signal?: AbortSignal): Promise<NetworkInfo> {
    this.#assertOpen();
    // Everything that can be refused is refused before a network is taken.
    const handler =
      request.handler === undefined
        ? this.#options.defaultHandler
        : request.handler === null
          ? undefined
          : await resolveHandler(request.handler, this.#options.handlerRoot);
    const holder: HolderState = {};
    if (request.holder.pid !== undefined) {
      const startTime = readStartTime(request.holder.pid);
      if (startTime === undefined)
        throw new ApiError(
          400,
          'ERR_HOLDER_GONE',
          `Expected \`holder.pid\` to name a running process, got ${request.holder.pid}`,
          'holder.pid',
        );
      holder.pid = request.holder.pid;
      holder.startTime = startTime;
    }
    if (request.holder.ttl !== undefined) {
      holder.ttl = request.holder.ttl;
      holder.expiresAt = Date.now() + request.holder.ttl * 1000;
    }
    const started = performance.now();
    // The pool validates `limits` (ERR_INVALID_OPTION → 400) before it takes a network.
    const limits = request.limits === undefined ? {} : { limits: request.limits as NetworkLimits };
    const network =
      request.wait === 0
        ? this.pool.network(limits)
        : await this.pool.acquire({
            timeout: request.wait * 1000,
            ...limits,
            ...(signal && { signal }),
          });
    this.#options.metrics?.observeAcquireWait((performance.now() - started) / 1000);
    if (this.#closing) {
      network.release();
      throw new ApiError(503, 'ERR_DISPOSING', 'The daemon is shutting down');
    }
    if (handler) network.setHandler(handler);
    const held: Held = {
      id: randomUUID(),
      network,
      holder,
      handler:
        request.handler === undefined
          ? handler
            ? 'default'
            : null
          : (request.handler?.kind ?? null),
      acquiredAt: new Date().toISOString(),
      netdevId: request.netdevId,
      qemuArgs: network.qemuArgs(request.netdevId, { model: request.model }),
    };
    this.#held.set(network.name, held);
    this.#emit('acquire', {
      network: network.name,
      id: held.id,
      ...(holder.pid !== undefined && { pid: holder.pid }),
      ...(holder.ttl !== undefined && { ttl: holder.ttl }),
    });
    return this.#info(network.name, undefined);
  }

  #heldOrThrow(name: string): Held {
    const held = this.#held.get(name);
    if (held) return held;
    if (this.pool.plan.networks.some((n) => n.device === name))
      throw new ApiError(
        409,
        'ERR_NOT_HELD',
        `Expected network ${name} to be held, got a free network`,
      );
    throw this.#unknown(name);
  }

  #unknown(name: string): ApiError {
    return new ApiError(
      404,
      'ERR_UNKNOWN_NETWORK',
      `Expected the name of one of this pool's networks, got \`${name}\``,
    );
  }

  async setHandler(name: string, spec: HandlerSpec | null): Promise<NetworkInfo> {
    this.#assertOpen();
    const held = this.#heldOrThrow(name);
    const handler =
      spec === null ? undefined : await resolveHandler(spec, this.#options.handlerRoot);
    // The network may have been released while the handler was resolved.
    if (this.#held.get(name) !== held) throw this.#heldOrThrow(name);
    if (handler) held.network.setHandler(handler);
    else held.network.setHandler(() => new Response('not found\n', { status: 404 }));
    held.handler = spec?.kind ?? null;
    this.#emit('handler', { network: name, handler: spec?.kind ?? null });
    return this.#info(name, undefined);
  }

  renew(name: string, ttl: number | undefined): NetworkInfo {
    this.#assertOpen();
    const held = this.#heldOrThrow(name);
    const seconds = ttl ?? held.holder.ttl;
    if (seconds === undefined)
      throw new ApiError(
        400,
        'ERR_INVALID_OPTION',
        `Expected \`ttl\`: network ${name} was acquired without one`,
        'ttl',
      );
    held.holder.ttl = seconds;
    held.holder.expiresAt = Date.now() + seconds * 1000;
    return this.#info(name, undefined);
  }

  /**
   * Releases a held network. Idempotent: a free network answers `released: false`; with `id`,
   * only that acquisition is released, so a late retry cannot free the next holder's network.
   */
  release(
    name: string,
    reason: 'client' | Gone | 'shutdown',
    id?: string,
  ): { name: string; released: boolean } {
    const held = this.#held.get(name);
    if (!held) {
      if (!this.pool.plan.networks.some((n) => n.device === name)) throw this.#unknown(name);
      return { name, released: false };
    }
    if (id !== undefined && held.id !== id) return { name, released: false };
    this.#held.delete(name);
    held.network.release();
    this.#emit('release', {
      network: name,
      id: held.id,
      reason,
      ...(held.holder.pid !== undefined && { pid: held.holder.pid }),
    });
    return { name, released: true };
  }

  #checkHolders(): void {
    const now = Date.now();
    for (const [name, held] of this.#held) {
      const gone = holderGone(held.holder, now, (pid) => readStartTime(pid));
      if (gone) this.release(name, gone);
    }
  }

  /** Every network, held or not, with its metadata counters. */
  async list(): Promise<NetworkInfo[]> {
    this.#assertOpen();
    const stats = (await this.pool.status()).metadata;
    return this.pool.plan.networks.map((n) => this.#info(n.device, stats));
  }

  async get(name: string): Promise<NetworkInfo> {
    this.#assertOpen();
    if (!this.pool.plan.networks.some((n) => n.device === name)) throw this.#unknown(name);
    return this.#info(name, (await this.pool.status()).metadata);
  }

  #info(name: string, allStats: Record<string, NetworkStats> | undefined): NetworkInfo {
    const plan = this.pool.plan.networks.find((n) => n.device === name)!;
    const base = {
      name,
      subnet: plan.subnet,
      gateway: plan.gateway,
      metadataIp: this.pool.plan.metadataIp,
      limits: { connections: this.#connections },
    };
    const held = this.#held.get(name);
    if (!held) return { ...base, inUse: false };
    const { network, holder } = held;
    const traffic = network.released ? {} : network.limits;
    const lease = network.released ? undefined : network.lease;
    const stats = allStats?.[name];
    return {
      ...base,
      inUse: true,
      id: held.id,
      mac: network.mac,
      netdev: held.qemuArgs[1]!,
      device: held.qemuArgs[3]!,
      qemuArgs: held.qemuArgs,
      holder: {
        ...(holder.pid !== undefined && { pid: holder.pid }),
        ...(holder.ttl !== undefined && { ttl: holder.ttl }),
        ...(holder.expiresAt !== undefined && {
          expiresAt: new Date(holder.expiresAt).toISOString(),
        }),
      },
      limits: { ...base.limits, ...traffic },
      acquiredAt: held.acquiredAt,
      handler: held.handler,
      ...(lease && { lease }),
      ...(stats && { metadata: stats }),
    };
  }

  async status(): Promise<PoolStatus & { held: number }> {
    this.#assertOpen();
    return { ...(await this.pool.status()), held: this.#held.size };
  }

  /** Stops answering, releases every network and disposes the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#timer);
    for (const name of [...this.#held.keys()]) this.release(name, 'shutdown');
    this.watchRequests(false);
    await this.pool.dispose();
  }
}
