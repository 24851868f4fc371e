import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import { UpstreamError } from './errors.js';
import type { HandlerContext, ParsedForward } from './handler.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { endWith } from './http-util.js';

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code);
}

/** Upstream connections per forward handler (per network). */
export const FORWARD_CONNECTIONS = 32;

/** The outcome of one forwarded request, for the server to answer and report. */
export type ForwardOutcome =
  | { ok: true }
  | { ok: false; status: 502 | 504; error: UpstreamError }
  | { ok: false; status: 0; error: undefined };

/** What one exchange with the upstream ended with, before anything is written to the guest. */
type Exchange =
  | { ok: true; status: number; headers: IncomingHttpHeaders; payload: Buffer }
  | { ok: false; status: 502 | 504 | 0; message: string; cause: unknown };

/**
 * Forwards requests to one upstream (HTTP or unix socket) through a small undici pool of
 * kept-alive connections. The upstream response is buffered up to `maxResponseBytes`, so a
 * failure anywhere before the last byte still becomes a clean 502/504 for the guest.
 */
export class Forwarder {
  readonly target: ParsedForward;
  readonly #pool: Pool;
  /** Set by destroy(): a request it cut short is no upstream failure, so nothing is reported. */
  #destroyed = false;

  constructor(target: ParsedForward) {
    this.target = target;
    this.#pool = new Pool(target.origin, {
      // As many as a network may hold guest connections by default (`perNetwork.maxConnections`):
      // a guest within that cap never waits in the proxy for an upstream connection, and undici's
      // queue (a drain event per freed connection) stays out of the path. Measured at 16 guest
      // connections: 8 here cost 3–5 µs more main-thread CPU per request and ~10 % throughput.
      // Connections are opened on demand and closed after `keepAliveTimeout` idle.
      connections: FORWARD_CONNECTIONS,
      socketPath: target.socketPath,
      headersTimeout: target.timeoutMs,
      bodyTimeout: target.timeoutMs,
      connectTimeout: target.timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: HandlerContext,
    body: Buffer | undefined,
    signal: AbortSignal,
  ): Promise<ForwardOutcome> {
    const { target } = this;
    if (signal.aborted) return { ok: false, status: 0, error: undefined };
    const exchange = await new Promise<Exchange>((resolve) => {
      this.#pool.dispatch(
        {
          // The raw target, exactly as the server checked it (canonical: see target.ts); never a
          // re-serialisation that could differ from what was checked.
          path: target.basePath + (req.url ?? '/'),
          method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
          headers: upstreamRequestHeaders(req.rawHeaders, ctx),
          body: body ?? null,
        },
        new CollectHandler(target.maxResponseBytes, signal, resolve),
      );
    });
    if (!exchange.ok) {
      if (exchange.status === 0 || signal.aborted || this.#destroyed)
        return { ok: false, status: 0, error: undefined };
      const where = target.socketPath ? `unix:${target.socketPath}` : target.origin;
      return {
        ok: false,
        status: exchange.status,
        error: new UpstreamError(
          `${exchange.message} (${where}${target.basePath}${req.url ?? ''})`,
          { cause: exchange.cause },
        ),
      };
    }
    const headers = downstreamResponseHeaders(exchange.headers);
    const declared = exchange.headers['content-length'];
    if (req.method === 'HEAD' && declared !== undefined) {
      headers['content-length'] = String(declared);
    } else {
      headers['content-length'] = String(exchange.payload.length);
    }
    res.writeHead(exchange.status, headers);
    endWith(res, exchange.payload);
    return { ok: true };
  }

  /**
   * Takes no new requests and closes the pool's connections once the requests still running
   * are answered: the handler was replaced, the guests that asked are still there and get
   * their answers from this upstream.
   */
  close(): void {
    this.#pool.close().catch(() => {});
  }

  /**
   * Drops the pool's connections at once; requests still running end unanswered and unreported:
   * the network was cleared or the server closed, and their guests' connections are cut too.
   */
  destroy(): void {
    this.#destroyed = true;
    this.#pool.destroy().catch(() => {});
  }
}

/**
 * Collects one upstream response straight from undici's dispatch callbacks, up to `limit`
 * bytes: no response stream, no promise per chunk. It settles exactly once; the guest's
 * `signal` (client gone, connection cut) aborts the upstream request wherever it is.
 */
class CollectHandler implements Dispatcher.DispatchHandler {
  readonly #limit: number;
  readonly #signal: AbortSignal;
  readonly #resolve: (exchange: Exchange) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #headers: IncomingHttpHeaders | undefined;
  #chunks: Buffer[] = [];
  #size = 0;
  #settled = false;
  readonly #onAbort = () => {
    this.#settle({ ok: false, status: 0, message: 'The client went away', cause: undefined });
  };

  constructor(limit: number, signal: AbortSignal, resolve: (exchange: Exchange) => void) {
    this.#limit = limit;
    this.#signal = signal;
    this.#resolve = resolve;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Settles the exchange once; an upstream request still running is aborted. */
  #settle(exchange: Exchange): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    if (!exchange.ok) {
      this.#chunks = [];
      this.#controller?.abort(new UpstreamError(exchange.message));
    }
    this.#resolve(exchange);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // Settled while queued for a connection (client gone): the request never goes out.
    if (this.#settled) controller.abort(new UpstreamError('The client went away'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return; // 1xx: informational, the real head follows
    this.#controller = controller;
    this.#status = statusCode;
    this.#headers = headers;
    const declared = Number(headers['content-length']);
    if (declared > this.#limit) {
      this.#settle({
        ok: false,
        status: 502,
        message: `Upstream response of ${declared} bytes exceeds ${this.#limit}`,
        cause: undefined,
      });
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#settled) return;
    this.#size += chunk.length;
    if (this.#size > this.#limit) {
      this.#settle({
        ok: false,
        status: 502,
        message: `Upstream response exceeds ${this.#limit} bytes`,
        cause: undefined,
      });
      return;
    }
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    const chunks = this.#chunks;
    const [only] = chunks;
    this.#settle({
      ok: true,
      status: this.#status,
      headers: this.#headers ?? {},
      // A single chunk is passed on without a copy.
      payload: chunks.length === 1 && only ? only : Buffer.concat(chunks, this.#size),
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const started = this.#headers !== undefined;
    if (isTimeout(error)) {
      this.#settle({
        ok: false,
        status: 504,
        message: started
          ? 'Upstream response body did not arrive in time'
          : 'Upstream did not answer in time',
        cause: error,
      });
    } else {
      this.#settle({
        ok: false,
        status: 502,
        message: started ? 'Upstream response body failed' : 'Upstream request failed',
        cause: error,
      });
    }
  }
}
