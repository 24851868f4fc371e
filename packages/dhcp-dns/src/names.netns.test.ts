import { createSocket, type Socket } from 'node:dgram';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, createVethPeer, describeNetns, type Netns } from '@tapnet/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeResponse, encodeQuery } from './dns-message.js';
import { Dnsmasq } from './dnsmasq.js';
import { testNetworks } from './fixtures.test-helpers.js';

// What a guest learns from dnsmasq by name: its DNS domain and search list over DHCP
// (issue 17), the metadata name under that domain, nothing under the domain from upstream,
// and no version of dnsmasq (issue 11, `no-ident`).

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    echo "LEASE domain=$domain search=$search"
    ;;
esac
`;

// Sends one raw DNS message from inside the guest and prints the reply as hex.
const ASK = `
import { createSocket } from 'node:dgram';
const [server, hex] = process.argv.slice(2);
const socket = createSocket('udp4');
const timer = setTimeout(() => { console.log('timeout'); process.exit(0); }, 5000);
socket.on('message', (m) => { clearTimeout(timer); console.log(m.toString('hex')); socket.close(); });
socket.send(Buffer.from(hex, 'hex'), 53, server);
`;

const CLASS_CH = 3;
const TYPE_TXT = 16;

/** A stand-in upstream DNS server on 127.0.0.1:53 that answers every A query with 192.0.2.99 and notes the names asked. */
async function fakeUpstream(): Promise<{ socket: Socket; asked: string[] }> {
  const asked: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (query, from) => {
    // Name: labels from offset 12.
    const labels: string[] = [];
    let at = 12;
    while (query[at]) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString('ascii'));
      at += 1 + query[at]!;
    }
    asked.push(labels.join('.').toLowerCase());
    const question = query.subarray(12, at + 5);
    const header = Buffer.from(query.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2); // response, recursion desired and available
    header.writeUInt16BE(1, 6); // one answer
    const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99]);
    socket.send(Buffer.concat([header, question, answer]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(53, '127.0.0.1', resolve));
  return { socket, asked };
}

describeNetns('names a guest gets from dnsmasq: domain, search list, no version', () => {
  const [network] = testNetworks(1, 'nm');
  let dir: string;
  let guest: Netns;
  let dnsmasq: Dnsmasq;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapnet-names-'));
    await writeFile(join(dir, 'udhcpc.sh'), UDHCPC_SCRIPT);
    await chmod(join(dir, 'udhcpc.sh'), 0o755);
    await writeFile(join(dir, 'ask.mjs'), ASK);
    guest = await createNetns('nm');
    await createVethPeer({
      hostName: network!.device,
      peer: guest,
      hostAddress: `${network!.gateway}/24`,
    });
    upstream = await fakeUpstream();
    dnsmasq = await Dnsmasq.start({
      networks: [network!],
      stateDir: join(dir, 'state'),
      upstream: ['127.0.0.1'],
      hostRecords: [{ names: ['db'], ipv4: '10.1.2.3' }],
    });
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
        '5',
        '-T',
        '1',
        '-O',
        'search',
      ].concat(['-s', join(dir, 'udhcpc.sh')]),
      { timeout: 30_000 },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    leaseLine = result.stdout.split('\n').find((l) => l.startsWith('LEASE ')) ?? '';
  });
  let leaseLine = '';

  afterAll(async () => {
    await dnsmasq?.stop();
    await guest?.delete();
    upstream?.socket.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function nslookup(name: string): Promise<string> {
    const result = await guest.run(['busybox', 'nslookup', name, network!.gateway], {
      timeout: 20_000,
    });
    return `${result.stdout}\n${result.stderr}`;
  }

  it('udhcpc receives the domain (option 15) and the search list (option 119)', () => {
    expect(leaseLine).toBe('LEASE domain=tapnet.internal search=tapnet.internal');
  });

  it('taskcluster and taskcluster.<domain> answer the metadata IP; host records likewise', async () => {
    expect(await nslookup('taskcluster')).toContain('169.254.169.254');
    expect(await nslookup('taskcluster.tapnet.internal')).toContain('169.254.169.254');
    expect(await nslookup('db.tapnet.internal')).toContain('10.1.2.3');
  });

  it('another name under the domain is NXDOMAIN and never reaches upstream; other names do', async () => {
    const before = upstream.asked.length;
    expect(await nslookup('nothing-here.tapnet.internal')).toMatch(/NXDOMAIN|can't find/i);
    expect(upstream.asked.slice(before).some((n) => n.endsWith('tapnet.internal'))).toBe(false);
    // The stand-in upstream does get what is not ours, so the check above can fail.
    expect(await nslookup('example.org')).toContain('192.0.2.99');
    expect(upstream.asked).toContain('example.org');
  });

  it('version.bind and id.server CH TXT get no answer naming dnsmasq (no-ident)', async () => {
    for (const name of ['version.bind', 'id.server', 'author.bind']) {
      const query = encodeQuery(0x4242, name, TYPE_TXT);
      query.writeUInt16BE(CLASS_CH, query.length - 2);
      const out = (
        await guest.runOk([
          process.execPath,
          join(dir, 'ask.mjs'),
          network!.gateway,
          query.toString('hex'),
        ])
      ).trim();
      expect(out).not.toBe('timeout');
      const reply = Buffer.from(out, 'hex');
      expect(reply.toString('latin1')).not.toMatch(/dnsmasq/i);
      const response = decodeResponse(reply);
      expect(response.id).toBe(0x4242);
      expect(response.answers).toEqual([]);
      console.info(`${name} CH TXT: rcode ${response.rcode}, ${response.answers.length} answers`);
    }
  });
});
