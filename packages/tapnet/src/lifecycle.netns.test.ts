import type { HandlerContext } from '@tapnet/metadata-proxy';
import { describeNetns, snapshotNamespace } from '@tapnet/testing';
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
});
