// Issue 14 in a real guest: a busybox guest whose network has `ingress: '4mbit'` downloads a
// file from an "internet" host behind the pool's uplink and reports how long it took; the rate
// it measured is within ±15 % of the limit, and the pool's tc counters saw the bytes.
//
//   guest ── tr0 (tbf 4mbit) ── sandbox ── up0 ══ veth ══ "internet" 203.0.113.10:80 (/blob)

import { createInternet, describeNetns, type Netns, waitFor } from '@tapnet/testing';
import { nodeHandler, Pool } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from './guest/build.ts';
import { parseProbeResults, probeSh, scenario } from './src/probes.ts';
import { bootGuest } from './src/qemu.ts';
import { scenarioListener } from './src/responders.ts';

const INTERNET_IP = '203.0.113.10';
const BLOB_BYTES = 2_500_000; // 5 s at 4mbit: the bucket's 32 KiB burst is ~1 % of it
const LIMIT = 4_000_000;

const SERVER = `
const blob = Buffer.alloc(${BLOB_BYTES}, 120);
require('node:http').createServer((req, res) => {
  res.writeHead(200, { 'content-length': blob.length }).end(blob);
}).listen(80, '${INTERNET_IP}', () => console.log('ready'));`;

describeNetns('a rate-limited guest', () => {
  let image: GuestImage;
  let internet: Netns;
  beforeAll(async () => {
    image = await buildGuest();
    internet = await createInternet([INTERNET_IP]);
    const server = internet.spawn([process.execPath, '-e', SERVER]);
    let out = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    await waitFor(() => out.includes('ready'), {
      what: 'the internet HTTP server',
      seen: () => out,
    });
  }, 300_000);

  afterAll(async () => {
    await internet?.delete();
  });

  it('downloads from the internet host at its ingress limit, and says so', async () => {
    await using pool = await Pool.create({
      size: 1,
      prefix: 'tr',
      stateDir: '/run/tapnet',
      uplink: 'up0',
    });
    const network = await pool.acquire({ limits: { ingress: '4mbit' } });
    // /proc/uptime has centiseconds: plenty for a 5-second download.
    const script = scenario(
      probeSh(
        'download',
        `t0=$(cut -d' ' -f1 /proc/uptime); timeout 60 wget -q -O /tmp/blob http://${INTERNET_IP}/blob || exit 1; t1=$(cut -d' ' -f1 /proc/uptime); echo "bytes=$(wc -c </tmp/blob) t0=$t0 t1=$t1"`,
      ),
    );
    const { listener, result } = scenarioListener(script);
    network.setHandler(nodeHandler(listener));
    const run = await bootGuest({
      image,
      name: 'guest-rate-limited',
      mode: 'dhcp',
      netArgs: network.qemuArgs('n0'),
      timeoutMs: 180_000,
    });
    const posted = await result;
    const probe = parseProbeResults(posted.output).download;
    const text = probe?.data ?? '';
    const fields = Object.fromEntries(
      [...text.matchAll(/(\w+)=([\d.]+)/g)].map((m) => [m[1], Number(m[2])]),
    );
    const seconds = (fields.t1 ?? 0) - (fields.t0 ?? 0);
    const rate = ((fields.bytes ?? 0) * 8) / seconds;
    const seen = `guest (${run.accel}) reported ${text.trim()}: ${(rate / 1e6).toFixed(2)} mbit/s against a 4mbit limit`;
    console.log(seen);
    expect(probe?.verdict, seen).toBe('ok');
    expect(fields.bytes, seen).toBe(BLOB_BYTES);
    expect(rate, seen).toBeGreaterThan(LIMIT * 0.85);
    expect(rate, seen).toBeLessThan(LIMIT * 1.15);
    const status = await pool.status();
    const counters = status.networks[0]?.traffic?.ingress;
    expect(counters?.bytes, seen).toBeGreaterThan(BLOB_BYTES);
    expect(run.completed).toBe(true);
    network.release();
  }, 240_000);
});
