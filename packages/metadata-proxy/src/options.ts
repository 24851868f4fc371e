import type { Server } from 'node:net';
import { isIP } from 'node:net';
import { nullPrototypeCopy } from '@tapnet/internal';
import { DEFAULTS } from './defaults.js';
import { assertNetworkName } from './dispatcher.js';
import { InvalidOptionError } from './errors.js';
import {
  type HardeningOptions,
  type NormalizedHardening,
  normalizeHardening,
} from './hardening.js';
import { describeValue, integer, plainObject, unknownKeys } from './option-checks.js';

export { DEFAULTS } from './defaults.js';
export {
  type HardeningOptions,
  type NormalizedHardening,
  normalizeHardening,
  type PerNetworkLimits,
  type TokenOptions,
} from './hardening.js';
export { integer } from './option-checks.js';

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

export interface NormalizedOptions {
  host: string;
  port: number;
  listener: Server | undefined;
  singleNetwork: string | undefined;
  hardening: NormalizedHardening;
}

/** Validates `MetadataServer.create` options and fills in defaults. */
export function normalizeOptions(input: unknown): NormalizedOptions {
  const o = nullPrototypeCopy(input === undefined ? {} : plainObject(input, 'options'));
  unknownKeys(o, ['host', 'port', 'listener', 'singleNetwork', 'hardening'], 'options');
  const { listener, singleNetwork } = o;
  if (listener !== undefined && !isNetServer(listener)) {
    throw new InvalidOptionError(
      `Expected \`listener\` to be a net.Server, got ${describeValue(listener)}`,
    );
  }
  if (listener !== undefined && !listener.listening) {
    throw new InvalidOptionError(
      'Expected `listener` to be listening already, got a net.Server that is not',
    );
  }
  const host = o.host ?? DEFAULTS.host;
  if (typeof host !== 'string' || isIP(host) === 0) {
    throw new InvalidOptionError(
      `Expected \`host\` to be an IP address, got ${describeValue(host)}`,
    );
  }
  if (singleNetwork !== undefined) assertNetworkName(singleNetwork, 'singleNetwork');
  return {
    host,
    port: integer(o.port ?? DEFAULTS.port, 'port', 0, 65_535),
    listener,
    singleNetwork,
    hardening: normalizeHardening(o.hardening),
  };
}

/** Duck-typed: a `net.Server` from another copy of node:net (a test runner's) is one too. */
function isNetServer(value: unknown): value is Server {
  if (typeof value !== 'object' || value === null) return false;
  const server = value as Partial<Record<keyof Server, unknown>>;
  return typeof server.address === 'function' && typeof server.on === 'function';
}
