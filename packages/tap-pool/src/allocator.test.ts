import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NetworkAllocator } from './allocator.js';
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
          const held = new Set<(typeof items)[number]>(); // what the test believes its holders have
          const waiting: { controller: AbortController; settled: boolean; order: number }[] = [];
          const served: number[] = [];
          let order = 0;
          for (const o of ops) {
            if (o.kind === 'acquire') {
              if (allocator.available === 0) {
                expect(() => allocator.acquire()).toThrow(AllNetworksInUseError);
              } else {
                const item = allocator.acquire();
                expect(held.has(item)).toBe(false);
                held.add(item);
              }
            } else if (o.kind === 'release') {
              const all = [...held];
              const item = all[o.pick % Math.max(1, all.length)] ?? items[o.pick % size]!;
              const wasHeld = held.delete(item);
              expect(allocator.release(item)).toBe(wasHeld);
              // A second release is a no-op, unless a waiter holds the network by now (then it is theirs).
              if (!allocator.isHeld(item)) expect(allocator.release(item)).toBe(false);
            } else if (o.kind === 'wait') {
              const controller = new AbortController();
              const entry = { controller, settled: false, order: order++ };
              waiting.push(entry);
              allocator.acquireAsync({ signal: controller.signal }).then(
                (item) => {
                  entry.settled = true;
                  expect(held.has(item)).toBe(false);
                  held.add(item);
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
          for (const item of [...held]) allocator.release(item);
          expect(allocator.available).toBe(size);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('hands out every item once, least recently released first', () => {
    const allocator = new NetworkAllocator(['a', 'b', 'c']);
    expect([allocator.acquire(), allocator.acquire()]).toEqual(['a', 'b']);
    allocator.release('a');
    expect(allocator.acquire()).toBe('c');
    expect(allocator.acquire()).toBe('a');
    expect(() => allocator.acquire()).toThrow('Expected a free network, got all 3 in use');
    expect(allocator.release('zzz')).toBe(false);
  });

  it('resolves at once when a network is free, and waiters in the order they came', async () => {
    const allocator = new NetworkAllocator([1, 2]);
    expect(await allocator.acquireAsync()).toBe(1);
    expect(await allocator.waitForRelease()).toBe(2);
    const first = allocator.acquireAsync();
    const second = allocator.acquireAsync();
    allocator.release(2);
    allocator.release(1);
    expect(await first).toBe(2);
    expect(await second).toBe(1);
    expect(allocator.available).toBe(0);
  });

  it('rejects on timeout and on abort without leaking the network released afterwards', async () => {
    const allocator = new NetworkAllocator(['only']);
    allocator.acquire();
    await expect(allocator.acquireAsync({ timeout: 1 })).rejects.toThrow(AllNetworksInUseError);
    const controller = new AbortController();
    const aborted = allocator.acquireAsync({ signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await expect(allocator.acquireAsync({ signal: AbortSignal.abort('already') })).rejects.toBe(
      'already',
    );
    expect(allocator.waiting).toBe(0);
    expect(allocator.release('only')).toBe(true);
    expect(allocator.available).toBe(1);
    expect(allocator.acquire()).toBe('only');
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
