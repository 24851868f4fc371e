import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  createTapPeer,
  describeNetns,
  runOk,
  snapshotNamespace,
  type TapPeer,
} from '@tapnet/testing';
import { cleanupLeftovers, type Network, Pool } from 'tapnet';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { rejection } from './helpers.ts';

// Drill: a state folder others can write, records planted in it, symlinks at the names tapnet
// writes, a foreign TAP a record names. Each attack must fail with a typed error or be ignored,
// change nothing on the host (namespace snapshot before and after), and a well-behaved pool in
// a safe state folder keeps serving its VM meanwhile.
/** Attacked pools take their networks beside the good pool's (10.231.0.0/16). */
const subnet = '10.232.0.0/16';

describeNetns('drill: a hostile state folder is never obeyed', () => {
  /** A folder for this file's state folders, 0700 under the sandbox's sticky /tmp. */
  let base: string;
  let good: Pool;
  let network: Network;
  let vm: TapPeer;
  let victim: string;

  beforeAll(async () => {
    base = mkdtempSync('/tmp/hostile-state-');
    // An `allow` entry: the good pool forwards, so it turns ip_forward on (what a planted record
    // would flip back).
    good = await Pool.create({
      size: 2,
      prefix: 'hg',
      stateDir: join(base, 'good'),
      allow: [{ cidr: '192.0.2.0/24' }],
    });
    network = good.network();
    network.setHandler((_request, ctx) => new Response(`good:${ctx.network}`));
    vm = await createTapPeer({
      tap: network.name,
      subnet: network.subnet,
      gateway: network.gateway,
      mac: network.mac,
    });
  });

  afterAll(async () => {
    await vm?.close();
    await good?.dispose();
    rmSync(base, { recursive: true, force: true });
  });

  beforeEach(() => {
    victim = join(base, `victim-${Math.random().toString(16).slice(2)}`);
    writeFileSync(victim, 'precious\n');
  });

  /** The well-behaved pool still answers its VM. */
  afterEach(async () => {
    expect(await vm.get()).toEqual({ status: 200, body: `good:${network.name}` });
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  /** A state folder anyone can write (as a careless `mkdir -m 777` would leave it). */
  const openFolder = (name: string) => {
    const dir = join(base, name);
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    return dir;
  };

  /** What a hostile user would plant: a "crashed" pool that flips ip_forward and takes an address from lo. */
  const plantedRecord = (
    prefix: string,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> => ({
    version: 1,
    prefix,
    pid: 2 ** 31 - 2,
    createdAt: '2026-01-01T00:00:00.000Z',
    range: '10.231.0.0/16',
    devices: [],
    tapsCreated: true,
    configured: true,
    metadataIp: { cidr: '10.77.0.1/32', added: true },
    ipForward: { prior: '0', value: '1' },
    ...extra,
  });

  it('a planted record in a folder others can write: cleanup refuses (ERR_UNSAFE_STATE_DIR), ip_forward and lo untouched', async () => {
    await runOk(['ip', 'addr', 'add', '10.77.0.1/32', 'dev', 'lo']);
    try {
      const dir = openFolder('open-cleanup');
      writeFileSync(join(dir, 'hx.json'), JSON.stringify(plantedRecord('hx')));
      const before = await snapshotNamespace();
      expect(before.sysctls).toMatch(/^ipv4\/ip_forward=1$/m); // the good pool turned it on
      expect(before.addresses).toMatch(/10\.77\.0\.1\/32/);

      const error = await rejection(() => cleanupLeftovers('hx', dir));
      expect(error.code).toBe('ERR_UNSAFE_STATE_DIR');
      expect(error.message).toContain(
        `got \`${dir}\`, owned by uid 0: it is writable by others (mode 0777)`,
      );
      expect(error).toMatchObject({ path: dir, owner: 0, mode: '0777' });
      // The same record, reached by a pool asked to clean up stale leftovers first.
      const create = await rejection(() =>
        Pool.create({ size: 1, prefix: 'hx', subnet, stateDir: dir, cleanupStale: true }),
      );
      expect(create.code).toBe('ERR_UNSAFE_STATE_DIR');
      expect(await snapshotNamespace()).toEqual(before);
      expect(existsSync(join(dir, 'hx.json'))).toBe(true);
    } finally {
      await runOk(['ip', 'addr', 'del', '10.77.0.1/32', 'dev', 'lo']);
    }
  });

  it('a folder below a writable, non-sticky parent is refused too, and nothing is created in it', async () => {
    const parent = openFolder('open-parent');
    const before = await snapshotNamespace();
    const error = await rejection(() =>
      Pool.create({ size: 1, prefix: 'hp', subnet, stateDir: join(parent, 'state') }),
    );
    expect(error.code).toBe('ERR_UNSAFE_STATE_DIR');
    expect(error.message).toContain(`got \`${parent}\``);
    expect(existsSync(join(parent, 'state'))).toBe(false);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('symlinks at the names tapnet used to write through: an open folder is refused, a safe one never follows them', async () => {
    // The old, predictable temporary names: `<record>.<pid>.tmp` and `<config>.<pid>.tmp`.
    const open = openFolder('open-symlink');
    symlinkSync(victim, join(open, `hs.json.${process.pid}.tmp`));
    const before = await snapshotNamespace();
    const error = await rejection(() =>
      Pool.create({ size: 1, prefix: 'hs', subnet, stateDir: open }),
    );
    expect(error.code).toBe('ERR_UNSAFE_STATE_DIR');
    expect(await snapshotNamespace()).toEqual(before);

    const safe = join(base, 'safe-symlink');
    mkdirSync(join(safe, 'hs'), { recursive: true, mode: 0o700 });
    symlinkSync(victim, join(safe, `hs.json.${process.pid}.tmp`));
    symlinkSync(victim, join(safe, 'hs', `dnsmasq.conf.${process.pid}.tmp`));
    await using pool = await Pool.create({
      size: 1,
      prefix: 'hs',
      subnet,
      stateDir: safe,
      metadataPort: 8081, // the good pool has port 80
    });
    expect(pool.prefix).toBe('hs');
    expect(JSON.parse(readFileSync(join(safe, 'hs.json'), 'utf8')).prefix).toBe('hs');
  });

  it("a symlink planted at dnsmasq's lease file: refused (ERR_UNSAFE_STATE_DIR), rolled back, nothing written through it", async () => {
    const safe = join(base, 'safe-lease');
    mkdirSync(join(safe, 'hl'), { recursive: true, mode: 0o700 });
    symlinkSync(victim, join(safe, 'hl', 'dnsmasq.leases'));
    const before = await snapshotNamespace();
    const error = await rejection(() =>
      Pool.create({ size: 1, prefix: 'hl', subnet, stateDir: safe }),
    );
    expect(error.code).toBe('ERR_UNSAFE_STATE_DIR');
    expect(error.message).toMatch(/lease file/);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it("a record naming a foreign TAP of the pool's naming scheme: cleanup leaves the TAP", async () => {
    // A TAP made by someone else, named like a pool's, without tapnet's mark.
    await runOk(['ip', 'tuntap', 'add', 'dev', 'hf0', 'mode', 'tap']);
    await runOk(['ip', 'link', 'set', 'dev', 'hf0', 'group', '4242']);
    try {
      const dir = join(base, 'safe-foreign');
      mkdirSync(dir, { mode: 0o700 });
      const record = plantedRecord('hf', {
        devices: ['hf0'],
        linkGroup: 4242,
        mark: 'tapnet:hf:0123456789abcdef',
        metadataIp: null,
        ipForward: null,
      });
      writeFileSync(join(dir, 'hf.json'), JSON.stringify(record));
      const before = await snapshotNamespace();
      const report = await cleanupLeftovers('hf', dir);
      expect(report.taps.removedDevices).toEqual([]);
      expect(report.taps.skipped).toEqual([
        {
          name: 'hf0',
          reason: 'does not carry this pool\'s mark (ifalias ""), so not provably ours',
        },
      ]);
      expect(await snapshotNamespace()).toEqual(before);
      // An older record (no mark at all) proves nothing either.
      const { mark: _, ...unmarked } = record;
      writeFileSync(join(dir, 'hf.json'), JSON.stringify(unmarked));
      expect((await cleanupLeftovers('hf', dir)).taps.removedDevices).toEqual([]);
      expect(await snapshotNamespace()).toEqual(before);
    } finally {
      await runOk(['ip', 'link', 'del', 'dev', 'hf0']);
    }
  });
});
