import type { IncomingHttpHeaders } from 'node:http';
import { hasProxyHeaders } from './headers.js';
import type { NormalizedHardening } from './options.js';
import { nonCanonicalPath } from './target.js';

/** A refused request: the short answer the server gives, and whether the connection closes. */
export interface RequestRefusal {
  status: 400 | 403 | 413 | 429 | 431;
  message: string;
  close: boolean;
  headers?: Record<string, string>;
}

/** What the request checks read of a request. */
export interface RequestFacts {
  url: string;
  headers: IncomingHttpHeaders;
  /** Length of Node's raw header list (two entries per header). */
  rawHeaderLength: number;
  /** Whether a body follows (a declared length above 0, or chunked). */
  withBody: boolean;
}

/**
 * The ordered checks every request of a known network passes before tokens and handlers: proxy
 * headers, origin-form target, header count, canonical path, declared body size, then the
 * network's request rate (`takeRate` is asked last, so a refused request spends no budget; it
 * returns how many ms until a token, 0 when one was taken), then the required header. Pure but
 * for `takeRate`. A refusal with a body still unread closes the connection, since the body
 * would otherwise be read as the next request.
 */
export function requestRefusal(
  request: RequestFacts,
  h: NormalizedHardening,
  takeRate: () => number,
): RequestRefusal | undefined {
  const { url, headers, withBody } = request;
  if (h.rejectProxyHeaders && hasProxyHeaders(headers)) {
    return { status: 403, message: 'Forbidden: proxied requests are refused', close: withBody };
  }
  // Absolute-form ("http://host/") or asterisk-form targets are never fetched or routed.
  if (url.charCodeAt(0) !== 47) {
    return {
      status: 400,
      message: 'Bad Request: only origin-form targets are served',
      close: true,
    };
  }
  if (request.rawHeaderLength > h.maxHeadersCount * 2) {
    return { status: 431, message: 'Request Header Fields Too Large', close: true };
  }
  // Every handler kind (and the forward upstream) sees exactly this path, so it must read the
  // same to all of them: see target.ts.
  const problem = nonCanonicalPath(url);
  if (problem !== undefined) {
    return { status: 400, message: `Bad Request: ${problem}`, close: withBody };
  }
  const length = headers['content-length'];
  if (length !== undefined && Number(length) > h.maxBodyBytes) {
    return { status: 413, message: 'Content Too Large', close: true };
  }
  const wait = takeRate();
  if (wait > 0) {
    return {
      status: 429,
      message: 'Too Many Requests',
      close: withBody,
      headers: { 'retry-after': String(Math.ceil(wait / 1000)) },
    };
  }
  if (h.requiredHeader && headers[h.requiredHeader.name] !== h.requiredHeader.value) {
    return {
      status: 403,
      message: `Forbidden: missing ${h.requiredHeader.name} header`,
      close: withBody,
    };
  }
  return undefined;
}
