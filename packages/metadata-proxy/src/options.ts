import type { Server } from 'node:net';
import { isIP } from 'node:net';
import { describeValue } from '@tapnet/internal';
import { assertNetworkName } from './dispatcher.js';
import { InvalidOptionError } from './errors.js';

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

export interface MetadataServerOptions {
  /** Address to listen on. */
  host?: string;
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  /**
   * A `net.Server` that is already listening (TCP or unix socket); its connections are served
   * and `host`/`port` are ignored. It is closed by `close()`.
   */
  listener?: Server;
  /**
   * Serve every connection as this one network, whatever its source (for a per-instance unix
   * socket, where a peer has no address). The network is registered on creation.
   */
  singleNetwork?: string;
  hardening?: HardeningOptions;
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

export interface NormalizedOptions {
  host: string;
  port: number;
  listener: Server | undefined;
  singleNetwork: string | undefined;
  hardening: NormalizedHardening;
}

/** Every default in one place. */
export const DEFAULTS = Object.freeze({
  host: '169.254.169.254',
  port: 80,
  hardening: Object.freeze({
    rejectProxyHeaders: true,
    firstByteTimeoutMs: 2_000,
    headersTimeoutMs: 5_000,
    requestTimeoutMs: 10_000,
    keepAliveTimeoutMs: 5_000,
    maxHeaderSize: 8 * 1024,
    maxHeadersCount: 50,
    maxBodyBytes: 64 * 1024,
    perNetwork: Object.freeze({
      maxConnections: 32,
      requestsPerSecond: 100,
      burst: 200,
      // As the request rate: a client opening one connection per request (curl in a loop,
      // cloud-init) is never limited more by this than by the request rate.
      connectionsPerSecond: 100,
      connectionBurst: 200,
    }),
    maxConnections: 1024,
    tokens: Object.freeze({
      path: '/latest/api/token',
      ttlHeader: 'x-aws-ec2-metadata-token-ttl-seconds',
      tokenHeader: 'x-aws-ec2-metadata-token',
      maxTtlSeconds: 21_600,
      maxTokensPerNetwork: 1_000,
      required: true,
    }),
  }),
});

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII and spaces/tabs, not starting or ending with whitespace.
const HEADER_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?$/;

export function integer(
  value: unknown,
  label: string,
  min: number,
  max: number,
  infinity = false,
): number {
  if (infinity && value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const extra = infinity ? ' or Infinity' : '';
    throw new InvalidOptionError(
      `Expected \`${label}\` to be an integer from ${min} to ${max}${extra}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function boolean(value: unknown, label: string): boolean {
  if (typeof value !== 'boolean') {
    throw new InvalidOptionError(
      `Expected \`${label}\` to be a boolean, got ${describeValue(value)}`,
    );
  }
  return value;
}

function plainObject(value: unknown, label: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(
      `Expected \`${label}\` to be an object, got ${describeValue(value)}`,
    );
  }
  return value as Record<string, unknown>;
}

function unknownKeys(
  object: Record<string, unknown>,
  known: readonly string[],
  label: string,
): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(
        `Expected \`${label}\` to have only ${known.map((k) => `\`${k}\``).join(', ')}, got \`${key}\``,
      );
    }
  }
}

export function headerName(value: unknown, label: string): string {
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    throw new InvalidOptionError(
      `Expected \`${label}\` to be an HTTP header name, got ${describeValue(value)}`,
    );
  }
  return value.toLowerCase();
}

function headerValue(value: unknown, label: string): string {
  if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
    throw new InvalidOptionError(
      `Expected \`${label}\` to be printable ASCII without leading or trailing spaces, got ${describeValue(value)}`,
    );
  }
  return value;
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

function rate(value: unknown, label: string): number {
  if (
    value !== Number.POSITIVE_INFINITY &&
    (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value))
  ) {
    throw new InvalidOptionError(
      `Expected \`${label}\` to be a number above 0 or Infinity, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** Validates hardening options and fills in defaults; shared with @tapnet/user-network. */
export function normalizeHardening(input: unknown, label = 'hardening'): NormalizedHardening {
  const d = DEFAULTS.hardening;
  const o: Record<string, unknown> = Object.assign(
    Object.create(null),
    input === undefined ? {} : plainObject(input, label),
  );
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
    const p: Record<string, unknown> = Object.assign(
      Object.create(null),
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
    const t: Record<string, unknown> = Object.assign(
      Object.create(null),
      o.tokens === true ? {} : plainObject(o.tokens, `${label}.tokens`),
    );
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

/** Validates `MetadataServer.create` options and fills in defaults. */
export function normalizeOptions(input: unknown): NormalizedOptions {
  const o: Record<string, unknown> = Object.assign(
    Object.create(null),
    input === undefined ? {} : plainObject(input, 'options'),
  );
  unknownKeys(o, ['host', 'port', 'listener', 'server', 'singleNetwork', 'hardening'], 'options');
  const listener = o.listener ?? o.server;
  if (o.listener !== undefined && o.server !== undefined) {
    throw new InvalidOptionError(
      'Expected only one of `listener` and `server` (its alias), got both',
    );
  }
  if (listener !== undefined) {
    const l = listener as Partial<Server>;
    if (
      typeof l !== 'object' ||
      l === null ||
      typeof l.address !== 'function' ||
      typeof l.on !== 'function'
    ) {
      throw new InvalidOptionError(
        `Expected \`listener\` to be a net.Server, got ${describeValue(listener)}`,
      );
    }
    if (!l.listening) {
      throw new InvalidOptionError(
        'Expected `listener` to be listening already, got a net.Server that is not',
      );
    }
  }
  const host = o.host ?? DEFAULTS.host;
  if (typeof host !== 'string' || isIP(host) === 0) {
    throw new InvalidOptionError(
      `Expected \`host\` to be an IP address, got ${describeValue(host)}`,
    );
  }
  if (o.singleNetwork !== undefined) assertNetworkName(o.singleNetwork, 'singleNetwork');
  return {
    host,
    port: integer(o.port ?? DEFAULTS.port, 'port', 0, 65_535),
    listener: listener as Server | undefined,
    singleNetwork: o.singleNetwork as string | undefined,
    hardening: normalizeHardening(o.hardening),
  };
}
