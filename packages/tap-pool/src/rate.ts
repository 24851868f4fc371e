// Pure: parsing and validating per-VM traffic limits (rates, bursts, packet rates).
import {
  expectedMessage,
  firstUnknownKey,
  isIntegerIn,
  isPlainObject,
  nullPrototypeCopy,
} from '@tapnet/internal';
import { InvalidOptionError } from './errors.js';

/** A rate: `'100mbit'`, `'12.5MB/s'`, or bits per second as a number. */
export type Rate = string | number;

/** One direction's limit: a rate, or a rate with a burst (bytes, or `'64kb'`, `'1mb'`). */
export type DirectionLimit = Rate | { rate: Rate; burst?: number | string };

/**
 * Traffic limits of one VM, directions named from the VM's point of view: `egress` is what the
 * VM sends, `ingress` what it receives. `null` means "no limit" (it overrides a pool default).
 */
export interface TrafficLimits {
  egress?: DirectionLimit | null;
  ingress?: DirectionLimit | null;
  /** Packets per second the VM may send; beyond it its packets are dropped. */
  packetsPerSecond?: number | null;
}

/** A validated direction: bits per second and bucket size in bytes. */
export interface ShapedRate {
  rate: number;
  burst: number;
}

/** Validated limits; a missing key means unlimited. */
export interface NormalizedTrafficLimits {
  egress?: ShapedRate;
  ingress?: ShapedRate;
  packetsPerSecond?: number;
}

export const MIN_RATE = 8_000; // 1 kB/s: below it a single full-size packet waits over a second
export const MAX_RATE = 1_000_000_000_000; // 1 tbit/s
export const MIN_BURST = 2048; // a full-size frame and its headers must fit, or every one is dropped
export const MAX_BURST = 1 << 30;
export const MAX_PACKETS_PER_SECOND = 10_000_000;
/** The default burst holds this much time at the rate, and never less than DEFAULT_MIN_BURST. */
export const DEFAULT_BURST_MS = 20;
export const DEFAULT_MIN_BURST = 32 * 1024;

const BIT_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
};
const BYTE_UNITS: Record<string, number> = {
  'B/s': 8,
  'kB/s': 8e3,
  'KB/s': 8e3,
  'MB/s': 8e6,
  'GB/s': 8e9,
  'TB/s': 8e12,
};
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
};
const RATE_HINT = "a rate like '100mbit', '12.5MB/s' or bits per second as a number";
const NUMBER = /^(\d+(?:\.\d+)?)/;

function fail(path: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(expectedMessage(path, expected, value));
}

function inRange(path: string, bits: number, value: unknown): number {
  if (!Number.isFinite(bits) || bits < MIN_RATE || bits > MAX_RATE) {
    fail(path, `${RATE_HINT}, from 8kbit to 1tbit`, value);
  }
  return Math.round(bits);
}

/** Bits per second of a rate; throws InvalidOptionError naming `path`. Pure. */
export function parseRate(value: unknown, path = 'rate'): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) fail(path, `${RATE_HINT} (an integer)`, value);
    return inRange(path, value, value);
  }
  if (typeof value !== 'string') fail(path, RATE_HINT, value);
  const number = NUMBER.exec(value);
  const unit = number ? value.slice(number[0].length) : '';
  const scale =
    BYTE_UNITS[unit] ?? (/^[a-z]+$/i.test(unit) ? BIT_UNITS[unit.toLowerCase()] : undefined);
  if (!number || scale === undefined) {
    const hint = /\s/.test(value)
      ? ' (no space between number and unit)'
      : /bps$/i.test(unit)
        ? " ('bps' is ambiguous: write 'mbit' for bits or 'MB/s' for bytes)"
        : ` (units: ${Object.keys(BIT_UNITS).join(', ')}, ${Object.keys(BYTE_UNITS).join(', ')})`;
    fail(path, `${RATE_HINT}${hint}`, value);
  }
  return inRange(path, Number(number[1]) * scale, value);
}

/** Bytes of a burst: a number of bytes or `'64kb'` (k/kb/KiB = 1024, m/mb/MiB = 1024²). Pure. */
export function parseBurst(value: unknown, path = 'burst'): number {
  const expected = "a size in bytes (a number, or like '64kb', '1mb') from 2kb to 1024mb";
  let bytes: number;
  if (typeof value === 'number') bytes = Number.isInteger(value) ? value : Number.NaN;
  else if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)([a-z]*)$/i.exec(value);
    const scale = match ? SIZE_UNITS[(match[2] || 'b').toLowerCase()] : undefined;
    bytes = match && scale !== undefined ? Math.round(Number(match[1]) * scale) : Number.NaN;
  } else bytes = Number.NaN;
  if (!Number.isFinite(bytes) || bytes < MIN_BURST || bytes > MAX_BURST)
    fail(path, expected, value);
  return bytes;
}

/** The burst used when none is given: DEFAULT_BURST_MS at the rate, at least DEFAULT_MIN_BURST. */
export function defaultBurst(rate: number): number {
  return Math.min(
    MAX_BURST,
    Math.max(DEFAULT_MIN_BURST, Math.ceil((rate / 8) * (DEFAULT_BURST_MS / 1000))),
  );
}

function direction(value: unknown, path: string): ShapedRate {
  if (isPlainObject(value)) {
    const o = nullPrototypeCopy(value);
    const unknown = firstUnknownKey(o, ['rate', 'burst']);
    if (unknown !== undefined) {
      throw new InvalidOptionError(`Unknown option \`${path}.${unknown}\`; known: rate, burst`);
    }
    const rate = parseRate(o.rate, `${path}.rate`);
    const burst = o.burst === undefined ? defaultBurst(rate) : parseBurst(o.burst, `${path}.burst`);
    return { rate, burst };
  }
  const rate = parseRate(value, path);
  return { rate, burst: defaultBurst(rate) };
}

const TRAFFIC_KEYS = ['egress', 'ingress', 'packetsPerSecond'] as const;

/**
 * Validates traffic limits given as `input` and lays them over `base` (a pool's default): a key
 * left out keeps the base's value, `null` removes it. Unknown keys are refused unless listed in
 * `otherKeys` (options the caller owns, e.g. the facade's `connections`). Pure; `path` names
 * the option in messages (`limits`).
 */
export function normalizeTrafficLimits(
  input: unknown,
  options: { path?: string; base?: NormalizedTrafficLimits; otherKeys?: readonly string[] } = {},
): NormalizedTrafficLimits {
  const path = options.path ?? 'limits';
  const out: NormalizedTrafficLimits = { ...options.base };
  if (input === undefined) return out;
  if (!isPlainObject(input)) {
    fail(path, "an object like { egress: '100mbit', ingress: '100mbit' }", input);
  }
  const o = nullPrototypeCopy(input);
  const known = [...TRAFFIC_KEYS, ...(options.otherKeys ?? [])];
  const unknown = firstUnknownKey(o, known);
  if (unknown !== undefined) {
    throw new InvalidOptionError(
      `Unknown option \`${path}.${unknown}\`; known: ${known.join(', ')}`,
    );
  }
  for (const key of ['egress', 'ingress'] as const) {
    if (!(key in o) || o[key] === undefined) continue;
    if (o[key] === null) delete out[key];
    else out[key] = direction(o[key], `${path}.${key}`);
  }
  const pps = o.packetsPerSecond;
  if (pps === null) delete out.packetsPerSecond;
  else if (pps !== undefined) {
    if (!isIntegerIn(pps, 1, MAX_PACKETS_PER_SECOND)) {
      fail(`${path}.packetsPerSecond`, `an integer from 1 to ${MAX_PACKETS_PER_SECOND}`, pps);
    }
    out.packetsPerSecond = pps;
  }
  return out;
}

/** Whether two normalized limits are the same. Pure. */
export function sameLimits(a: NormalizedTrafficLimits, b: NormalizedTrafficLimits): boolean {
  const dir = (x?: ShapedRate, y?: ShapedRate) =>
    x === undefined ? y === undefined : y !== undefined && x.rate === y.rate && x.burst === y.burst;
  return (
    dir(a.egress, b.egress) &&
    dir(a.ingress, b.ingress) &&
    a.packetsPerSecond === b.packetsPerSecond
  );
}

/** `20mbit`-style text of a rate in bits per second, for status and messages. */
export function formatRate(bits: number): string {
  for (const [unit, scale] of [
    ['tbit', 1e12],
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    if (bits >= scale && bits % (scale / 1000) === 0) return `${bits / scale}${unit}`;
  }
  return `${bits}bit`;
}
