import { describe, expect, it } from 'vitest';
import { preparePool } from './create.js';
import { InvalidOptionError } from './errors.js';
import { assertEgressFits } from './limits.js';

// `<prefix>_<index>` names a network's IFB: one byte longer than its TAP `<prefix><index>`.
const longest = { prefix: 'abcdefghijkl', size: 1000 }; // TAP abcdefghijkl999: 15 bytes
const room = { prefixLength: 28 }; // 1000 /28s fit the default /16

describe('an egress limit needs room for its IFB name', () => {
  it('is refused for a prefix that leaves none, naming limits.egress, before anything is made', async () => {
    const attempt = preparePool({
      ...longest,
      ...room,
      uplink: null,
      limits: { egress: '10mbit' },
    });
    await expect(attempt).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(attempt).rejects.toMatchObject({ option: 'limits.egress' });
  });

  it('leaves the same prefix alone without an egress limit', async () => {
    const prepared = await preparePool({
      ...longest,
      ...room,
      uplink: null,
      limits: { ingress: '10mbit' },
    });
    expect(prepared.parts.plan.networks.at(-1)?.device).toBe('abcdefghijkl999');
  });

  it('checks a per-VM limit the same way', () => {
    expect(() => assertEgressFits({ egress: { rate: 1e7, burst: 25_000 } }, longest)).toThrow(
      expect.objectContaining({ option: 'limits.egress' }),
    );
    expect(() =>
      assertEgressFits({ egress: { rate: 1e7, burst: 25_000 } }, { prefix: 'tn', size: 4096 }),
    ).not.toThrow();
  });
});
