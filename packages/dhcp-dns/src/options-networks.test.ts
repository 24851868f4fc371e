import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SubnetList } from './options-networks.js';

const overlapsBrute = (list: { first: number; last: number }[], first: number, last: number) =>
  list.some((o) => first <= o.last && o.first <= last);

describe('SubnetList', () => {
  it('answers as comparing with every subnet would', () => {
    const aligned = fc
      .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 4 }))
      .map(([block, size]) => {
        const step = 2 ** size;
        const first = Math.floor((block * 16) / step) * step;
        return { first, last: first + step - 1 };
      });
    fc.assert(
      fc.property(fc.array(aligned, { maxLength: 60 }), aligned, (candidates, probe) => {
        const list = new SubnetList();
        const kept: { first: number; last: number }[] = [];
        for (const c of candidates) {
          if (overlapsBrute(kept, c.first, c.last)) continue; // the list holds no overlaps
          list.insert(c);
          kept.push(c);
        }
        expect(list.overlaps(probe.first, probe.last)).toBe(
          overlapsBrute(kept, probe.first, probe.last),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('4096 /28s in a /16: each checked against the others by search', () => {
    const list = new SubnetList();
    for (let i = 0; i < 4096; i++) {
      const first = 0x0a600000 + i * 16;
      expect(list.overlaps(first, first + 15)).toBe(false);
      list.insert({ first, last: first + 15 });
    }
    expect(list.overlaps(0x0a600000 + 100 * 16 + 3, 0x0a600000 + 100 * 16 + 3)).toBe(true);
    expect(list.overlaps(0x0a5fffff, 0x0a5fffff)).toBe(false);
    expect(list.overlaps(0x0a000000, 0x0affffff)).toBe(true);
  });
});
