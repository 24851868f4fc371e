import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { UpstreamError } from './errors.js';
import type { HandlerContext, ParsedForward } from './handler.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { endWith, TOO_LARGE } from './http-util.js';

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code);
}

/** The outcome of one forwarded request, for the server to answer and report. */
export type ForwardOutcome =
  | { ok: true }
  | { ok: false; status: 502 | 504; error: UpstreamError }
  | { ok: false; status: 0; error: undefined };

/**
 * Forwards requests to one upstream (HTTP or unix socket) through a small undici pool. The
 * upstream response is buffered up to `maxResponseBytes`, so a failure anywhere before the last
 * byte still becomes a clean 502/504 for the guest.
 */
export class Forwarder {
  readonly target: ParsedForward;
  readonly #pool: Pool;

  constructor(target: ParsedForward) {
    this.target = target;
    this.#pool = new Pool(target.origin, {
      connections: 8,
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
    const where = target.socketPath ? `unix:${target.socketPath}` : target.origin;
    const fail = (status: 502 | 504, message: string, cause: unknown): ForwardOutcome => ({
      ok: false,
      status,
      error: new UpstreamError(`${message} (${where}${target.basePath}${req.url ?? ''})`, {
        cause,
      }),
    });
    let upstream: Awaited<ReturnType<Pool['request']>>;
    try {
      upstream = await this.#pool.request({
        // The raw target, exactly as the server checked it (canonical: see target.ts); never a
        // re-serialisation that could differ from what was checked.
        path: target.basePath + (req.url ?? '/'),
        method: (req.method ?? 'GET') as 'GET',
        headers: upstreamRequestHeaders(req.rawHeaders, ctx),
        body: body ?? null,
        signal,
      });
    } catch (error) {
      if (signal.aborted) return { ok: false, status: 0, error: undefined };
      return isTimeout(error)
        ? fail(504, 'Upstream did not answer in time', error)
        : fail(502, 'Upstream request failed', error);
    }
    // Destroying the body below must not surface as an unhandled stream error.
    upstream.body.on('error', () => {});
    const declared = Number(upstream.headers['content-length']);
    if (declared > target.maxResponseBytes) {
      upstream.body.destroy();
      return fail(
        502,
        `Upstream response of ${declared} bytes exceeds ${target.maxResponseBytes}`,
        undefined,
      );
    }
    let payload: Buffer;
    try {
      const read = await readLimited(upstream.body, target.maxResponseBytes);
      if (read === TOO_LARGE) {
        upstream.body.destroy();
        return fail(502, `Upstream response exceeds ${target.maxResponseBytes} bytes`, undefined);
      }
      payload = read;
    } catch (error) {
      if (signal.aborted) return { ok: false, status: 0, error: undefined };
      return isTimeout(error)
        ? fail(504, 'Upstream response body did not arrive in time', error)
        : fail(502, 'Upstream response body failed', error);
    }
    const headers = downstreamResponseHeaders(upstream.headers);
    if (req.method === 'HEAD' && upstream.headers['content-length'] !== undefined) {
      headers['content-length'] = String(upstream.headers['content-length']);
    } else {
      headers['content-length'] = String(payload.length);
    }
    res.writeHead(upstream.statusCode, headers);
    endWith(res, payload);
    return { ok: true };
  }

  /** Drops the pool's connections; requests still running fail (their guests are gone too). */
  close(): void {
    this.#pool.destroy().catch(() => {});
  }
}

/**
 * An upstream body up to `limit` bytes, read with events rather than an async iterator (one
 * promise per body, not per chunk); a single chunk is passed on without a copy.
 */
function readLimited(
  body: NodeJS.ReadableStream,
  limit: number,
): Promise<Buffer | typeof TOO_LARGE> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.off('data', onData);
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    };
    body.on('data', onData);
    body.once('end', () => {
      const [only] = chunks;
      resolve(chunks.length === 1 && only ? only : Buffer.concat(chunks, size));
    });
    body.once('error', reject);
  });
}
