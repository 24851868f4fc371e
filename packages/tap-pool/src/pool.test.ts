import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimPrefix } from './claim.js';
import {
  CommandError,
  DeviceExistsError,
  InvalidOptionError,
  StateError,
  UnsafeStateDirError,
} from './errors.js';
import { planPool } from './plan.js';
import { cleanupPool, createTapPool } from './pool.js';
import type { Runner } from './runner.js';

/** A pretend kernel: interprets the `ip` commands the pool sends, and keeps /proc/sys files in a folder. */
function fakeHost(root: string, options: { failOn?: RegExp } = {}) {
  const links = new Map<
    string,
    { kind: string; type?: string; addrs: string[]; group?: string; alias?: string }
  >([['lo', { kind: 'loopback', addrs: ['127.0.0.1/8'] }]]);
  const calls: { argv: string; input?: string }[] = [];
  const conf = (family: string, dev: string) => join(root, 'net', family, 'conf', dev);
  const apply = (line: string): string | undefined => {
    const w = line.split(' ');
    if (options.failOn?.test(line)) return `Error: injected failure on ${line}`;
    if (w[0] === 'tuntap') {
      links.set(w[3]!, { kind: 'tun', type: 'tap', addrs: [] });
      mkdirSync(conf('ipv4', w[3]!), { recursive: true });
      mkdirSync(conf('ipv6', w[3]!), { recursive: true });
    } else if (w[0] === 'neigh') {
      // `neigh show dev lo` only loads ip's device cache: nothing to do
    } else if (w[0] === 'addr') {
      const link = links.get(w.at(-1)!);
      if (!link) return `Cannot find device "${w.at(-1)}"`;
      if (w[1] === 'add') link.addrs.push(w[2]!);
      // `addr del dev X` deletes X's first address, as the kernel does when none is named
      else if (w[2] === 'dev') {
        if (link.addrs.shift() === undefined) return 'Error: ipv4: Address not found.';
      } else link.addrs = link.addrs.filter((a) => a !== w[2]);
    } else if (w[0] === 'link' && w[1] === 'del') {
      const names =
        w[2] === 'group' ? [...links].filter(([, l]) => l.group === w[3]).map(([n]) => n) : [w[3]!];
      for (const name of names) {
        if (!links.delete(name)) return `Cannot find device "${name}"`;
        rmSync(conf('ipv4', name), { recursive: true, force: true });
        rmSync(conf('ipv6', name), { recursive: true, force: true });
      }
    } else if (w[0] === 'link' && w[4] === 'group') {
      const link = links.get(w[3]!);
      if (!link) return `Cannot find device "${w[3]}"`;
      link.group = w[5]!;
      if (w[6] === 'alias') link.alias = w[7]!;
    }
    return undefined;
  };
  const runner: Runner = async (argv, opts) => {
    calls.push(
      opts?.input === undefined
        ? { argv: argv.join(' ') }
        : { argv: argv.join(' '), input: opts.input },
    );
    if (argv.includes('route')) return { stdout: '[]', stderr: '', exitCode: 0 };
    if (argv.includes('show')) {
      const dev = argv.includes('dev') ? argv.at(-1) : undefined;
      const json = [...links]
        .filter(([ifname]) => dev === undefined || ifname === dev)
        .map(([ifname, l]) => ({
          ifname,
          group: l.group ?? 'default',
          ...(l.alias === undefined ? {} : { ifalias: l.alias }),
          ...(l.kind === 'loopback'
            ? {}
            : { linkinfo: { info_kind: l.kind, info_data: { type: l.type } } }),
          addr_info: l.addrs.map((a) => ({
            family: 'inet',
            local: a.split('/')[0],
            prefixlen: Number(a.split('/')[1]),
          })),
        }));
      return { stdout: JSON.stringify(json), stderr: '', exitCode: 0 };
    }
    const force = argv.includes('-force');
    let stderr = '';
    for (const [i, line] of (opts?.input ?? '').split('\n').filter(Boolean).entries()) {
      const error = apply(line);
      if (error) {
        stderr += `${error}\nCommand failed -:${i + 1}\n`;
        if (!force) break;
      }
    }
    return { stdout: '', stderr, exitCode: stderr ? 1 : 0 };
  };
  return { runner, calls, links };
}

let dir: string;
let root: string;
let stateDir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tap-pool-unit-'));
  root = join(dir, 'proc-sys');
  stateDir = join(dir, 'state');
  mkdirSync(join(root, 'net', 'ipv4', 'conf'), { recursive: true });
  mkdirSync(join(root, 'net', 'ipv6', 'conf'), { recursive: true });
  writeFileSync(join(root, 'net', 'ipv4', 'ip_forward'), '0\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sysctl = (key: string) => readFileSync(join(root, ...key.split('.')), 'utf8').trim();

describe('createTapPool with a recording runner', () => {
  it('creates in four processes, records state, and removes in two, restoring ip_forward', async () => {
    const host = fakeHost(root);
    const plan = planPool({ size: 2, stateDir, owner: { uid: 7 } });
    const pool = await createTapPool(plan, {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    expect(host.calls).toEqual([
      { argv: 'ip -details -json addr show' },
      { argv: 'ip -json -4 route show table all' },
      {
        argv: 'ip -batch -',
        input: expect.stringMatching(
          new RegExp(
            '^tuntap add dev tn0 mode tap user 7\n' +
              'link set dev tn0 group 1818996367 alias (tapnet:tn:[0-9a-f]{16})\n' +
              'tuntap add dev tn1 mode tap user 7\n' +
              'link set dev tn1 group 1818996367 alias \\1\n$',
          ),
        ),
      },
      {
        argv: 'ip -batch -',
        input:
          'addr add 10.231.0.1/24 broadcast 10.231.0.255 dev tn0\nlink set dev tn0 up\n' +
          'addr add 10.231.1.1/24 broadcast 10.231.1.255 dev tn1\nlink set dev tn1 up\n' +
          'addr add 169.254.169.254/32 dev lo\n',
      },
    ]);
    expect(pool.processCount()).toBe(4);
    expect(sysctl('net.ipv4.ip_forward')).toBe('1');
    expect(sysctl('net.ipv4.conf.tn1.rp_filter')).toBe('1');
    expect(sysctl('net.ipv6.conf.tn1.disable_ipv6')).toBe('1');
    expect(sysctl('net.ipv6.conf.tn0.accept_ra')).toBe('0');
    const record = JSON.parse(readFileSync(join(stateDir, 'tn.json'), 'utf8'));
    expect(record).toMatchObject({
      version: 1,
      prefix: 'tn',
      pid: process.pid,
      devices: ['tn0', 'tn1'],
      tapsCreated: true,
      configured: true,
      metadataIp: { cidr: '169.254.169.254/32', added: true },
      ipForward: { prior: '0', value: '1' },
    });

    await pool.remove();
    expect(host.calls.slice(4)).toEqual([
      { argv: 'ip -details -json link show' },
      { argv: 'ip -json -4 addr show dev lo' },
      {
        argv: 'ip -4 -force -batch -',
        input:
          'neigh show dev lo\naddr del dev tn0\naddr del dev tn1\nlink del group 1818996367\naddr del 169.254.169.254/32 dev lo\n',
      },
    ]);
    expect(pool.processCount()).toBe(7);
    expect(sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(existsSync(join(stateDir, 'tn.json'))).toBe(false);
    await pool.remove();
    await pool[Symbol.asyncDispose]();
    expect(pool.processCount()).toBe(7);
    expect([...host.links.keys()]).toEqual(['lo']);
  });

  it('removes the devices when an address is gone already; fails on a device it could not delete', async () => {
    const host = fakeHost(root, { failOn: /^addr del dev tn0/ });
    const pool = await createTapPool(planPool({ size: 2, stateDir }), {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    await pool.remove();
    expect([...host.links.keys()]).toEqual(['lo']);

    const stuck = fakeHost(root, { failOn: /^link del group/ });
    const again = await createTapPool(planPool({ size: 1, stateDir }), {
      runner: stuck.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    const error = await again.remove().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).message).toMatch(/^Could not remove the pool: /);
  });

  it('leaves ip_forward and a present metadata IP alone', async () => {
    const host = fakeHost(root);
    host.links.get('lo')!.addrs.push('169.254.169.254/32');
    writeFileSync(join(root, 'net', 'ipv4', 'ip_forward'), '1\n');
    const pool = await createTapPool(planPool({ size: 1, stateDir }), {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    expect(host.calls[3]?.input).not.toContain('dev lo');
    await pool.remove();
    expect(host.calls.at(-1)?.input).toBe(
      'neigh show dev lo\naddr del dev tn0\nlink del group 1818996367\n',
    );
    expect(host.links.get('lo')!.addrs).toContain('169.254.169.254/32');
    expect(sysctl('net.ipv4.ip_forward')).toBe('1');
  });

  it('leaves ip_forward off with `ipForward: false` (a pool that forwards nothing)', async () => {
    const host = fakeHost(root);
    const pool = await createTapPool(planPool({ size: 1, stateDir }), {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
      ipForward: false,
    });
    expect(sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(JSON.parse(readFileSync(join(stateDir, 'tn.json'), 'utf8')).ipForward).toBeNull();
    await pool.remove();
    expect(sysctl('net.ipv4.ip_forward')).toBe('0');
  });

  it('does not restore ip_forward that someone else changed since', async () => {
    const host = fakeHost(root);
    const pool = await createTapPool(planPool({ size: 1, stateDir }), {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    writeFileSync(join(root, 'net', 'ipv4', 'ip_forward'), '2\n');
    await pool.remove();
    expect(sysctl('net.ipv4.ip_forward')).toBe('2');
  });

  it('rolls back what it did when a step fails half-way and rethrows the first error', async () => {
    const host = fakeHost(root, { failOn: /link set dev tn1 up/ });
    const plan = planPool({ size: 3, stateDir });
    const error = await createTapPool(plan, {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).message).toMatch(
      /^Could not configure the TAP devices: `ip -batch -` exited 1: Error: injected failure/,
    );
    expect((error as CommandError).cause.input).toContain('link set dev tn2 up');
    expect(host.calls.at(-1)).toEqual({
      argv: 'ip -4 -force -batch -',
      // tn2 never got its address: that line fails, and tn2 goes with the group all the same
      input:
        'neigh show dev lo\naddr del dev tn0\naddr del dev tn1\naddr del dev tn2\nlink del group 1818996367\n',
    });
    expect([...host.links.keys()]).toEqual(['lo']);
    expect(host.links.get('lo')!.addrs).toEqual(['127.0.0.1/8']);
    expect(sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(existsSync(join(stateDir, 'tn.json'))).toBe(false);
  });

  it('leaves a record this process can clean up when the rollback fails too', async () => {
    const host = fakeHost(root, { failOn: /^(link set dev tn1 up|link del group)/ });
    const plan = planPool({ size: 2, stateDir });
    const error = await createTapPool(plan, {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    }).catch((e: unknown) => e);
    expect((error as CommandError).message).toMatch(/^Could not configure the TAP devices/);
    expect(JSON.parse(readFileSync(join(stateDir, 'tn.json'), 'utf8')).pid).toBe(0);
    const retry = fakeHost(root);
    for (const [name, link] of host.links) retry.links.set(name, link);
    expect(
      await cleanupPool('tn', {
        stateDir,
        runner: retry.runner,
        sysctlRoot: root,
        claimScope: dir,
      }),
    ).toEqual({
      removedDevices: ['tn0', 'tn1'],
      removedAddresses: [],
      restoredSysctls: [],
      skipped: [],
    });
    expect([...retry.links.keys()]).toEqual(['lo']);
  });

  it('refuses an existing device by name and changes nothing', async () => {
    const host = fakeHost(root);
    host.links.set('tn1', { kind: 'bridge', addrs: [] });
    const error = await createTapPool(planPool({ size: 3, stateDir }), {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceExistsError);
    expect((error as DeviceExistsError).devices).toEqual(['tn1']);
    expect(host.calls.map((c) => c.argv)).toEqual([
      'ip -details -json addr show',
      'ip -json -4 route show table all',
    ]);
    expect(existsSync(join(stateDir, 'tn.json'))).toBe(false);
  });

  it('refuses a live pool, and a stale record unless asked to clean it up', async () => {
    const host = fakeHost(root);
    const plan = planPool({ size: 1, stateDir });
    // The caller's own claim, so the test can give it up as a crash would.
    const claim = await claimPrefix('tn', { scope: dir });
    const pool = await createTapPool(plan, {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
      claim,
    });
    await expect(
      createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir }),
    ).rejects.toThrow(
      new RegExp(`^Expected no live pool with prefix \`tn\`, got one owned by pid ${process.pid}`),
    );
    await expect(
      cleanupPool('tn', { stateDir, runner: host.runner, sysctlRoot: root, claimScope: dir }),
    ).rejects.toThrow(StateError);
    // Pretend the owner crashed: its claim is gone and its record names a pid that cannot exist.
    await claim.release();
    const path = join(stateDir, 'tn.json');
    writeFileSync(
      path,
      JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), pid: 2 ** 31 - 2 }),
    );
    await expect(
      createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir }),
    ).rejects.toThrow(/run cleanupPool\('tn'\) first/);
    const again = await createTapPool(plan, {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
      cleanupStale: true,
    });
    expect([...host.links.keys()]).toEqual(['lo', 'tn0']);
    await again.remove();
    // The first pool's devices are gone already; it still restores the ip_forward it changed.
    await pool.remove();
    expect([...host.links.keys()]).toEqual(['lo']);
    expect(sysctl('net.ipv4.ip_forward')).toBe('0');
  });

  it('refuses a plan that was modified after planPool', async () => {
    const host = fakeHost(root);
    const plan = planPool({ size: 2, stateDir });
    plan.networks[1]!.device = 'tn1\nlink del dev eth0';
    await expect(
      createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir }),
    ).rejects.toThrow(InvalidOptionError);
    expect(host.calls).toEqual([]);
  });
});

describe('cleanupPool with a recording runner', () => {
  it('deletes device by device when a foreign device joined the link group, and spares it', async () => {
    const host = fakeHost(root);
    const plan = planPool({ size: 2, stateDir });
    const claim = await claimPrefix('tn', { scope: dir });
    await createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir, claim });
    host.links.set('br7', { kind: 'bridge', addrs: [], group: String(plan.linkGroup) });
    // Pretend the owner crashed: its claim is gone and its record names a pid that cannot exist.
    await claim.release();
    const path = join(stateDir, 'tn.json');
    writeFileSync(
      path,
      JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), pid: 2 ** 31 - 2 }),
    );
    const report = await cleanupPool('tn', {
      stateDir,
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    expect(host.calls.at(-1)?.input).toBe(
      'neigh show dev lo\naddr del dev tn0\naddr del dev tn1\nlink del dev tn0\nlink del dev tn1\naddr del 169.254.169.254/32 dev lo\n',
    );
    expect(report).toEqual({
      removedDevices: ['tn0', 'tn1'],
      removedAddresses: ['169.254.169.254/32 dev lo'],
      restoredSysctls: ['net.ipv4.ip_forward=0'],
      skipped: [{ name: 'br7', reason: "in the pool's link group but not in the state record" }],
    });
    expect([...host.links.keys()]).toEqual(['lo', 'br7']);
  });

  it('without a record removes nothing and reports devices of the naming scheme', async () => {
    const host = fakeHost(root);
    host.links.set('tn3', { kind: 'tun', type: 'tap', addrs: [] });
    host.links.set('tnx', { kind: 'bridge', addrs: [] });
    expect(
      await cleanupPool('tn', { stateDir, runner: host.runner, sysctlRoot: root, claimScope: dir }),
    ).toEqual({
      removedDevices: [],
      removedAddresses: [],
      restoredSysctls: [],
      skipped: [{ name: 'tn3', reason: 'no state record for this prefix' }],
    });
    expect(host.calls).toHaveLength(1);
  });

  it('validates its arguments', async () => {
    await expect(cleanupPool('T N')).rejects.toThrow(InvalidOptionError);
    await expect(cleanupPool('tn', { stateDir: 'relative' })).rejects.toThrow(
      'Expected `stateDir` to be an absolute path',
    );
  });
});

describe('a state folder others can write', () => {
  it('is refused by create and cleanup with ERR_UNSAFE_STATE_DIR, before any command', async () => {
    const host = fakeHost(root);
    mkdirSync(stateDir);
    chmodSync(stateDir, 0o777);
    const plan = planPool({ size: 1, stateDir });
    for (const attempt of [
      createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir }),
      cleanupPool('tn', { stateDir, runner: host.runner, sysctlRoot: root, claimScope: dir }),
    ]) {
      const error = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeStateDirError);
      expect(error).toMatchObject({ code: 'ERR_UNSAFE_STATE_DIR', path: stateDir, mode: '0777' });
      expect((error as Error).message).toMatch(
        /writable by others \(mode 0777\); nothing was changed$/,
      );
    }
    expect(host.calls).toEqual([]);
  });

  it('is created 0700 when missing', async () => {
    const host = fakeHost(root);
    const pool = await createTapPool(planPool({ size: 1, stateDir }), {
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    await pool.remove();
  });
});

describe('cleanup proves a device is ours by its mark', () => {
  it('leaves a TAP the record names but that does not carry the mark', async () => {
    const host = fakeHost(root);
    const plan = planPool({ size: 2, stateDir });
    const claim = await claimPrefix('tn', { scope: dir });
    await createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir, claim });
    await claim.release();
    // Someone else's TAP now has the name tn1 (ours was deleted behind our back).
    host.links.set('tn1', { kind: 'tun', type: 'tap', addrs: [], group: String(plan.linkGroup) });
    const path = join(stateDir, 'tn.json');
    writeFileSync(
      path,
      JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), pid: 2 ** 31 - 2 }),
    );
    const report = await cleanupPool('tn', {
      stateDir,
      runner: host.runner,
      sysctlRoot: root,
      claimScope: dir,
    });
    expect(report.removedDevices).toEqual(['tn0']);
    expect(report.skipped).toEqual([
      {
        name: 'tn1',
        reason: 'does not carry this pool\'s mark (ifalias ""), so not provably ours',
      },
    ]);
    expect(host.calls.at(-1)?.input).toBe(
      'neigh show dev lo\naddr del dev tn0\nlink del dev tn0\naddr del 169.254.169.254/32 dev lo\n',
    );
    expect([...host.links.keys()]).toEqual(['lo', 'tn1']);
  });
});

describe('racing runs', () => {
  it('lets only one of two simultaneous creates with one prefix touch anything', async () => {
    const host = fakeHost(root);
    const plan = planPool({ size: 2, stateDir });
    const results = await Promise.allSettled([
      createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir }),
      createTapPool(plan, { runner: host.runner, sysctlRoot: root, claimScope: dir }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(StateError);
    expect(host.calls.filter((c) => c.argv === 'ip -batch -')).toHaveLength(2); // the winner's two batches only
    expect([...host.links.keys()]).toEqual(['lo', 'tn0', 'tn1']);
    await (
      won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof createTapPool>>>
    ).value.remove();
  });
});
