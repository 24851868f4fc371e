import {
  type HardeningOptions,
  type NormalizedHardening,
  normalizeHardening,
} from '@tapnet/metadata-proxy';
import type { BridgeChoice } from './bridge.js';
import { describe, InvalidOptionError } from './errors.js';

export interface UserNetworkOptions {
  /** `restrict=on`: the guest reaches nothing but the forwards (no host, no outside). */
  restrict?: boolean;
  /** Program that joins a guest connection to the socket. */
  bridge?: BridgeChoice;
  /** Guest-side address of the metadata service. */
  metadataIp?: string;
  /** The guest's IPv4 network. */
  net?: string;
  /** Hardening of the socket server (see @tapnet/metadata-proxy). */
  hardening?: HardeningOptions;
  /** File name of the socket in the folder; default random. A stale socket there is replaced. */
  socketName?: string;
  /** PATH searched for the bridge; default `process.env.PATH`. */
  searchPath?: string;
}

export interface NormalizedUserNetworkOptions {
  restrict: boolean;
  bridge: BridgeChoice;
  metadataIp: string;
  net: string;
  hardening: NormalizedHardening;
  hardeningInput: HardeningOptions | undefined;
  socketName: string | undefined;
  searchPath: string;
}

export const DEFAULTS = Object.freeze({
  restrict: false,
  bridge: 'auto' as BridgeChoice,
  metadataIp: '169.254.169.254',
  net: '169.254.0.0/16',
});

const KEYS = ['restrict', 'bridge', 'metadataIp', 'net', 'hardening', 'socketName', 'searchPath'];

export function normalizeOptions(input: unknown): NormalizedUserNetworkOptions {
  if (
    input !== undefined &&
    (typeof input !== 'object' || input === null || Array.isArray(input))
  ) {
    throw new InvalidOptionError(`Expected \`options\` to be an object, got ${describe(input)}`);
  }
  const o: Record<string, unknown> = Object.assign(Object.create(null), input);
  for (const key of Object.keys(o)) {
    if (!KEYS.includes(key)) {
      throw new InvalidOptionError(
        `Expected \`options\` to have only ${KEYS.map((k) => `\`${k}\``).join(', ')}, got \`${key}\``,
      );
    }
  }
  const restrict = o.restrict ?? DEFAULTS.restrict;
  if (typeof restrict !== 'boolean') {
    throw new InvalidOptionError(
      `Expected \`restrict\` to be a boolean, got ${describe(restrict)}`,
    );
  }
  const bridge = o.bridge ?? DEFAULTS.bridge;
  if (bridge !== 'auto' && bridge !== 'nc' && bridge !== 'socat') {
    throw new InvalidOptionError(
      `Expected \`bridge\` to be 'auto', 'nc' or 'socat', got ${describe(bridge)}`,
    );
  }
  const metadataIp = o.metadataIp ?? DEFAULTS.metadataIp;
  if (typeof metadataIp !== 'string') {
    throw new InvalidOptionError(
      `Expected \`metadataIp\` to be an IPv4 address, got ${describe(metadataIp)}`,
    );
  }
  const net = o.net ?? DEFAULTS.net;
  if (typeof net !== 'string') {
    throw new InvalidOptionError(
      `Expected \`net\` to be an IPv4 network like "169.254.0.0/16", got ${describe(net)}`,
    );
  }
  const socketName = o.socketName;
  if (
    socketName !== undefined &&
    (typeof socketName !== 'string' ||
      !/^[^/\0]{1,100}$/.test(socketName) ||
      socketName === '.' ||
      socketName === '..')
  ) {
    throw new InvalidOptionError(
      `Expected \`socketName\` to be a file name (no \`/\`), got ${describe(socketName)}`,
    );
  }
  const searchPath = o.searchPath ?? process.env.PATH ?? '';
  if (typeof searchPath !== 'string') {
    throw new InvalidOptionError(
      `Expected \`searchPath\` to be a string, got ${describe(searchPath)}`,
    );
  }
  let hardening: NormalizedHardening;
  try {
    hardening = normalizeHardening(o.hardening, 'hardening');
  } catch (error) {
    throw new InvalidOptionError((error as Error).message, { cause: error });
  }
  return {
    restrict,
    bridge,
    metadataIp,
    net,
    hardening,
    hardeningInput: o.hardening as HardeningOptions | undefined,
    socketName: socketName as string | undefined,
    searchPath,
  };
}
