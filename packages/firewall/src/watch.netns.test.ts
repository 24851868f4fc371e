import { describeNetns, run, runOk, waitFor } from '@tapnet/testing';
import { describe, expect, it } from 'vitest';
import { createFirewall } from './firewall.js';
import { buildPolicy, type PolicyOptions } from './policy.js';
import type { DriftEvent } from './watch.js';

/** Two pools side by side, as two tapnet processes on one host would have them. */
const pool = (prefix: string, third: number): PolicyOptions => ({
  prefix,
  networks: [0, 1].map((i) => ({
    device: `${prefix}${i}`,
    subnet: `10.${third}.${i}.0/24`,
    gateway: `10.${third}.${i}.1`,
  })),
});
const a = buildPolicy(pool('wa', 231));
const b = buildPolicy(pool('wb', 232));

describeNetns('watch with the real tools: two pools, flushes, no fights', () => {
  describe.each(['nft', 'iptables'] as const)('%s backend', (backend) => {
    it('each pool puts back its own rules after a flush; neither re-applies because of the other', async () => {
      const fwA = createFirewall({ backend });
      const fwB = createFirewall({ backend });
      const drifts: Record<string, DriftEvent[]> = { wa: [], wb: [] };
      const errors: Error[] = [];
      await fwA.apply(a);
      const watchA = await fwA.watch(a, {
        onDrift: (e) => drifts.wa!.push(e),
        onError: (e) => errors.push(e),
      });
      try {
        // B arrives after A is watched: with iptables its jumps now sit above A's. A's watch
        // sees the change (a check runs) and must not call it drift.
        const checksBefore = fwA.processCount();
        await fwB.apply(b);
        const watchB = await fwB.watch(b, {
          onDrift: (e) => drifts.wb!.push(e),
          onError: (e) => errors.push(e),
        });
        try {
          // (nft: B's table is no concern of A's watch, it does not even check.)
          if (backend === 'iptables') {
            await waitFor(() => fwA.processCount() > checksBefore, {
              what: 'a check by A’s watch after B applied',
            });
          }
          expect(await fwA.status(a)).toMatchObject({ intact: true });
          expect(await fwB.status(b)).toMatchObject({ intact: true });
          expect(drifts).toEqual({ wa: [], wb: [] });

          if (backend === 'nft') await runOk(['nft', 'flush', 'ruleset']);
          else await runOk(['iptables', '-F']);
          await waitFor(() => drifts.wa!.length >= 1 && drifts.wb!.length >= 1, {
            what: 'both pools to re-apply after the flush',
            seen: () => JSON.stringify({ drifts, errors: errors.map(String) }),
          });
          // Both whole again, each with its own rules, and the re-applies have stopped: one
          // more round of checks (triggered by a harmless change) re-applies nothing.
          await waitFor(
            async () =>
              (await fwA.status(a)).intact && (await fwB.status(b)).intact ? true : undefined,
            { what: 'both rulesets intact' },
          );
          const settled = { wa: drifts.wa!.length, wb: drifts.wb!.length };
          const checks = fwA.processCount();
          await runOk(
            backend === 'nft'
              ? ['nft', 'add', 'table', 'inet', 'someone_else']
              : ['iptables', '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'],
          );
          // (nft: another table is no concern of A's watch; its next check is the 10 s backstop.)
          await waitFor(() => fwA.processCount() > checks, { what: 'one more check by A' });
          await waitFor(async () => ((await fwA.status(a)).intact ? true : undefined), {
            what: 'A intact after the harmless change',
          });
          expect({ wa: drifts.wa!.length, wb: drifts.wb!.length }).toEqual(settled);
          expect(watchA.reapplied).toBe(settled.wa);
          expect(watchB.reapplied).toBe(settled.wb);
          expect(errors).toEqual([]);
        } finally {
          await watchB.close();
          await fwB.remove();
        }
      } finally {
        await watchA.close();
        await fwA.remove();
        if (backend === 'nft') await run(['nft', 'delete', 'table', 'inet', 'someone_else']);
        else await run(['iptables', '-D', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
      }
    }, 60_000);

    it('remove() ends the watch: the rules stay removed', async () => {
      const fw = createFirewall({ backend });
      await fw.apply(a);
      const watch = await fw.watch(a);
      const checks = fw.processCount();
      await waitFor(() => fw.processCount() > checks, { what: 'the first check' });
      await fw.remove();
      // Changes after the removal would trigger a watch that still ran; none may re-apply.
      await runOk(['nft', 'add', 'table', 'inet', 'tapnet_wa']);
      await runOk(['nft', 'delete', 'table', 'inet', 'tapnet_wa']);
      await runOk(['iptables', '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
      await runOk(['iptables', '-D', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
      const count = fw.processCount();
      await watch.close(); // idempotent after remove() ended it
      expect(fw.processCount()).toBe(count);
      expect(watch.reapplied).toBe(0);
      expect(await fw.status(a)).toMatchObject({ present: false });
    });
  });
});
