import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from './errors.js';
import {
  defaultBurst,
  formatRate,
  normalizeTrafficLimits,
  parseBurst,
  parseRate,
  sameLimits,
} from './rate.js';

describe('parseRate', () => {
  it.each([
    ['100mbit', 100_000_000],
    ['100Mbit', 100_000_000],
    ['8kbit', 8_000],
    ['1gbit', 1_000_000_000],
    ['2.5mbit', 2_500_000],
    ['12.5MB/s', 100_000_000],
    ['1kB/s', 8_000],
    ['1KB/s', 8_000],
    ['1GB/s', 8_000_000_000],
    [20_000_000, 20_000_000],
  ])('%j is %d bits per second', (input, bits) => {
    expect(parseRate(input)).toBe(bits);
  });

  it.each([
    ['100 mbit', 'no space between number and unit'],
    ['100mbps', "'bps' is ambiguous"],
    ['100furlongs', 'units: bit, kbit'],
    ['mbit', 'units: bit'],
    ['-5mbit', 'units'],
    [0, 'from 8kbit to 1tbit'],
    [-1, 'from 8kbit to 1tbit'],
    [1.5e7 + 0.5, 'an integer'],
    [Number.NaN, 'an integer'],
    ['7kbit', 'from 8kbit to 1tbit'],
    ['2tbit', 'from 8kbit to 1tbit'],
    [null, "a rate like '100mbit'"],
    [true, "a rate like '100mbit'"],
  ])('refuses %j (%s)', (input, hint) => {
    expect(() => parseRate(input, 'limits.egress')).toThrow(InvalidOptionError);
    expect(() => parseRate(input, 'limits.egress')).toThrow(/^Expected `limits\.egress` to be/);
    expect(() => parseRate(input, 'limits.egress')).toThrow(hint);
  });
});

describe('parseBurst', () => {
  it.each([
    [65536, 65536],
    ['64kb', 65536],
    ['64k', 65536],
    ['64KiB', 65536],
    ['1mb', 1048576],
    ['4096', 4096],
    ['4096b', 4096],
  ])('%j is %d bytes', (input, bytes) => expect(parseBurst(input)).toBe(bytes));

  it.each([0, 100, '1kb', '64 kb', '64kbit', -1, 1.5, '2gb', null])('refuses %j', (input) => {
    expect(() => parseBurst(input, 'limits.egress.burst')).toThrow(
      /^Expected `limits\.egress\.burst` to be a size in bytes/,
    );
  });
});

describe('defaultBurst', () => {
  it('holds 20 ms at the rate, at least 32 KiB', () => {
    expect(defaultBurst(20_000_000)).toBe(50_000);
    expect(defaultBurst(1_000_000)).toBe(32 * 1024);
    expect(defaultBurst(1_000_000_000)).toBe(2_500_000);
  });
});

describe('normalizeTrafficLimits', () => {
  it('validates and fills the burst', () => {
    expect(
      normalizeTrafficLimits({
        egress: '20mbit',
        ingress: { rate: '12.5MB/s', burst: '256kb' },
        packetsPerSecond: 1000,
      }),
    ).toEqual({
      egress: { rate: 20_000_000, burst: 50_000 },
      ingress: { rate: 100_000_000, burst: 262_144 },
      packetsPerSecond: 1000,
    });
  });

  it('lays the input over the base; null removes, a missing key keeps', () => {
    const base = normalizeTrafficLimits({
      egress: '10mbit',
      ingress: '10mbit',
      packetsPerSecond: 5,
    });
    expect(normalizeTrafficLimits({ ingress: '30mbit', egress: null }, { base })).toEqual({
      ingress: { rate: 30_000_000, burst: 75_000 },
      packetsPerSecond: 5,
    });
    expect(normalizeTrafficLimits(undefined, { base })).toEqual(base);
    expect(normalizeTrafficLimits({ packetsPerSecond: null }, { base }).packetsPerSecond).toBe(
      undefined,
    );
  });

  it.each([
    [[], 'Expected `limits` to be an object'],
    ['20mbit', 'Expected `limits` to be an object'],
    [{ egres: '1mbit' }, 'Unknown option `limits.egres`; known: egress, ingress, packetsPerSecond'],
    [{ egress: { rate: '1mbit', peak: 1 } }, 'Unknown option `limits.egress.peak`'],
    [{ egress: { burst: '64kb' } }, 'Expected `limits.egress.rate` to be'],
    [{ ingress: '100 mbit' }, 'Expected `limits.ingress` to be'],
    [{ packetsPerSecond: 0 }, 'Expected `limits.packetsPerSecond` to be an integer from 1 to'],
    [{ packetsPerSecond: '10' }, 'Expected `limits.packetsPerSecond`'],
    [{ connections: 5 }, 'Unknown option `limits.connections`'],
  ])('refuses %j', (input, message) => {
    expect(() => normalizeTrafficLimits(input)).toThrow(InvalidOptionError);
    expect(() => normalizeTrafficLimits(input)).toThrow(message);
  });

  it('accepts keys the caller owns', () => {
    expect(normalizeTrafficLimits({ connections: 5 }, { otherKeys: ['connections'] })).toEqual({});
  });

  it('does not change the base', () => {
    const base = normalizeTrafficLimits({ egress: '10mbit' });
    normalizeTrafficLimits({ egress: null }, { base });
    expect(base.egress?.rate).toBe(10_000_000);
  });
});

describe('sameLimits / formatRate', () => {
  it('compares by value', () => {
    const a = normalizeTrafficLimits({ egress: '10mbit' });
    expect(sameLimits(a, normalizeTrafficLimits({ egress: 10_000_000 }))).toBe(true);
    expect(sameLimits(a, normalizeTrafficLimits({ egress: '10mbit', packetsPerSecond: 1 }))).toBe(
      false,
    );
    expect(sameLimits({}, {})).toBe(true);
  });

  it.each([
    [20_000_000, '20mbit'],
    [2_500_000, '2.5mbit'],
    [1_000_000_000, '1gbit'],
    [8_000, '8kbit'],
    [8_001, '8.001kbit'],
    [999, '999bit'],
  ])('%d is %s', (bits, text) => expect(formatRate(bits)).toBe(text));
});
