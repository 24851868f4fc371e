import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatCidr,
  formatIPv4,
  normalizeRemoteAddress,
  overlaps,
  parseCidr,
  parseIPv4,
  remoteIPv4,
} from './address.js';
import { InvalidOptionError } from './errors.js';

describe('parseIPv4', () => {
  it.each([
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
    ['169.254.169.254', 0xa9fea9fe],
    ['10.0.0.1', 0x0a000001],
  ])('%s → %d', (text, value) => {
    expect(parseIPv4(text)).toBe(value);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1..2.3',
    '1.2.3.4 ',
    'a.b.c.d',
    '1.2.3.-4',
    '::1',
  ])('refuses %j', (text) => {
    expect(parseIPv4(text)).toBeUndefined();
  });

  it('round-trips every address through formatIPv4', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(parseIPv4(formatIPv4(n))).toBe(n);
      }),
    );
  });
});

describe('remote addresses', () => {
  it('unwraps the IPv4-mapped IPv6 form', () => {
    expect(remoteIPv4('::ffff:192.168.150.7')).toBe(parseIPv4('192.168.150.7'));
    expect(remoteIPv4('::FFFF:10.0.0.1')).toBe(parseIPv4('10.0.0.1'));
    expect(normalizeRemoteAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
  });

  it('leaves plain IPv6 and missing addresses without an IPv4 identity', () => {
    expect(remoteIPv4('fe80::1')).toBeUndefined();
    expect(remoteIPv4('::ffff:fe80::1')).toBeUndefined();
    expect(remoteIPv4(undefined)).toBeUndefined();
    expect(normalizeRemoteAddress('FE80::1')).toBe('fe80::1');
    expect(normalizeRemoteAddress(undefined)).toBe('');
  });
});

describe('parseCidr', () => {
  it.each([
    ['192.168.150.0/24', '192.168.150.0/24'],
    ['192.168.150.77/24', '192.168.150.0/24'],
    ['10.1.2.3', '10.1.2.3/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['172.31.255.255/12', '172.16.0.0/12'],
  ])('%s → %s', (text, canonical) => {
    expect(formatCidr(parseCidr(text))).toBe(canonical);
  });

  it.each([
    ['10.0.0.0/33', '`"10.0.0.0/33"` (string)'],
    ['10.0.0.0/', '`"10.0.0.0/"` (string)'],
    ['10.0.0.0/08', '`"10.0.0.0/08"` (string)'],
    ['fe80::/64', '`"fe80::/64"` (string)'],
    [24, '`24` (number)'],
  ])('refuses %j with a message that names it', (text, got) => {
    expect(() => parseCidr(text)).toThrow(InvalidOptionError);
    expect(() => parseCidr(text)).toThrow(
      `Expected \`cidr\` to be an IPv4 subnet like "192.168.150.0/24", got ${got}`,
    );
  });

  it('tells overlapping subnets apart from disjoint ones', () => {
    expect(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.200.0.0/16'))).toBe(true);
    expect(overlaps(parseCidr('10.0.0.0/25'), parseCidr('10.0.0.128/25'))).toBe(false);
    expect(overlaps(parseCidr('0.0.0.0/0'), parseCidr('1.2.3.4'))).toBe(true);
  });
});
