import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Holding, NetworkAllocator } from './allocator.js';
import { AllNetworksInUseError, InvalidOptionError } from './errors.js';

type Op =
  | { kind: 'acquire' }
  | { kind: 'release'; pick: number }
  | { kind: 'wait' }
  | { kind: 'abort'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ kind: 'acquire' }),
  fc.nat(20).map<Op>((pick) => ({ kind: 'release', pick })),
  fc.constant<Op>({ kind: 'wait' }),
  fc.nat(20).map<Op>((pick) => ({ kind: 'abort', pick })),
);

describe('NetworkAllocator', () => {
  it('never gives a network to two holders, loses none, and serves waiters first-come first-served', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(op, { maxLength: 60 }),
        async (size, ops) => {
          const items = Array.from({ length: size }, (_, i) => ({ id: i }));
          const allocator = new NetworkAllocator(items);
          // What the test believes its holders have, and every holding it ever saw released.
          const held = new Map<(typeof items)[number], Holding<(typeof items)[number]>>();
          const stale: Holding<(typeof items)[number]>[] = [];
          const waiting: { controller: AbortController; settled: boolean; order: number }[] = [];
          const served: number[] = [];
          let order = 0;
          for (const o of ops) {
            if (o.kind === 'acquire') {
              if (allocator.available === 0) {
                expect(() => allocator.acquire()).toThrow(AllNetworksInUseError);
              } else {
                const holding = allocator.acquire();
                expect(held.has(holding.item)).toBe(false);
                held.set(holding.item, holding);
              }
            } else if (o.kind === 'release') {
              const all = [...held.values()];
              const holding =
                all[o.pick % Math.max(1, all.length)] ?? stale[o.pick % Math.max(1, stale.length)];
              if (holding) {
                const wasHeld = held.get(holding.item) === holding;
                if (wasHeld) held.delete(holding.item);
                expect(allocator.release(holding)).toBe(wasHeld);
                expect(holding.released).toBe(true);
                // A second release is a no-op, even when a waiter holds the network by now.
                expect(holding.release()).toBe(false);
                stale.push(holding);
              }
            } else if (o.kind === 'wait') {
              const controller = new AbortController();
              const entry = { controller, settled: false, order: order++ };
              waiting.push(entry);
              allocator.acquireAsync({ signal: controller.signal }).then(
                (holding) => {
                  entry.settled = true;
                  expect(held.has(holding.item)).toBe(false);
                  expect(holding.released).toBe(false);
                  held.set(holding.item, holding);
                  served.push(entry.order);
                },
                (reason) => {
                  entry.settled = true;
                  expect(reason).toBe('aborted');
                },
              );
            } else {
              const open = waiting.filter((w) => !w.settled);
              open[o.pick % Math.max(1, open.length)]?.controller.abort('aborted');
            }
            await tick();
            expect(allocator.inUse).toBe(held.size);
            expect(allocator.available + allocator.inUse).toBe(size);
            expect(allocator.waiting).toBe(waiting.filter((w) => !w.settled).length);
            // Nobody waits while a network is free.
            if (allocator.waiting > 0) expect(allocator.available).toBe(0);
          }
          expect(served).toEqual([...served].sort((a, b) => a - b));
          for (const w of waiting) w.controller.abort('aborted');
          await tick();
          for (const holding of [...held.values()]) allocator.release(holding);
          expect(allocator.available).toBe(size);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('hands out every item once, least recently released first', () => {
    const allocator = new NetworkAllocator(['a', 'b', 'c']);
    const a = allocator.acquire();
    expect([a.item, allocator.acquire().item]).toEqual(['a', 'b']);
    a.release();
    expect(allocator.acquire().item).toBe('c');
    expect(allocator.acquire().item).toBe('a');
    expect(() => allocator.acquire()).toThrow('Expected a free network, got all 3 in use');
    expect(allocator.release({ item: 'zzz', released: false, release: () => true })).toBe(false);
  });

  it('ignores a late second release after the network went to a next holder', async () => {
    const allocator = new NetworkAllocator(['only']);
    const first = allocator.acquire();
    const next = allocator.acquireAsync();
    expect(first.release()).toBe(true);
    const second = await next;
    expect(second.item).toBe('only');
    // The first holder releases again (by itself and through the allocator): nothing changes.
    expect(first.release()).toBe(false);
    expect(allocator.release(first)).toBe(false);
    // A look-alike of the first holding is not the current one either.
    expect(allocator.release({ ...first })).toBe(false);
    expect(first.released).toBe(true);
    expect(second.released).toBe(false);
    expect(allocator.isHeld('only')).toBe(true);
    expect(allocator.available).toBe(0);
    expect(() => allocator.acquire()).toThrow(AllNetworksInUseError);
    expect(second.release()).toBe(true);
    expect(allocator.available).toBe(1);
  });

  it('resolves at once when a network is free, and waiters in the order they came', async () => {
    const allocator = new NetworkAllocator([1, 2]);
    const one = await allocator.acquireAsync();
    const two = await allocator.waitForRelease();
    expect([one.item, two.item]).toEqual([1, 2]);
    const first = allocator.acquireAsync();
    const second = allocator.acquireAsync();
    allocator.release(two);
    allocator.release(one);
    expect((await first).item).toBe(2);
    expect((await second).item).toBe(1);
    expect(allocator.available).toBe(0);
  });

  it('rejects on timeout and on abort without leaking the network released afterwards', async () => {
    const allocator = new NetworkAllocator(['only']);
    const held = allocator.acquire();
    await expect(allocator.acquireAsync({ timeout: 1 })).rejects.toThrow(AllNetworksInUseError);
    const controller = new AbortController();
    const aborted = allocator.acquireAsync({ signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await expect(allocator.acquireAsync({ signal: AbortSignal.abort('already') })).rejects.toBe(
      'already',
    );
    expect(allocator.waiting).toBe(0);
    expect(allocator.release(held)).toBe(true);
    expect(allocator.available).toBe(1);
    expect(allocator.acquire().item).toBe('only');
  });

  it('validates its input', async () => {
    expect(() => new NetworkAllocator([1, 1])).toThrow(InvalidOptionError);
    expect(() => new NetworkAllocator('ab' as never)).toThrow(
      'Expected `items` to be an array, got `"ab"` (string)',
    );
    await expect(new NetworkAllocator([]).acquireAsync({ timeout: -1 })).rejects.toThrow(
      'Expected `timeout` to be a finite number of milliseconds >= 0, got `-1` (number)',
    );
  });
});
