import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { ApiEvent, Daemon } from './daemon.js';
import { ApiError, errorBody, statusOf } from './errors.js';
import { openApiDocument } from './openapi.js';
import {
  isNetworkName,
  parseAcquire,
  parseHandlerUpdate,
  parseJson,
  parseRenew,
} from './request.js';
import { matchRoute, type Operation } from './routes.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_EVENT_STREAMS = 32;
/** A stream whose reader falls this far behind is cut, so one slow client costs bounded memory. */
export const MAX_STREAM_BACKLOG = 1024 * 1024;

export interface ApiServerOptions {
  registry: Registry;
  version: string;
  /** Errors the server survived (a 500), for the log. */
  onInternalError?: (error: unknown) => void;
  /** Whether metadata requests must be watched for other reasons (the log). */
  logRequests?: boolean;
  /** Every request must carry `Authorization: Bearer <token>` (the TCP listener). */
  token?: string;
  /** Only these operations are served (the scrapers' listener: getMetrics); others are 404. */
  only?: readonly Operation[];
}

/** Whether the request carries the bearer token; compared in constant time. */
export function authorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

type Json = unknown;

function send(res: ServerResponse, status: number, body: Json): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(
        new ApiError(
          413,
          'ERR_BODY_TOO_LARGE',
          `Expected a body of at most ${MAX_BODY_BYTES} bytes, got ${declared}`,
        ),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(
          new ApiError(
            413,
            'ERR_BODY_TOO_LARGE',
            `Expected a body of at most ${MAX_BODY_BYTES} bytes, got more`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
      } catch {
        reject(new ApiError(400, 'ERR_BAD_JSON', 'Expected a UTF-8 JSON body, got invalid UTF-8'));
      }
    });
    req.on('error', reject);
  });
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/json\b/i.test(type))
    throw new ApiError(
      415,
      'ERR_MEDIA_TYPE',
      `Expected content-type application/json, got \`${type}\``,
    );
  return parseJson(await readBody(req));
}

/**
 * The control API over `daemon`: HTTP/1.1 + JSON, dispatched by the route table. Client input
 * never throws past a request: every failure is a JSON error answer, and the server keeps going.
 */
export function createApiServer(
  daemon: Daemon,
  options: ApiServerOptions,
): Server & { closeStreams(): void } {
  const streams = new Set<ServerResponse>();
  const watch = () => daemon.watchRequests(streams.size > 0 || options.logRequests === true);
  watch();

  const handlers: Record<
    Operation,
    (
      req: IncomingMessage,
      res: ServerResponse,
      params: Record<string, string>,
      url: URL,
    ) => Promise<void>
  > = {
    async acquireNetwork(req, res) {
      const request = parseAcquire(await jsonBody(req), daemon.context);
      // A client that hangs up while waiting gives its place in the queue up.
      const gone = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished)
          gone.abort(new ApiError(499, 'ERR_CLIENT_GONE', 'The client hung up'));
      });
      const info = await daemon.acquire(request, gone.signal);
      if (gone.signal.aborted) {
        daemon.release(info.name, 'client', info.id);
        return;
      }
      send(res, 201, info);
    },
    async listNetworks(_req, res) {
      send(res, 200, await daemon.list());
    },
    async getNetwork(_req, res, { name }) {
      send(res, 200, await daemon.get(networkName(name)));
    },
    async releaseNetwork(_req, res, { name }, url) {
      const id = url.searchParams.get('id') ?? undefined;
      send(res, 200, daemon.release(networkName(name), 'client', id));
    },
    async setHandler(req, res, { name }) {
      const spec = parseHandlerUpdate(await jsonBody(req), daemon.context);
      send(res, 200, await daemon.setHandler(networkName(name), spec));
    },
    async renewNetwork(req, res, { name }) {
      const { ttl } = parseRenew(await jsonBody(req));
      send(res, 200, daemon.renew(networkName(name), ttl));
    },
    async getStatus(_req, res) {
      send(res, 200, { version: options.version, ...(await daemon.status()) });
    },
    async streamEvents(_req, res) {
      if (daemon.closing) throw new ApiError(503, 'ERR_DISPOSING', 'The daemon is shutting down');
      if (streams.size >= MAX_EVENT_STREAMS)
        throw new ApiError(
          503,
          'ERR_TOO_MANY_STREAMS',
          `Expected at most ${MAX_EVENT_STREAMS} event streams at once, got one more`,
        );
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
      res.flushHeaders();
      const onEvent = (event: ApiEvent) => {
        if (res.writableLength > MAX_STREAM_BACKLOG) {
          res.destroy();
          return;
        }
        res.write(`${JSON.stringify(event)}\n`);
      };
      streams.add(res);
      daemon.on('event', onEvent);
      watch();
      res.on('close', () => {
        streams.delete(res);
        daemon.off('event', onEvent);
        watch();
      });
    },
    async getOpenApi(_req, res) {
      send(res, 200, openApiDocument(options.version));
    },
    async getMetrics(_req, res) {
      const text = await options.registry.metrics();
      res.writeHead(200, { 'content-type': options.registry.contentType });
      res.end(text);
    },
  };

  const server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000 }, (req, res) => {
    void (async () => {
      try {
        if (options.token !== undefined && !authorized(req.headers.authorization, options.token)) {
          res.setHeader('www-authenticate', 'Bearer');
          throw new ApiError(
            401,
            'ERR_UNAUTHORIZED',
            'Expected `Authorization: Bearer <token>` with the token of --token-file',
          );
        }
        const url = new URL(req.url ?? '/', 'http://tapnet');
        const found = matchRoute(req.method ?? '', url.pathname);
        const match =
          options.only && found.kind === 'route' && !options.only.includes(found.route.operation)
            ? ({ kind: 'not-found' } as const)
            : found;
        if (match.kind === 'not-found')
          throw new ApiError(
            404,
            'ERR_NOT_FOUND',
            `Expected one of the API's paths (GET /v1/openapi.json lists them), got \`${url.pathname}\``,
          );
        if (match.kind === 'method-not-allowed') {
          res.setHeader('allow', match.allow.join(', '));
          throw new ApiError(
            405,
            'ERR_METHOD',
            `Expected ${match.allow.join(' or ')} on ${url.pathname}, got ${req.method}`,
          );
        }
        await handlers[match.route.operation](req, res, match.params, url);
      } catch (error) {
        const status = statusOf(error);
        if (status === 500) options.onInternalError?.(error);
        if (res.headersSent || res.destroyed) {
          res.destroy();
          return;
        }
        // What is left of a refused body is not read: the connection closes after the answer.
        if (!req.complete) res.setHeader('connection', 'close');
        send(res, status, errorBody(error));
      }
    })();
  });
  // A malformed request line or header: answered 400 by hand, the socket closed, nothing thrown.
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  return Object.assign(server, {
    closeStreams() {
      for (const res of streams) res.end();
    },
  });
}

function networkName(name: string | undefined = ''): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    decoded = name;
  }
  if (!isNetworkName(decoded))
    throw new ApiError(
      404,
      'ERR_UNKNOWN_NETWORK',
      `Expected the name of one of this pool's networks, got \`${decoded.slice(0, 64)}\``,
    );
  return decoded;
}
