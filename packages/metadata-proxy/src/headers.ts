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

const NO_TOKENS: ReadonlySet<string> = new Set();
const CLOSE_TOKENS: ReadonlySet<string> = new Set(['close']);

/**
 * The header names a `Connection` value lists, lower-cased. The common values (`keep-alive`,
 * `close`) come from constant sets, not built per message.
 */
function connectionTokens(value: string | undefined): ReadonlySet<string> {
  if (value === undefined) return NO_TOKENS;
  const lower = value.toLowerCase();
  if (lower === 'keep-alive') return NO_TOKENS; // itself hop-by-hop: dropped anyway
  if (lower === 'close') return CLOSE_TOKENS;
  const tokens = new Set<string>();
  for (const token of lower.split(',')) {
    const t = token.trim();
    if (t) tokens.add(t);
  }
  return tokens;
}

function isIdentity(name: string): boolean {
  if (IDENTITY.has(name)) return true;
  for (const prefix of IDENTITY_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

/** Request headers never sent upstream, whatever `Connection` names (see below). */
const NOT_UPSTREAM = new Set([...HOP_BY_HOP, 'host', 'content-length', 'expect']);

/**
 * The request headers to send upstream, from Node's raw header list, as a flat
 * `[name, value, …]` list (undici's cheapest form; a repeated header stays repeated): hop-by-hop
 * headers (and those the `Connection` header names), identity headers, `Host`, `Content-Length`
 * and `Expect` removed; names lower-cased; the serving network and source address added.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  context: { network: string; remoteAddress: string },
): string[] {
  const names: string[] = new Array(rawHeaders.length >> 1);
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    names[i >> 1] = name;
    if (name === 'connection') {
      connection =
        connection === undefined ? rawHeaders[i + 1]! : `${connection},${rawHeaders[i + 1]!}`;
    }
  }
  const named = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = names[i >> 1]!;
    if (NOT_UPSTREAM.has(name) || named.has(name) || isIdentity(name)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  out.push(NETWORK_HEADER, context.network, REMOTE_ADDRESS_HEADER, context.remoteAddress);
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
  for (const rawName of Object.keys(headers)) {
    const value = headers[rawName];
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
