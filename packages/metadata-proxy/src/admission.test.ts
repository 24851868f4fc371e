import { describe, expect, it } from 'vitest';
import { type AdmissionInput, admitConnection, shareOf } from './admission.js';

const net = (held: number, cap = 32, share = 32, rateAllows = true) => ({
  held,
  cap,
  share,
  rateAllows,
});

function input(over: Partial<AdmissionInput> & { reserved?: number }): AdmissionInput {
  const { reserved = 0, ...rest } = over;
  return {
    closing: false,
    total: 0,
    maxConnections: 1024,
    reservedForOthers: () => reserved,
    network: net(0),
    ...rest,
  };
}

describe('shareOf', () => {
  it.each([
    // cap, global, networks → share
    [32, 1024, 1, 32],
    [32, 1024, 32, 32],
    [32, 1024, 33, 31],
    [32, 1024, 100, 10],
    [32, 1024, 2000, 0],
    [32, Number.POSITIVE_INFINITY, 5, 32],
    [Number.POSITIVE_INFINITY, 100, 4, 25],
    [8, 1024, 0, 8],
  ])('cap %d, global %d, %d networks → %d', (cap, global, networks, share) => {
    expect(shareOf(cap, global, networks)).toBe(share);
  });
});

describe('admitConnection', () => {
  it.each<[string, AdmissionInput, ReturnType<typeof admitConnection>]>([
    ['an idle network', input({}), { admit: true }],
    [
      'closing beats everything',
      input({ closing: true }),
      { admit: false, reason: 'closing', status: 503 },
    ],
    [
      'a network at its own cap, even with the table empty',
      input({ network: net(32) }),
      { admit: false, reason: 'network-cap', status: 429 },
    ],
    [
      'the cap is checked before the rate (a capped flood spends no tokens)',
      input({ network: net(32, 32, 32, false) }),
      { admit: false, reason: 'network-cap', status: 429 },
    ],
    [
      'a network over its connection rate',
      input({ network: net(3, 32, 32, false) }),
      { admit: false, reason: 'network-rate', status: 429 },
    ],
    [
      'within its share a network is admitted even when the table looks full',
      input({ total: 1024, reserved: 1000, network: net(5, 32, 10) }),
      { admit: true },
    ],
    [
      'above its share it borrows only unreserved capacity',
      input({ total: 500, reserved: 524, network: net(10, 32, 10) }),
      { admit: false, reason: 'global', status: 503 },
    ],
    [
      'above its share with unreserved capacity left',
      input({ total: 500, reserved: 523, network: net(10, 32, 10) }),
      { admit: true },
    ],
    [
      'an unknown source borrows like a network above its share',
      input({ total: 1023, network: undefined }),
      { admit: true },
    ],
    [
      'an unknown source never takes a reserved place',
      input({ total: 10, reserved: 1014, network: undefined }),
      { admit: false, reason: 'global', status: 503 },
    ],
    [
      'infinite caps admit',
      input({
        maxConnections: Number.POSITIVE_INFINITY,
        total: 1e6,
        network: net(1e6, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY),
      }),
      { admit: true },
    ],
  ])('%s', (_name, given, expected) => {
    expect(admitConnection(given)).toEqual(expected);
  });

  it('never asks what others reserve while a network is within its share', () => {
    let asked = 0;
    admitConnection({
      ...input({ network: net(0, 32, 10) }),
      reservedForOthers: () => {
        asked++;
        return 0;
      },
    });
    expect(asked).toBe(0);
  });

  it('one network flooding never takes a place another network is guaranteed', () => {
    // 100 networks, cap 32, global 1024 → share 10 each. Network 0 tries 1000 connections
    // while the others hold nothing; then every other network still gets its 10.
    const networks = 100;
    const cap = 32;
    const global = 1024;
    const share = shareOf(cap, global, networks);
    const held = new Array<number>(networks).fill(0);
    const total = () => held.reduce((a, b) => a + b, 0);
    const reservedExcept = (i: number) =>
      held.reduce((sum, h, j) => (j === i ? sum : sum + Math.max(0, share - h)), 0);
    const tryOpen = (i: number) => {
      const d = admitConnection({
        closing: false,
        total: total(),
        maxConnections: global,
        reservedForOthers: () => reservedExcept(i),
        network: { held: held[i]!, cap, share, rateAllows: true },
      });
      if (d.admit) held[i]!++;
      return d.admit;
    };
    for (let k = 0; k < 1000; k++) tryOpen(0);
    expect(held[0]).toBe(cap);
    for (let i = 1; i < networks; i++)
      for (let k = 0; k < share; k++) expect(tryOpen(i)).toBe(true);
    expect(total()).toBeLessThanOrEqual(global);
  });
});
