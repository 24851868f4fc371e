import { normalizeTrafficLimits, type Shaper } from '@tapnet/tap-pool';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from './errors.js';
import { networkLimits } from './limits.js';
import { resetThenFree, trafficStatus } from './traffic.js';

/** A shaper that keeps limits in memory; `fail` makes `set` reject. */
function fakeShaper(defaults: object, fail = false) {
  const current = new Map<string, ReturnType<typeof normalizeTrafficLimits>>();
  const sets: string[] = [];
  const shaper: Shaper = {
    defaults: normalizeTrafficLimits(defaults),
    limits: (device) => current.get(device) ?? normalizeTrafficLimits(defaults),
    set: async (device, limits) => {
      sets.push(device);
      if (fail) throw new Error('tc failed');
      current.set(device, limits);
    },
    setSync: (device, limits) => {
      current.set(device, limits);
    },
    counters: async () =>
      new Map([['tn0', { ingress: { bytes: 1, packets: 1, drops: 0, backlog: 0, rate: 0 } }]]),
    processCount: () => 0,
    remove: async () => {},
  };
  return { shaper, sets };
}

describe('networkLimits', () => {
  const base = normalizeTrafficLimits({ egress: '10mbit', packetsPerSecond: 100 });
  it('lays a VM override over the pool default', () => {
    expect(networkLimits({ ingress: '5mbit', packetsPerSecond: null }, base)).toEqual({
      egress: { rate: 10_000_000, burst: 32_768 },
      ingress: { rate: 5_000_000, burst: 32_768 },
    });
  });
  it('refuses the per-pool conntrack cap and bad rates, naming the option', () => {
    expect(() => networkLimits({ connections: 5 }, base)).toThrow(
      'the conntrack cap is set per pool',
    );
    let error: unknown;
    try {
      networkLimits({ egress: '1 mbit' }, base);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ option: 'limits.egress' });
  });
});

describe('resetThenFree', () => {
  it('frees at once when the network has the default', () => {
    const { shaper, sets } = fakeShaper({ egress: '1mbit' });
    let freed = 0;
    const result = resetThenFree(shaper, 'tn0', { free: () => freed++, onError: () => {} });
    expect(result).toBeUndefined();
    expect([freed, sets]).toEqual([1, []]);
  });

  it('puts the default back before freeing an overridden network', async () => {
    const { shaper, sets } = fakeShaper({ egress: '1mbit' });
    shaper.setSync('tn0', normalizeTrafficLimits({ ingress: '2mbit' }));
    let freed = 0;
    const result = resetThenFree(shaper, 'tn0', { free: () => freed++, onError: () => {} });
    expect(freed).toBe(0);
    await result;
    expect([freed, sets]).toEqual([1, ['tn0']]);
    expect(shaper.limits('tn0')).toEqual(shaper.defaults);
  });

  it('keeps a network it could not reset out of use, and says so', async () => {
    const { shaper } = fakeShaper({}, true);
    shaper.setSync('tn0', normalizeTrafficLimits({ ingress: '2mbit' }));
    let freed = 0;
    const errors: Error[] = [];
    await resetThenFree(shaper, 'tn0', { free: () => freed++, onError: (e) => errors.push(e) });
    expect(freed).toBe(0);
    expect(errors.map((e) => e.message)).toEqual([
      "Could not put tn0 back to the pool's default limits; it stays out of use until the pool is disposed",
    ]);
  });

  it('does not reset while the pool closes', () => {
    const { shaper, sets } = fakeShaper({});
    shaper.setSync('tn0', normalizeTrafficLimits({ ingress: '2mbit' }));
    let freed = 0;
    resetThenFree(shaper, 'tn0', { free: () => freed++, onError: () => {}, closing: () => true });
    expect([freed, sets]).toEqual([1, []]);
  });
});

describe('trafficStatus', () => {
  it('gives each network its limits, and counters where it has some', async () => {
    const { shaper } = fakeShaper({ ingress: '1mbit' });
    const status = await trafficStatus(shaper);
    expect(status.of('tn0')).toEqual({
      limits: { ingress: { rate: 1_000_000, burst: 32_768 } },
      traffic: { ingress: { bytes: 1, packets: 1, drops: 0, backlog: 0, rate: 0 } },
    });
    expect(status.of('tn1')).toEqual({ limits: { ingress: { rate: 1_000_000, burst: 32_768 } } });
  });
});
