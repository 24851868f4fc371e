import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Headers that describe one hop of a connection, never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers that claim who the client is; a guest must not be able to set them upstream. */
// Headers that claim who a client is: the ones a proxy sets, and the two this server sets for
// a forward's upstream. Other `X-Tapnet-*` names are a guest's own (e.g. the e2e guest's
// `X-Tapnet-Exit`) and pass.
const IDENTITY = new Set([
  'forwarded',
  'via',
  'x-real-ip',
  'client-ip',
  'true-client-ip',
  'x-tapnet-network',
  'x-tapnet-remote-address',
]);
const IDENTITY_PREFIXES = ['x-forwarded-'];

/** The headers the proxy adds upstream so a forwarded service knows whom it serves. */
export const NETWORK_HEADER = 'x-tapnet-network';
export const REMOTE_ADDRESS_HEADER = 'x-tapnet-remote-address';

/** True when a request carries a header that only a proxy would add. */
export function hasProxyHeaders(headers: IncomingHttpHeaders): boolean {
  return (
    headers['x-forwarded-for'] !== undefined ||
    headers.forwarded !== undefined ||
    headers.via !== undefined
  );
}

function connectionTokens(value: string | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t) tokens.add(t);
  }
  return tokens;
}

function isIdentity(name: string): boolean {
  return IDENTITY.has(name) || IDENTITY_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * The request headers to send upstream, from Node's raw header list: hop-by-hop headers (and
 * those the `Connection` header names), identity headers, `Host` and `Content-Length` removed;
 * the serving network and source address added.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  context: { network: string; remoteAddress: string },
): Record<string, string | string[]> {
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'connection') {
      connection =
        connection === undefined ? rawHeaders[i + 1]! : `${connection},${rawHeaders[i + 1]!}`;
    }
  }
  const named = connectionTokens(connection);
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (HOP_BY_HOP.has(name) || named.has(name) || isIdentity(name)) continue;
    if (name === 'host' || name === 'content-length' || name === 'expect') continue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  out[NETWORK_HEADER] = context.network;
  out[REMOTE_ADDRESS_HEADER] = context.remoteAddress;
  return out;
}

/**
 * The response headers to pass back to the guest: hop-by-hop headers (and those named by
 * `Connection`) and `Content-Length` removed (the proxy sets its own).
 */
export function downstreamResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const connection = headers.connection;
  const named = connectionTokens(Array.isArray(connection) ? connection.join(',') : connection);
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name === 'content-length')
      continue;
    out[name] = value;
  }
  return out;
}

/**
 * Strips hop-by-hop and identity headers from a Node request for a fetch-style `Request`: a
 * guest must not be able to tell a handler who it is (`X-Tapnet-Network`, `X-Real-IP`, …);
 * the handler learns that from its context only.
 */
export function fetchRequestHeaders(rawHeaders: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || isIdentity(name) || name === 'content-length' || name === 'expect')
      continue;
    pairs.push([name, rawHeaders[i + 1]!]);
  }
  return pairs;
}

/**
 * The first letters of the identity header names, in lower case: a raw name starting with any
 * other (`Host`, `Accept`, `User-Agent`, …) is passed without lower-casing it.
 */
const IDENTITY_INITIALS = new Set([...IDENTITY, ...IDENTITY_PREFIXES].map((n) => n.charCodeAt(0)));

/** Removes identity headers from a Node request in place, before a node-style handler sees it. */
export function stripIdentityHeaders(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  let found = false;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    const name = raw[i]!;
    // `| 0x20` lower-cases an ASCII letter; a non-letter never maps onto one of the initials.
    if (!IDENTITY_INITIALS.has(name.charCodeAt(0) | 0x20)) continue;
    if (isIdentity(name.toLowerCase())) {
      raw.splice(i, 2);
      found = true;
    }
  }
  // The parsed headers come from the same fields: only touch them when there was one.
  if (found)
    for (const name of Object.keys(req.headers)) if (isIdentity(name)) delete req.headers[name];
}
