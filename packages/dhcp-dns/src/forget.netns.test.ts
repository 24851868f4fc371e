import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, createVethPeer, describeNetns, type Netns, waitFor } from '@tapnet/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Dnsmasq } from './dnsmasq.js';
import { testNetworks } from './fixtures.test-helpers.js';
import type { DhcpNetwork } from './options.js';
import { defaultRunner, type Runner } from './runner.js';
import { parseStarveResult, STARVER_SCRIPT } from './starver.test-helpers.js';

// Issue 11 item 3: a guest takes every address of its range with random MACs; once its
// network is released, the next guest must lease at once, with no other network disturbed.

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew) echo "LEASE ip=$ip" ;;
esac
`;

interface Setup {
  dir: string;
  networks: DhcpNetwork[];
  guests: Netns[];
  dnsmasq: Dnsmasq;
}

async function setUp(prefix: string, runner?: Runner): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'tapnet-forget-'));
  await writeFile(join(dir, 'udhcpc.sh'), UDHCPC_SCRIPT);
  await chmod(join(dir, 'udhcpc.sh'), 0o755);
  await writeFile(join(dir, 'starver.mjs'), STARVER_SCRIPT);
  const networks = testNetworks(2, prefix);
  const guests: Netns[] = [];
  for (const [i, network] of networks.entries()) {
    const ns = await createNetns(prefix);
    guests.push(ns);
    await createVethPeer({
      hostName: network.device,
      peer: ns,
      hostAddress: `${network.gateway}/24`,
      peerMac: `52:54:00:14:00:0${i}`,
    });
  }
  // The attacker's own address and route (a socket needs them to send broadcasts); any in its subnet.
  await guests[0]!.runOk(['ip', 'addr', 'add', `${networks[0]!.rangeEnd}/24`, 'dev', 'eth0']);
  await guests[0]!.runOk(['ip', 'route', 'add', 'default', 'via', networks[0]!.gateway]);
  const dnsmasq = await Dnsmasq.start({
    networks,
    stateDir: join(dir, 'state'),
    upstream: [],
    ...(runner && { runner }),
  });
  return { dir, networks, guests, dnsmasq };
}

async function tearDown(setup: Setup | undefined): Promise<void> {
  if (!setup) return;
  await setup.dnsmasq.stop();
  for (const ns of setup.guests) await ns.delete();
  await rm(setup.dir, { recursive: true, force: true });
}

/** A well-behaved client with a MAC never seen before: busybox udhcpc, `tries` DISCOVERs 1 s apart. */
async function lease(s: Setup, i: number, mac: string, tries: number) {
  const ns = s.guests[i]!;
  await ns.runOk(['ip', 'link', 'set', 'eth0', 'address', mac]);
  const started = performance.now();
  const result = await ns.run(
    ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-n', '-q', '-t', String(tries), '-T', '1'].concat([
      '-s',
      join(s.dir, 'udhcpc.sh'),
    ]),
    { timeout: 30_000 },
  );
  return { ...result, ms: performance.now() - started };
}

async function starve(s: Setup) {
  const result = await s.guests[0]!.runOk(
    [process.execPath, join(s.dir, 'starver.mjs'), s.networks[0]!.gateway, '1000'],
    { timeout: 120_000 },
  );
  return parseStarveResult(result);
}

/** The other network is served while the attack runs: a lease and a `taskcluster` answer. */
async function neighbourServed(s: Setup, mac: string): Promise<void> {
  const got = await lease(s, 1, mac, 5);
  expect(got.exitCode, got.stderr).toBe(0);
  const ip = /LEASE ip=(\S+)/.exec(got.stdout)?.[1];
  await s.guests[1]!.runOk(['ip', 'addr', 'replace', `${ip}/24`, 'dev', 'eth0']);
  const answer = await s.guests[1]!.run(
    ['busybox', 'nslookup', 'taskcluster', s.networks[1]!.gateway],
    { timeout: 20_000 },
  );
  expect(answer.stdout).toContain('169.254.169.254');
}

function leasesIn(text: string, network: DhcpNetwork): number {
  const prefix = network.gateway.replace(/\.1$/, '.');
  return text.split('\n').filter((line) => line.split(' ')[2]?.startsWith(prefix)).length;
}

/**
 * Waits for the lease file to show `counts` leases per network. A single reading could catch
 * dnsmasq mid-rewrite (it truncates, then writes), so the condition is polled.
 */
async function fileShows(s: Setup, counts: Record<string, number>): Promise<void> {
  let text = '';
  await waitFor(
    async () => {
      text = await readFile(join(s.dir, 'state', 'dnsmasq.leases'), 'utf8');
      return s.networks.every((n) => leasesIn(text, n) === (counts[n.name] ?? 0));
    },
    { what: `the lease file to hold ${JSON.stringify(counts)}`, seen: () => text },
  );
}

describeNetns('forgetLeases() after a guest starved its DHCP range', () => {
  let s: Setup | undefined;
  beforeAll(async () => {
    s = await setUp('fg');
  });
  afterAll(() => tearDown(s));

  it('the attack fills the range; the next guest gets no lease; the other network is served meanwhile', async () => {
    const [attack] = await Promise.all([starve(s!), neighbourServed(s!, '52:54:00:14:01:01')]);
    expect(attack.exhausted).toBe(true);
    expect(attack.acked).toBeGreaterThanOrEqual(250); // .2-.254: 253 addresses
    const refused = await lease(s!, 0, '52:54:00:14:00:aa', 2);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stdout).not.toContain('LEASE');
  });

  it('forgetLeases() drops them from dnsmasq without a restart; the next guest leases at once', async () => {
    const dnsmasq = s!.dnsmasq;
    const [net0, net1] = s!.networks as [DhcpNetwork, DhcpNetwork];
    const pid = dnsmasq.pid;
    const neighbour = dnsmasq.leaseFor(net1.name);
    expect(neighbour).toBeDefined();
    const result = await dnsmasq.forgetLeases(net0.name);
    expect(result).toEqual({ released: expect.any(Number), restarted: false, remaining: 0 });
    expect(result.released).toBeGreaterThanOrEqual(250);
    expect(dnsmasq.pid).toBe(pid);
    await fileShows(s!, { [net0.name]: 0, [net1.name]: 1 });
    await waitFor(() => dnsmasq.leaseFor(net0.name) === undefined, {
      what: 'the lease table to drop the forgotten leases',
    });
    // Generous: udhcpc's own budget is 5 DISCOVERs 1 s apart; a starved range never answers.
    const next = await lease(s!, 0, '52:54:00:14:00:bb', 5);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/LEASE ip=10\.64\.0\./);
    expect(dnsmasq.leaseFor(net1.name)).toEqual(neighbour);
    console.info(
      `forgetLeases: ${result.released} leases released, next lease in ${Math.round(next.ms)} ms`,
    );
  });

  it('rejects an unknown network name and changes nothing', async () => {
    await expect(s!.dnsmasq.forgetLeases('nope')).rejects.toMatchObject({
      code: 'ERR_UNKNOWN_NETWORK',
    });
  });
});

describeNetns('forgetLeases() when the releases cannot reach dnsmasq', () => {
  let s: Setup | undefined;
  beforeAll(async () => {
    // As if a host firewall dropped the looped-back releases.
    s = await setUp('fh', { ...defaultRunner, sendDhcp: async () => {} });
  });
  afterAll(() => tearDown(s));

  it('falls back to one restart on a lease file without the network, keeping the others', async () => {
    const attack = await starve(s!);
    expect(attack.exhausted).toBe(true);
    const [net0, net1] = s!.networks as [DhcpNetwork, DhcpNetwork];
    expect((await lease(s!, 1, '52:54:00:14:02:01', 5)).exitCode).toBe(0);
    await waitFor(() => s!.dnsmasq.leaseFor(net1.name) !== undefined, {
      what: "network 1's lease",
    });
    const pid = s!.dnsmasq.pid;
    // Told not to restart, it leaves them and says so.
    const kept = await s!.dnsmasq.forgetLeases(net0.name, { restart: false });
    expect(kept).toEqual({ released: 0, restarted: false, remaining: attack.acked });
    expect(s!.dnsmasq.pid).toBe(pid);
    const result = await s!.dnsmasq.forgetLeases(net0.name);
    expect(result).toEqual({ released: 0, restarted: true, remaining: 0 });
    expect(s!.dnsmasq.pid).not.toBe(pid);
    await fileShows(s!, { [net0.name]: 0, [net1.name]: 1 });
    const next = await lease(s!, 0, '52:54:00:14:02:bb', 5);
    expect(next.exitCode, next.stderr).toBe(0);
  });
});
