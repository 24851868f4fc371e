import { existsSync, readFileSync } from 'node:fs';
import {
  clientAddress,
  createNetns,
  createTapPeer,
  describeNetns,
  type HttpClient,
  type Netns,
  run,
  runOk,
  snapshotNamespace,
  startHttpClient,
  waitFor,
} from '@tapnet/testing';
import { execa } from 'execa';
import { Pool } from 'tapnet';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  cliBin,
  distIndex,
  type Holder,
  pidsOf,
  poolLinks,
  poolShape,
  startHolder,
} from './helpers.ts';

const SIZE = 50;
const GUESTS = 5;
const prefix = 'dk';

/** One pool's footprint, with what legitimately differs between two equal pools stripped. */
async function footprint() {
  const shape = await poolShape();
  const { processes: _, ...rest } = shape;
  return {
    ...rest,
    // TAPs get a random MAC when created.
    links: rest.links.replace(/link\/ether \S+/g, 'link/ether -'),
  };
}

const carrier = (device: string) =>
  readFileSync(`/sys/class/net/${device}/carrier`, 'utf8').trim() === '1';

const nftTables = async () =>
  (await run(['nft', 'list', 'tables'])).stdout.split('\n').filter((line) => line.includes(prefix));

interface Guest {
  ns: Netns;
  http: HttpClient;
}

/**
 * Starts a holder with 50 networks and 5 guests attached (each a QEMU hub joining the guest's
 * TAP to a wire this process moves into a namespace that plays the VM), opens a keep-alive
 * metadata connection from each guest's VM, then SIGKILLs the holder. Returns what it left
 * behind.
 */
async function killHolder(tag: string, orphans: number[], guests: Guest[]) {
  const before = pidsOf('qemu-system-x86');
  const wires = Array.from({ length: GUESTS }, () => `w${Math.random().toString(36).slice(2, 10)}`);
  for (const wire of wires) {
    await runOk(['ip', 'tuntap', 'add', 'dev', wire, 'mode', 'tap']);
    await runOk(['ip', 'link', 'set', wire, 'up']); // NO-CARRIER until the hub opens it
  }
  const holder: Holder = await startHolder({
    options: { size: SIZE, prefix },
    guests: GUESTS,
    tag,
    wires,
  });
  // Whatever happens next, the guests are ended by the suite (and a live holder with them).
  orphans.push(...holder.ready.qemuPids, holder.ready.pid);
  const mine = holder.ready.qemuPids.toSorted((a, b) => a - b);
  const others = (pids: number[]) => pids.filter((pid) => !before.includes(pid));
  expect(holder.ready.guests).toHaveLength(GUESTS);
  expect(others(pidsOf('qemu-system-x86'))).toEqual(mine);
  // The hubs hold the wires' fds: moved into a namespace, a wire is that VM's NIC.
  for (const [i, guest] of holder.ready.guests.entries()) {
    const ns = await createNetns('dk');
    await runOk(['ip', 'link', 'set', wires[i]!, 'netns', ns.name]);
    await ns.runOk(['ip', 'link', 'set', wires[i]!, 'name', 'eth0']);
    await ns.runOk(['ip', 'link', 'set', 'eth0', 'address', guest.mac, 'up']);
    const length = guest.subnet.split('/')[1];
    const address = clientAddress(guest.subnet, guest.gateway);
    await ns.runOk(['ip', 'addr', 'add', `${address}/${length}`, 'dev', 'eth0']);
    await ns.runOk(['ip', 'route', 'add', 'default', 'via', guest.gateway]);
    guests.push({ ns, http: startHttpClient(ns) });
  }
  for (const [i, guest] of holder.ready.guests.entries()) {
    const reply = await guests[i]!.http.get('/', { keepAlive: true });
    expect(reply).toEqual({ status: 200, body: `${tag}:${guest.name}` });
  }
  // Each VM now keeps one idle connection to the holder's metadata server.
  const idle = () => Promise.all(guests.map((g) => g.http.idleConnections()));
  expect(await idle()).toEqual(Array(GUESTS).fill(1));

  holder.child.kill('SIGKILL');
  const result = await holder.child;
  expect(result.signal).toBe('SIGKILL');

  // Left behind: every TAP, the firewall table, the orphaned dnsmasq and the guests.
  expect(await poolLinks(prefix)).toHaveLength(SIZE);
  expect(await nftTables()).toHaveLength(1);
  expect(pidsOf('dnsmasq')).toEqual([holder.ready.dnsmasqPid]);
  expect(others(pidsOf('qemu-system-x86'))).toEqual(mine);
  for (const guest of holder.ready.guests) expect(carrier(guest.name)).toBe(true);
  // The kernel closed the holder's end of every keep-alive connection, and the VMs saw it.
  await waitFor(async () => (await idle()).every((n) => n === 0), {
    what: 'the keep-alive connections to close',
  });
  return { holder };
}

/** Asks from a new VM on each network (its TAP free again): what does the pool answer now? */
/** Each network's metadata status as a VM stand-in of its own sees it (stand-ins side by side). */
async function statusesFrom(networks: { name: string; subnet: string; gateway: string }[]) {
  return Promise.all(
    networks.map(async (n) => {
      await using vm = await createTapPeer({ tap: n.name, subnet: n.subnet, gateway: n.gateway });
      return (await vm.get()).status;
    }),
  );
}

describeNetns('drill: SIGKILL the process holding a pool of 50 with guests attached', () => {
  let empty: Awaited<ReturnType<typeof snapshotNamespace>>;
  let onePool: Awaited<ReturnType<typeof footprint>>;
  const orphans: number[] = [];
  const guests: Guest[] = [];

  afterEach(async () => {
    for (const guest of guests) {
      await guest.http.close();
      await guest.ns.delete();
    }
    guests.length = 0;
  });

  beforeAll(async () => {
    for (const file of [cliBin, distIndex]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: build first (pnpm build)`);
    }
    empty = await snapshotNamespace();
    // What exactly one pool of 50 with this prefix looks like, made cleanly in this process.
    const reference = await Pool.create({ size: SIZE, prefix });
    onePool = await footprint();
    await reference.dispose();
    expect(await snapshotNamespace()).toEqual(empty);
  });

  afterAll(async () => {
    // The orphaned guests are not tapnet's: the drill ends them itself, by pid.
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await waitFor(() => pidsOf('qemu-system-x86').length === 0, { what: 'the orphans to exit' });
    expect(await snapshotNamespace()).toEqual(empty);
  });

  // A pool of 50, five paused QEMUs and stand-ins: minutes of work on a loaded 2-core machine are
  // a budget, not a wait (every wait inside is on a condition).
  it('automatic cleanup: Pool.create with the same prefix takes over, exactly one pool remains', {
    timeout: 120_000,
  }, async () => {
    const { holder } = await killHolder('first', orphans, guests);

    await using pool = await Pool.create({ size: SIZE, prefix });
    expect(await footprint()).toEqual(onePool);
    expect(await poolLinks(prefix)).toHaveLength(SIZE);
    expect(await nftTables()).toHaveLength(1);
    const dnsmasq = pidsOf('dnsmasq');
    expect(dnsmasq).toHaveLength(1);
    expect(dnsmasq).not.toContain(holder.ready.dnsmasqPid);
    expect((await pool.status()).dnsmasq).toMatchObject({ state: 'running', pid: dnsmasq[0] });

    // Finding: the orphaned QEMUs live on (tapnet does not kill processes it did not start),
    // but they hold the deleted TAPs' queues: the new pool's same-named TAPs are new devices no
    // process is attached to, so no old guest can reach a new tenant's network.
    for (const pid of holder.ready.qemuPids) expect(pidsOf('qemu-system-x86')).toContain(pid);
    for (const guest of holder.ready.guests) expect(carrier(guest.name)).toBe(false);

    // A VM on each of those networks now reaches the new pool; the old handlers are gone.
    expect(await statusesFrom(holder.ready.guests)).toEqual(Array(GUESTS).fill(404));
    const network = pool.network();
    network.setHandler(() => new Response(`second:${network.name}`));
    await using vm = await createTapPeer({
      tap: network.name,
      subnet: network.subnet,
      gateway: network.gateway,
      mac: network.mac,
    });
    expect(await vm.get()).toEqual({ status: 200, body: `second:${network.name}` });
  });

  it('explicit cleanup: `tapnet cleanup` removes everything, then a pool starts with cleanupStale off', {
    timeout: 120_000,
  }, async () => {
    const qemusBefore = pidsOf('qemu-system-x86').length;
    const { holder } = await killHolder('third', orphans, guests);

    const cleanup = await execa(
      process.execPath,
      [cliBin, 'cleanup', '--prefix', prefix, '--json'],
      {
        reject: false,
        timeout: 60_000,
      },
    );
    expect(cleanup.exitCode, cleanup.stderr).toBe(0);
    const [report] = JSON.parse(cleanup.stdout) as {
      running?: number;
      dnsmasqStopped: boolean;
      firewall: { removed: string[] };
      taps: { removedDevices: string[]; skipped: unknown[] };
    }[];
    expect(report?.running).toBeUndefined();
    expect(report?.dnsmasqStopped).toBe(true);
    expect(report?.firewall.removed.length).toBeGreaterThan(0);
    expect(report?.taps.removedDevices.toSorted()).toEqual(
      holder.ready.plan.map((n) => n.name).toSorted(),
    );
    expect(report?.taps.skipped).toEqual([]);

    // Nothing of the pool is left; only the orphaned guests still run.
    const { processes, ...after } = await snapshotNamespace();
    const { processes: emptyProcesses, ...emptyRest } = empty;
    expect(after).toEqual(emptyRest);
    expect(emptyProcesses).toBe('');
    expect(processes.split('\n')).toEqual(Array(qemusBefore + GUESTS).fill('qemu-system-x86'));

    // Cleanup was complete: a pool that refuses leftovers starts, and is exactly one pool.
    await using pool = await Pool.create({ size: SIZE, prefix, cleanupStale: false });
    expect(await footprint()).toEqual(onePool);
    expect(pidsOf('dnsmasq')).toHaveLength(1);
    const network = pool.network();
    network.setHandler(() => new Response('fourth'));
    await using vm = await createTapPeer({
      tap: network.name,
      subnet: network.subnet,
      gateway: network.gateway,
      mac: network.mac,
    });
    expect(await vm.get()).toEqual({ status: 200, body: 'fourth' });
  });
});
