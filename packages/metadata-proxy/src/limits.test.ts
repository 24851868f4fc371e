import { describe, expect, it } from 'vitest';
import { SessionTokens, TokenBucket } from './limits.js';

describe('TokenBucket', () => {
  it('allows a burst, then the rate, and says how long to wait', () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBe(100);
    expect(bucket.take(50)).toBe(50);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(100)).toBe(100);
    // Refills up to the burst only.
    expect([
      bucket.take(10_000),
      bucket.take(10_000),
      bucket.take(10_000),
      bucket.take(10_000),
    ]).toEqual([0, 0, 0, 100]);
  });

  it('never limits at an infinite rate', () => {
    const bucket = new TokenBucket(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 0);
    for (let i = 0; i < 1000; i++) expect(bucket.take(0)).toBe(0);
  });
});

describe('SessionTokens', () => {
  it('binds a token to its network and lets it expire', () => {
    let n = 0;
    const tokens = new SessionTokens(10, () => `t${n++}`);
    const token = tokens.issue('a', 2, 1_000);
    expect(token).toBe('t0');
    expect(tokens.verify('a', 't0', 2_999)).toBe(true);
    expect(tokens.verify('b', 't0', 2_999)).toBe(false);
    expect(tokens.verify('a', 't0', 3_000)).toBe(false);
    expect(tokens.verify('a', undefined, 1_000)).toBe(false);
  });

  it('keeps at most the configured number per network, dropping the oldest', () => {
    let n = 0;
    const tokens = new SessionTokens(2, () => `t${n++}`);
    tokens.issue('a', 60, 0);
    tokens.issue('a', 60, 0);
    tokens.issue('a', 60, 0);
    expect(['t0', 't1', 't2'].map((t) => tokens.verify('a', t, 1))).toEqual([false, true, true]);
  });

  it('forgets a dropped network', () => {
    const tokens = new SessionTokens(2);
    const token = tokens.issue('a', 60, 0);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    tokens.drop('a');
    expect(tokens.verify('a', token, 1)).toBe(false);
  });
});

describe('TokenBucket.ready', () => {
  it('tells whether a token is there without taking it', () => {
    const bucket = new TokenBucket(10, 1, 0);
    expect([bucket.ready(0), bucket.ready(0)]).toEqual([true, true]);
    expect(bucket.take(0)).toBe(0);
    expect([bucket.ready(0), bucket.ready(99), bucket.ready(100)]).toEqual([false, false, true]);
  });
});
