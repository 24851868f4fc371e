import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIPv4, maskOf, overlaps, parseCidr } from './address.js';
import { createDispatcher } from './dispatcher.js';
import { DuplicateNetworkError, InvalidOptionError, NetworkOverlapError } from './errors.js';

describe('createDispatcher', () => {
  it('maps addresses of many networks of mixed prefix lengths to their network', () => {
    const d = createDispatcher<number>();
    for (let i = 0; i < 100; i++) d.add(`n${i}`, `192.168.${i}.0/24`, i);
    d.add('wide', '10.0.0.0/8', -1);
    d.add('one', '172.16.0.9/32', -2);
    d.add('pair', '172.16.0.12/30', -3);
    expect(d.size).toBe(103);
    expect(d.lookup('192.168.0.1')?.name).toBe('n0');
    expect(d.lookup('192.168.99.254')?.value).toBe(99);
    expect(d.lookup('::ffff:192.168.42.7')?.name).toBe('n42');
    expect(d.lookup('10.250.3.4')?.name).toBe('wide');
    expect(d.lookup('172.16.0.9')?.name).toBe('one');
    expect(d.lookup('172.16.0.15')?.name).toBe('pair');
    expect(d.lookup('172.16.0.16')).toBeUndefined();
    expect(d.lookup('192.168.100.1')).toBeUndefined();
    expect(d.lookup('fe80::1')).toBeUndefined();
    expect(d.lookup(undefined)).toBeUndefined();
  });

  it('refuses overlaps, taken names and bad input, and changes nothing', () => {
    const d = createDispatcher();
    d.add('a', '10.1.0.0/16', undefined);
    expect(() => d.add('b', '10.1.2.0/24', undefined)).toThrow(NetworkOverlapError);
    expect(() => d.add('b', '10.0.0.0/8', undefined)).toThrow(
      'Expected `10.0.0.0/8` (network `b`) not to overlap `10.1.0.0/16` (network `a`)',
    );
    expect(() => d.add('a', '10.2.0.0/16', undefined)).toThrow(DuplicateNetworkError);
    expect(() => d.add('bad name', '10.2.0.0/16', undefined)).toThrow(InvalidOptionError);
    expect(() => d.add('c', '10.2.0.0/40', undefined)).toThrow(InvalidOptionError);
    expect(d.size).toBe(1);
    expect(d.lookup('10.2.0.1')).toBeUndefined();
  });

  it('forgets removed networks and frees their subnet', () => {
    const d = createDispatcher();
    d.add('a', '10.1.0.0/16', undefined);
    expect(d.remove('a')).toBe(true);
    expect(d.remove('a')).toBe(false);
    expect(d.lookup('10.1.0.1')).toBeUndefined();
    d.add('b', '10.1.2.0/24', undefined);
    expect(d.lookup('10.1.2.3')?.name).toBe('b');
  });

  it('agrees with a linear scan for any set of disjoint subnets', () => {
    const subnet = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
      .map(([ip, prefix]) => `${formatIPv4((ip & maskOf(prefix)) >>> 0)}/${prefix}`);
    fc.assert(
      fc.property(
        fc.array(subnet, { maxLength: 30 }),
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 30 }),
        (subnets, probes) => {
          const d = createDispatcher();
          const added: { name: string; cidr: ReturnType<typeof parseCidr> }[] = [];
          subnets.forEach((s, i) => {
            const cidr = parseCidr(s);
            if (added.some((a) => overlaps(a.cidr, cidr))) {
              expect(() => d.add(`n${i}`, s, undefined)).toThrow(NetworkOverlapError);
            } else {
              d.add(`n${i}`, s, undefined);
              added.push({ name: `n${i}`, cidr });
            }
          });
          // Probe both random addresses and the subnets' own first addresses.
          for (const ip of [...probes, ...added.map((a) => a.cidr.base)]) {
            const expected = added.find(
              (a) => (ip & maskOf(a.cidr.prefixLength)) >>> 0 === a.cidr.base,
            );
            expect(d.lookupIPv4(ip)?.name).toBe(expected?.name);
          }
        },
      ),
    );
  });
});
