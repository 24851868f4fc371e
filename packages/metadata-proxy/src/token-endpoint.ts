import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { hasProxyHeaders } from './headers.js';
import { reply } from './http-util.js';
import { SessionTokens } from './limits.js';
import type { NormalizedHardening } from './options.js';
import { pathOfTarget } from './target.js';

export type TokenSettings = Exclude<NormalizedHardening['tokens'], false>;

/**
 * IMDSv2-style session tokens: `PUT <path>` with a TTL header issues one for the caller's
 * network; other requests present it in the token header (required, or checked when present).
 */
export class TokenEndpoint {
  readonly settings: TokenSettings;
  readonly #store: SessionTokens;

  constructor(settings: TokenSettings) {
    this.settings = settings;
    this.#store = new SessionTokens(settings.maxTokensPerNetwork);
  }

  /** Whether the target is the token path (any method: a GET there is 405, not a metadata read). */
  isTokenRequest(url: string): boolean {
    return pathOfTarget(url) === this.settings.path;
  }

  /** Whether a request may pass: optional mode lets one without a token through. */
  admits(network: string, headers: IncomingHttpHeaders, now: number): boolean {
    const token = headers[this.settings.tokenHeader];
    if (token === undefined && !this.settings.required) return true;
    return this.#store.verify(network, typeof token === 'string' ? token : undefined, now);
  }

  /** Drops a network's tokens (its VM is gone). */
  drop(network: string): void {
    this.#store.drop(network);
  }

  /** Answers a request to the token path: 405 but for PUT, 403 through a proxy, 400 bad TTL. */
  issue(
    network: string,
    req: IncomingMessage,
    res: ServerResponse,
    now: number,
    withBody: boolean,
  ): void {
    const t = this.settings;
    if (req.method !== 'PUT') {
      reply(res, 405, 'Method Not Allowed', withBody, { allow: 'PUT' });
      return;
    }
    // A token is never handed out through a proxy, whatever rejectProxyHeaders says.
    if (hasProxyHeaders(req.headers)) {
      reply(res, 403, 'Forbidden: proxied requests are refused', withBody);
      return;
    }
    const ttlText = req.headers[t.ttlHeader];
    const ttl = typeof ttlText === 'string' && /^[0-9]{1,9}$/.test(ttlText) ? Number(ttlText) : 0;
    if (ttl < 1 || ttl > t.maxTtlSeconds) {
      reply(res, 400, `Bad Request: ${t.ttlHeader} must be from 1 to ${t.maxTtlSeconds}`, withBody);
      return;
    }
    const token = this.#store.issue(network, ttl, now);
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(token),
      [t.ttlHeader]: String(ttl),
      ...(withBody ? { connection: 'close' } : {}),
    });
    res.end(token);
  }
}
