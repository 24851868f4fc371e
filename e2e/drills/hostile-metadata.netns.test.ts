import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createTapPeer, describeNetns, type TapPeer, waitFor } from '@tapnet/testing';
import { Pool } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';

// Drill (issue 11 items 1 and 2): one hostile VM against the shared metadata service, through
// the facade's Pool with default options, each VM a stand-in on its network's TAP (joined by
// QEMU, as a guest's NIC is). The attacks must fail and the other VM must be served meanwhile.

// Runs inside the attacker VM: opens IDLE connections and never sends a byte nor answers the
// server's FIN, then RATE new ones a second and SLOW slow-header connections.
const FLOOD = `
const net = require('node:net');
const [idle, rate, slow] = process.argv.slice(1).map(Number);
function open(onConnect) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '169.254.169.254', port: 80, allowHalfOpen: true });
    s.on('error', () => {});
    s.once('connect', () => { onConnect?.(s); resolve(); });
    s.once('close', resolve);
    s.on('data', () => {});
  });
}
function slowOne() {
  open((s) => {
    s.write('GET /slow HTTP/1.1\\r\\nHost: m\\r\\n');
    const t = setInterval(() => s.write('X-Slow: a\\r\\n'), 500);
    s.once('close', () => { clearInterval(t); setTimeout(slowOne, 50); });
  });
}
(async () => {
  for (let i = 0; i < idle; i += 100) await Promise.all(Array.from({ length: Math.min(100, idle - i) }, () => open()));
  process.stdout.write('ready\\n');
  for (let i = 0; i < slow; i++) slowOne();
  const perTick = Math.max(1, Math.round(rate / 100));
  setInterval(() => { for (let i = 0; i < perTick; i++) open(); }, 10);
})();
`;

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length * 0.99) - 1]!;
}

describeNetns('drill: a hostile VM against the metadata service', () => {
  let pool: Pool;
  let attacker: TapPeer;
  let victim: TapPeer;
  // An upstream on the host that routes with WHATWG URL, holding each network's data under
  // its own base path.
  let upstream: Server;
  let upstreamPort = 0;
  const upstreamSaw: string[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://upstream').pathname;
      upstreamSaw.push(path);
      res.end(`upstream ${path}`);
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const address = upstream.address();
    upstreamPort = typeof address === 'object' && address ? address.port : 0;
    pool = await Pool.create({ size: 2, prefix: 'hm' });
    const [a, b] = [pool.network(), pool.network()];
    const peer = (n: typeof a) =>
      createTapPeer({ tap: n.name, subnet: n.subnet, gateway: n.gateway, mac: n.mac });
    attacker = await peer(a);
    victim = await peer(b);
    a.setHandler({ forward: `http://127.0.0.1:${upstreamPort}/${a.name}` });
    b.setHandler({ forward: `http://127.0.0.1:${upstreamPort}/${b.name}` });
  }, 120_000);

  afterAll(async () => {
    await attacker?.close();
    await victim?.close();
    await pool?.dispose();
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
  });

  it('a VM cannot read another network’s data through its forward handler’s base path', async () => {
    const own = await attacker.get('/latest/meta-data');
    expect(own).toEqual({ status: 200, body: `upstream /hm0/latest/meta-data` });
    upstreamSaw.length = 0;
    for (const target of ['/..\\hm1\\secret', '/%2e%2e/hm1/secret', '/..%2fhm1%2fsecret']) {
      const reply = await attacker.get(target);
      expect([target, reply.status, reply.body.includes('hm1')]).toEqual([target, 400, false]);
    }
    expect(upstreamSaw).toEqual([]);
    expect(await victim.get('/x')).toEqual({ status: 200, body: 'upstream /hm1/x' });
  });

  it('a VM flooding connections and slow headers leaves the other VM 100 % served, p99 < 1 s', async () => {
    const flood = attacker.ns.spawn([process.execPath, '-e', FLOOD, '1100', '300', '40']);
    let output = '';
    flood.all?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    try {
      await waitFor(() => output.includes('ready') || flood.exitCode !== null, {
        what: 'the attacker VM to open 1100 connections',
        timeout: 90_000,
        seen: () => output,
      });
      expect(output).toContain('ready');
      const statuses: number[] = [];
      const latencies: number[] = [];
      let maxHeld = 0;
      for (let i = 0; i < 50; i++) {
        const started = performance.now();
        const reply = await victim.get('/latest/meta-data', { timeout: 10_000 });
        latencies.push(performance.now() - started);
        statuses.push(reply.status);
        maxHeld = Math.max(maxHeld, (await pool.status()).metadata.hm0!.openConnections);
        await new Promise((r) => setTimeout(r, 60));
      }
      const stats = (await pool.status()).metadata;
      console.log(
        `drill flood: victim p99 ${p99(latencies).toFixed(1)} ms; attacker held ≤ ${maxHeld}, refused ${stats.hm0!.refusedConnections}`,
      );
      expect(statuses).toEqual(Array(50).fill(200));
      // The bound the issue asks for; generous for a loaded 2-core machine.
      expect(p99(latencies)).toBeLessThan(1000);
      expect(maxHeld).toBeLessThanOrEqual(32);
      expect(stats.hm0!.refusedConnections).toBeGreaterThan(0);
      expect(stats.hm1!.refusedConnections).toBe(0);
    } finally {
      flood.kill('SIGKILL');
      await flood;
    }
    // Its own waits allow 90 s for the flood to open and 50 × 10 s for the victim: vitest's
    // 30 s default cut it short on a loaded machine.
  }, 180_000);
});
