import { nullPrototypeCopy } from '@tapnet/internal';
import { DEFAULTS } from './defaults.js';
import { InvalidOptionError } from './errors.js';
import {
  boolean,
  describeValue,
  headerName,
  headerValue,
  integer,
  plainObject,
  rate,
  unknownKeys,
} from './option-checks.js';

// The hardening options: what a hostile guest may cost the service, per network and in total.

export interface PerNetworkLimits {
  /** Open connections one network may hold at once; the next is answered 429 and closed. */
  maxConnections?: number;
  /** Sustained requests per second per network (token bucket); `Infinity` turns it off. */
  requestsPerSecond?: number;
  /** Requests a network may make at once before the rate applies. */
  burst?: number;
  /**
   * Sustained new TCP connections per second per network (token bucket); over it a connection
   * is answered 429 and destroyed at once. `Infinity` turns it off.
   */
  connectionsPerSecond?: number;
  /** New connections a network may open at once before `connectionsPerSecond` applies. */
  connectionBurst?: number;
}

export interface TokenOptions {
  /** Where a guest PUTs to get a token. */
  path?: string;
  /** Request header carrying the wanted lifetime in seconds. */
  ttlHeader?: string;
  /** Request header carrying the token on every other request. */
  tokenHeader?: string;
  maxTtlSeconds?: number;
  /** Live tokens kept per network; the oldest goes first. */
  maxTokensPerNetwork?: number;
  /**
   * `true` (default, IMDSv2 "required"): every request needs a valid token (401 otherwise).
   * `false` (IMDSv2 "optional"): a request without a token is served too, but a presented
   * token must be valid (401 otherwise).
   */
  required?: boolean;
}

export interface HardeningOptions {
  /** Refuse (403) requests carrying `X-Forwarded-For`, `Forwarded` or `Via`. */
  rejectProxyHeaders?: boolean;
  /**
   * Time a new connection has to send its first byte; one that sent nothing by then is destroyed
   * (no answer: nothing was asked). After the first byte `headersTimeoutMs` applies.
   */
  firstByteTimeoutMs?: number;
  /** Time a client has to send the complete request head (408 after). */
  headersTimeoutMs?: number;
  /** Time a client has to send the complete request (408 after). */
  requestTimeoutMs?: number;
  /** Idle time after which a keep-alive connection is closed. */
  keepAliveTimeoutMs?: number;
  /** Largest request head in bytes (431 above). */
  maxHeaderSize?: number;
  /** Most header fields in a request (431 above). */
  maxHeadersCount?: number;
  /** Largest request body in bytes (413 above). */
  maxBodyBytes?: number;
  /** Limits per network, so one VM cannot starve another; `false` turns them off. */
  perNetwork?: PerNetworkLimits | false;
  /** Open connections in total; the next is answered 503 and closed. */
  maxConnections?: number;
  /** IMDSv2-style session tokens; off by default. `true` is `{}` (required mode). */
  tokens?: TokenOptions | boolean;
  /** A header every request must carry (like GCE's `Metadata-Flavor: Google`); off by default. */
  requiredHeader?: { name: string; value: string } | false;
}

export interface NormalizedHardening {
  rejectProxyHeaders: boolean;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxHeaderSize: number;
  maxHeadersCount: number;
  maxBodyBytes: number;
  firstByteTimeoutMs: number;
  perNetwork: {
    maxConnections: number;
    requestsPerSecond: number;
    burst: number;
    connectionsPerSecond: number;
    connectionBurst: number;
  };
  maxConnections: number;
  tokens:
    | false
    | {
        path: string;
        ttlHeader: string;
        tokenHeader: string;
        maxTtlSeconds: number;
        maxTokensPerNetwork: number;
        required: boolean;
      };
  requiredHeader: false | { name: string; value: string };
}

const HARDENING_KEYS = [
  'rejectProxyHeaders',
  'firstByteTimeoutMs',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'maxHeaderSize',
  'maxHeadersCount',
  'maxBodyBytes',
  'perNetwork',
  'maxConnections',
  'tokens',
  'requiredHeader',
] as const;

/** Validates hardening options and fills in defaults; shared with @tapnet/user-network. */
export function normalizeHardening(input: unknown, label = 'hardening'): NormalizedHardening {
  const d = DEFAULTS.hardening;
  const o = nullPrototypeCopy(input === undefined ? {} : plainObject(input, label));
  unknownKeys(o, HARDENING_KEYS, label);
  const ms = 3_600_000;
  const headersTimeoutMs = integer(
    o.headersTimeoutMs ?? d.headersTimeoutMs,
    `${label}.headersTimeoutMs`,
    100,
    ms,
  );
  const requestTimeoutMs = integer(
    o.requestTimeoutMs ?? d.requestTimeoutMs,
    `${label}.requestTimeoutMs`,
    100,
    ms,
  );
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new InvalidOptionError(
      `Expected \`${label}.headersTimeoutMs\` to be at most \`${label}.requestTimeoutMs\` (${requestTimeoutMs}), got \`${headersTimeoutMs}\` (number)`,
    );
  }
  let perNetwork: NormalizedHardening['perNetwork'];
  if (o.perNetwork === false) {
    const off = Number.POSITIVE_INFINITY;
    perNetwork = {
      maxConnections: off,
      requestsPerSecond: off,
      burst: off,
      connectionsPerSecond: off,
      connectionBurst: off,
    };
  } else {
    const p = nullPrototypeCopy(
      o.perNetwork === undefined ? {} : plainObject(o.perNetwork, `${label}.perNetwork`),
    );
    const pl = `${label}.perNetwork`;
    unknownKeys(
      p,
      ['maxConnections', 'requestsPerSecond', 'burst', 'connectionsPerSecond', 'connectionBurst'],
      pl,
    );
    const dp = d.perNetwork;
    perNetwork = {
      maxConnections: integer(
        p.maxConnections ?? dp.maxConnections,
        `${pl}.maxConnections`,
        1,
        1_000_000,
        true,
      ),
      requestsPerSecond: rate(
        p.requestsPerSecond ?? dp.requestsPerSecond,
        `${pl}.requestsPerSecond`,
      ),
      burst: integer(p.burst ?? dp.burst, `${pl}.burst`, 1, 1_000_000_000, true),
      connectionsPerSecond: rate(
        p.connectionsPerSecond ?? dp.connectionsPerSecond,
        `${pl}.connectionsPerSecond`,
      ),
      connectionBurst: integer(
        p.connectionBurst ?? dp.connectionBurst,
        `${pl}.connectionBurst`,
        1,
        1_000_000_000,
        true,
      ),
    };
  }
  let tokens: NormalizedHardening['tokens'] = false;
  if (o.tokens !== undefined && o.tokens !== false) {
    const t = nullPrototypeCopy(o.tokens === true ? {} : plainObject(o.tokens, `${label}.tokens`));
    unknownKeys(
      t,
      ['path', 'ttlHeader', 'tokenHeader', 'maxTtlSeconds', 'maxTokensPerNetwork', 'required'],
      `${label}.tokens`,
    );
    const path = t.path ?? d.tokens.path;
    if (typeof path !== 'string' || !/^\/[\x21-\x7e]*$/.test(path) || path.includes('?')) {
      throw new InvalidOptionError(
        `Expected \`${label}.tokens.path\` to be an absolute URL path without a query, got ${describeValue(path)}`,
      );
    }
    tokens = {
      path,
      ttlHeader: headerName(t.ttlHeader ?? d.tokens.ttlHeader, `${label}.tokens.ttlHeader`),
      tokenHeader: headerName(t.tokenHeader ?? d.tokens.tokenHeader, `${label}.tokens.tokenHeader`),
      maxTtlSeconds: integer(
        t.maxTtlSeconds ?? d.tokens.maxTtlSeconds,
        `${label}.tokens.maxTtlSeconds`,
        1,
        31_536_000,
      ),
      maxTokensPerNetwork: integer(
        t.maxTokensPerNetwork ?? d.tokens.maxTokensPerNetwork,
        `${label}.tokens.maxTokensPerNetwork`,
        1,
        1_000_000,
      ),
      required: boolean(t.required ?? d.tokens.required, `${label}.tokens.required`),
    };
  }
  let requiredHeader: NormalizedHardening['requiredHeader'] = false;
  if (o.requiredHeader !== undefined && o.requiredHeader !== false) {
    const r = plainObject(o.requiredHeader, `${label}.requiredHeader`);
    unknownKeys(r, ['name', 'value'], `${label}.requiredHeader`);
    requiredHeader = {
      name: headerName(r.name, `${label}.requiredHeader.name`),
      value: headerValue(r.value, `${label}.requiredHeader.value`),
    };
  }
  return {
    rejectProxyHeaders: boolean(
      o.rejectProxyHeaders ?? d.rejectProxyHeaders,
      `${label}.rejectProxyHeaders`,
    ),
    firstByteTimeoutMs: integer(
      o.firstByteTimeoutMs ?? d.firstByteTimeoutMs,
      `${label}.firstByteTimeoutMs`,
      100,
      ms,
    ),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: integer(
      o.keepAliveTimeoutMs ?? d.keepAliveTimeoutMs,
      `${label}.keepAliveTimeoutMs`,
      1,
      ms,
    ),
    maxHeaderSize: integer(
      o.maxHeaderSize ?? d.maxHeaderSize,
      `${label}.maxHeaderSize`,
      1024,
      1024 * 1024,
    ),
    maxHeadersCount: integer(
      o.maxHeadersCount ?? d.maxHeadersCount,
      `${label}.maxHeadersCount`,
      4,
      2000,
    ),
    maxBodyBytes: integer(
      o.maxBodyBytes ?? d.maxBodyBytes,
      `${label}.maxBodyBytes`,
      0,
      1024 * 1024 * 1024,
    ),
    perNetwork,
    maxConnections: integer(
      o.maxConnections ?? d.maxConnections,
      `${label}.maxConnections`,
      1,
      1_000_000,
      true,
    ),
    tokens,
    requiredHeader,
  };
}
