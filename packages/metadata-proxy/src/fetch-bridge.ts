import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { describeValue as describe } from '@tapnet/internal';
import { HandlerError, type UpstreamError } from './errors.js';
import { createFetchRequest } from './fetch-request.js';
import { writeFetchResponse, writeResponseParts } from './fetch-response.js';
import type { FetchHandler, HandlerContext } from './handler.js';
import {
  BODYLESS,
  FORBIDDEN_METHODS,
  isPromiseLike,
  isResponseLike,
  readBody,
  reply,
  TOO_LARGE,
} from './http-util.js';
import type { NetworkState } from './network-state.js';
import { responseParts } from './response.js';

/** What serving a handler needs of the server. */
export interface BridgeHost {
  readonly maxBodyBytes: number;
  /** `host` or `[host]` of the listening address, the authority of every `Request` URL. */
  readonly authority: string;
  /** A handler failed: report it and answer 500 (or cut a response already started). */
  failed(state: NetworkState, res: ServerResponse, error: unknown): void;
  /** Reports an error without answering (the caller answers). */
  report(state: NetworkState, error: UpstreamError): void;
}

/**
 * Serves a fetch-style or forward handler. Both need the body first: it is read within the
 * limit (413 past it) before the handler sees anything. `request.signal` aborts when the
 * response closes unfinished: the client went away, or `clear()` cut the connection.
 */
export async function serveAsync(
  host: BridgeHost,
  state: NetworkState,
  handler: { kind: 'fetch'; fn: FetchHandler } | { kind: 'forward' },
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HandlerContext,
  withBody: boolean,
): Promise<void> {
  const signal = closeSignal(res);
  try {
    const method = req.method ?? 'GET';
    let body: Buffer | undefined;
    if (withBody && !BODYLESS.has(method)) {
      const read = await readBody(req, host.maxBodyBytes);
      if (read === TOO_LARGE) {
        reply(res, 413, 'Content Too Large', true);
        return;
      }
      body = read;
    }
    if (res.destroyed) return; // the client went away while its body was read
    if (handler.kind === 'forward') {
      await forward(host, state, req, res, ctx, body, signal(), withBody);
      return;
    }
    if (FORBIDDEN_METHODS.has(method)) {
      // `new Request()` refuses these, so a fetch handler can never be given one.
      reply(res, 400, 'Bad Request', withBody);
      return;
    }
    const request = createFetchRequest({
      method,
      rawUrl: `http://${host.authority}${req.url}`,
      rawHeaders: req.rawHeaders,
      body,
      signal,
    });
    const result = handler.fn(request, ctx);
    // Awaited only when it is a promise: a handler that answers at once is written at once.
    const response: unknown = isPromiseLike(result) ? await result : result;
    // This package's own Response (its status is valid by construction): no stream to read.
    const parts =
      typeof response === 'object' && response !== null ? responseParts(response) : undefined;
    if (parts) {
      const written = writeResponseParts(res, parts, method);
      if (written) await written;
      return;
    }
    if (!isResponseLike(response) || response.status < 200 || response.status > 599) {
      throw new HandlerError(
        `Expected the handler of network \`${state.name}\` to return a Response with a status from 200 to 599, got ${describe(
          isResponseLike(response) ? response.status : response,
        )}`,
      );
    }
    await writeFetchResponse(res, response, method);
  } catch (error) {
    if (res.destroyed && !res.writableFinished) return; // the client went away
    host.failed(state, res, error);
  }
}

/**
 * The signal of one request, made on first use (most handlers never read it, and an
 * `AbortController` with its close listener is a measurable part of a fetch-style request):
 * aborted when the response closes unfinished, because the client went away or `clear()`
 * cut the connection, including before the signal was first read.
 */
function closeSignal(res: ServerResponse): () => AbortSignal {
  let signal: AbortSignal | undefined;
  return () => {
    if (signal) return signal;
    const controller = new AbortController();
    signal = controller.signal;
    if (res.destroyed) {
      if (!res.writableFinished) controller.abort();
    } else
      res.once('close', () => {
        if (!res.writableFinished) controller.abort();
      });
    return signal;
  };
}

async function forward(
  host: BridgeHost,
  state: NetworkState,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HandlerContext,
  body: Buffer | undefined,
  signal: AbortSignal,
  withBody: boolean,
): Promise<void> {
  const forwarder = state.forwarder;
  if (!forwarder) {
    reply(res, 404, 'Not Found: no handler for this network', withBody);
    return;
  }
  const outcome = await forwarder.forward(req, res, ctx, body, signal);
  if (!outcome.ok && outcome.status !== 0) {
    host.report(state, outcome.error);
    if (!res.headersSent && !res.destroyed) {
      reply(res, outcome.status, STATUS_CODES[outcome.status] ?? 'Bad Gateway', false);
    }
  }
}
