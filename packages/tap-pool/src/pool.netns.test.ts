import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { describeNetns, run, runOk, snapshotNamespace, waitFor } from '@tapnet/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandError, DeviceExistsError } from './errors.js';
import { planPool } from './plan.js';
import { cleanupPool, createTapPool } from './pool.js';
import { defaultRunner, type Runner } from './runner.js';

const packageDir = resolve(import.meta.dirname, '..');
const dist = join(packageDir, 'dist', 'index.js');
// The sandbox mounts a private tmpfs on /run/tapnet: scratch files there vanish with it.
const scratch = (name: string) => mkdtempSync(join('/run/tapnet', name));
const newState = () => scratch('state-');
const sysctl = (path: string) => readFileSync(join('/proc/sys/net', path), 'utf8').trim();

interface IpLink {
  ifname: string;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info: { family: string; local: string; prefixlen: number; broadcast?: string }[];
}
async function links(): Promise<Map<string, IpLink>> {
  const list = JSON.parse(await runOk(['ip', '-details', '-json', 'addr', 'show'])) as IpLink[];
  return new Map(list.map((l) => [l.ifname, l]));
}

const CHILD = `
import { createTapPool, planPool, defaultRunner } from ${JSON.stringify(dist)};
const [mode, stateDir] = process.argv.slice(2);
let batches = 0;
const runner = async (argv, options) => {
  const result = await defaultRunner(argv, options);
  // Die the hard way right after the TAPs exist, before addresses, sysctls or ip_forward.
  if (argv.includes('-batch') && ++batches === 1 && mode === 'after-taps') process.kill(process.pid, 'SIGKILL');
  return result;
};
await createTapPool(planPool({ size: 3, prefix: 'tc', stateDir }), { runner });
process.stdout.write('created\\n');
setInterval(() => {}, 1000);
`;

function startChild(
  mode: 'after-taps' | 'after-create',
  stateDir: string,
): { child: ChildProcess; output: () => string; exited: Promise<unknown> } {
  const dir = scratch('child-');
  const script = join(dir, 'child.mjs');
  writeFileSync(script, CHILD);
  const child = spawn(process.execPath, [script, mode, stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r(signal ?? code)));
  return { child, output: () => output, exited };
}

describeNetns('tap-pool in a namespace', () => {
  // The crash tests run the built package in a child process: rebuild it when src is newer.
  beforeAll(async () => {
    const tsup = resolve(packageDir, '../../node_modules/tsup/dist/cli-default.js');
    const newest = Math.max(
      ...readdirSync(join(packageDir, 'src'))
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => statSync(join(packageDir, 'src', f)).mtimeMs),
    );
    if (!existsSync(dist) || statSync(dist).mtimeMs < newest) {
      execFileSync(process.execPath, [tsup], { cwd: packageDir, stdio: 'pipe', timeout: 120_000 });
    }
  }, 180_000);

  it('creates exactly the plan and removes every trace of it', async () => {
    const before = await snapshotNamespace();
    const forwardBefore = sysctl('ipv4/ip_forward');
    const plan = planPool({ size: 3, stateDir: newState(), owner: { uid: 54321, gid: 54322 } });
    const pool = await createTapPool(plan);

    const now = await links();
    expect([...now.keys()].filter((n) => /^tn\d+$/.test(n)).sort()).toEqual(['tn0', 'tn1', 'tn2']);
    for (const n of plan.networks) {
      const link = now.get(n.device)!;
      expect(link.linkinfo).toMatchObject({
        info_kind: 'tun',
        info_data: { type: 'tap', persist: true, user: 54321, group: 54322 },
      });
      expect(link.flags).toContain('UP');
      expect(link.addr_info.map((a) => [a.family, a.local, a.prefixlen, a.broadcast])).toEqual([
        ['inet', n.gateway, 24, n.broadcast],
      ]);
      expect(sysctl(`ipv4/conf/${n.device}/rp_filter`)).toBe('1');
      expect(sysctl(`ipv4/conf/${n.device}/send_redirects`)).toBe('0');
      expect(sysctl(`ipv4/conf/${n.device}/accept_redirects`)).toBe('0');
      expect(sysctl(`ipv4/conf/${n.device}/proxy_arp`)).toBe('0');
      expect(sysctl(`ipv4/conf/${n.device}/arp_ignore`)).toBe('1');
      expect(sysctl(`ipv4/conf/${n.device}/arp_announce`)).toBe('2');
      expect(sysctl(`ipv6/conf/${n.device}/disable_ipv6`)).toBe('1');
      expect(sysctl(`ipv6/conf/${n.device}/accept_ra`)).toBe('0');
    }
    expect(now.get('lo')!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toContain(
      '169.254.169.254/32',
    );
    expect(sysctl('ipv4/ip_forward')).toBe('1');
    const routes = JSON.parse(await runOk(['ip', '-json', 'route', 'show'])) as {
      dst: string;
      dev: string;
    }[];
    expect(routes.map((r) => `${r.dst} ${r.dev}`)).toEqual([
      '10.231.0.0/24 tn0',
      '10.231.1.0/24 tn1',
      '10.231.2.0/24 tn2',
    ]);
    expect(existsSync(join(plan.stateDir, 'tn.json'))).toBe(true);

    await pool.remove();
    await pool.remove();
    expect(await snapshotNamespace()).toEqual(before);
    expect(sysctl('ipv4/ip_forward')).toBe(forwardBefore);
    expect(existsSync(join(plan.stateDir, 'tn.json'))).toBe(false);
    expect(pool.processCount()).toBe(7);
  });

  it('takes as many processes for 100 and 1000 networks as for 3', async () => {
    const before = await snapshotNamespace();
    const counts: number[] = [];
    for (const size of [3, 100, 1000]) {
      const plan = planPool({ size, prefix: 'tb', subnet: '10.64.0.0/14', stateDir: newState() });
      const pool = await createTapPool(plan);
      const made = [...(await links()).keys()].filter((n) => n.startsWith('tb'));
      expect(made).toHaveLength(size);
      await pool.remove();
      counts.push(pool.processCount());
    }
    expect(counts).toEqual([counts[0], counts[0], counts[0]]);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('removes its TAPs, spares a stranger in its link group, and deletes no address but its own', async () => {
    const before = await snapshotNamespace();
    const plan = planPool({ size: 3, prefix: 'tg', subnet: '10.80.0.0/16', stateDir: newState() });
    const pool = await createTapPool(plan);
    // A device someone else made, moved into the pool's group, with an address of its own; one
    // outside the group; and a second address on one of our TAPs.
    await runOk(['ip', 'link', 'add', 'tgx', 'type', 'bridge']);
    await runOk(['ip', 'link', 'set', 'dev', 'tgx', 'group', String(plan.linkGroup)]);
    await runOk(['ip', 'addr', 'add', '10.81.0.1/24', 'dev', 'tgx']);
    await runOk(['ip', 'link', 'add', 'other0', 'type', 'bridge']);
    await runOk(['ip', 'addr', 'add', '10.82.0.1/24', 'dev', 'other0']);
    await runOk(['ip', 'addr', 'add', '10.83.0.1/24', 'dev', 'tg1']);

    await pool.remove();
    const left = await links();
    expect([...left.keys()].filter((n) => n.startsWith('tg')).sort()).toEqual(['tgx']);
    // (`ip addr flush group N` would have taken all of these: it ignores the group.)
    const addresses = (name: string) =>
      left
        .get(name)
        ?.addr_info.filter((a) => a.family === 'inet')
        .map((a) => `${a.local}/${a.prefixlen}`);
    expect(addresses('tgx')).toEqual(['10.81.0.1/24']);
    expect(addresses('other0')).toEqual(['10.82.0.1/24']);
    expect(addresses('lo')).toEqual(['127.0.0.1/8']);
    const routes = await runOk(['ip', '-4', 'route', 'show', 'table', 'all']);
    expect(routes).not.toMatch(/10\.8[03]\./);
    await runOk(['ip', 'link', 'del', 'tgx']);
    await runOk(['ip', 'link', 'del', 'other0']);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('keeps IPv6 on the TAPs when asked, still refusing router advertisements', async () => {
    const pool = await createTapPool(
      planPool({ size: 1, prefix: 'ts', ipv6: true, stateDir: newState() }),
    );
    expect(sysctl('ipv6/conf/ts0/disable_ipv6')).toBe('0');
    expect(sysctl('ipv6/conf/ts0/accept_ra')).toBe('0');
    expect(sysctl('ipv6/conf/ts0/accept_redirects')).toBe('0');
    await pool.remove();
  });

  it('refuses a foreign device that carries a planned name, changes nothing, and leaves it alone', async () => {
    await runOk(['ip', 'link', 'add', 'tn1', 'type', 'bridge']); // no `dummy` module on this kernel
    const before = await snapshotNamespace();
    const stateDir = newState();
    const error = await createTapPool(planPool({ size: 3, stateDir })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceExistsError);
    expect((error as DeviceExistsError).message).toContain('`tn1`');
    expect(await snapshotNamespace()).toEqual(before);
    expect((await links()).get('tn1')?.linkinfo?.info_kind).toBe('bridge');
    expect(readdirSync(stateDir)).toEqual([]);
    await runOk(['ip', 'link', 'del', 'tn1']);
  });

  it('rolls back when a real command fails half-way', async () => {
    const before = await snapshotNamespace();
    // The real `ip`, handed a configure script whose last line names a device that does not exist.
    const runner: Runner = (argv, options) =>
      defaultRunner(
        argv,
        options?.input?.includes('addr add')
          ? { input: `${options.input}link set dev tnmissing up\n` }
          : options,
      );
    const stateDir = newState();
    const error = await createTapPool(planPool({ size: 3, stateDir }), { runner }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).cause).toMatchObject({
      argv: ['ip', '-batch', '-'],
      exitCode: 1,
    });
    expect((error as CommandError).cause.stderr).toMatch(/tnmissing/);
    expect(await snapshotNamespace()).toEqual(before);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  describe('after a crash', () => {
    it('cleans up a run killed right after creating the TAPs, sparing devices not ours', async () => {
      const before = await snapshotNamespace();
      await runOk(['ip', 'link', 'add', 'tc9', 'type', 'bridge']); // our naming scheme, not our device
      const stateDir = newState();
      const { output, exited } = startChild('after-taps', stateDir);
      expect(await exited).toBe('SIGKILL');
      expect(output()).not.toContain('created');
      const left = await links();
      expect(['tc0', 'tc1', 'tc2'].map((d) => left.get(d)?.linkinfo?.info_kind)).toEqual([
        'tun',
        'tun',
        'tun',
      ]);
      // Someone replaces one of our leftovers with a device of their own.
      await runOk(['ip', 'link', 'del', 'tc2']);
      await runOk(['ip', 'link', 'add', 'tc2', 'type', 'bridge']);
      // And moves a device of theirs into the pool's link group.
      await runOk(['ip', 'link', 'add', 'tcx', 'type', 'bridge']);
      const { linkGroup } = planPool({ size: 3, prefix: 'tc' });
      await runOk(['ip', 'link', 'set', 'dev', 'tcx', 'group', String(linkGroup)]);

      // (The TAPs never got an address: deleting them is no failure.)
      const report = await cleanupPool('tc', { stateDir });
      expect(report).toEqual({
        removedDevices: ['tc0', 'tc1'],
        removedAddresses: [],
        restoredSysctls: [],
        skipped: [
          { name: 'tc2', reason: 'not a TAP device (kind bridge), so not ours' },
          { name: 'tc9', reason: 'not in the state record' },
          { name: 'tcx', reason: "in the pool's link group but not in the state record" },
        ],
      });
      const after = await links();
      expect([...after.keys()].filter((n) => n.startsWith('tc')).sort()).toEqual([
        'tc2',
        'tc9',
        'tcx',
      ]);
      expect(readdirSync(stateDir)).toEqual([]);
      await runOk(['ip', 'link', 'del', 'tc2']);
      await runOk(['ip', 'link', 'del', 'tc9']);
      await runOk(['ip', 'link', 'del', 'tcx']);
      expect(await snapshotNamespace()).toEqual(before);
    });

    it('cleans up a run killed after it created everything, and a new pool can start', async () => {
      const before = await snapshotNamespace();
      const forwardBefore = sysctl('ipv4/ip_forward');
      const stateDir = newState();
      const { child, output, exited } = startChild('after-create', stateDir);
      await waitFor(() => output().includes('created'), {
        what: 'the child to create its pool',
        timeout: 20_000,
        seen: output,
      });
      child.kill('SIGKILL');
      await exited;
      expect(sysctl('ipv4/ip_forward')).toBe('1');
      await expect(createTapPool(planPool({ size: 3, prefix: 'tc', stateDir }))).rejects.toThrow(
        /run cleanupPool\('tc'\) first/,
      );

      const report = await cleanupPool('tc', { stateDir });
      expect(report).toEqual({
        removedDevices: ['tc0', 'tc1', 'tc2'],
        removedAddresses: ['169.254.169.254/32 dev lo'],
        restoredSysctls: [`net.ipv4.ip_forward=${forwardBefore}`],
        skipped: [],
      });
      expect(await snapshotNamespace()).toEqual(before);
      expect(await cleanupPool('tc', { stateDir })).toEqual({
        removedDevices: [],
        removedAddresses: [],
        restoredSysctls: [],
        skipped: [],
      });

      const pool = await createTapPool(planPool({ size: 3, prefix: 'tc', stateDir }));
      expect((await run(['ip', 'link', 'show', 'tc2'])).exitCode).toBe(0);
      await pool.remove();
      expect(await snapshotNamespace()).toEqual(before);
    });
  });
});
