import { createSocket, type Socket } from 'node:dgram';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTapPeer, describeNetns, type TapPeer } from '@tapnet/testing';
import { type Network, Pool } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';

// Drill (issue 11): one VM floods the shared dnsmasq with DNS queries (local names and names
// forwarded upstream) and DHCP DISCOVERs with made-up MACs, as fast as it can; another
// network's VM meanwhile resolves `taskcluster` one query after another and takes a lease.
// All of its queries must be answered; the p99 is reported beside the same run without the
// attacker (no latency assertion beyond each query's generous 2 s deadline: a loaded 2-core
// CI machine makes timings noisy).

const QUERIES = 300;
const FLOOD_SECONDS = 8;

// Inside the attacker: DNS to the gateway (local and forwarded names) and DHCP DISCOVERs,
// in bursts, for `seconds`. Prints `{ dns, dhcp }`, the packets sent.
const FLOODER = `
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
const [gateway, secondsText] = process.argv.slice(2);
const until = Date.now() + Number(secondsText) * 1000;
const dns = createSocket('udp4');
const dhcp = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise((r) => dhcp.bind(68, r));
dhcp.setBroadcast(true);
dns.on('error', () => {});
dhcp.on('error', () => {});
dns.on('message', () => {});
function query(name) {
  const labels = name.split('.');
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + 1 + l.length, 0) + 5);
  q.writeUInt16BE(randomBytes(2).readUInt16BE(), 0);
  q.writeUInt16BE(0x0100, 2);
  q.writeUInt16BE(1, 4);
  let at = 12;
  for (const l of labels) { q[at] = l.length; q.write(l, at + 1, 'ascii'); at += 1 + l.length; }
  q[at] = 0; q.writeUInt16BE(1, at + 1); q.writeUInt16BE(1, at + 3);
  return q;
}
function discover() {
  const head = Buffer.alloc(240);
  head[0] = 1; head[1] = 1; head[2] = 6;
  randomBytes(4).copy(head, 4);
  head.writeUInt16BE(0x8000, 10);
  Buffer.concat([Buffer.from([2]), randomBytes(5)]).copy(head, 28);
  head.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([head, Buffer.from([53, 1, 1, 255])]);
}
let sentDns = 0;
let sentDhcp = 0;
let n = 0;
while (Date.now() < until) {
  const burst = [];
  for (let i = 0; i < 50; i++) {
    n += 1;
    const name = n % 2 ? 'taskcluster' : 'f' + n + '.flood.example';
    burst.push(new Promise((r) => dns.send(query(name), 53, gateway, r)));
    sentDns += 1;
    if (i % 5 === 0) {
      burst.push(new Promise((r) => dhcp.send(discover(), 67, '255.255.255.255', r)));
      sentDhcp += 1;
    }
  }
  await Promise.all(burst);
  await new Promise((r) => setImmediate(r));
}
dns.close();
dhcp.close();
console.log(JSON.stringify({ dns: sentDns, dhcp: sentDhcp }));
`;

// Inside the victim: queries for `taskcluster`, one after another, each with a 2 s deadline,
// at least `count` of them and on until `seconds` have passed. Prints
// `{ ok, failed, p50, p99, max }` (milliseconds).
const RESOLVER = `
import { createSocket } from 'node:dgram';
const [gateway, countText, secondsText] = process.argv.slice(2);
const until = Date.now() + Number(secondsText) * 1000;
const socket = createSocket('udp4');
const times = [];
let failed = 0;
const q = Buffer.from('000001000001000000000000' + '0b7461736b636c7573746572' + '0000010001', 'hex');
for (let i = 0; i < Number(countText) || Date.now() < until; i++) {
  const id = (i * 7919) & 0xffff;
  q.writeUInt16BE(id, 0);
  const started = performance.now();
  const ok = await new Promise((resolve) => {
    const timer = setTimeout(() => { socket.off('message', on); resolve(false); }, 2000);
    function on(m) {
      if (m.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      socket.off('message', on);
      // One answer whose last 4 bytes are 169.254.169.254.
      resolve(m.readUInt16BE(6) === 1 && m.subarray(-4).equals(Buffer.from([169, 254, 169, 254])));
    }
    socket.on('message', on);
    socket.send(q, 53, gateway);
  });
  if (ok) times.push(performance.now() - started); else failed += 1;
}
socket.close();
times.sort((a, b) => a - b);
const at = (p) => Math.round((times[Math.min(times.length - 1, Math.floor(times.length * p))] ?? NaN) * 10) / 10;
console.log(JSON.stringify({ ok: times.length, failed, p50: at(0.5), p99: at(0.99), max: at(1) }));
`;

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew) echo "LEASE ip=$ip" ;;
esac
`;

interface Resolved {
  ok: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

/** A stand-in upstream resolver on 127.0.0.1:53 answering every question with 192.0.2.99. */
async function fakeUpstream(): Promise<{ socket: Socket; count: () => number }> {
  let count = 0;
  const socket = createSocket('udp4');
  socket.on('message', (query, from) => {
    count += 1;
    let at = 12;
    while (query[at]) at += 1 + query[at]!;
    const header = Buffer.from(query.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2);
    header.writeUInt16BE(1, 6);
    const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99]);
    socket.send(
      Buffer.concat([header, query.subarray(12, at + 5), answer]),
      from.port,
      from.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(53, '127.0.0.1', resolve));
  return { socket, count: () => count };
}

describeNetns('drill: a DNS and DHCP flood from one VM does not starve another', () => {
  let pool: Pool;
  let dir: string;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let attacker: TapPeer;
  let victim: TapPeer;
  let victimNet: Network;
  let attackerNet: Network;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapnet-flood-'));
    await writeFile(join(dir, 'flooder.mjs'), FLOODER);
    await writeFile(join(dir, 'resolver.mjs'), RESOLVER);
    await writeFile(join(dir, 'udhcpc.sh'), UDHCPC_SCRIPT);
    await chmod(join(dir, 'udhcpc.sh'), 0o755);
    upstream = await fakeUpstream();
    pool = await Pool.create({ size: 2, prefix: 'hf', upstreamDns: ['127.0.0.1'] });
    attackerNet = pool.network();
    victimNet = pool.network();
    attacker = await createTapPeer({
      tap: attackerNet.name,
      subnet: attackerNet.subnet,
      gateway: attackerNet.gateway,
      mac: attackerNet.mac,
      prefix: 'hf',
    });
    victim = await createTapPeer({
      tap: victimNet.name,
      subnet: victimNet.subnet,
      gateway: victimNet.gateway,
      mac: victimNet.mac,
      prefix: 'hf',
    });
  });

  afterAll(async () => {
    await attacker?.close();
    await victim?.close();
    await pool?.dispose();
    upstream?.socket.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const resolve = async (seconds: number): Promise<Resolved> =>
    JSON.parse(
      await victim.ns.runOk(
        [
          process.execPath,
          join(dir, 'resolver.mjs'),
          victimNet.gateway,
          `${QUERIES}`,
          `${seconds}`,
        ],
        {
          timeout: QUERIES * 2_000 + 30_000,
        },
      ),
    ) as Resolved;

  it('every query of the other VM is answered, and it leases, while the flood runs', async () => {
    const quiet = await resolve(0);
    expect(quiet.failed).toBe(0);

    const forwardedBefore = upstream.count();
    const flood = attacker.ns.runOk(
      [process.execPath, join(dir, 'flooder.mjs'), attackerNet.gateway, `${FLOOD_SECONDS}`],
      { timeout: FLOOD_SECONDS * 1000 + 60_000 },
    );
    // Let the flood get going before measuring.
    await new Promise((r) => setTimeout(r, 500));
    const [loud, leased, sent] = await Promise.all([
      // For most of the flood (the query count is reported).
      resolve(FLOOD_SECONDS - 2),
      victim.ns.run(
        ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-n', '-q', '-t', '5', '-T', '1'].concat([
          '-s',
          join(dir, 'udhcpc.sh'),
        ]),
        { timeout: 30_000 },
      ),
      flood.then((out) => JSON.parse(out) as { dns: number; dhcp: number }),
    ]);
    const forwarded = upstream.count() - forwardedBefore;
    console.info(
      `flood drill: attacker sent ${sent.dns} DNS queries (${Math.round(sent.dns / FLOOD_SECONDS)}/s, half forwarded: upstream saw ${forwarded}) and ${sent.dhcp} DHCP DISCOVERs in ${FLOOD_SECONDS} s; ` +
        `victim taskcluster queries: quiet (${quiet.ok}) p50 ${quiet.p50} ms p99 ${quiet.p99} ms max ${quiet.max} ms; ` +
        `under flood ok ${loud.ok} failed ${loud.failed} p50 ${loud.p50} ms p99 ${loud.p99} ms max ${loud.max} ms; lease: ${leased.stdout.trim()}`,
    );
    expect(sent.dns).toBeGreaterThan(1000 * FLOOD_SECONDS); // thousands a second
    expect(loud.failed).toBe(0);
    expect(loud.ok).toBeGreaterThanOrEqual(QUERIES);
    expect(leased.exitCode, leased.stderr).toBe(0);
    expect(leased.stdout).toContain('LEASE ip=');
  });
});
