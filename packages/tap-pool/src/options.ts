import {
  type Cidr,
  checks,
  describeValue,
  expectedMessage,
  parseCidr,
  parseIPv4,
  sizeOf,
} from '@tapnet/internal';
import { InvalidOptionError } from './errors.js';

export interface TapPoolOptions {
  /** How many networks, 1..4096. */
  size: number;
  /** Device name prefix, default `tn`; devices are `${prefix}${index}`. */
  prefix?: string;
  /** The IPv4 range the networks are carved from, default `10.231.0.0/16`. */
  subnet?: string;
  /** Prefix length of each network, default 24, 16..30. */
  prefixLength?: number;
  /** The metadata service address, put on `lo`; default `169.254.169.254`. */
  metadataIp?: string;
  /** Keep IPv6 on the TAPs; default false (disabled on every TAP). */
  ipv6?: boolean;
  /** Owner of the TAPs, so an unprivileged QEMU can open them. */
  owner?: { uid?: number; gid?: number };
  /** Where the state record `${prefix}.json` is kept; default `/run/tapnet`. */
  stateDir?: string;
}

export const DEFAULTS = Object.freeze({
  prefix: 'tn',
  subnet: '10.231.0.0/16',
  prefixLength: 24,
  metadataIp: '169.254.169.254',
  ipv6: false,
  stateDir: '/run/tapnet',
});

export const MAX_SIZE = 4096;
export const MAX_DEVICE_NAME_BYTES = 15;
const PREFIX_PATTERN = /^[a-z][a-z0-9]*$/;
const MAX_ID = 4294967294; // (uid_t)-1 means "no owner"

export interface NormalizedOptions {
  size: number;
  prefix: string;
  range: Cidr;
  prefixLength: number;
  metadataIp: string;
  ipv6: boolean;
  owner: { uid?: number; gid?: number } | undefined;
  stateDir: string;
}

const KNOWN = new Set([
  'size',
  'prefix',
  'subnet',
  'prefixLength',
  'metadataIp',
  'ipv6',
  'owner',
  'stateDir',
]);
const RENAMED: Record<string, string> = {
  count: 'size',
  networks: 'size',
  base: 'subnet',
  range: 'subnet',
  cidr: 'subnet',
  netmask: 'prefixLength',
  mask: 'prefixLength',
  devicePrefix: 'prefix',
  metadataAddress: 'metadataIp',
  user: 'owner',
  uid: 'owner',
  gid: 'owner',
};

function fail(name: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(expectedMessage(name, expected, value));
}

const { integer: checkInteger } = checks(fail);
const integer = (name: string, value: unknown, min: number, max: number): number =>
  checkInteger(name, value, min, max);

export function validatePrefix(value: unknown): string {
  if (typeof value !== 'string' || !PREFIX_PATTERN.test(value)) {
    fail('prefix', 'lowercase letters and digits starting with a letter (like `tn`)', value);
  }
  return value;
}

export function validateStateDir(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.includes('\0')) {
    fail('stateDir', 'an absolute path', value);
  }
  return value;
}

/** A unicast address that is neither `0.0.0.0/8`, loopback, nor multicast/reserved. */
export function isUsableUnicast(address: number): boolean {
  return address >= 0x01000000 && address >>> 24 !== 127 && address < 0xe0000000;
}

/** Copies, defaults and validates the options of `planPool`; throws InvalidOptionError. */
export function normalizeOptions(options: unknown): NormalizedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    fail('options', 'an object', options);
  }
  const input: Record<string, unknown> = Object.assign(Object.create(null), options);
  for (const key of Object.keys(input)) {
    if (KNOWN.has(key)) continue;
    const hint = RENAMED[key] ? `; did you mean \`${RENAMED[key]}\`?` : '';
    throw new InvalidOptionError(`Unknown option \`${key}\`${hint}`);
  }
  const value = (key: keyof typeof DEFAULTS): unknown =>
    input[key] === undefined ? DEFAULTS[key] : input[key];

  const size = integer('size', input.size, 1, MAX_SIZE);
  const prefix = validatePrefix(value('prefix'));
  const lastName = `${prefix}${size - 1}`;
  if (Buffer.byteLength(lastName) > MAX_DEVICE_NAME_BYTES) {
    throw new InvalidOptionError(
      `Expected \`prefix\` to be short enough for device \`${lastName}\` to fit ${MAX_DEVICE_NAME_BYTES} bytes, got ${describeValue(prefix)}`,
    );
  }

  const subnetText = value('subnet');
  const range = parseCidr(subnetText);
  if (!range?.canonical) {
    fail(
      'subnet',
      'an IPv4 network in CIDR notation with no host bits set (like `10.231.0.0/16`)',
      subnetText,
    );
  }
  const prefixLength = integer('prefixLength', value('prefixLength'), 16, 30);
  if (prefixLength < range.prefixLength) {
    fail(
      'prefixLength',
      `at least the prefix length of \`subnet\` (${range.prefixLength})`,
      prefixLength,
    );
  }
  const capacity = sizeOf(range.prefixLength) / sizeOf(prefixLength);
  if (size > capacity) {
    fail(
      'size',
      `at most ${capacity} (the /${prefixLength} networks in ${String(subnetText)})`,
      size,
    );
  }

  const metadataText = value('metadataIp');
  const metadata = parseIPv4(metadataText);
  if (metadata === undefined || !isUsableUnicast(metadata)) {
    fail('metadataIp', 'a unicast IPv4 address outside 0.0.0.0/8 and 127.0.0.0/8', metadataText);
  }

  const ipv6 = value('ipv6');
  if (typeof ipv6 !== 'boolean') fail('ipv6', 'a boolean', ipv6);

  let owner: NormalizedOptions['owner'];
  if (input.owner !== undefined) {
    const raw = input.owner;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      fail('owner', 'an object like `{ uid, gid }`', raw);
    const copy: Record<string, unknown> = Object.assign(Object.create(null), raw);
    for (const key of Object.keys(copy)) {
      if (key !== 'uid' && key !== 'gid')
        throw new InvalidOptionError(`Unknown option \`owner.${key}\``);
    }
    owner = {};
    if (copy.uid !== undefined) owner.uid = integer('owner.uid', copy.uid, 0, MAX_ID);
    if (copy.gid !== undefined) owner.gid = integer('owner.gid', copy.gid, 0, MAX_ID);
    if (owner.uid === undefined && owner.gid === undefined) owner = undefined;
  }

  const stateDir = validateStateDir(value('stateDir'));
  return {
    size,
    prefix,
    range,
    prefixLength,
    metadataIp: metadataText as string,
    ipv6,
    owner,
    stateDir,
  };
}
