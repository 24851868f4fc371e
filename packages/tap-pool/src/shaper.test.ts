import { describe, expect, it } from 'vitest';
import { CommandError, InvalidOptionError } from './errors.js';
import { planPool } from './plan.js';
import { normalizeTrafficLimits } from './rate.js';
import type { Runner, RunnerResult } from './runner.js';
import { cleanupShaping, createShaper, readTraffic, type SyncRunner } from './shaper.js';

interface Call {
  argv: readonly string[];
  input?: string;
}

/** Records every command; `fail` picks the ones that exit 1. */
function recorder(fail: (call: Call) => boolean = () => false, stdout = () => '') {
  const calls: Call[] = [];
  const result = (call: Call): RunnerResult => {
    calls.push(call);
    return fail(call)
      ? { stdout: '', stderr: 'boom', exitCode: 1 }
      : { stdout: stdout(), stderr: '', exitCode: 0 };
  };
  const runner: Runner = async (argv, options) => result({ argv, input: options?.input });
  const sync: SyncRunner = (argv, options) => result({ argv, input: options?.input });
  return { calls, runner, sync };
}

const plan = planPool({ size: 3, prefix: 'tn' });
const l = (input: object) => normalizeTrafficLimits(input);

describe('createShaper', () => {
  it('starts no process without defaults', async () => {
    const r = recorder();
    const shaper = await createShaper(plan, { runner: r.runner });
    expect(r.calls).toEqual([]);
    expect(shaper.limits('tn1')).toEqual({});
    await shaper.remove();
    expect(r.calls).toEqual([]);
  });

  it('applies defaults to every network in three processes, whatever the size', async () => {
    const r = recorder();
    const big = planPool({ size: 4096, prefix: 'tb', subnet: '10.0.0.0/8' });
    const shaper = await createShaper(big, {
      runner: r.runner,
      defaults: l({ egress: '10mbit', ingress: '10mbit', packetsPerSecond: 1000 }),
    });
    expect(r.calls.map((c) => c.argv.join(' '))).toEqual([
      'ip -batch -',
      'tc -batch -',
      'nft -f -',
    ]);
    expect(r.calls[0]?.input?.split('\n').filter((x) => x.startsWith('link add'))).toHaveLength(
      4096,
    );
    expect(shaper.limits('tb4095')).toEqual(
      l({ egress: '10mbit', ingress: '10mbit', packetsPerSecond: 1000 }),
    );
    await shaper.remove();
    // Nothing listed by the recorder's `ip link show`: nothing to delete, no delete run.
    expect(r.calls.slice(3).map((c) => c.argv.join(' '))).toEqual([
      'ip -details -json link show',
      'nft -f -',
    ]);
    expect(shaper.processCount()).toBe(5);
  });

  it('changes one network in one process, then creates its IFB only once', async () => {
    const r = recorder();
    const shaper = await createShaper(plan, { runner: r.runner });
    await shaper.set('tn1', l({ ingress: '5mbit' }));
    expect(r.calls.map((c) => c.argv.join(' '))).toEqual(['tc -batch -']);
    await shaper.set('tn1', l({ egress: '5mbit' }));
    expect(r.calls.slice(1).map((c) => c.argv.join(' '))).toEqual(['ip -batch -', 'tc -batch -']);
    expect(r.calls[2]?.input).toContain('qdisc del dev tn1 root\n');
    await shaper.set('tn1', l({ egress: '6mbit' }));
    expect(r.calls.slice(3).map((c) => c.argv.join(' '))).toEqual(['tc -batch -']);
    await shaper.set('tn1', l({ egress: '6mbit' }));
    expect(r.calls).toHaveLength(4); // nothing to do, nothing run
    expect(shaper.limits('tn1')).toEqual(l({ egress: '6mbit' }));
  });

  it('refuses a device of another pool, and changes nothing', async () => {
    const r = recorder();
    const shaper = await createShaper(plan, { runner: r.runner });
    await expect(shaper.set('eth0', l({ egress: '1mbit' }))).rejects.toThrow(InvalidOptionError);
    expect(() => shaper.setSync('tn9', {})).toThrow(
      'Expected `device` to be a network of pool `tn`, got `tn9`',
    );
    expect(r.calls).toEqual([]);
  });

  it('rolls a failed change back to what the network had, and keeps its limits', async () => {
    const r = recorder((c) => c.argv[0] === 'tc' && c.input?.includes('7000000bit') === true);
    const shaper = await createShaper(plan, { runner: r.runner });
    await shaper.set('tn0', l({ ingress: '5mbit' }));
    const error = await shaper.set('tn0', l({ ingress: '7mbit' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).cause.input).toContain('7000000bit');
    expect(r.calls.slice(2).map((c) => `${c.argv.join(' ')}: ${c.input}`)).toEqual([
      'tc -force -batch -: qdisc del dev tn0 root\nqdisc del dev tn0 ingress\nqdisc del dev tn_0 root\n',
      'tc -batch -: qdisc replace dev tn0 root handle 1: tbf rate 5000000bit burst 32768 latency 50ms\n',
    ]);
    expect(shaper.limits('tn0')).toEqual(l({ ingress: '5mbit' }));
  });

  it('sets synchronously with the sync runner', async () => {
    const r = recorder();
    const shaper = await createShaper(plan, { runner: r.runner, syncRunner: r.sync });
    shaper.setSync('tn2', l({ egress: '3mbit', packetsPerSecond: 50 }));
    expect(r.calls.map((c) => c.argv.join(' '))).toEqual([
      'ip -batch -',
      'tc -batch -',
      'nft -f -',
    ]);
    expect(shaper.limits('tn2')).toEqual(l({ egress: '3mbit', packetsPerSecond: 50 }));
    expect(shaper.processCount()).toBe(3);
  });

  it('removes what a failed start applied and rethrows', async () => {
    const r = recorder((c) => c.argv[0] === 'nft' && c.argv[1] === '-f' && r.calls.length === 3);
    const error = await createShaper(plan, {
      runner: r.runner,
      defaults: l({ egress: '1mbit', packetsPerSecond: 10 }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect(r.calls.map((c) => c.argv.join(' '))).toEqual([
      'ip -batch -',
      'tc -batch -',
      'nft -f -',
      'tc -force -batch -',
      // the IFBs it made are looked up to be deleted; `nft -f` is atomic: nothing to take back
      'ip -details -json link show',
    ]);
  });

  it('reads counters of shaped networks only', async () => {
    const tc = JSON.stringify([
      { kind: 'tbf', dev: 'tn0', root: true, bytes: 5, packets: 1, drops: 0, backlog: 0 },
      { kind: 'tbf', dev: 'tn_0', root: true, bytes: 9, packets: 2, drops: 3, backlog: 0 },
    ]);
    const r = recorder(
      () => false,
      () => tc,
    );
    const shaper = await createShaper(plan, { runner: r.runner });
    expect((await shaper.counters()).size).toBe(0);
    await shaper.set('tn0', l({ egress: '1mbit', ingress: '1mbit' }));
    const counters = await shaper.counters();
    expect(Object.fromEntries(counters)).toEqual({
      tn0: {
        egress: { bytes: 9, packets: 2, drops: 3, backlog: 0, rate: 0 },
        ingress: { bytes: 5, packets: 1, drops: 0, backlog: 0, rate: 0 },
      },
    });
  });
});

describe('cleanupShaping', () => {
  it('deletes only marked IFBs named by the prefix, and the pool table', async () => {
    const links = JSON.stringify([
      { ifname: 'tn_0', ifalias: 'tapnet:tn:ifb', linkinfo: { info_kind: 'ifb' } },
      { ifname: 'tn_1', linkinfo: { info_kind: 'ifb' } }, // not marked: someone else's
      { ifname: 'tn5_0', ifalias: 'tapnet:tn5:ifb', linkinfo: { info_kind: 'ifb' } },
      { ifname: 'ifb0', linkinfo: { info_kind: 'ifb' } },
    ]);
    const calls: Call[] = [];
    const runner: Runner = async (argv, options) => {
      calls.push({ argv, input: options?.input });
      const stdout =
        argv.join(' ') === 'ip -details -json link show'
          ? links
          : argv[0] === 'nft' && argv[1] === 'list'
            ? 'table netdev tapnet_tn5_pps\ntable netdev tapnet_tn_pps\n'
            : '';
      return { stdout, stderr: '', exitCode: 0 };
    };
    expect(await cleanupShaping('tn', { runner })).toEqual({
      removedDevices: ['tn_0'],
      removedTables: ['netdev tapnet_tn_pps'],
    });
    expect(calls.map((c) => `${c.argv.join(' ')}${c.input ? `: ${c.input}` : ''}`)).toEqual([
      'ip -details -json link show',
      'ip -force -batch -: link del dev tn_0\n',
      'nft list tables netdev',
      'nft delete table netdev tapnet_tn_pps',
    ]);
  });
});

describe('readTraffic', () => {
  it("reads a pool's limits and counters from the kernel in one process", async () => {
    const tc = JSON.stringify([
      { kind: 'tbf', dev: 'tn1', root: true, bytes: 5, packets: 1, drops: 0, backlog: 0 },
      {
        kind: 'tbf',
        dev: 'tn_0',
        root: true,
        bytes: 9,
        packets: 2,
        drops: 3,
        options: { rate: 125_000 },
      },
      { kind: 'tbf', dev: 'tx_0', root: true, bytes: 9, packets: 2, drops: 3 },
    ]);
    const calls: string[] = [];
    const runner: Runner = async (argv) => {
      calls.push(argv.join(' '));
      return { stdout: tc, stderr: '', exitCode: 0 };
    };
    expect(Object.fromEntries(await readTraffic('tn', ['tn0', 'tn1', 'tn2'], { runner }))).toEqual({
      tn0: { egress: { bytes: 9, packets: 2, drops: 3, backlog: 0, rate: 1_000_000 } },
      tn1: { ingress: { bytes: 5, packets: 1, drops: 0, backlog: 0, rate: 0 } },
    });
    expect(calls).toEqual(['tc -s -j qdisc show']);
  });
});
