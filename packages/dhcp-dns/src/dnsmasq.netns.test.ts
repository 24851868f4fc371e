import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createNetns,
  createVethPeer,
  describeNetns,
  type Netns,
  run,
  waitFor,
} from '@tapnet/testing';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildDnsmasqConfig } from './config.js';
import { RecordType } from './dns-message.js';
import { queryDns } from './dns-query.js';
import { Dnsmasq } from './dnsmasq.js';
import { DhcpDnsError, type DnsmasqFailedError, DnsmasqStartError } from './errors.js';
import { testNetwork, testNetworks } from './fixtures.test-helpers.js';
import type { Lease } from './leases.js';
import type { DhcpNetwork } from './options.js';
import { stopStaleDnsmasq } from './stale.js';

const METADATA_IP = '169.254.169.254';
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    echo "LEASE ip=$ip router=$router dns=$dns"
    ;;
esac
`;

/** Processes (in this sandbox's PID namespace) running dnsmasq on `configPath`. */
async function dnsmasqProcesses(configPath: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(`--conf-file=${configPath}`) && !/\) Z /.test(stat))
      pids.push(Number(entry));
  }
  return pids;
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tapnet-dhcp-'));
}

async function udhcpc(ns: Netns, script: string, extra: string[] = []) {
  return ns.run(
    [
      'busybox',
      'udhcpc',
      '-i',
      'eth0',
      '-f',
      '-n',
      '-q',
      '-t',
      '5',
      '-T',
      '1',
      '-s',
      script,
      ...extra,
    ],
    {
      timeout: 20_000,
    },
  );
}

function parseUdhcpc(stdout: string): Record<string, string> {
  const line = stdout.split('\n').find((l) => l.startsWith('LEASE '));
  return Object.fromEntries(
    (line ?? '')
      .slice(6)
      .split(' ')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
}

describeNetns('dnsmasq --test', () => {
  it.each([1, 3, 250])('accepts the config built for %i networks', async (count) => {
    const dir = await tempDir();
    try {
      const config = buildDnsmasqConfig({
        networks: testNetworks(count),
        stateDir: dir,
        hostRecords: [{ names: ['db.example'], ipv4: '10.1.2.3', ipv6: 'fd00::3' }],
        srvRecords: [
          {
            service: 'http',
            protocol: 'tcp',
            domain: 'example',
            target: 'db.example',
            port: 80,
            priority: 1,
            weight: 2,
          },
        ],
        upstream: count === 3 ? ['192.0.2.53', '2001:db8::53'] : count === 1 ? 'host' : [],
      });
      await writeFile(join(dir, 'dnsmasq.conf'), config);
      const result = await run(['dnsmasq', '--test', `--conf-file=${join(dir, 'dnsmasq.conf')}`]);
      expect(result).toMatchObject({
        exitCode: 0,
        stderr: expect.stringContaining('syntax check OK'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describeNetns('a supervised dnsmasq serving two networks', () => {
  const networks = testNetworks(2, 'dd');
  const macs = ['52:54:00:12:00:0a', '52:54:00:12:00:0b'];
  let dir: string;
  let script: string;
  let guests: Netns[] = [];
  let dnsmasq: Dnsmasq;
  const leaseEvents: Lease[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    script = join(dir, 'udhcpc.sh');
    await writeFile(script, UDHCPC_SCRIPT);
    await chmod(script, 0o755);
    for (const [i, network] of networks.entries()) {
      const ns = await createNetns('dd');
      guests.push(ns);
      await createVethPeer({
        hostName: network.device,
        peer: ns,
        hostAddress: `${network.gateway}/24`,
        peerMac: macs[i],
      });
    }
    dnsmasq = await Dnsmasq.start({
      networks,
      stateDir: join(dir, 'state'),
      upstream: [],
      hostRecords: [{ names: ['db.example'], ipv4: '10.1.2.3', ipv6: 'fd00::3' }],
      srvRecords: [
        {
          service: 'http',
          protocol: 'tcp',
          domain: 'example',
          target: 'web.example',
          port: 8080,
          priority: 1,
          weight: 5,
        },
      ],
      restart: { initialDelayMs: 50, maxDelayMs: 1000, maxQuickFailures: 5 },
    });
    dnsmasq.on('lease', (lease) => leaseEvents.push(lease));
  });

  afterAll(async () => {
    await dnsmasq?.stop();
    for (const ns of guests) await ns.delete();
    guests = [];
    await rm(dir, { recursive: true, force: true });
  });

  it('is running with a pid and its config file', async () => {
    expect(dnsmasq.status()).toMatchObject({ state: 'running', restarts: 0 });
    expect(await dnsmasqProcesses(dnsmasq.configPath)).toEqual([dnsmasq.pid]);
    expect(await readFile(dnsmasq.configPath, 'utf8')).toContain('interface=ddtap1\n');
  });

  it('hands a guest an address in its range with router and DNS = gateway, and reports the lease', async () => {
    const result = await udhcpc(guests[0]!, script);
    expect(result.exitCode).toBe(0);
    const got = parseUdhcpc(result.stdout);
    const [a, b, c, last] = got.ip!.split('.').map(Number) as [number, number, number, number];
    expect(`${a}.${b}.${c}`).toBe('10.64.0');
    expect(last).toBeGreaterThanOrEqual(2);
    expect(last).toBeLessThanOrEqual(254);
    expect(got.router).toBe(networks[0]!.gateway);
    expect(got.dns).toBe(networks[0]!.gateway);

    const lease = await waitFor(() => leaseEvents.find((l) => l.mac === macs[0]), {
      what: `a lease event for ${macs[0]}`,
      seen: () => JSON.stringify(leaseEvents),
    });
    expect(lease).toMatchObject({ network: 'dd0', mac: macs[0], ip: got.ip });
    expect(lease.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect(dnsmasq.leaseFor('dd0')).toMatchObject({ mac: macs[0], ip: got.ip });
    expect(dnsmasq.leaseFor('dd1')).toBeUndefined();
  });

  it('answers the metadata name with the metadata IP to a guest (busybox nslookup)', async () => {
    const result = await guests[0]!.run([
      'busybox',
      'nslookup',
      'taskcluster',
      networks[0]!.gateway,
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Name:\s+taskcluster\s+Address:\s+169\.254\.169\.254/);
  });

  it('dnsStats(): the counters dnsmasq logs on SIGUSR1 rise with the queries it answers, and it keeps serving', async () => {
    const pid = dnsmasq.pid;
    const before = await dnsmasq.dnsStats({ timeoutMs: 10_000 });
    expect(before).toMatchObject({ cacheSize: 150, authoritative: 0 });
    for (let i = 0; i < 5; i++) {
      await queryDns(networks[0]!.gateway, 'taskcluster', RecordType.A);
      await queryDns(networks[1]!.gateway, 'db.example', RecordType.A);
    }
    const after = await dnsmasq.dnsStats({ timeoutMs: 10_000 });
    // Metadata names and host records are local data: answered locally, nothing forwarded.
    expect(after!.answeredLocally).toBeGreaterThanOrEqual(before!.answeredLocally + 10);
    expect(after!.forwarded).toBe(before!.forwarded);
    expect(dnsmasq.status()).toMatchObject({ state: 'running', pid });
    expect(
      (await queryDns(networks[0]!.gateway, 'taskcluster', RecordType.A)).answers,
    ).toHaveLength(1);
  });

  it('answers on every gateway, operator host records (A and AAAA) and SRV records', async () => {
    for (const network of networks) {
      const a = await queryDns(network.gateway, 'taskcluster', RecordType.A);
      expect(a.answers).toEqual([
        { type: 'A', name: 'taskcluster', address: METADATA_IP, ttl: expect.any(Number) },
      ]);
    }
    const gw = networks[1]!.gateway;
    expect((await queryDns(gw, 'db.example', RecordType.A)).answers).toMatchObject([
      { type: 'A', address: '10.1.2.3' },
    ]);
    expect((await queryDns(gw, 'db.example', RecordType.AAAA)).answers).toMatchObject([
      { type: 'AAAA', address: 'fd00:0:0:0:0:0:0:3' },
    ]);
    expect((await queryDns(gw, '_http._tcp.example', RecordType.SRV)).answers).toMatchObject([
      {
        type: 'SRV',
        name: '_http._tcp.example',
        target: 'web.example',
        port: 8080,
        priority: 1,
        weight: 5,
      },
    ]);
  });

  it("does not answer names from the host's /etc/hosts", async () => {
    const hosts = await readFile('/etc/hosts', 'utf8');
    const names = hosts
      .split('\n')
      .filter((l) => /^\s*[0-9]/.test(l))
      .flatMap((l) => l.trim().split(/\s+/).slice(1))
      .filter((n) => !n.startsWith('#'));
    expect(names).toContain('localhost');
    for (const name of names) {
      const response = await queryDns(networks[0]!.gateway, name, RecordType.A);
      expect(response.answers.filter((a) => a.type === 'A')).toEqual([]);
    }
  });

  it('a guest sending hostname taskcluster cannot change what taskcluster resolves to', async () => {
    const result = await udhcpc(guests[1]!, script, [
      '-x',
      'hostname:taskcluster',
      '-F',
      'taskcluster',
    ]);
    expect(result.exitCode).toBe(0);
    const got = parseUdhcpc(result.stdout);
    const lease = await waitFor(() => dnsmasq.leaseFor('dd1'), { what: 'the lease of dd1' });
    expect(lease).toMatchObject({ mac: macs[1], ip: got.ip });
    expect(lease.hostname).toBeUndefined();
    for (const network of networks) {
      const answers = (await queryDns(network.gateway, 'taskcluster', RecordType.A)).answers;
      expect(answers.map((a) => (a.type === 'A' ? a.address : a.type))).toEqual([METADATA_IP]);
    }
  });

  it('reload() changes records and keeps the leases', async () => {
    const before = dnsmasq.leases();
    const oldPid = dnsmasq.pid;
    await expect(
      dnsmasq.reload({ hostRecords: [{ names: ['evil\nserver=1.1.1.1'], ipv4: '10.0.0.1' }] }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
    });
    expect(dnsmasq.pid).toBe(oldPid);
    await dnsmasq.reload({
      metadataNames: ['taskcluster', 'metadata'],
      hostRecords: [{ names: ['new.example'], ipv4: '10.9.9.9' }],
    });
    expect(dnsmasq.status()).toMatchObject({ state: 'running', restarts: 0 });
    expect(dnsmasq.pid).not.toBe(oldPid);
    const gw = networks[0]!.gateway;
    expect((await queryDns(gw, 'new.example', RecordType.A)).answers).toMatchObject([
      { address: '10.9.9.9' },
    ]);
    expect((await queryDns(gw, 'metadata', RecordType.A)).answers).toMatchObject([
      { address: METADATA_IP },
    ]);
    expect((await queryDns(gw, 'db.example', RecordType.A)).answers).toEqual([]);
    // SRV records were not part of this reload: they stay.
    expect((await queryDns(gw, '_http._tcp.example', RecordType.SRV)).answers).toMatchObject([
      { port: 8080 },
    ]);
    expect(dnsmasq.leases()).toEqual(before);
    expect(await readFile(join(dir, 'state', 'dnsmasq.leases'), 'utf8')).toContain(macs[0]);
  });

  it('restarts dnsmasq after kill -9 within the backoff, and DHCP works again', async () => {
    const restarts: unknown[] = [];
    dnsmasq.on('restart', (event) => restarts.push(event));
    const oldPid = dnsmasq.pid!;
    process.kill(oldPid, 'SIGKILL');
    await waitFor(() => restarts.length > 0, { what: 'a restart event' });
    expect(restarts[0]).toMatchObject({ attempt: 1, signal: 'SIGKILL', exitCode: undefined });
    expect((restarts[0] as { delayMs: number }).delayMs).toBeLessThanOrEqual(1000);
    await waitFor(() => dnsmasq.status().state === 'running', {
      what: 'dnsmasq running again',
      timeout: 1000 + 10_000,
      seen: () => JSON.stringify(dnsmasq.status()),
    });
    expect(dnsmasq.status()).toMatchObject({ state: 'running', restarts: 1 });
    expect(dnsmasq.pid).not.toBe(oldPid);
    expect(await dnsmasqProcesses(dnsmasq.configPath)).toEqual([dnsmasq.pid]);
    const result = await udhcpc(guests[0]!, script);
    expect(result.exitCode).toBe(0);
    expect(parseUdhcpc(result.stdout).router).toBe(networks[0]!.gateway);
  });

  it('reports a release when a guest gives its lease back', async () => {
    const released: Lease[] = [];
    dnsmasq.on('release', (lease) => released.push(lease));
    // `udhcpc -q` quits without releasing; a running client releases on SIGUSR2.
    const client = guests[1]!.spawn([
      'busybox',
      'udhcpc',
      '-i',
      'eth0',
      '-f',
      '-R',
      '-t',
      '5',
      '-T',
      '1',
      '-s',
      script,
    ]);
    let output = '';
    client.all?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    // A renewal within the same second as the earlier lease leaves the lease file unchanged, so
    // wait for the client rather than for a lease event.
    await waitFor(() => /lease of \S+ obtained/.test(output), {
      what: 'udhcpc bound',
      seen: () => output,
    });
    const lease = await waitFor(() => dnsmasq.leaseFor('dd1'), { what: 'the lease of dd1' });
    client.kill('SIGUSR2');
    const gone = await waitFor(() => released.find((l) => l.mac === macs[1]), {
      what: `a release event for ${macs[1]}`,
    });
    client.kill('SIGTERM');
    await client;
    expect(output).toContain('unicasting a release');
    expect(gone).toMatchObject({ network: 'dd1', ip: lease.ip });
    expect(dnsmasq.leaseFor('dd1')).toBeUndefined();
    expect(dnsmasq.leaseFor('dd0')).toMatchObject({ mac: macs[0] });
  });

  it('stop() leaves no dnsmasq process and is idempotent', async () => {
    const configPath = dnsmasq.configPath;
    await dnsmasq.stop();
    await dnsmasq.stop();
    expect(dnsmasq.status()).toEqual({ state: 'stopped', restarts: 1 });
    expect(dnsmasq.pid).toBeUndefined();
    expect(await dnsmasqProcesses(configPath)).toEqual([]);
    await expect(dnsmasq.reload({})).rejects.toMatchObject({ code: 'ERR_STOPPED' });
  });
});

/**
 * Sends hand-made DHCP requests (no reply awaited) from inside a guest: argv[2] is the server
 * address, argv[3] a JSON list of `{ type, mac, ciaddr?, giaddr?, requested?, subnet? }`.
 * `subnet` is option 118 (RFC 3011 subnet selection), `giaddr` poses as a relay agent.
 */
const DHCP_SENDER = `
import { createSocket } from 'node:dgram';
const [server, json] = process.argv.slice(2);
const ip = (s) => Buffer.from(s.split('.').map(Number));
const socket = createSocket('udp4');
await new Promise((r) => socket.bind(68, r));
socket.setBroadcast(true);
for (const [i, p] of JSON.parse(json).entries()) {
  const head = Buffer.alloc(240);
  head[0] = 1; head[1] = 1; head[2] = 6;
  head.writeUInt32BE(0x7a700000 + i, 4);
  ip(p.ciaddr ?? '0.0.0.0').copy(head, 12);
  ip(p.giaddr ?? '0.0.0.0').copy(head, 24);
  Buffer.from(p.mac.split(':').map((h) => Number.parseInt(h, 16))).copy(head, 28);
  head.writeUInt32BE(0x63825363, 236);
  const options = [53, 1, { discover: 1, request: 3 }[p.type]];
  if (p.requested) options.push(50, 4, ...ip(p.requested));
  if (p.subnet) options.push(118, 4, ...ip(p.subnet));
  options.push(255);
  const packet = Buffer.concat([head, Buffer.from(options)]);
  const padded = Buffer.concat([packet, Buffer.alloc(Math.max(0, 300 - packet.length))]);
  await new Promise((r, j) => socket.send(padded, 67, server, (e) => (e ? j(e) : r())));
}
socket.close();
`;

function inSubnet(ip: string | undefined, network: { gateway: string }): boolean {
  return (
    ip !== undefined &&
    ip.split('.').slice(0, 3).join('.') === network.gateway.split('.').slice(0, 3).join('.')
  );
}

describeNetns('a guest cannot take a lease in another network (option 118, relay, ciaddr)', () => {
  const networks = testNetworks(2, 'xr');
  const [net0, net1] = networks as [DhcpNetwork, DhcpNetwork];
  const mac0 = '52:54:00:13:00:0a';
  const mac1 = '52:54:00:13:00:0b';
  const attackers = {
    subnetSelect: '52:54:00:13:01:01',
    subnetSelectRequested: '52:54:00:13:01:02',
    requested: '52:54:00:13:01:03',
    relay: '52:54:00:13:01:04',
    ciaddr: '52:54:00:13:01:05',
    relayDiscover: '52:54:00:13:01:06',
  };
  const witness = '52:54:00:13:00:1b';
  let dir: string;
  let script: string;
  let guests: Netns[] = [];
  let dnsmasq: Dnsmasq;
  const leaseEvents: Lease[] = [];
  // 10.64.1.0 as hex: option 118 naming network 1's subnet.
  const subnet1Hex = `0x76:${net1.gateway
    .split('.')
    .map((x, i) => (i === 3 ? 0 : Number(x)).toString(16).padStart(2, '0'))
    .join('')}`;
  const subnet1 = net1.gateway.replace(/\.1$/, '.0');

  beforeAll(async () => {
    dir = await tempDir();
    script = join(dir, 'udhcpc.sh');
    await writeFile(script, UDHCPC_SCRIPT);
    await chmod(script, 0o755);
    await writeFile(join(dir, 'sender.mjs'), DHCP_SENDER);
    for (const [i, network] of networks.entries()) {
      const ns = await createNetns('xr');
      guests.push(ns);
      await createVethPeer({
        hostName: network.device,
        peer: ns,
        hostAddress: `${network.gateway}/24`,
        peerMac: [mac0, mac1][i],
      });
    }
    dnsmasq = await Dnsmasq.start({ networks, stateDir: join(dir, 'state'), upstream: [] });
    dnsmasq.on('lease', (lease) => leaseEvents.push(lease));
  });

  afterAll(async () => {
    await dnsmasq?.stop();
    for (const ns of guests) await ns.delete();
    guests = [];
    await rm(dir, { recursive: true, force: true });
  });

  async function setMac(ns: Netns, mac: string): Promise<void> {
    await ns.runOk(['ip', 'link', 'set', 'eth0', 'address', mac]);
  }

  it('a normal client on each network gets a lease in its own subnet', async () => {
    for (const [i, network] of networks.entries()) {
      const result = await udhcpc(guests[i]!, script);
      expect(result.exitCode).toBe(0);
      const got = parseUdhcpc(result.stdout);
      expect(inSubnet(got.ip, network)).toBe(true);
      expect(got.router).toBe(network.gateway);
      const mac = [mac0, mac1][i]!;
      await waitFor(() => leaseEvents.find((l) => l.mac === mac && l.network === network.name), {
        what: `the lease of ${mac} on ${network.name}`,
        seen: () => JSON.stringify(leaseEvents),
      });
    }
  });

  it.each([
    ['option 118 = the other subnet', 'subnetSelect', () => ['-x', subnet1Hex]],
    [
      'option 118 and a requested IP in the other range',
      'subnetSelectRequested',
      () => ['-x', subnet1Hex, '-r', net1.rangeStart.replace(/\.2$/, '.50')],
    ],
    [
      'a requested IP in the other range',
      'requested',
      () => ['-r', net1.rangeStart.replace(/\.2$/, '.51')],
    ],
  ] as const)('udhcpc with %s gets no address outside its subnet', async (_what, who, extra) => {
    const guest = guests[0]!;
    await setMac(guest, attackers[who]);
    const result = await guest.run(
      [
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-n',
        '-q',
        '-t',
        '3',
        '-T',
        '1',
        '-s',
        script,
        ...extra(),
      ],
      { timeout: 20_000 },
    );
    const got = parseUdhcpc(result.stdout);
    if (got.ip !== undefined) {
      expect(inSubnet(got.ip, net0)).toBe(true);
      expect(got.router).toBe(net0.gateway);
    } else expect(result.exitCode).not.toBe(0);
  });

  it('hand-made requests via a fake relay (giaddr), a foreign ciaddr or option 118 get no foreign lease', async () => {
    const guest = guests[0]!;
    await setMac(guest, mac0);
    // The guest keeps the address of its first lease: requests leave from 10.64.0.x.
    const other = (last: number) => net1.gateway.replace(/\.1$/, `.${last}`);
    const packets = [
      { type: 'request', mac: attackers.relay, giaddr: other(9), requested: other(60) },
      { type: 'discover', mac: attackers.relayDiscover, giaddr: other(9) },
      { type: 'request', mac: attackers.ciaddr, ciaddr: other(61) },
      { type: 'request', mac: attackers.subnetSelect, subnet: subnet1, requested: other(62) },
    ];
    await guest.runOk([
      process.execPath,
      join(dir, 'sender.mjs'),
      net0.gateway,
      JSON.stringify(packets),
    ]);
  });

  it('after all that, network 1 has only its own guests: no lease event or lease for an attacker', async () => {
    // A witness: a new client on network 1. dnsmasq handles requests in order and rewrites the
    // whole lease file, so once its lease is reported every earlier request has been handled.
    const guest = guests[1]!;
    await setMac(guest, witness);
    const result = await udhcpc(guest, script);
    expect(result.exitCode).toBe(0);
    expect(inSubnet(parseUdhcpc(result.stdout).ip, net1)).toBe(true);
    await waitFor(() => leaseEvents.find((l) => l.mac === witness), {
      what: `the lease of the witness ${witness}`,
      seen: () => JSON.stringify(leaseEvents),
    });
    const legit = new Set([mac1, witness]);
    expect(leaseEvents.filter((l) => l.network === net1.name && !legit.has(l.mac))).toEqual([]);
    expect(dnsmasq.leases().filter((l) => l.network === net1.name && !legit.has(l.mac))).toEqual(
      [],
    );
    const file = await readFile(join(dir, 'state', 'dnsmasq.leases'), 'utf8');
    for (const mac of Object.values(attackers)) {
      for (const line of file.split('\n').filter((l) => l.includes(mac)))
        expect(line.split(' ')[2]).toMatch(/^10\.64\.0\./);
    }
  });
});

describeNetns('dnsmasq lifecycle edges', () => {
  it('never reads an earlier instance’s lease file as current, and removes what it wrote on stop', async () => {
    const dir = await tempDir();
    const network = testNetwork(8, 'lf');
    const guest = await createNetns('lf');
    try {
      await createVethPeer({
        hostName: network.device,
        peer: guest,
        hostAddress: `${network.gateway}/24`,
      });
      // What an earlier dnsmasq on this folder left: a lease, still unexpired, of a VM now gone.
      const stateDir = join(dir, 'pool');
      await mkdir(stateDir, { mode: 0o700 });
      const expires = Math.floor(Date.now() / 1000) + 3600;
      await writeFile(
        join(stateDir, 'dnsmasq.leases'),
        `${expires} 52:54:00:aa:bb:cc 10.72.8.9 old *\n`,
      );
      const first = await Dnsmasq.start({ networks: [network], stateDir, upstream: [] });
      expect(first.leases()).toEqual([]);
      await first.stop();
      // The folder was there before: only the files it wrote are gone.
      expect(await readdir(stateDir)).toEqual([]);

      // A folder it makes itself goes too.
      const made = join(dir, 'made');
      const second = await Dnsmasq.start({ networks: [network], stateDir: made, upstream: [] });
      expect((await readdir(made)).sort()).toEqual([
        'dnsmasq.conf',
        'dnsmasq.leases',
        'dnsmasq.pid',
      ]);
      await second.stop();
      expect(await readdir(dir)).toEqual(['pool']);
    } finally {
      await guest.delete();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops a stale dnsmasq started on the same state folder', async () => {
    const dir = await tempDir();
    const network = testNetwork(7, 'st');
    const guest = await createNetns('st');
    try {
      await createVethPeer({
        hostName: network.device,
        peer: guest,
        hostAddress: `${network.gateway}/24`,
      });
      const configPath = join(dir, 'dnsmasq.conf');
      await writeFile(
        configPath,
        buildDnsmasqConfig({ networks: [network], stateDir: dir, upstream: [] }),
      );
      const stale = execa(
        'dnsmasq',
        ['--keep-in-foreground', '--log-facility=-', `--conf-file=${configPath}`],
        { reject: false },
      );
      const stalePid = stale.pid!;
      await waitFor(
        async () =>
          (await readFile(join(dir, 'dnsmasq.pid'), 'utf8').catch(() => '')).trim() ===
          String(stalePid),
        {
          what: 'the stale dnsmasq pid file',
        },
      );
      const dnsmasq = await Dnsmasq.start({ networks: [network], stateDir: dir, upstream: [] });
      const exit = await stale;
      expect(exit).toMatchObject({
        exitCode: 0,
        stderr: expect.stringContaining('exiting on receipt of SIGTERM'),
      });
      expect(dnsmasq.pid).not.toBe(stalePid);
      expect(await dnsmasqProcesses(configPath)).toEqual([dnsmasq.pid]);
      await dnsmasq[Symbol.asyncDispose]();
      expect(await dnsmasqProcesses(configPath)).toEqual([]);
      expect(await stopStaleDnsmasq(dir)).toBe(false);
    } finally {
      await guest.delete();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails to start with dnsmasq stderr and config when dnsmasq cannot run', async () => {
    const dir = await tempDir();
    try {
      const error = await Dnsmasq.start({
        networks: [testNetwork(0)],
        stateDir: dir,
        upstream: [],
        hostRecords: [{ names: ['a.example'], ipv4: '10.0.0.1' }],
        dnsmasqPath: join(dir, 'no-such-dnsmasq'),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DnsmasqStartError);
      expect(error).toBeInstanceOf(DhcpDnsError);
      expect((error as DnsmasqStartError).code).toBe('ERR_DNSMASQ_START');
      expect((error as Error).message).toContain('ENOENT');
      expect((error as Error).cause).toMatchObject({
        argv: [
          join(dir, 'no-such-dnsmasq'),
          '--keep-in-foreground',
          '--log-facility=-',
          `--conf-file=${join(dir, 'dnsmasq.conf')}`,
        ],
        config: expect.stringContaining('host-record=a.example,10.0.0.1\n'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('times out with dnsmasq stderr when a gateway never answers', async () => {
    const dir = await tempDir();
    try {
      // The device does not exist: dnsmasq (bind-dynamic) runs but cannot answer on the gateway.
      const error = (await Dnsmasq.start({
        networks: [testNetwork(3, 'zz')],
        stateDir: dir,
        upstream: [],
        readyTimeoutMs: 700,
      }).catch((e: unknown) => e)) as DnsmasqStartError;
      expect(error).toBeInstanceOf(DnsmasqStartError);
      expect(error.message).toContain('did not answer DNS on 10.64.3.1 within 700 ms');
      expect(error.message).toContain('dnsmasq');
      expect(error.cause).toMatchObject({
        stderr: expect.stringContaining('started, version'),
        config: expect.stringContaining('interface=zztap3'),
      });
      expect(await dnsmasqProcesses(join(dir, 'dnsmasq.conf'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up after the configured number of quick failures and reports it', async () => {
    const dir = await tempDir();
    const network = testNetwork(9, 'gu');
    const guest = await createNetns('gu');
    try {
      await createVethPeer({
        hostName: network.device,
        peer: guest,
        hostAddress: `${network.gateway}/24`,
      });
      await using dnsmasq = await Dnsmasq.start({
        networks: [network],
        stateDir: dir,
        upstream: [],
        restart: {
          maxQuickFailures: 2,
          initialDelayMs: 10,
          maxDelayMs: 100,
          quickFailureWindowMs: 60_000,
        },
      });
      const failed: DnsmasqFailedError[] = [];
      dnsmasq.on('failed', (error) => failed.push(error));
      process.kill(dnsmasq.pid!, 'SIGKILL');
      await waitFor(() => dnsmasq.status().state === 'running' && dnsmasq.status().restarts === 1, {
        what: 'the first restart',
        seen: () => JSON.stringify(dnsmasq.status()),
      });
      process.kill(dnsmasq.pid!, 'SIGKILL');
      await waitFor(() => failed.length === 1, {
        what: 'a failed event',
        seen: () => JSON.stringify(dnsmasq.status()),
      });
      expect(failed[0]).toMatchObject({ code: 'ERR_DNSMASQ_FAILED', name: 'DnsmasqFailedError' });
      expect(dnsmasq.status()).toMatchObject({
        state: 'failed',
        restarts: 1,
        lastError: failed[0],
      });
      expect(dnsmasq.pid).toBeUndefined();
      expect(await dnsmasqProcesses(join(dir, 'dnsmasq.conf'))).toEqual([]);
    } finally {
      await guest.delete();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
