import { describe, expect, it } from 'vitest';
import { isTaken, poolOptionsOf, runCandidates } from './pool-options.js';

describe('poolOptionsOf', () => {
  it('maps flags to Pool.create options', () => {
    expect(
      poolOptionsOf({
        size: '3',
        prefix: 'tq',
        subnet: '10.9.0.0/16',
        'prefix-length': '28',
        firewall: 'nft',
        uplink: 'none',
        'state-dir': '/run/x',
        connections: '100',
        egress: '20mbit',
        ingress: '12.5MB/s',
        'packets-per-second': '1000',
      }),
    ).toEqual({
      size: 3,
      prefix: 'tq',
      subnet: '10.9.0.0/16',
      prefixLength: 28,
      firewall: 'nft',
      uplink: null,
      stateDir: '/run/x',
      limits: { connections: 100, egress: '20mbit', ingress: '12.5MB/s', packetsPerSecond: 1000 },
    });
  });

  it('lets flags override defaults', () => {
    expect(poolOptionsOf({ prefix: 'x' }, { size: 1, prefix: 'tr' })).toEqual({
      size: 1,
      prefix: 'x',
    });
  });
});

describe('runCandidates', () => {
  it('gives each candidate its own prefix and /24, none a prefix plus digits', () => {
    const candidates = runCandidates({});
    expect(candidates[0]).toEqual({
      size: 1,
      prefix: 'tr',
      subnet: '10.231.255.0/24',
      prefixLength: 24,
    });
    expect(candidates[2]).toEqual({
      size: 1,
      prefix: 'trb',
      subnet: '10.231.253.0/24',
      prefixLength: 24,
    });
    expect(new Set(candidates.map((c) => c.prefix)).size).toBe(candidates.length);
    for (const c of candidates) expect(c.prefix).toMatch(/^tr[a-z]?$/);
  });

  it('tries only what the caller named', () => {
    expect(runCandidates({ prefix: 'mine' })).toEqual([{ size: 1, prefix: 'tr' }]);
  });

  it('leaves the range alone for more than one network', () => {
    expect(runCandidates({ size: '2' })[1]).toEqual({ size: 1, prefix: 'tra' });
  });
});

describe('isTaken', () => {
  it.each([
    ['ERR_PREFIX_IN_USE', true],
    ['ERR_PLAN_CONFLICT', true],
    ['ERR_DEVICE_EXISTS', true],
    ['ERR_INVALID_OPTION', false],
  ])('%s → %s', (code, taken) => {
    expect(isTaken({ code })).toBe(taken);
  });
});
