import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FirewallWatchError, InvalidPolicyError } from './errors.js';
import { createFirewall } from './firewall.js';
import { poolOptions } from './fixtures.test-helpers.js';
import type { LineHandlers, Spawner } from './monitor.js';
import { buildPolicy } from './policy.js';
import type { Runner } from './runner.js';
import { type DriftEvent, startWatch, type WatchTarget } from './watch.js';

/** A fake `nft monitor`: the test writes its lines and ends it. */
function fakeMonitor() {
  const started: { argv: readonly string[]; handlers: LineHandlers; stopped: boolean }[] = [];
  const spawn: Spawner = (argv, handlers) => {
    const entry = { argv, handlers, stopped: false };
    started.push(entry);
    return {
      stop: async () => {
        entry.stopped = true;
      },
    };
  };
  const current = () => started[started.length - 1]!;
  return { spawn, started, current };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('startWatch (scheduling)', () => {
  function target(over: Partial<WatchTarget> = {}) {
    const repairs: number[] = [];
    let drifted: string | undefined;
    const t: WatchTarget = {
      backend: 'nft',
      repair: async (stopped) => {
        repairs.push(Date.now());
        if (stopped()) return undefined;
        const reason = drifted;
        drifted = undefined;
        return reason;
      },
      settled: async () => {},
      ...over,
    };
    return { t, repairs, drift: (reason: string) => (drifted = reason) };
  }

  it('checks once at start, then on each burst of events that concern us (one check per burst)', async () => {
    const monitor = fakeMonitor();
    const { t, repairs, drift } = target({
      monitor: {
        argv: ['nft', 'monitor'],
        concerns: (l) => l.includes('tapnet_tn'),
        spawn: monitor.spawn,
      },
    });
    const drifts: DriftEvent[] = [];
    const watch = startWatch(t, { interval: 1000, onDrift: (e) => drifts.push(e) });
    await vi.advanceTimersByTimeAsync(0);
    expect(repairs).toHaveLength(1);
    expect(monitor.current().argv).toEqual(['nft', 'monitor']);
    drift('table inet tapnet_tn missing');
    for (const line of ['delete rule inet tapnet_tn input handle 4', 'delete table inet tapnet_tn'])
      monitor.current().handlers.line(line);
    monitor.current().handlers.line('add table ip other'); // not ours
    await vi.advanceTimersByTimeAsync(100);
    expect(repairs).toHaveLength(2);
    expect(drifts).toEqual([
      { backend: 'nft', reason: 'table inet tapnet_tn missing', reappliedAt: expect.any(Date) },
    ]);
    expect(watch.reapplied).toBe(1);
    monitor.current().handlers.line('add table ip other');
    await vi.advanceTimersByTimeAsync(5000);
    expect(repairs).toHaveLength(2); // no event of ours, and the backstop check is 10 s apart
    await vi.advanceTimersByTimeAsync(6000);
    expect(repairs).toHaveLength(3);
    await watch.close();
    expect(monitor.current().stopped).toBe(true);
  });

  it('without an event stream (iptables) checks every interval', async () => {
    const { t, repairs } = target({ backend: 'iptables' });
    const watch = startWatch(t, { interval: 1000 });
    await vi.advanceTimersByTimeAsync(3500);
    expect(repairs).toHaveLength(4); // at 0, 1000, 2000, 3000
    await watch.close();
    await vi.advanceTimersByTimeAsync(5000);
    expect(repairs).toHaveLength(4);
  });

  it('restarts a monitor that ended, reports it, and checks at once when it is back', async () => {
    const monitor = fakeMonitor();
    const { t, repairs } = target({
      monitor: { argv: ['nft', 'monitor'], concerns: () => true, spawn: monitor.spawn },
    });
    const errors: Error[] = [];
    const watch = startWatch(t, { interval: 1000, onError: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(0);
    monitor.current().handlers.exit('`nft monitor` ended (1): boom');
    expect(errors[0]).toBeInstanceOf(FirewallWatchError);
    expect(errors[0]!.message).toBe('The nft event stream ended: `nft monitor` ended (1): boom');
    await vi.advanceTimersByTimeAsync(1001);
    expect(monitor.started).toHaveLength(2);
    expect(repairs).toHaveLength(2);
    await watch.close();
  });

  it('a failed repair is reported and retried after the interval', async () => {
    let fail = true;
    const { t, repairs } = target({ backend: 'iptables' });
    const inner = t.repair;
    t.repair = async (stopped) => {
      const r = await inner(stopped);
      if (fail) throw new Error('iptables-restore: exited with 4');
      return r;
    };
    const errors: Error[] = [];
    const watch = startWatch(t, { interval: 1000, onError: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(0);
    expect(errors.map((e) => e.message)).toEqual(['iptables-restore: exited with 4']);
    fail = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(repairs).toHaveLength(2);
    expect(errors).toHaveLength(1);
    await watch.close();
  });

  it('close() waits for a check in flight; no check starts after it', async () => {
    let release: () => void = () => {};
    const { t, repairs } = target({ backend: 'iptables' });
    const inner = t.repair;
    t.repair = async (stopped) => {
      await new Promise<void>((r) => {
        release = r;
      });
      return inner(stopped);
    };
    const watch = startWatch(t, { interval: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    let closed = false;
    const closing = watch.close().then(() => {
      closed = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(closed).toBe(false);
    release();
    await closing;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(repairs).toHaveLength(1);
  });
});

describe('Firewall.watch (nft, recorded commands)', () => {
  const policy = buildPolicy(poolOptions(2));

  /** A kernel where our table is gone (someone flushed it) until the next apply. */
  function kernel() {
    let present = false;
    const applies: string[] = [];
    const runner: Runner = async (argv, options) => {
      if (argv[1] === '-f') {
        const input = options?.input ?? '';
        if (input.includes('chain prerouting')) {
          applies.push('apply');
          present = true;
        } else {
          applies.push('remove');
          present = false;
        }
        return { stdout: '', stderr: '', exitCode: 0 };
      }
      if (argv.includes('list') && argv.includes('table')) {
        return present
          ? { stdout: await intactJson(), stderr: '', exitCode: 0 }
          : { stdout: '', stderr: 'Error: No such file or directory', exitCode: 1 };
      }
      return { stdout: '', stderr: '', exitCode: 0 };
    };
    return { runner, applies, flush: () => (present = false) };
  }

  async function intactJson(): Promise<string> {
    // The shape says what `nft -j list table` shows of an intact table.
    const { nftShape } = await import('./nft.js');
    const shape = nftShape(policy);
    const items: unknown[] = [{ table: { family: 'inet', name: shape.table } }];
    for (const [name, count] of Object.entries(shape.chains)) {
      items.push({ chain: { family: 'inet', table: shape.table, name } });
      for (let i = 0; i < count; i++)
        items.push({ rule: { family: 'inet', table: shape.table, chain: name } });
    }
    for (const [name, count] of Object.entries(shape.sets))
      items.push({
        set: { family: 'inet', table: shape.table, name, elem: Array(Math.max(count, 0)).fill(1) },
      });
    return JSON.stringify({ nftables: items });
  }

  it('re-applies after a flush, reports it, and never after remove()', async () => {
    const k = kernel();
    const monitor = fakeMonitor();
    const fw = createFirewall({ backend: 'nft', runner: k.runner, spawner: monitor.spawn });
    await fw.apply(policy);
    const drifts: DriftEvent[] = [];
    const watch = await fw.watch(policy, { onDrift: (e) => drifts.push(e) });
    await vi.advanceTimersByTimeAsync(0);
    expect(drifts).toEqual([]); // intact at start
    k.flush();
    monitor.current().handlers.line('delete table inet tapnet_tn');
    await vi.advanceTimersByTimeAsync(100);
    expect(k.applies).toEqual(['apply', 'apply']);
    expect(drifts).toMatchObject([{ backend: 'nft', reason: 'table inet tapnet_tn missing' }]);
    expect(watch.reapplied).toBe(1);
    // Another pool's table (a prefix that merely starts like ours) is not our concern.
    k.flush();
    monitor.current().handlers.line('delete table inet tapnet_tn2');
    await vi.advanceTimersByTimeAsync(100);
    expect(k.applies).toEqual(['apply', 'apply']);
    monitor.current().handlers.line('delete table inet tapnet_tn');
    // remove() is called before the queued check runs: the check must not put the rules back.
    const removing = fw.remove();
    await vi.advanceTimersByTimeAsync(100);
    await removing;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(k.applies).toEqual(['apply', 'apply', 'remove']);
    expect(monitor.current().stopped).toBe(true);
  });

  it('a remove() while the watch is still starting ends it: nothing starts, nothing re-applies', async () => {
    const k = kernel();
    const monitor = fakeMonitor();
    const fw = createFirewall({ backend: 'nft', runner: k.runner, spawner: monitor.spawn });
    await fw.apply(policy);
    const starting = fw.watch(policy);
    const removing = fw.remove();
    const watch = await starting;
    await removing;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(monitor.started).toHaveLength(0);
    expect(k.applies).toEqual(['apply', 'remove']);
    expect(watch.reapplied).toBe(0);
    await watch.close();
  });

  it('validates its options before starting anything', async () => {
    const monitor = fakeMonitor();
    const fw = createFirewall({ backend: 'nft', runner: kernel().runner, spawner: monitor.spawn });
    await expect(fw.watch(policy, { interval: 0 })).rejects.toThrow(InvalidPolicyError);
    await expect(fw.watch(policy, { interval: 0 })).rejects.toThrow(
      'Expected `interval` to be an integer from 10 to 3600000 (ms), got `0` (number)',
    );
    await expect(fw.watch(policy, { onDrift: 'x' as never })).rejects.toThrow(
      'Expected `onDrift` to be a function',
    );
    expect(monitor.started).toHaveLength(0);
  });
});

describe('Firewall.watch (iptables: what tells it to check)', () => {
  const policy = buildPolicy(poolOptions(1));
  const runnerFor =
    (variant: string): Runner =>
    async (argv) => ({
      stdout: argv[1] === '--version' ? `${argv[0]} ${variant}\n` : '',
      stderr: '',
      exitCode: 0,
    });

  it('iptables-nft (and nft there): the nft monitor stream, concerned with the iptables tables', async () => {
    const monitor = fakeMonitor();
    const fw = createFirewall({
      backend: 'iptables',
      runner: runnerFor('v1.8.9 (nf_tables)'),
      spawner: monitor.spawn,
    });
    const watch = await fw.watch(policy);
    expect(monitor.started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(0); // the first check
    const before = fw.processCount();
    monitor.current().handlers.line('add table inet firewalld'); // not an iptables table
    await vi.advanceTimersByTimeAsync(100);
    expect(fw.processCount()).toBe(before);
    monitor.current().handlers.line('delete rule ip filter INPUT handle 4');
    await vi.advanceTimersByTimeAsync(100);
    expect(fw.processCount()).toBeGreaterThan(before); // a check ran (iptables-save)
    await watch.close();
  });

  it('legacy iptables: no event stream, a check every interval', async () => {
    const monitor = fakeMonitor();
    const fw = createFirewall({
      backend: 'iptables',
      runner: runnerFor('v1.8.9 (legacy)'),
      spawner: monitor.spawn,
    });
    const watch = await fw.watch(policy, { interval: 1000 });
    expect(monitor.started).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(0);
    const first = fw.processCount();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fw.processCount()).toBeGreaterThan(first);
    await watch.close();
  });
});
