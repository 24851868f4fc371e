import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { describeNetns, run, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa } from 'execa';
import { Pool } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  cliBin,
  distIndex,
  getFrom,
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

/**
 * Starts a holder with 50 networks and 5 paused QEMUs attached, opens a keep-alive metadata
 * connection from each guest network, then SIGKILLs the holder. Returns what it left behind.
 */
async function killHolder(tag: string, orphans: number[]) {
  const before = pidsOf('qemu-system-x86');
  const holder: Holder = await startHolder({
    options: { size: SIZE, prefix },
    guests: GUESTS,
    tag,
  });
  // Whatever happens next, the guests are ended by the suite (and a live holder with them).
  orphans.push(...holder.ready.qemuPids, holder.ready.pid);
  const mine = holder.ready.qemuPids.toSorted((a, b) => a - b);
  const others = (pids: number[]) => pids.filter((pid) => !before.includes(pid));
  expect(holder.ready.guests).toHaveLength(GUESTS);
  expect(others(pidsOf('qemu-system-x86'))).toEqual(mine);
  const agents = holder.ready.guests.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  for (const [i, guest] of holder.ready.guests.entries()) {
    const reply = await getFrom(guest.gateway, '/', { agent: agents[i] });
    expect(reply).toEqual({ status: 200, body: `${tag}:${guest.name}` });
  }
  // Each agent now keeps one idle connection to the holder's metadata server.
  expect(agents.map((a) => Object.values(a.freeSockets).flat().length)).toEqual(
    Array(GUESTS).fill(1),
  );

  holder.child.kill('SIGKILL');
  const result = await holder.child;
  expect(result.signal).toBe('SIGKILL');

  // Left behind: every TAP, the firewall table, the orphaned dnsmasq and the guests.
  expect(await poolLinks(prefix)).toHaveLength(SIZE);
  expect(await nftTables()).toHaveLength(1);
  expect(pidsOf('dnsmasq')).toEqual([holder.ready.dnsmasqPid]);
  expect(others(pidsOf('qemu-system-x86'))).toEqual(mine);
  for (const guest of holder.ready.guests) expect(carrier(guest.name)).toBe(true);
  // The kernel closed the holder's end of every keep-alive connection.
  await waitFor(() => agents.every((a) => Object.values(a.freeSockets).flat().length === 0), {
    what: 'the keep-alive connections to close',
  });
  return { holder, agents };
}

describeNetns('drill: SIGKILL the process holding a pool of 50 with guests attached', () => {
  let empty: Awaited<ReturnType<typeof snapshotNamespace>>;
  let onePool: Awaited<ReturnType<typeof footprint>>;
  const orphans: number[] = [];

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

  it('automatic cleanup: Pool.create with the same prefix takes over, exactly one pool remains', async () => {
    const { holder, agents } = await killHolder('first', orphans);

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

    // The same keep-alive agents reach the new pool; the old handlers are gone.
    for (const [i, guest] of holder.ready.guests.entries()) {
      expect((await getFrom(guest.gateway, '/', { agent: agents[i] })).status).toBe(404);
    }
    const network = pool.network();
    network.setHandler(() => new Response(`second:${network.name}`));
    expect(await getFrom(network.gateway, '/', { agent: agents[0] })).toEqual({
      status: 200,
      body: `second:${network.name}`,
    });
    for (const agent of agents) agent.destroy();
  });

  it('explicit cleanup: `tapnet cleanup` removes everything, then a pool starts with cleanupStale off', async () => {
    const qemusBefore = pidsOf('qemu-system-x86').length;
    const { holder, agents } = await killHolder('third', orphans);

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
    expect(await getFrom(network.gateway, '/', { agent: agents[0] })).toEqual({
      status: 200,
      body: 'fourth',
    });
    for (const agent of agents) agent.destroy();
  });
});
