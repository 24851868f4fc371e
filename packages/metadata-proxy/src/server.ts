import { EventEmitter } from 'node:events';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { normalizeRemoteAddress } from './address.js';
import { gateConnection } from './connection-gate.js';
import { createDispatcher, type Dispatcher } from './dispatcher.js';
import {
  ClosedError,
  describe,
  HandlerError,
  InvalidOptionError,
  ListenError,
  UnknownNetworkError,
} from './errors.js';
import { createFetchRequest } from './fetch-request.js';
import { writeFetchResponse } from './fetch-response.js';
import { Forwarder } from './forward.js';
import {
  type FetchHandler,
  type HandlerContext,
  type MetadataHandler,
  type NodeHandler,
  type ResolvedHandler,
  resolveHandler,
} from './handler.js';
import { hasProxyHeaders, stripIdentityHeaders } from './headers.js';
import {
  BODYLESS,
  FORBIDDEN_METHODS,
  hasBody,
  isPromiseLike,
  isResponseLike,
  rawResponse,
  readBody,
  TOO_LARGE,
} from './http-util.js';
import { SessionTokens, TokenBucket } from './limits.js';
import {
  integer,
  type MetadataServerOptions,
  type NormalizedHardening,
  type NormalizedOptions,
  normalizeOptions,
} from './options.js';
import { nonCanonicalPath, pathOfTarget } from './target.js';

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

export interface NetworkStats {
  requests: Record<StatusClass, number>;
  /** Bytes written to this network's connections (heads and bodies). */
  bytesOut: number;
  openConnections: number;
  /** Connections refused at accept (own cap, connection rate, or no share left): destroyed at once. */
  refusedConnections: number;
}

/** Payload of the `error` event. */
export interface MetadataErrorEvent {
  network: string;
  error: unknown;
}

/** Payload of the `request` event, emitted when a response is done. */
export interface MetadataRequestEvent {
  network: string | undefined;
  method: string;
  url: string;
  status: number;
  remoteAddress: string;
}

/** The events a MetadataServer emits and their arguments: `on`/`once`/`off` check both. */
export interface MetadataServerEvents {
  error: [MetadataErrorEvent];
  request: [MetadataRequestEvent];
}

interface NetworkState {
  readonly name: string;
  handler: ResolvedHandler | undefined;
  forwarder: Forwarder | undefined;
  readonly sockets: Set<Socket>;
  bucket: TokenBucket;
  /** New-connection rate. */
  connectBucket: TokenBucket;
  refused: number;
  readonly counts: [number, number, number, number];
  closedBytes: number;
  removed: boolean;
}

interface Connection {
  network: NetworkState | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  rejected: boolean;
  /** Requests received and not yet answered. */
  active: number;
  /** Requests received in all. */
  requests: number;
}

const kConnection = Symbol('tapnet.metadata-proxy.connection');
const kExpectContinue = Symbol('tapnet.metadata-proxy.expect-continue');
type TrackedSocket = Socket & { [kConnection]?: Connection };
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
  readonly #dispatcher: Dispatcher<NetworkState> = createDispatcher<NetworkState>();
  readonly #single: NetworkState | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #tokens: SessionTokens | undefined;
  readonly #authority: string;
  #address: { host: string; port: number } = { host: '', port: 0 };
  #closing = false;
  #closed: Promise<void> | undefined;
  #onDrained: (() => void) | undefined;
  #onListenerConnection: ((socket: Socket) => void) | undefined;

  private constructor(options: NormalizedOptions) {
    super();
    this.#options = options;
    const h = options.hardening;
    this.#hardening = h;
    this.#authority = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.#tokens = h.tokens ? new SessionTokens(h.tokens.maxTokensPerNetwork) : undefined;
    this.#http = createServer({
      headersTimeout: h.headersTimeoutMs,
      requestTimeout: h.requestTimeoutMs,
      keepAliveTimeout: h.keepAliveTimeoutMs,
      maxHeaderSize: h.maxHeaderSize,
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1_000, Math.floor(h.headersTimeoutMs / 4)),
      ),
    });
    // One more than allowed, so a request over the limit is seen (and refused), not truncated.
    this.#http.maxHeadersCount = h.maxHeadersCount + 1;
    this.#http.on('connection', this.#onConnection);
    this.#http.on('request', this.#onRequest);
    this.#http.on('checkContinue', (req: TrackedRequest, res: ServerResponse) => {
      req[kExpectContinue] = true;
      this.#onRequest(req, res);
    });
    this.#http.on('clientError', this.#onClientError);
    this.#http.on('connect', (_req: IncomingMessage, socket: Socket) => {
      // A CONNECT target is never dialled.
      this.#count((socket as TrackedSocket)[kConnection]?.network, 405);
      socket.end(rawResponse(405));
    });
    this.#listener = options.listener;
    if (options.singleNetwork !== undefined) this.#single = this.#newNetwork(options.singleNetwork);
  }

  /** Starts a server; it is listening when the promise resolves. */
  static async create(options?: MetadataServerOptions): Promise<MetadataServer> {
    const normalized = normalizeOptions(options);
    const server = new MetadataServer(normalized);
    await server.#listen();
    return server;
  }

  async #listen(): Promise<void> {
    const listener = this.#listener;
    if (listener) {
      this.#onListenerConnection = (socket: Socket) => this.#http.emit('connection', socket);
      listener.on('connection', this.#onListenerConnection);
      // Starts Node's header/request timeout checks, which otherwise begin on listen().
      this.#http.emit('listening');
      this.#address = addressOf(listener);
      return;
    }
    const { host, port } = this.#options;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(
          new ListenError(
            `Could not listen on ${this.#authority}:${port}: ${error.code ?? error.message}`,
            {
              cause: error,
            },
          ),
        );
      };
      this.#http.once('error', onError);
      this.#http.listen({ host, port, exclusive: true }, () => {
        this.#http.off('error', onError);
        resolve();
      });
    });
    this.#address = addressOf(this.#http);
  }

  /** Where the server listens: a TCP address, or `{ host: <socket path>, port: 0 }`. */
  get address(): { host: string; port: number } {
    return { ...this.#address };
  }

  #newNetwork(name: string): NetworkState {
    const p = this.#hardening.perNetwork;
    return {
      name,
      handler: undefined,
      forwarder: undefined,
      sockets: new Set(),
      bucket: new TokenBucket(p.requestsPerSecond, p.burst, Date.now()),
      connectBucket: new TokenBucket(p.connectionsPerSecond, p.connectionBurst, Date.now()),
      refused: 0,
      counts: [0, 0, 0, 0],
      closedBytes: 0,
      removed: false,
    };
  }

  #network(name: unknown): NetworkState {
    if (this.#single) {
      if (name === this.#single.name) return this.#single;
    } else if (typeof name === 'string') {
      const entry = this.#dispatcher.get(name);
      if (entry) return entry.value;
    }
    throw new UnknownNetworkError(`Expected a registered network name, got ${describe(name)}`);
  }

  #assertOpen(): void {
    if (this.#closing)
      throw new ClosedError('Expected an open server, got one that is closed or closing');
  }

  /** Registers a source subnet as a network; overlapping or taken → typed error, nothing changed. */
  addNetwork(name: string, cidr: string): void {
    this.#assertOpen();
    if (this.#single) {
      throw new InvalidOptionError(
        `Expected no \`addNetwork\` on a server with \`singleNetwork\` (\`${this.#single.name}\`), got \`${String(name)}\``,
      );
    }
    const state = this.#newNetwork(name);
    this.#dispatcher.add(name, cidr, state);
  }

  /** Unregisters a network and cuts its connections; a no-op for a name not registered. */
  removeNetwork(name: string): void {
    const entry = this.#dispatcher.get(name);
    if (!entry) return;
    this.#clearState(entry.value);
    entry.value.removed = true;
    this.#dispatcher.remove(name);
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
    old?.close();
  }

  /**
   * Removes a network's handler and destroys its open connections, so in-flight requests end
   * and a keep-alive connection of the VM that had the network is never served by the handler
   * of the next. Session tokens and the rate budget start afresh. A no-op for an unknown name.
   */
  clear(name: string): void {
    const state = this.#single?.name === name ? this.#single : this.#dispatcher.get(name)?.value;
    if (state) this.#clearState(state);
  }

  #clearState(state: NetworkState): void {
    state.handler = undefined;
    state.forwarder?.close();
    state.forwarder = undefined;
    this.#tokens?.drop(state.name);
    const p = this.#hardening.perNetwork;
    state.bucket = new TokenBucket(p.requestsPerSecond, p.burst, Date.now());
    state.connectBucket = new TokenBucket(p.connectionsPerSecond, p.connectionBurst, Date.now());
    for (const socket of state.sockets) socket.destroy();
  }

  /** Requests by status class, bytes written and open connections, per registered network. */
  stats(): Record<string, NetworkStats> {
    const out: Record<string, NetworkStats> = Object.create(null);
    const states = this.#single
      ? [this.#single]
      : [...this.#dispatcher.entries()].map((e) => e.value);
    for (const state of states) {
      let bytesOut = state.closedBytes;
      for (const socket of state.sockets) bytesOut += socket.bytesWritten;
      const [c2, c3, c4, c5] = state.counts;
      out[state.name] = {
        requests: { '2xx': c2, '3xx': c3, '4xx': c4, '5xx': c5 },
        bytesOut,
        openConnections: state.sockets.size,
        refusedConnections: state.refused,
      };
    }
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
      const stopped = new Promise<void>((resolve) => {
        if (this.#listener) {
          if (this.#onListenerConnection)
            this.#listener.off('connection', this.#onListenerConnection);
          if (this.#listener.listening) this.#listener.close(() => resolve());
          else resolve();
          // Stops Node's timeout checks and closes idle connections; the http server itself
          // never listened, so its close reports "not running", which is expected.
          this.#http.close(() => {});
        } else {
          this.#http.close(() => resolve());
        }
      });
      // Connections with no request running (idle keep-alive, or never sent one) go now; busy
      // ones are ended once their last response is out (see #finished).
      for (const socket of this.#sockets) {
        if (!((socket as TrackedSocket)[kConnection]?.active ?? 0)) socket.destroy();
      }
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        if (this.#sockets.size === 0) return resolve();
        this.#onDrained = resolve;
        timer = setTimeout(() => {
          for (const socket of this.#sockets) socket.destroy();
          resolve();
        }, deadlineMs);
      });
      clearTimeout(timer);
      this.#onDrained = undefined;
      const states = this.#single
        ? [this.#single]
        : [...this.#dispatcher.entries()].map((e) => e.value);
      for (const state of states) {
        state.forwarder?.close();
        state.forwarder = undefined;
      }
      await stopped;
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #onConnection = (socket: TrackedSocket): void => {
    const remoteAddress = normalizeRemoteAddress(socket.remoteAddress);
    const network = this.#single ?? this.#dispatcher.lookup(remoteAddress)?.value;
    const connection: Connection = {
      network,
      remoteAddress,
      remotePort: socket.remotePort ?? 0,
      rejected: false,
      active: 0,
      requests: 0,
    };
    socket[kConnection] = connection;
    const firstByte = gateConnection({
      socket,
      network,
      all: this.#sockets,
      networks: () =>
        this.#single ? [this.#single] : [...this.#dispatcher.entries()].map((e) => e.value),
      networkCount: this.#single ? 1 : this.#dispatcher.size,
      hardening: this.#hardening,
      closing: this.#closing,
      started: () => connection.requests > 0,
      onRefused: (status) => {
        connection.rejected = true;
        this.#count(network, status);
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
    const status =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
            ? 413
            : 400;
    const connection = (socket as TrackedSocket)[kConnection];
    if (!connection?.rejected) this.#count(connection?.network, status);
    socket.end(rawResponse(status));
  };

  #count(state: NetworkState | undefined, status: number): void {
    if (!state) return;
    const index = Math.floor(status / 100) - 2;
    if (index >= 0 && index <= 3) state.counts[index as 0 | 1 | 2 | 3]++;
  }

  #reply(
    res: ServerResponse,
    status: number,
    message: string,
    close: boolean,
    headers?: Record<string, string>,
  ) {
    const body = `${message}\n`;
    res.statusCode = status;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(body));
    if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (close) res.setHeader('connection', 'close');
    res.end(body);
  }

  #onRequest = (req: TrackedRequest, res: ServerResponse): void => {
    const socket = req.socket as TrackedSocket;
    const connection = socket[kConnection];
    if (connection === undefined || connection.rejected) {
      res.destroy();
      return;
    }
    let state = connection.network;
    if (state === undefined || state.removed) state = this.#adopt(connection, socket);
    connection.active++;
    connection.requests++;
    if (this.#closing) res.setHeader('connection', 'close');
    const h = this.#hardening;
    res.once('close', () => this.#finished(state, req, res, connection));
    const url = req.url ?? '';
    const withBody = hasBody(req);
    if (state === undefined) {
      this.#reply(res, 403, 'Forbidden: unknown source address', withBody);
      return;
    }
    const headers = req.headers;
    if (h.rejectProxyHeaders && hasProxyHeaders(headers)) {
      this.#reply(res, 403, 'Forbidden: proxied requests are refused', withBody);
      return;
    }
    // Absolute-form ("http://host/") or asterisk-form targets are never fetched or routed.
    if (url.charCodeAt(0) !== 47) {
      this.#reply(res, 400, 'Bad Request: only origin-form targets are served', true);
      return;
    }
    if (req.rawHeaders.length > h.maxHeadersCount * 2) {
      this.#reply(res, 431, 'Request Header Fields Too Large', true);
      return;
    }
    // Every handler kind (and the forward upstream) sees exactly this path, so it must read the
    // same to all of them: see target.ts.
    const problem = nonCanonicalPath(url);
    if (problem !== undefined) {
      this.#reply(res, 400, `Bad Request: ${problem}`, withBody);
      return;
    }
    const length = headers['content-length'];
    if (length !== undefined && Number(length) > h.maxBodyBytes) {
      this.#reply(res, 413, 'Content Too Large', true);
      return;
    }
    const now = Date.now();
    const wait = state.bucket.take(now);
    if (wait > 0) {
      this.#reply(res, 429, 'Too Many Requests', withBody, {
        'retry-after': String(Math.ceil(wait / 1000)),
      });
      return;
    }
    if (h.requiredHeader && headers[h.requiredHeader.name] !== h.requiredHeader.value) {
      this.#reply(res, 403, `Forbidden: missing ${h.requiredHeader.name} header`, withBody);
      return;
    }
    if (h.tokens && this.#tokens) {
      const t = h.tokens;
      if (pathOfTarget(url) === t.path) {
        this.#issueToken(state, req, res, t, now, withBody);
        return;
      }
      const token = headers[t.tokenHeader];
      // Optional mode serves a request without a token; a presented token is always checked.
      const absent = token === undefined && !t.required;
      if (
        !absent &&
        !this.#tokens.verify(state.name, typeof token === 'string' ? token : undefined, now)
      ) {
        this.#reply(res, 401, 'Unauthorized: a valid session token is required', withBody);
        return;
      }
    }
    const handler = state.handler;
    if (handler === undefined) {
      this.#reply(res, 404, 'Not Found: no handler for this network', withBody);
      return;
    }
    const ctx: HandlerContext = {
      network: state.name,
      remoteAddress: connection.remoteAddress,
      remotePort: connection.remotePort,
    };
    if (req[kExpectContinue]) res.writeContinue();
    if (handler.kind === 'node') this.#serveNode(state, handler.fn, req, res, ctx);
    else this.#serveAsync(state, handler, req, res, ctx, withBody);
  };

  /** A connection from an address that had no network when it opened (or whose network went). */
  #adopt(connection: Connection, socket: Socket): NetworkState | undefined {
    if (this.#single) return undefined;
    const state = this.#dispatcher.lookup(connection.remoteAddress)?.value;
    if (state === undefined) return undefined;
    if (state.sockets.size >= this.#hardening.perNetwork.maxConnections) return undefined;
    connection.network = state;
    state.sockets.add(socket);
    return state;
  }

  #issueToken(
    state: NetworkState,
    req: IncomingMessage,
    res: ServerResponse,
    t: Exclude<NormalizedHardening['tokens'], false>,
    now: number,
    withBody: boolean,
  ): void {
    if (req.method !== 'PUT') {
      this.#reply(res, 405, 'Method Not Allowed', withBody, { allow: 'PUT' });
      return;
    }
    // A token is never handed out through a proxy, whatever rejectProxyHeaders says.
    if (hasProxyHeaders(req.headers)) {
      this.#reply(res, 403, 'Forbidden: proxied requests are refused', withBody);
      return;
    }
    const ttlText = req.headers[t.ttlHeader];
    const ttl = typeof ttlText === 'string' && /^[0-9]{1,9}$/.test(ttlText) ? Number(ttlText) : 0;
    if (ttl < 1 || ttl > t.maxTtlSeconds) {
      this.#reply(
        res,
        400,
        `Bad Request: ${t.ttlHeader} must be from 1 to ${t.maxTtlSeconds}`,
        withBody,
      );
      return;
    }
    const token = this.#tokens!.issue(state.name, ttl, now);
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(token),
      [t.ttlHeader]: String(ttl),
      ...(withBody ? { connection: 'close' } : {}),
    });
    res.end(token);
  }

  #serveNode(
    state: NetworkState,
    fn: NodeHandler,
    req: IncomingMessage,
    res: ServerResponse,
    ctx: HandlerContext,
  ): void {
    if (req.headers['transfer-encoding'] !== undefined) this.#limitStreamedBody(req, res);
    stripIdentityHeaders(req);
    try {
      const result = fn(req, res, ctx);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (error: unknown) =>
          this.#failed(state, res, error),
        );
      }
    } catch (error) {
      this.#failed(state, res, error);
    }
  }

  /**
   * A chunked body has no declared size: count bytes as the parser hands them to the request
   * stream and cut the request at the limit, whoever is reading it.
   */
  #limitStreamedBody(req: IncomingMessage, res: ServerResponse): void {
    const limit = this.#hardening.maxBodyBytes;
    const push = req.push;
    let seen = 0;
    let over = false;
    req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (over) return false; // nothing past the limit reaches the handler
      if (chunk !== null && chunk !== undefined) {
        seen += (chunk as Buffer).length;
        if (seen > limit) {
          over = true;
          // The handler may still write; those writes must not surface as unhandled errors.
          res.on('error', () => {});
          if (res.headersSent) {
            req.socket.destroy();
          } else {
            res.once('finish', () => req.socket.destroy());
            this.#reply(res, 413, 'Content Too Large', true);
          }
          return false;
        }
      }
      return push.call(req, chunk, encoding);
    };
  }

  async #serveAsync(
    state: NetworkState,
    handler: Exclude<ResolvedHandler, { kind: 'node' }>,
    req: IncomingMessage,
    res: ServerResponse,
    ctx: HandlerContext,
    withBody: boolean,
  ): Promise<void> {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    try {
      const method = req.method ?? 'GET';
      let body: Buffer | undefined;
      if (withBody && !BODYLESS.has(method)) {
        const read = await readBody(req, this.#hardening.maxBodyBytes);
        if (read === TOO_LARGE) {
          this.#reply(res, 413, 'Content Too Large', true);
          return;
        }
        body = read;
      }
      if (controller.signal.aborted) return;
      if (handler.kind === 'forward') {
        const forwarder = state.forwarder;
        if (!forwarder) {
          this.#reply(res, 404, 'Not Found: no handler for this network', withBody);
          return;
        }
        const outcome = await forwarder.forward(req, res, ctx, body, controller.signal);
        if (!outcome.ok && outcome.status !== 0) {
          this.#emitError(state, outcome.error);
          if (!res.headersSent && !res.destroyed) {
            this.#reply(res, outcome.status, STATUS_CODES[outcome.status] ?? 'Bad Gateway', false);
          }
        }
        return;
      }
      if (FORBIDDEN_METHODS.has(method)) {
        // `new Request()` refuses these, so a fetch handler can never be given one.
        this.#reply(res, 400, 'Bad Request', withBody);
        return;
      }
      const request = createFetchRequest({
        method,
        rawUrl: `http://${this.#authority}${req.url}`,
        rawHeaders: req.rawHeaders,
        body,
        signal: controller.signal,
      });
      const result = handler.fn(request, ctx);
      // Awaited only when it is a promise: a handler that answers at once is written at once.
      const response: unknown = isPromiseLike(result) ? await result : result;
      if (!isResponseLike(response) || response.status < 200 || response.status > 599) {
        throw new HandlerError(
          `Expected the handler of network \`${state.name}\` to return a Response with a status from 200 to 599, got ${describe(
            isResponseLike(response) ? response.status : response,
          )}`,
        );
      }
      await writeFetchResponse(res, response, method);
    } catch (error) {
      if (controller.signal.aborted && res.destroyed) return;
      this.#failed(state, res, error);
    }
  }

  #failed(state: NetworkState, res: ServerResponse, error: unknown): void {
    this.#emitError(state, error);
    if (res.destroyed) return;
    if (res.headersSent) res.destroy();
    else this.#reply(res, 500, 'Internal Server Error', false);
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
  ) {
    if (res.headersSent) this.#count(state, res.statusCode);
    connection.active--;
    if (this.#closing && connection.active === 0) req.socket.end();
    if (this.listenerCount('request') > 0) {
      this.emit('request', {
        network: state?.name,
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.headersSent ? res.statusCode : 0,
        remoteAddress: connection.remoteAddress,
      } satisfies MetadataRequestEvent);
    }
  }
}

function addressOf(server: NetServer): { host: string; port: number } {
  const address = server.address();
  if (address === null) return { host: '', port: 0 };
  if (typeof address === 'string') return { host: address, port: 0 };
  return { host: address.address, port: address.port };
}
