import type { HandlerContext } from '@tapnet/metadata-proxy';
import { describeNetns, run, runOk, snapshotNamespace, waitFor } from '@tapnet/testing';
import { expect, it } from 'vitest';
import { Pool } from './pool.js';

describeNetns('Pool lifecycle', () => {
  it('validates metadata hardening before anything changes', async () => {
    const before = await snapshotNamespace();
    await expect(
      Pool.create({ size: 2, metadataHardening: { maxBodyBytes: -1 } }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('a fetch-style handler gets its context typed and answers', async () => {
    await using pool = await Pool.create({ size: 1 });
    const network = pool.network();
    // Type-level: `ctx` is a HandlerContext without annotations (the README's example).
    network.setHandler((_request, ctx) => Response.json({ network: ctx.network satisfies string }));
    network.setHandler((_request: Request, ctx: HandlerContext) => new Response(ctx.network));
    expect(pool.waiting).toBe(0);
  });

  it("flushes a released network's tracked flows, and only that network's", async () => {
    await using pool = await Pool.create({ size: 2 });
    expect((await pool.status()).conntrackFlush).toBe(true);
    const [a, b] = [pool.network(), pool.network()];
    const flow = (network: typeof a) => [
      'conntrack',
      '-I',
      '-p',
      'udp',
      '-s',
      network.gateway.replace(/\.1$/, '.5'),
      '-d',
      '203.0.113.10',
      '--sport',
      '5353',
      '--dport',
      '9999',
      '--timeout',
      '300',
    ];
    const flows = async (network: typeof a) =>
      (
        await run([
          'conntrack',
          '-L',
          '-s',
          network.subnet.split('/')[0]!,
          '--mask-src',
          '255.255.255.0',
        ])
      ).stdout;
    await runOk(flow(a));
    await runOk(flow(b));
    expect(await flows(a)).toContain('dport=9999');
    a.release();
    await waitFor(async () => !(await flows(a)).includes('dport=9999'), {
      what: "network a's flow to be flushed",
    });
    expect(await flows(b)).toContain('dport=9999');
  });
});
