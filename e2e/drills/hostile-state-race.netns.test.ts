import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeNetns, run, snapshotNamespace } from '@tapnet/testing';
import { cleanupLeftovers, type LeftoverReport, Pool } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { poolLinks } from './helpers.ts';

// Drill: creates and cleanups racing for one prefix, from different state folders. Before the
// prefix claim, the loser of two creates failed with ERR_STATE after applying its firewall and
// its rollback removed the winner's table (the winner's TAPs stayed up with no rules), and a
// cleanup run with another state folder removed a live pool's table. Checked here, each round:
// exactly one create wins, every loser gets ERR_PREFIX_IN_USE, no cleanup touches the live pool,
// and "a TAP of ours never exists without its rules" holds throughout (sampled while the round
// runs) and after.
const prefix = 'hr';
const SIZE = 3;
const CREATES = 4;
const ROUNDS = 3;

type Backend = 'nft' | 'iptables';

/** Whether the prefix's rules are in force (the nft table, or the iptables jumps to our chains). */
async function rulesPresent(backend: Backend): Promise<boolean> {
  if (backend === 'nft') {
    return (await run(['nft', 'list', 'table', 'inet', `tapnet_${prefix}`])).exitCode === 0;
  }
  const saved = await run(['iptables-save']);
  return saved.stdout.includes(`-j TAPNET-${prefix.toUpperCase()}-`);
}

/** A TAP of the prefix while its rules are missing; undefined when the invariant holds. */
async function violation(backend: Backend): Promise<string | undefined> {
  // Rules are applied before the first TAP exists and removed after the last is gone, so reading
  // the links first and the rules second can only miss a violation, never invent one... unless
  // a pool is removed in between, which no round does (the winner is disposed after it).
  const links = await poolLinks(prefix);
  if (links.length === 0) return undefined;
  return (await rulesPresent(backend)) ? undefined : `TAPs ${links.join(', ')} without rules`;
}

describeNetns('drill: creates and cleanups racing for one prefix', () => {
  let base: string;
  let empty: Awaited<ReturnType<typeof snapshotNamespace>>;

  beforeAll(async () => {
    base = mkdtempSync('/tmp/hostile-race-');
    empty = await snapshotNamespace();
  });

  afterAll(async () => {
    // First, so a failed check below does not leave the state folders behind.
    rmSync(base, { recursive: true, force: true });
    // The iptables backend leaves the kernel's empty built-in tables behind (iptables-nft creates
    // them on first use); nothing of ours may remain in them.
    const { nft, iptables, ip6tables, ...after } = await snapshotNamespace();
    const { nft: _n, iptables: _i, ip6tables: _i6, ...before } = empty;
    expect(after).toEqual(before);
    for (const text of [nft, iptables, ip6tables]) expect(text).not.toMatch(/tapnet|TAPNET/);
  });

  for (const backend of ['nft', 'iptables'] as const) {
    it(`${backend}: one create wins, losers get ERR_PREFIX_IN_USE, cleanups from other state folders remove nothing`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const dirs = Array.from({ length: CREATES }, (_, i) =>
          join(base, `${backend}-${round}-${i}`),
        );
        const seen: string[] = [];
        let racing = true;
        // Sampled while the round runs.
        const sampler = (async () => {
          while (racing) {
            const found = await violation(backend);
            if (found) seen.push(found);
          }
        })();
        const creates = dirs.map((stateDir) =>
          Pool.create({ size: SIZE, prefix, stateDir, firewall: backend }),
        );
        // One cleanup with the default state folder (where no record of this pool is), one with
        // a loser's.
        const cleanups = [cleanupLeftovers(prefix), cleanupLeftovers(prefix, dirs[CREATES - 1])];
        const created = await Promise.allSettled(creates);
        const cleaned = await Promise.allSettled(cleanups);
        racing = false;
        await sampler;

        const winners = created.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        const losers = created.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
        try {
          expect(seen).toEqual([]);
          expect(winners).toHaveLength(1);
          expect(losers.map((e: { code?: string }) => e.code)).toEqual(
            Array(CREATES - 1).fill('ERR_PREFIX_IN_USE'),
          );
          for (const r of cleaned) {
            // A cleanup either ran before any create claimed the prefix (nothing there yet) or
            // found the prefix claimed and touched nothing; it never removes the winner's parts.
            expect(r.status).toBe('fulfilled');
            const report = (r as PromiseFulfilledResult<LeftoverReport>).value;
            expect(report.firewall.removed).toEqual([]);
            expect(report.taps.removedDevices).toEqual([]);
          }
          // After the round: the winner is whole.
          const winner = winners[0]!;
          expect(await poolLinks(prefix)).toHaveLength(SIZE);
          expect(await rulesPresent(backend)).toBe(true);
          expect((await winner.status()).firewall.present).toBe(true);
          // A cleanup of the live pool's prefix, with the default state folder, removes nothing
          // and says the pool runs.
          const late = await cleanupLeftovers(prefix);
          expect(late.running).toBe(process.pid);
          expect(late.firewall.removed).toEqual([]);
          expect(await violation(backend)).toBeUndefined();
          expect(await rulesPresent(backend)).toBe(true);
        } finally {
          for (const pool of winners) await pool.dispose();
        }
        expect(await poolLinks(prefix)).toEqual([]);
        expect(await rulesPresent(backend)).toBe(false);
      }
    }, 180_000);
  }
});
