import { isAbsolute, resolve, sep } from 'node:path';
import { describeValue, firstUnknownKey, isIntegerIn, isPlainObject } from '@tapnet/internal';
import { NIC_MODELS, type NicModel } from '@tapnet/qemu-args';
import { ApiError } from './errors.js';

/**
 * The control API's request bodies, checked before anything happens (pure). Each refusal is an
 * ApiError 400 naming the field; unknown fields are refused, not ignored, so a misspelt `ttl`
 * never silently leaves a network without a deadline.
 */

/** How a network's metadata is answered: what `--metadata` takes, or a JSON table inline. */
export type HandlerSpec =
  | { kind: 'forward'; url: string }
  /** A file (JSON table), a folder, or `unix:/path`: only inside the daemon's `--handler-root`. */
  | { kind: 'path'; source: string; path: string }
  | { kind: 'table'; table: Record<string, Record<string, unknown>> };

export interface Holder {
  /** The process whose exit releases the network (the QEMU), with its start time. */
  pid?: number;
  /** Seconds without a renewal after which the network is released. */
  ttl?: number;
}

export interface AcquireRequest {
  /** Undefined: the daemon's default handler (`--metadata`), or none. Null: none. */
  handler: HandlerSpec | null | undefined;
  /** Seconds to wait for a free network; 0 answers 409 at once when all are in use. */
  wait: number;
  holder: Holder;
  netdevId: string;
  model: NicModel;
  /**
   * This network's traffic limits over the pool's default (`egress`, `ingress`,
   * `packetsPerSecond`; null lifts one); validated by the pool before a network is taken.
   */
  limits: Record<string, unknown> | undefined;
}

export const MAX_WAIT_SECONDS = 600;
export const MAX_TTL_SECONDS = 86_400;

export interface RequestContext {
  /** The folder `path` and `unix:` handler sources must lie in; undefined refuses them. */
  handlerRoot: string | undefined;
}

function bad(message: string, option?: string, code = 'ERR_INVALID_OPTION'): ApiError {
  return new ApiError(400, code, message, option);
}

/** The body as JSON; refuses what is not an object when `object` is set. */
export function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw bad(
      `Expected a JSON body, got invalid JSON (${(error as Error).message})`,
      undefined,
      'ERR_BAD_JSON',
    );
  }
}

function objectOf(
  body: unknown,
  allowed: readonly string[],
  what: string,
): Record<string, unknown> {
  if (!isPlainObject(body))
    throw bad(
      `Expected ${what} to be a JSON object, got ${describeValue(body)}`,
      undefined,
      'ERR_BAD_BODY',
    );
  const unknown = firstUnknownKey(body, allowed);
  if (unknown !== undefined)
    throw bad(
      `Expected ${what} to have only ${allowed.map((k) => `\`${k}\``).join(', ')}, got \`${unknown}\``,
      unknown,
      'ERR_UNKNOWN_FIELD',
    );
  return body;
}

function seconds(value: unknown, option: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
    throw bad(
      `Expected \`${option}\` to be a number of seconds from ${min} to ${max}, got ${describeValue(value)}`,
      option,
    );
  return value;
}

function within(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

export function parseHandler(
  value: unknown,
  ctx: RequestContext,
  option = 'handler',
): HandlerSpec | null {
  if (value === null) return null;
  if (typeof value === 'string') {
    if (/^https?:\/\//.test(value)) {
      if (!URL.canParse(value))
        throw bad(`Expected \`${option}\` to be a valid URL, got ${describeValue(value)}`, option);
      return { kind: 'forward', url: value };
    }
    const path = value.startsWith('unix:') ? value.slice('unix:'.length) : value;
    if (!isAbsolute(path) || path.includes('\0'))
      throw bad(
        `Expected \`${option}\` to be an http(s) URL, \`unix:\` and an absolute path, an absolute path, or a JSON table, got ${describeValue(value)}`,
        option,
      );
    // The daemon runs as root: a client must not make it read, or connect to, what the client
    // itself could not (a guest would then be served /etc/shadow or a docker socket).
    if (ctx.handlerRoot === undefined)
      throw bad(
        `Expected \`${option}\` to be a URL or a JSON table: this daemon serves no paths (start it with --handler-root DIR), got ${describeValue(value)}`,
        option,
        'ERR_PATH_REFUSED',
      );
    const resolved = resolve(path);
    if (!within(resolve(ctx.handlerRoot), resolved))
      throw bad(
        `Expected \`${option}\` to lie inside ${ctx.handlerRoot}, got ${describeValue(value)}`,
        option,
        'ERR_PATH_REFUSED',
      );
    return {
      kind: 'path',
      source: value.startsWith('unix:') ? `unix:${resolved}` : resolved,
      path: resolved,
    };
  }
  if (isPlainObject(value)) {
    for (const [network, entries] of Object.entries(value)) {
      if (!isPlainObject(entries))
        throw bad(
          `Expected \`${option}.${network}\` to be an object of paths, got ${describeValue(entries)}`,
          option,
        );
      for (const path of Object.keys(entries))
        if (!path.startsWith('/'))
          throw bad(
            `Expected the paths of \`${option}.${network}\` to start with /, got ${describeValue(path)}`,
            option,
          );
    }
    return { kind: 'table', table: value as Record<string, Record<string, unknown>> };
  }
  throw bad(
    `Expected \`${option}\` to be a URL, a path or a JSON table, got ${describeValue(value)}`,
    option,
  );
}

function parseHolder(value: unknown): Holder {
  const o = objectOf(value, ['pid', 'ttl'], '`holder`');
  const holder: Holder = {};
  if (o.pid !== undefined) {
    if (!isIntegerIn(o.pid, 1, 4_194_304))
      throw bad(
        `Expected \`holder.pid\` to be a process id, got ${describeValue(o.pid)}`,
        'holder.pid',
      );
    holder.pid = o.pid;
  }
  if (o.ttl !== undefined) holder.ttl = seconds(o.ttl, 'holder.ttl', 1, MAX_TTL_SECONDS);
  return holder;
}

/** `POST /v1/networks`. */
export function parseAcquire(body: unknown, ctx: RequestContext): AcquireRequest {
  const o = objectOf(
    body,
    ['handler', 'wait', 'holder', 'netdevId', 'model', 'limits'],
    'the body',
  );
  const netdevId = o.netdevId ?? 'net0';
  if (typeof netdevId !== 'string' || !/^[A-Za-z][A-Za-z0-9_.-]{0,31}$/.test(netdevId))
    throw bad(
      `Expected \`netdevId\` to be a QEMU id (a letter, then letters, digits, _ . -; at most 32), got ${describeValue(netdevId)}`,
      'netdevId',
    );
  const model = o.model ?? 'virtio-net-pci';
  if (!(NIC_MODELS as readonly unknown[]).includes(model))
    throw bad(
      `Expected \`model\` to be one of ${NIC_MODELS.join(', ')}, got ${describeValue(model)}`,
      'model',
    );
  if (o.limits !== undefined && !isPlainObject(o.limits))
    throw bad(
      `Expected \`limits\` to be an object like { egress: '100mbit' }, got ${describeValue(o.limits)}`,
      'limits',
    );
  return {
    handler: o.handler === undefined ? undefined : parseHandler(o.handler, ctx),
    wait: o.wait === undefined ? 0 : seconds(o.wait, 'wait', 0, MAX_WAIT_SECONDS),
    holder: o.holder === undefined ? {} : parseHolder(o.holder),
    netdevId,
    model: model as NicModel,
    limits: o.limits,
  };
}

/** `PUT /v1/networks/{name}/handler`: `{ handler }`, null clears it. */
export function parseHandlerUpdate(body: unknown, ctx: RequestContext): HandlerSpec | null {
  const o = objectOf(body, ['handler'], 'the body');
  if (!('handler' in o))
    throw bad('Expected `handler` (a URL, a path, a JSON table or null)', 'handler');
  return parseHandler(o.handler, ctx);
}

/** `POST /v1/networks/{name}/renew`: `{ ttl? }`, the network's own TTL when omitted. */
export function parseRenew(body: unknown): { ttl?: number } {
  const o = objectOf(body, ['ttl'], 'the body');
  return o.ttl === undefined ? {} : { ttl: seconds(o.ttl, 'ttl', 1, MAX_TTL_SECONDS) };
}

/** A network name in a path: the pool's device names; anything else is simply not found. */
export function isNetworkName(name: string): boolean {
  return /^[a-z][a-z0-9]{0,14}$/.test(name);
}
