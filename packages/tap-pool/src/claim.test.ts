import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { claimAddress, claimPrefix, prefixHolder } from './claim.js';
import { InvalidOptionError, PrefixInUseError, StateError } from './errors.js';

// A scope of its own per test, so these claims never meet a real pool's (or a parallel test's).
const scope = () => `unit-${randomBytes(6).toString('hex')}`;

describe('claimPrefix', () => {
  it('is an abstract unix socket named after the prefix', () => {
    expect(claimAddress('tn')).toBe('\0tapnet/tn');
    expect(claimAddress('tn', 'x')).toBe('\0tapnet/x/tn');
  });

  it('lets exactly one of many simultaneous claims win; the others learn the holder', async () => {
    const s = scope();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => claimPrefix('tn', { scope: s })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const r of lost) {
      expect(r.reason).toBeInstanceOf(PrefixInUseError);
      expect(r.reason).toBeInstanceOf(StateError);
      expect(r.reason).toMatchObject({ code: 'ERR_PREFIX_IN_USE', prefix: 'tn', pid: process.pid });
      expect(r.reason.message).toMatch(
        /^Expected no live pool with prefix `tn`, got one owned by pid \d+ \(this process\)/,
      );
    }
    await won[0]?.value.release();
  });

  it('frees the prefix on release (idempotent), and only then', async () => {
    const s = scope();
    expect(await prefixHolder('tn', { scope: s })).toBeUndefined();
    const claim = await claimPrefix('tn', { scope: s });
    expect(claim.released).toBe(false);
    expect(await prefixHolder('tn', { scope: s })).toBe(process.pid);
    // Another prefix is another claim.
    const other = await claimPrefix('tm', { scope: s });
    await other.release();
    await Promise.all([claim.release(), claim.release()]);
    expect(claim.released).toBe(true);
    expect(await prefixHolder('tn', { scope: s })).toBeUndefined();
    const again = await claimPrefix('tn', { scope: s });
    await again.release();
  });

  it('waits for a cleanup that holds the prefix instead of failing, and not for a pool', async () => {
    const s = scope();
    const cleanup = await claimPrefix('tn', { scope: s, role: 'cleanup' });
    let claimed = false;
    const waiting = claimPrefix('tn', { scope: s }).then((claim) => {
      claimed = true;
      return claim;
    });
    // Still waiting while the cleanup holds it (the holder answers, so this is no timing guess).
    expect(await prefixHolder('tn', { scope: s })).toBe(process.pid);
    expect(claimed).toBe(false);
    await cleanup.release();
    const pool = await waiting;
    await expect(claimPrefix('tn', { scope: s, role: 'cleanup', wait: 0 })).rejects.toThrow(
      PrefixInUseError,
    );
    await pool.release();
  });

  it('gives up waiting for a cleanup after `wait` ms', async () => {
    const s = scope();
    const cleanup = await claimPrefix('tn', { scope: s, role: 'cleanup' });
    await expect(claimPrefix('tn', { scope: s, wait: 50 })).rejects.toThrow(PrefixInUseError);
    await cleanup.release();
  });

  it('validates the prefix', async () => {
    await expect(claimPrefix('T N')).rejects.toThrow(InvalidOptionError);
  });
});
