import {
  createNetns,
  describeNetns,
  type Netns,
  snapshotNamespace,
  startHttpClient,
  tapWire,
  waitFor,
} from '@tapnet/testing';
import type { ResultPromise } from 'execa';
import { type Lease, type Network, Pool, type PoolOptions } from 'tapnet';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { pidsOf } from './helpers.ts';

// Drill: dnsmasq SIGKILLed repeatedly while guests ask for leases.
//
// Setup (the simplest honest one): a real facade pool of 4; for each network a namespace plays
// the VM, with `busybox udhcpc` on a TAP that one QEMU process (no machine, just its net hub)
// joins to the pool's TAP. So the pool's TAP is held open by QEMU exactly as for a guest, and
// DHCP runs over real frames through the pool's own dnsmasq, firewall and devices. The guests
// carry their network's MAC (`network.mac`), as `qemuArgs()` would give them.
//
// Each client keeps asking (udhcpc: 20 DISCOVERs 1 s apart per round, rounds until a lease, run
// again after every lease) while the drill kills dnsmasq with SIGKILL each time it comes back.
const SIZE = 4;
/** Below the supervisor's give-up threshold (5 quick failures in a row; see the second test). */
const KILLS = 4;

interface Client {
  network: Network;
  ns: Netns;
  wire: ResultPromise;
  runs: { exitCode: number; output: string; startedAfterKills: number }[];
}

describeNetns('drill: dnsmasq killed repeatedly under DHCP load', () => {
  let empty: Awaited<ReturnType<typeof snapshotNamespace>>;
  let pool: Pool | undefined;
  const clients: Client[] = [];
  const errors: Error[] = [];
  const restarts: { attempt: number; signal?: string | null }[] = [];
  const leases: Lease[] = [];

  async function start(options: Partial<PoolOptions> = {}): Promise<Pool> {
    const made = await Pool.create({ size: SIZE, prefix: 'dd', upstreamDns: [], ...options });
    pool = made;
    made.on('error', (error: Error) => errors.push(error));
    made.on('dnsmasq-restart', (info: { attempt: number; signal?: string | null }) =>
      restarts.push(info),
    );
    made.on('lease', (lease: Lease) => leases.push(lease));
    for (let i = 0; i < SIZE; i++) {
      const network = made.network();
      const ns = await createNetns('dd');
      const { qemu: wire } = await tapWire({
        poolTap: network.name,
        client: ns,
        clientDev: 'eth0',
        clientMac: network.mac,
      });
      clients.push({ network, ns, wire, runs: [] });
    }
    return made;
  }

  beforeEach(async () => {
    empty = await snapshotNamespace();
  });

  afterEach(async () => {
    for (const client of clients) {
      client.wire.kill('SIGKILL');
      await client.wire;
      await client.ns.delete();
    }
    clients.length = 0;
    await pool?.dispose();
    pool = undefined;
    errors.length = 0;
    restarts.length = 0;
    leases.length = 0;
    expect(await snapshotNamespace()).toEqual(empty);
  });

  /** Kills dnsmasq `count` times, each time as soon as a new one is running. */
  async function killRepeatedly(made: Pool, count: number, killed: number[]) {
    for (let k = 0; k < count; k++) {
      // Back = a new dnsmasq that answers DNS on every gateway (the supervisor's `running`).
      const pid = await waitFor(
        async () => {
          const { dnsmasq } = await made.status();
          return dnsmasq.state === 'running' && dnsmasq.pid && !killed.includes(dnsmasq.pid)
            ? dnsmasq.pid
            : undefined;
        },
        { what: `dnsmasq to come back (kill ${k + 1})`, timeout: 30_000 },
      );
      expect(pidsOf('dnsmasq')).toEqual([pid]);
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
      await waitFor(() => restarts.length >= k + 1, {
        what: `a dnsmasq-restart event for kill ${k + 1}`,
        seen: () => JSON.stringify(restarts),
      });
    }
  }

  it(`SIGKILL x${KILLS}: every guest that asked gets a lease, a restart event per kill, the pool stays usable`, async () => {
    const made = await start();
    const killed: number[] = [];
    let stop = false;
    const ask = async (client: Client) => {
      while (!stop) {
        const startedAfterKills = killed.length;
        const result = await client.ns.run(
          // No `-n`: like a booting guest it never gives up (a REQUEST unanswered 3 times
          // because dnsmasq died between OFFER and ACK sends it back to DISCOVER after 1 s);
          // the 60 s timeout is the drill's limit.
          [
            'busybox',
            'udhcpc',
            '-i',
            'eth0',
            '-q',
            '-t',
            '20',
            '-T',
            '1',
            '-A',
            '1',
            '-s',
            '/bin/true',
          ],
          { timeout: 60_000 },
        );
        client.runs.push({
          exitCode: result.exitCode,
          output: result.stdout + result.stderr,
          startedAfterKills,
        });
      }
    };
    const asking = clients.map((client) => ask(client));

    await killRepeatedly(made, KILLS, killed);
    // Keep asking until every guest has a lease it asked for after the last kill.
    await waitFor(
      () =>
        clients.every((c) => c.runs.some((r) => r.startedAfterKills === KILLS && r.exitCode === 0)),
      {
        what: 'a lease for every guest after the last kill',
        timeout: 60_000,
        seen: () => clients.map((c) => `${c.network.name}: ${JSON.stringify(c.runs)}`).join('\n'),
      },
    );
    stop = true;
    await Promise.all(asking);

    // One restart per kill, each reporting the SIGKILL, and no give-up.
    expect(restarts).toHaveLength(KILLS);
    expect(restarts.map((r) => r.signal)).toEqual(Array(KILLS).fill('SIGKILL'));
    expect(errors).toEqual([]);

    const plan = new Map(made.plan.networks.map((n) => [n.device, n]));
    for (const client of clients) {
      // Every udhcpc that asked got a lease (none ran out of its 20 tries)...
      expect(client.runs.length).toBeGreaterThan(0);
      for (const run of client.runs) {
        expect(run.exitCode, run.output).toBe(0);
        expect(run.output).toMatch(/lease of \d+\.\d+\.\d+\.\d+ obtained/);
      }
      // ...inside its own network's range, from its own gateway, and the pool saw it.
      const ip = /lease of ([\d.]+) obtained from ([\d.]+)/.exec(client.runs.at(-1)!.output);
      const net = plan.get(client.network.name)!;
      expect(ip?.[2]).toBe(net.gateway);
      expect(client.network.lease).toMatchObject({
        network: client.network.name,
        mac: client.network.mac,
        ip: ip?.[1],
      });
      // DNS on the gateway works again after the kills, from the leased address.
      await client.ns.runOk(['ip', 'addr', 'add', `${ip?.[1]}/${net.prefixLength}`, 'dev', 'eth0']);
      const dns = await client.ns.run(['busybox', 'nslookup', 'taskcluster', net.gateway]);
      expect(dns.stdout).toContain('169.254.169.254');
    }
    const seen = new Set(leases.map((l) => `${l.network} ${l.mac}`));
    for (const client of clients)
      expect(seen).toContain(`${client.network.name} ${client.network.mac}`);

    // The pool is still whole: one dnsmasq, running, metadata answering.
    const status = await made.status();
    expect(status.dnsmasq).toMatchObject({ state: 'running', restarts: KILLS });
    expect(pidsOf('dnsmasq')).toEqual([status.dnsmasq.pid]);
    const [{ network: first, ns: vm }] = clients as [Client];
    first.setHandler(() => new Response('still here'));
    // Asked from the VM's side, with the address it leased above.
    await vm.runOk(['ip', 'route', 'add', 'default', 'via', first.gateway]);
    const http = startHttpClient(vm);
    try {
      expect(await http.get()).toEqual({ status: 200, body: 'still here' });
    } finally {
      await http.close();
    }
    const total = clients.reduce((sum, c) => sum + c.runs.length, 0);
    const interrupted = clients.reduce(
      (sum, c) =>
        sum +
        c.runs.filter((r) => /no lease|discover[\s\S]*select[\s\S]*discover/.test(r.output)).length,
      0,
    );
    console.log(
      `dnsmasq drill: ${KILLS} kills, ${total} udhcpc leases (${interrupted} asked again after an unanswered request), ${leases.length} lease events`,
    );
  }, 180_000);
  it('by default gives up after the 5th quick kill, and says so: status failed, a typed error event', async () => {
    const made = await start();
    const killed: number[] = [];
    await killRepeatedly(made, 4, killed);
    const pid = await waitFor(
      async () => {
        const { dnsmasq } = await made.status();
        return dnsmasq.state === 'running' && dnsmasq.pid && !killed.includes(dnsmasq.pid)
          ? dnsmasq.pid
          : undefined;
      },
      { what: 'dnsmasq back before the 5th kill', timeout: 30_000 },
    );
    process.kill(pid, 'SIGKILL');
    await waitFor(() => errors.length > 0, {
      what: 'an error event after the 5th kill',
      seen: () => JSON.stringify(restarts),
    });
    expect(errors[0]).toMatchObject({ code: 'ERR_DNSMASQ_FAILED' });
    const { dnsmasq } = await made.status();
    expect(dnsmasq.state).toBe('failed');
    expect(restarts).toHaveLength(4);
    expect(pidsOf('dnsmasq')).toEqual([]);
  }, 120_000);

  // By default the supervisor gives up after 5 failures within 10 s of a restart (systemd's
  // start limit); a pool that must ride out more sets `dnsmasqRestart`.
  it('SIGKILL x6 in quick succession with a looser restart policy: every guest that asks afterwards still gets a lease', async () => {
    const made = await start({ dnsmasqRestart: { maxQuickFailures: 10 } });
    const killed: number[] = [];
    await killRepeatedly(made, 6, killed);
    for (const client of clients) {
      const result = await client.ns.run(
        [
          'busybox',
          'udhcpc',
          '-i',
          'eth0',
          '-q',
          '-t',
          '20',
          '-T',
          '1',
          '-A',
          '1',
          '-s',
          '/bin/true',
        ],
        { timeout: 60_000 },
      );
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    }
    expect(errors).toEqual([]);
    expect((await made.status()).dnsmasq.state).toBe('running');
  }, 120_000);
});
