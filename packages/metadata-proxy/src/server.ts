import { EventEmitter } from 'node:events';
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { describeValue as describe } from '@tapnet/internal';
import { type Acceptor, createHttpServer, drain, startAccepting } from './acceptor.js';
import { normalizeRemoteAddress } from './address.js';
import { gateConnection } from './connection-gate.js';
import { ClosedError, UnknownNetworkError } from './errors.js';
import { type BridgeHost, serveAsync } from './fetch-bridge.js';
import { Forwarder } from './forward.js';
import {
  type FetchHandler,
  type HandlerContext,
  type MetadataHandler,
  resolveHandler,
} from './handler.js';
import { clientErrorStatus, hasBody, rawResponse, reply } from './http-util.js';
import {
  type Connection,
  connectionOf,
  countStatus,
  freshBuckets,
  type NetworkState,
  newNetworkState,
  statsOf,
  track,
} from './network-state.js';
import { type NetworkTable, singleTable, subnetTable } from './network-table.js';
import { serveNode } from './node-bridge.js';
import {
  integer,
  type MetadataServerOptions,
  type NormalizedHardening,
  type NormalizedOptions,
  normalizeOptions,
} from './options.js';
import { requestRefusal } from './request-gate.js';
import type {
  MetadataErrorEvent,
  MetadataRequestEvent,
  MetadataServerEvents,
  NetworkStats,
} from './server-types.js';
import { TokenEndpoint } from './token-endpoint.js';

export type {
  MetadataErrorEvent,
  MetadataRequestEvent,
  MetadataServerEvents,
  NetworkStats,
  StatusClass,
} from './server-types.js';

const kExpectContinue = Symbol('tapnet.metadata-proxy.expect-continue');
type TrackedRequest = IncomingMessage & { [kExpectContinue]?: boolean };

/**
 * The metadata service: one HTTP server that answers each VM through the handler of the network
 * its connection comes from. Identity is the connection's source address only.
 *
 * Events: `error` ({ network, error }) when a handler or upstream fails (emitted only when
 * someone listens: an unhandled `error` must not take the service down); `request`
 * ({ network, method, url, status, remoteAddress }) when a response is done.
 */
export class MetadataServer extends EventEmitter<MetadataServerEvents> implements AsyncDisposable {
  readonly #options: NormalizedOptions;
  readonly #hardening: NormalizedHardening;
  readonly #http: HttpServer;
  readonly #listener: NetServer | undefined;
  readonly #networks: NetworkTable<NetworkState>;
  readonly #sockets = new Set<Socket>();
  readonly #tokens: TokenEndpoint | undefined;
  /** What the handler bridges need of the server. */
  readonly #bridge: BridgeHost;
  readonly #authority: string;
  #acceptor: Acceptor | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  #onDrained: (() => void) | undefined;

  private constructor(options: NormalizedOptions) {
    super();
    this.#options = options;
    const h = options.hardening;
    this.#hardening = h;
    this.#authority = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.#tokens = h.tokens ? new TokenEndpoint(h.tokens) : undefined;
    this.#bridge = {
      maxBodyBytes: h.maxBodyBytes,
      authority: this.#authority,
      failed: (state, res, error) => this.#failed(state, res, error),
      report: (state, error) => this.#emitError(state, error),
    };
    this.#networks =
      options.singleNetwork === undefined
        ? subnetTable()
        : singleTable(options.singleNetwork, newNetworkState(options.singleNetwork, h));
    this.#http = createHttpServer(h);
    this.#http.on('connection', this.#onConnection);
    this.#http.on('request', this.#onRequest);
    this.#http.on('checkContinue', (req: TrackedRequest, res: ServerResponse) => {
      req[kExpectContinue] = true;
      this.#onRequest(req, res);
    });
    this.#http.on('clientError', this.#onClientError);
    this.#http.on('connect', (_req: IncomingMessage, socket: Socket) => {
      // A CONNECT target is never dialled.
      countStatus(connectionOf(socket)?.network, 405);
      socket.end(rawResponse(405));
    });
    this.#listener = options.listener;
  }

  /** Starts a server; it is listening when the promise resolves. */
  static async create(options?: MetadataServerOptions): Promise<MetadataServer> {
    const normalized = normalizeOptions(options);
    const server = new MetadataServer(normalized);
    await server.#listen();
    return server;
  }

  async #listen(): Promise<void> {
    const { host, port } = this.#options;
    this.#acceptor = await startAccepting(this.#http, this.#listener, {
      host,
      port,
      authority: this.#authority,
    });
  }

  /** Where the server listens: a TCP address, or `{ host: <socket path>, port: 0 }`. */
  get address(): { host: string; port: number } {
    return { ...(this.#acceptor?.address ?? { host: '', port: 0 }) };
  }

  #network(name: unknown): NetworkState {
    const state = this.#networks.get(name);
    if (state) return state;
    throw new UnknownNetworkError(`Expected a registered network name, got ${describe(name)}`);
  }

  #assertOpen(): void {
    if (this.#closing)
      throw new ClosedError('Expected an open server, got one that is closed or closing');
  }

  /** Registers a source subnet as a network; overlapping or taken → typed error, nothing changed. */
  addNetwork(name: string, cidr: string): void {
    this.#assertOpen();
    this.#networks.add(name, cidr, newNetworkState(name, this.#hardening));
  }

  /** Unregisters a network and cuts its connections; a no-op for a name not registered. */
  removeNetwork(name: string): void {
    const state = this.#networks.remove(name);
    if (!state) return;
    this.#clearState(state);
    state.removed = true;
  }

  /**
   * Sets the handler that answers a network; an unknown network or a bad handler → typed error,
   * nothing changed. A plain function is fetch-style; mark node-style ones with `nodeHandler()`.
   */
  setHandler(name: string, handler: FetchHandler): void;
  setHandler(name: string, handler: MetadataHandler): void;
  setHandler(name: string, handler: MetadataHandler): void {
    this.#assertOpen();
    const state = this.#network(name);
    const resolved = resolveHandler(handler);
    const old = state.forwarder;
    state.handler = resolved;
    state.forwarder = resolved.kind === 'forward' ? new Forwarder(resolved.target) : undefined;
    // Requests the old forward already sent are answered from its upstream (the guests wait).
    old?.close();
  }

  /**
   * Removes a network's handler and destroys its open connections, so in-flight requests end
   * and a keep-alive connection of the VM that had the network is never served by the handler
   * of the next. Session tokens and the rate budget start afresh. A no-op for an unknown name.
   */
  clear(name: string): void {
    const state = this.#networks.get(name);
    if (state) this.#clearState(state);
  }

  #clearState(state: NetworkState): void {
    state.handler = undefined;
    state.forwarder?.destroy();
    state.forwarder = undefined;
    this.#tokens?.drop(state.name);
    Object.assign(state, freshBuckets(this.#hardening));
    for (const socket of state.sockets) socket.destroy();
  }

  /** Requests by status class, bytes written and open connections, per registered network. */
  stats(): Record<string, NetworkStats> {
    const out: Record<string, NetworkStats> = Object.create(null);
    for (const state of this.#networks.values()) out[state.name] = statsOf(state);
    return out;
  }

  /**
   * Stops accepting, lets running requests finish (idle keep-alive connections are closed at
   * once, busy ones after their response), and destroys what is left after `deadlineMs`
   * (default 5000). Idempotent: later calls return the same promise.
   */
  close(options: { deadlineMs?: number } = {}): Promise<void> {
    if (this.#closed) return this.#closed;
    const deadlineMs = integer(options?.deadlineMs ?? 5_000, 'deadlineMs', 0, 3_600_000);
    this.#closing = true;
    this.#closed = (async () => {
      const stopped = this.#acceptor?.stop();
      // Connections with no request running (idle keep-alive, or never sent one) go now; busy
      // ones are ended once their last response is out (see #finished).
      await drain(
        this.#sockets,
        (socket) => (connectionOf(socket)?.active ?? 0) > 0,
        deadlineMs,
        (onEmpty) => {
          this.#onDrained = onEmpty;
        },
      );
      for (const state of this.#networks.values()) {
        // What is still running was cut at the deadline above, its guest's connection with it.
        state.forwarder?.destroy();
        state.forwarder = undefined;
      }
      await stopped;
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #onConnection = (socket: Socket): void => {
    const remoteAddress = normalizeRemoteAddress(socket.remoteAddress);
    const network = this.#networks.lookup(remoteAddress);
    const connection: Connection = {
      network,
      remoteAddress,
      remotePort: socket.remotePort ?? 0,
      rejected: false,
      active: 0,
      requests: 0,
    };
    track(socket, connection);
    const firstByte = gateConnection({
      socket,
      network,
      all: this.#sockets,
      networks: () => this.#networks.values(),
      networkCount: this.#networks.size,
      hardening: this.#hardening,
      closing: this.#closing,
      started: () => connection.requests > 0,
      onRefused: (status) => {
        connection.rejected = true;
        countStatus(network, status);
      },
    });
    if (firstByte === undefined) return;
    socket.once('close', () => {
      clearTimeout(firstByte);
      this.#sockets.delete(socket);
      const state = connection.network;
      if (state?.sockets.delete(socket)) state.closedBytes += socket.bytesWritten;
      if (this.#onDrained && this.#sockets.size === 0) this.#onDrained();
    });
  };

  /** Maps Node's parser errors to answers, counted for the network they come from. */
  #onClientError = (error: NodeJS.ErrnoException, socket: Socket): void => {
    const busy = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || busy?.headersSent) {
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(error.code);
    const connection = connectionOf(socket);
    if (!connection?.rejected) countStatus(connection?.network, status);
    socket.end(rawResponse(status));
  };

  #onRequest = (req: TrackedRequest, res: ServerResponse): void => {
    const socket = req.socket;
    const connection = connectionOf(socket);
    if (connection === undefined || connection.rejected) {
      res.destroy();
      return;
    }
    let state = connection.network;
    if (state === undefined || state.removed) state = this.#adopt(connection, socket);
    connection.active++;
    connection.requests++;
    if (this.#closing) res.setHeader('connection', 'close');
    const started = performance.now();
    // `on`, not `once`: a response closes once, and `once` costs a wrapper per request.
    res.on('close', () => this.#finished(state, req, res, connection, started));
    const url = req.url ?? '';
    const withBody = hasBody(req);
    if (state === undefined) {
      reply(res, 403, 'Forbidden: unknown source address', withBody);
      return;
    }
    const now = Date.now();
    const network = state;
    const refusal = requestRefusal(
      { url, headers: req.headers, rawHeaderLength: req.rawHeaders.length, withBody },
      this.#hardening,
      () => network.bucket.take(now),
    );
    if (refusal) {
      reply(res, refusal.status, refusal.message, refusal.close, refusal.headers);
      return;
    }
    const tokens = this.#tokens;
    if (tokens?.isTokenRequest(url)) {
      tokens.issue(state.name, req, res, now, withBody);
      return;
    }
    if (tokens && !tokens.admits(state.name, req.headers, now)) {
      reply(res, 401, 'Unauthorized: a valid session token is required', withBody);
      return;
    }
    const handler = state.handler;
    if (handler === undefined) {
      reply(res, 404, 'Not Found: no handler for this network', withBody);
      return;
    }
    const ctx: HandlerContext = {
      network: state.name,
      remoteAddress: connection.remoteAddress,
      remotePort: connection.remotePort,
    };
    if (req[kExpectContinue]) res.writeContinue();
    if (handler.kind === 'node') serveNode(this.#bridge, state, handler.fn, req, res, ctx);
    else serveAsync(this.#bridge, state, handler, req, res, ctx, withBody);
  };

  /** A connection from an address that had no network when it opened (or whose network went). */
  #adopt(connection: Connection, socket: Socket): NetworkState | undefined {
    const state = this.#networks.lookup(connection.remoteAddress);
    if (state === undefined) return undefined;
    if (state.sockets.size >= this.#hardening.perNetwork.maxConnections) return undefined;
    connection.network = state;
    state.sockets.add(socket);
    return state;
  }

  #failed(state: NetworkState, res: ServerResponse, error: unknown): void {
    this.#emitError(state, error);
    if (res.destroyed) return;
    if (res.headersSent) res.destroy();
    else reply(res, 500, 'Internal Server Error', false);
  }

  #emitError(state: NetworkState, error: unknown): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', { network: state.name, error } satisfies MetadataErrorEvent);
    }
  }

  #finished(
    state: NetworkState | undefined,
    req: IncomingMessage,
    res: ServerResponse,
    connection: Connection,
    started: number,
  ) {
    if (res.headersSent) countStatus(state, res.statusCode);
    connection.active--;
    if (this.#closing && connection.active === 0) req.socket.end();
    if (this.listenerCount('request') > 0) {
      this.emit('request', {
        network: state?.name,
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.headersSent ? res.statusCode : 0,
        remoteAddress: connection.remoteAddress,
        durationMs: performance.now() - started,
      } satisfies MetadataRequestEvent);
    }
  }
}
