import { checks, expectedMessage, firstUnknownKey, nullPrototypeCopy } from '@tapnet/internal';
import {
  type HardeningOptions,
  type NormalizedHardening,
  normalizeHardening,
} from '@tapnet/metadata-proxy';
import type { BridgeChoice } from './bridge.js';
import { InvalidOptionError } from './errors.js';

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

function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(expectedMessage(field, expected, value));
}

const check = checks(fail);

export function normalizeOptions(input: unknown): NormalizedUserNetworkOptions {
  const o = nullPrototypeCopy(input === undefined ? {} : check.object('options', input));
  const unknown = firstUnknownKey(o, KEYS);
  if (unknown !== undefined) {
    throw new InvalidOptionError(
      `Expected \`options\` to have only ${KEYS.map((k) => `\`${k}\``).join(', ')}, got \`${unknown}\``,
    );
  }
  const restrict = check.boolean('restrict', o.restrict ?? DEFAULTS.restrict);
  const bridge = o.bridge ?? DEFAULTS.bridge;
  if (bridge !== 'auto' && bridge !== 'nc' && bridge !== 'socat') {
    fail('bridge', "'auto', 'nc' or 'socat'", bridge);
  }
  const metadataIp = o.metadataIp ?? DEFAULTS.metadataIp;
  if (typeof metadataIp !== 'string') fail('metadataIp', 'an IPv4 address', metadataIp);
  const net = o.net ?? DEFAULTS.net;
  if (typeof net !== 'string') fail('net', 'an IPv4 network like "169.254.0.0/16"', net);
  const socketName = o.socketName;
  if (
    socketName !== undefined &&
    (typeof socketName !== 'string' ||
      !/^[^/\0]{1,100}$/.test(socketName) ||
      socketName === '.' ||
      socketName === '..')
  ) {
    fail('socketName', 'a file name (no `/`)', socketName);
  }
  const searchPath = o.searchPath ?? process.env.PATH ?? '';
  if (typeof searchPath !== 'string') fail('searchPath', 'a string', searchPath);
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
