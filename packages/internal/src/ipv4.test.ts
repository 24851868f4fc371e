import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  contains,
  formatCidr,
  formatIPv4,
  isIPv4,
  LOOPBACK,
  lastOf,
  maskOf,
  overlaps,
  parseCidr,
  parseIPv4,
  sizeOf,
} from './ipv4.js';

describe('parseIPv4', () => {
  it.each([
    ['0.0.0.0', 0],
    ['10.0.0.1', 0x0a000001],
    ['255.255.255.255', 0xffffffff],
    ['169.254.169.254', 0xa9fea9fe],
  ])('reads %s', (text, value) => {
    expect(parseIPv4(text)).toBe(value);
  });

  it.each([
    ['leading zero', '10.0.0.01'],
    ['octal-looking', '010.0.0.1'],
    ['octet over 255', '10.0.0.256'],
    ['three parts', '10.0.1'],
    ['five parts', '10.0.0.1.2'],
    ['empty part', '10..0.1'],
    ['trailing dot', '10.0.0.1.'],
    ['space', ' 10.0.0.1'],
    ['sign', '+10.0.0.1'],
    ['IPv6', '::1'],
    ['mapped IPv6', '::ffff:10.0.0.1'],
    ['empty', ''],
    ['a number', 167772161],
    ['undefined', undefined],
  ])('refuses %s', (_, text) => {
    expect(parseIPv4(text)).toBeUndefined();
    expect(isIPv4(text)).toBe(false);
  });

  it('round-trips every 32-bit number through formatIPv4', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(parseIPv4(formatIPv4(n))).toBe(n);
      }),
    );
  });

  it('agrees with a regular expression on arbitrary dotted text', () => {
    const strict = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
    const octetish = fc.stringMatching(/^[0-9]{0,4}$/);
    fc.assert(
      fc.property(fc.array(octetish, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.join('.');
        const m = strict.exec(text);
        const expected = m?.slice(1).every((o) => Number(o) <= 255)
          ? m.slice(1).reduce((v, o) => v * 256 + Number(o), 0)
          : undefined;
        expect(parseIPv4(text)).toBe(expected);
      }),
    );
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', { base: 0x0a000000, prefixLength: 8, canonical: true }],
    ['10.1.2.3/8', { base: 0x0a000000, prefixLength: 8, canonical: false }],
    ['0.0.0.0/0', { base: 0, prefixLength: 0, canonical: true }],
    ['10.0.0.1/32', { base: 0x0a000001, prefixLength: 32, canonical: true }],
  ])('reads %s', (text, cidr) => {
    expect(parseCidr(text)).toEqual(cidr);
  });

  it.each([
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '10.0.0.0/8/8',
    '10.0.0.00/8',
    'fe80::/64',
    '10.0.0.0',
  ])('refuses %s', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  it('reads a bare address as /32 only when asked to', () => {
    expect(parseCidr('10.0.0.1', { bareAddress: true })).toEqual({
      base: 0x0a000001,
      prefixLength: 32,
      canonical: true,
    });
    expect(parseCidr('10.0.0.1')).toBeUndefined();
  });
});

describe('range arithmetic', () => {
  const net = (text: string) => parseCidr(text) ?? expect.unreachable(text);

  it('masks, sizes and last addresses', () => {
    expect([maskOf(0), maskOf(8), maskOf(30), maskOf(32)]).toEqual([
      0, 0xff000000, 0xfffffffc, 0xffffffff,
    ]);
    expect([sizeOf(32), sizeOf(24), sizeOf(0)]).toEqual([1, 256, 2 ** 32]);
    expect(formatIPv4(lastOf(net('10.0.0.0/24')))).toBe('10.0.0.255');
    expect(formatIPv4(lastOf(net('0.0.0.0/0')))).toBe('255.255.255.255');
    expect(formatCidr(net('10.1.2.3/16'))).toBe('10.1.0.0/16');
  });

  it('contains and overlaps', () => {
    expect(contains(net('10.0.0.0/24'), 0x0a0000ff)).toBe(true);
    expect(contains(net('10.0.0.0/24'), 0x0a000100)).toBe(false);
    expect(overlaps(net('10.0.0.0/8'), net('10.200.0.0/16'))).toBe(true);
    expect(overlaps(net('10.0.0.0/24'), net('10.0.1.0/24'))).toBe(false);
    expect(overlaps(LOOPBACK, net('127.0.0.53/32'))).toBe(true);
  });

  it('overlaps is symmetric and agrees with containment of either base', () => {
    const cidr = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
      .map(([a, p]) => net(`${formatIPv4(a)}/${p}`));
    fc.assert(
      fc.property(cidr, cidr, (a, b) => {
        expect(overlaps(a, b)).toBe(overlaps(b, a));
        expect(overlaps(a, b)).toBe(contains(a, b.base) || contains(b, a.base));
      }),
    );
  });
});
