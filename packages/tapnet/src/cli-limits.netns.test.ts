// The CLI side of issue 14: `up --egress/--ingress/--packets-per-second`, `status` reading the
// limits and counters from the kernel, and `cleanup` after a crash removing the pool's IFBs and
// packet-rate table, and nothing else.
import { existsSync } from 'node:fs';
import { describeNetns, run, runOk, snapshotNamespace } from '@tapnet/testing';
import { beforeAll, expect, it } from 'vitest';
import { bin, startUp, tapnet } from './cli-test-support.js';

describeNetns('the tapnet CLI with traffic limits', () => {
  beforeAll(() => {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (pnpm build)`);
  });

  it('up applies the limits, status shows them with counters, cleanup after a crash removes only ours', async () => {
    const before = await snapshotNamespace();
    const { child, output } = await startUp([
      '--size',
      '2',
      '--prefix',
      'tk',
      '--uplink',
      'none',
      '--egress',
      '20mbit',
      '--ingress',
      '1.25MB/s',
      '--packets-per-second',
      '1000',
    ]);
    expect(output()).toContain('egress 20mbit, ingress 10mbit, 1000 pkt/s');
    expect(await runOk(['tc', 'qdisc', 'show', 'dev', 'tk0'])).toContain('rate 10Mbit');
    expect(await runOk(['tc', 'qdisc', 'show', 'dev', 'tk_1'])).toContain('rate 20Mbit');

    const status = JSON.parse((await tapnet(['status', '--json'])).stdout) as {
      prefix: string;
      traffic?: Record<string, { egress?: { rate: number }; ingress?: { rate: number } }>;
    }[];
    expect(status[0]?.traffic?.tk1).toEqual({
      egress: expect.objectContaining({ rate: 20_000_000, bytes: expect.any(Number) }),
      ingress: expect.objectContaining({ rate: 10_000_000, drops: expect.any(Number) }),
    });
    const text = (await tapnet(['status'])).stdout;
    expect(text).toMatch(/tk0\s+20mbit: \d+ bytes, \d+ dropped\s+10mbit: \d+ bytes, \d+ dropped/);

    child.kill('SIGKILL');
    await child;
    // Left behind by the crash: the IFBs and the packet-rate table. Beside them, IFBs that are
    // not the pool's: one named like ours without its mark, one of another name.
    await runOk(['ip', 'link', 'add', 'tk_7', 'type', 'ifb']);
    await runOk(['ip', 'link', 'add', 'ifb9', 'type', 'ifb']);
    await runOk(['ip', 'link', 'set', 'dev', 'ifb9', 'alias', 'tapnet:tk:ifb']);
    expect(await runOk(['nft', 'list', 'tables', 'netdev'])).toContain('tapnet_tk_pps');

    const cleanup = await tapnet(['cleanup', '--prefix', 'tk', '--json']);
    expect(cleanup.exitCode, cleanup.all).toBe(0);
    const [report] = JSON.parse(cleanup.stdout) as {
      limits: { removedDevices: string[]; removedTables: string[] };
    }[];
    expect(report?.limits.removedDevices.sort()).toEqual(['tk_0', 'tk_1']);
    expect(report?.limits.removedTables).toEqual(['netdev tapnet_tk_pps']);
    expect((await run(['ip', 'link', 'show', 'tk_7'])).exitCode).toBe(0);
    expect((await run(['ip', 'link', 'show', 'ifb9'])).exitCode).toBe(0);
    await runOk(['ip', 'link', 'del', 'tk_7']);
    await runOk(['ip', 'link', 'del', 'ifb9']);
    expect(await snapshotNamespace()).toEqual(before);
  }, 90_000);

  it('refuses a malformed rate before anything is made', async () => {
    const before = await snapshotNamespace();
    const result = await tapnet(['up', '--size', '1', '--egress', '100 mbit']);
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toContain('Expected `limits.egress` to be a rate like');
    expect(await snapshotNamespace()).toEqual(before);
  });
});
