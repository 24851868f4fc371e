import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeValue } from '@tapnet/internal';
import { InvalidOptionError } from './errors.js';
import { integer } from './options.js';

/** What a handler learns about the request it serves: never taken from request headers. */
export interface HandlerContext {
  /** The registered network the connection comes from. */
  network: string;
  /** The source address (`::ffff:` unwrapped), or '' for a unix socket peer. */
  remoteAddress: string;
  /** The source port, or 0 for a unix socket peer. */
  remotePort: number;
}

/**
 * A node-style handler (mark it with `nodeHandler()`). It may return anything; a returned promise
 * that rejects counts as a failure (500 and an `error` event), like a throw.
 */
export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HandlerContext,
) => void | Promise<void> | unknown;
export type FetchHandler = (request: Request, ctx: HandlerContext) => Response | Promise<Response>;

export interface ForwardTarget {
  /** `http://host:port/base` or `unix:/path/to.sock` (optionally `unix:/path.sock:/base`). */
  forward: string;
  /** Upstream deadline for the response head and each body chunk (504 after); default 5000. */
  timeoutMs?: number;
  /** Largest upstream response body passed on (502 above); default 1 MiB. */
  maxResponseBytes?: number;
}

/**
 * A handler: a fetch-style function (the default for a plain function), a node-style function
 * marked with `nodeHandler()`, `{ fetch }`, or a forwarding target.
 */
export type MetadataHandler = NodeHandler | FetchHandler | ForwardTarget | { fetch: FetchHandler };

const NODE = Symbol.for('@tapnet/metadata-proxy.node-handler');
const FETCH = Symbol.for('@tapnet/metadata-proxy.fetch-handler');

/** Marks a `(req, res, ctx)` function as node-style (plain functions are taken as fetch-style). */
export function nodeHandler(fn: NodeHandler): NodeHandler {
  if (typeof fn !== 'function') {
    throw new InvalidOptionError(`Expected \`handler\` to be a function, got ${describeValue(fn)}`);
  }
  Object.defineProperty(fn, NODE, { value: true });
  return fn;
}

/** Marks a `(request, ctx) => Response` function as fetch-style (the default; for clarity). */
export function fetchHandler(fn: FetchHandler): FetchHandler {
  if (typeof fn !== 'function') {
    throw new InvalidOptionError(`Expected \`handler\` to be a function, got ${describeValue(fn)}`);
  }
  Object.defineProperty(fn, FETCH, { value: true });
  return fn;
}

export interface ParsedForward {
  /** `http://host:port` for TCP targets, `http://localhost` for unix sockets. */
  origin: string;
  socketPath: string | undefined;
  /** Path prefix without a trailing slash ('' for none). */
  basePath: string;
  timeoutMs: number;
  maxResponseBytes: number;
}

export type ResolvedHandler =
  | { kind: 'node'; fn: NodeHandler }
  | { kind: 'fetch'; fn: FetchHandler }
  | { kind: 'forward'; target: ParsedForward };

/** Parses a forwarding target; pure. */
export function parseForwardTarget(input: ForwardTarget, label = 'handler'): ParsedForward {
  const o: Record<string, unknown> = Object.assign(Object.create(null), input);
  for (const key of Object.keys(o)) {
    if (!['forward', 'timeoutMs', 'maxResponseBytes'].includes(key)) {
      throw new InvalidOptionError(
        `Expected \`${label}\` to have only \`forward\`, \`timeoutMs\`, \`maxResponseBytes\`, got \`${key}\``,
      );
    }
  }
  const { forward } = o;
  const bad = () =>
    new InvalidOptionError(
      `Expected \`${label}.forward\` to be "http://host:port/base" or "unix:/absolute/path.sock", got ${describeValue(forward)}`,
    );
  if (typeof forward !== 'string') throw bad();
  const timeoutMs = integer(o.timeoutMs ?? 5_000, `${label}.timeoutMs`, 1, 3_600_000);
  const maxResponseBytes = integer(
    o.maxResponseBytes ?? 1024 * 1024,
    `${label}.maxResponseBytes`,
    0,
    1024 ** 3,
  );
  if (forward.startsWith('unix:')) {
    // unix:/run/x.sock or unix:/run/x.sock:/base
    const rest = forward.slice(5);
    const colon = rest.indexOf(':');
    const socketPath = colon === -1 ? rest : rest.slice(0, colon);
    const base = colon === -1 ? '' : rest.slice(colon + 1);
    if (!socketPath.startsWith('/') || socketPath.includes('\0')) throw bad();
    if (base !== '' && !/^\/[\x21-\x7e]*$/.test(base)) throw bad();
    return {
      origin: 'http://localhost',
      socketPath,
      basePath: base.replace(/\/+$/, ''),
      timeoutMs,
      maxResponseBytes,
    };
  }
  let url: URL;
  try {
    url = new URL(forward);
  } catch {
    throw bad();
  }
  if (url.protocol !== 'http:' || url.search || url.hash || url.username || url.password)
    throw bad();
  return {
    origin: url.origin,
    socketPath: undefined,
    basePath: url.pathname.replace(/\/+$/, ''),
    timeoutMs,
    maxResponseBytes,
  };
}

/**
 * Tells handler kinds apart. The rule: a function marked by `nodeHandler()` is node-style;
 * any other function is fetch-style; an object with a `fetch` function is fetch-style; an
 * object with `forward` is a forwarding target.
 */
export function resolveHandler(handler: unknown, label = 'handler'): ResolvedHandler {
  if (typeof handler === 'function') {
    if ((handler as unknown as Record<symbol, unknown>)[NODE] === true) {
      return { kind: 'node', fn: handler as NodeHandler };
    }
    return { kind: 'fetch', fn: handler as FetchHandler };
  }
  if (typeof handler === 'object' && handler !== null) {
    const o = handler as Record<string, unknown>;
    if (typeof o.fetch === 'function') {
      const fetch = o.fetch as FetchHandler;
      return { kind: 'fetch', fn: (request, ctx) => fetch.call(handler, request, ctx) };
    }
    if ('forward' in o)
      return { kind: 'forward', target: parseForwardTarget(o as unknown as ForwardTarget, label) };
  }
  throw new InvalidOptionError(
    `Expected \`${label}\` to be a function, \`{ fetch }\` or \`{ forward }\`, got ${describeValue(handler)}`,
  );
}
