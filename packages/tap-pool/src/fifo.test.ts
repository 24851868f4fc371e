import { describe, expect, it } from 'vitest';
import { NetworkAllocator } from './allocator.js';
import { Fifo } from './fifo.js';

/** Slots touched by `run`, counted by Fifo itself. */
function touches(run: () => void): number {
  const before = Fifo.touched;
  run();
  return Fifo.touched - before;
}

describe('Fifo', () => {
  it('keeps order through growth and wrap-around', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 40; i++) q.push(i);
    for (let i = 0; i < 30; i++) expect(q.shift()).toBe(i);
    for (let i = 40; i < 100; i++) q.push(i);
    const out: number[] = [];
    while (q.length > 0) out.push(q.shift()!);
    expect(out).toEqual(Array.from({ length: 70 }, (_, i) => i + 30));
    expect(q.shift()).toBeUndefined();
  });

  it('a shift and a push touch one slot each, at 16 items as at 4096', () => {
    for (const size of [16, 4096]) {
      const q = new Fifo(Array.from({ length: size }, (_, i) => i));
      expect(touches(() => q.push(q.shift()!))).toBe(2);
    }
  });
});

describe('NetworkAllocator at 4096 networks', () => {
  it('acquire() and release() touch the free list as often at 4096 networks as at 16', () => {
    const cost = (size: number) => {
      const allocator = new NetworkAllocator(Array.from({ length: size }, (_, i) => i));
      return touches(() => {
        for (let i = 0; i < 1000; i++) allocator.acquire().release();
      });
    };
    expect(cost(4096)).toBe(cost(16));
    expect(cost(4096)).toBe(2000);
  });

  it('hands out the least recently released network first, and waiters in order', async () => {
    const allocator = new NetworkAllocator([0, 1, 2]);
    const a = allocator.acquire();
    const b = allocator.acquire();
    const c = allocator.acquire();
    expect([a.item, b.item, c.item]).toEqual([0, 1, 2]);
    const first = allocator.acquireAsync();
    const second = allocator.acquireAsync();
    const gaveUp = new AbortController();
    const third = allocator.acquireAsync({ signal: gaveUp.signal });
    gaveUp.abort(new Error('gave up'));
    await expect(third).rejects.toThrow('gave up');
    expect(allocator.waiting).toBe(2);
    b.release();
    a.release();
    expect((await first).item).toBe(1);
    expect((await second).item).toBe(0);
    expect(allocator.waiting).toBe(0);
    c.release();
    expect(allocator.acquire().item).toBe(2);
  });
});
