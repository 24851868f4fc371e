import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describeNetns, run, runOk, waitFor } from '@tapnet/testing';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { MetadataServer } from './server.js';
import { httpRequest, rawConnect } from './test-support.js';

// Issue 11 item 1: one network's connection flood must not take the metadata service from the
// others. The attacker runs in a process of its own (as a VM would), on its own source address;
// the victim is measured from this process. Everything sits on lo of the sandbox namespace.
const METADATA = '169.254.169.254';
const ATTACKER = '10.66.0.2';
const VICTIM = '10.77.0.2';

// The attacker: opens IDLE connections as fast as it can and never sends a byte nor closes
// (allowHalfOpen: a FIN from the server is not answered), then keeps going: RATE new idle
// connections a second, and SLOW slow-header connections that dribble a header line every
// 500 ms (re-opened when the server cuts them). Prints `ready <held>` after the first phase.
const ATTACKER_SCRIPT = `
const net = require('node:net');
const [host, local, idle, rate, slow] = process.argv.slice(1);
let held = 0;
function open(onConnect) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: 80, localAddress: local, allowHalfOpen: true });
    let connected = false;
    s.on('error', () => {});
    s.once('connect', () => { connected = true; held++; onConnect?.(s); resolve(); });
    s.once('close', () => { if (connected) held--; resolve(); });
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
  const total = Number(idle);
  for (let i = 0; i < total; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, total - i) }, () => open()));
  }
  process.stdout.write('ready ' + held + '\\n');
  for (let i = 0; i < Number(slow); i++) slowOne();
  const perTick = Math.max(1, Math.round(Number(rate) / 100));
  setInterval(() => { for (let i = 0; i < perTick; i++) open(); }, 10);
})();
`;

function startAttacker(idle: number, rate: number, slow: number) {
  const child = spawn(
    process.execPath,
    ['-e', ATTACKER_SCRIPT, METADATA, ATTACKER, String(idle), String(rate), String(slow)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  return { child, output: () => output };
}

/** Server-side sockets of this process (`users:` set: not kernel orphans) from `peer` to :80. */
async function heldByServer(peer: string): Promise<number> {
  const r = await run(['ss', '-tnpH', 'state', 'all', `( sport = :80 and dst ${peer} )`]);
  return r.stdout.split('\n').filter((line) => line.includes(`pid=${process.pid},`)).length;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length * 0.99) - 1]!;
}

describeNetns('MetadataServer under one network’s connection flood', () => {
  beforeAll(async () => {
    await runOk(['ip', '-batch', '-'], {
      input: [METADATA, ATTACKER, VICTIM].map((a) => `addr add ${a}/32 dev lo\n`).join(''),
    });
  });

  let server: MetadataServer | undefined;
  let attacker: ChildProcess | undefined;
  afterEach(async () => {
    attacker?.kill('SIGKILL');
    attacker = undefined;
    await server?.close({ deadlineMs: 1000 });
    server = undefined;
  });

  async function startPair(
    hardening: NonNullable<Parameters<typeof MetadataServer.create>[0]>['hardening'] = {},
  ) {
    server = await MetadataServer.create({ hardening });
    server.addNetwork('attacker', '10.66.0.0/24');
    server.addNetwork('victim', '10.77.0.0/24');
    server.setHandler('attacker', () => new Response('attacker'));
    server.setHandler('victim', () => new Response('victim'));
    return server;
  }

  // A budget, not a wait: opening the flood may take 60 s on a loaded machine, then 50 spaced requests.
  it('1100 idle connections, then 300 new ones a second and slow headers: the other network keeps 100 % success and p99 < 1 s', async () => {
    const server = await startPair(); // default hardening: the defaults must hold
    const flood = startAttacker(1100, 300, 40);
    attacker = flood.child;
    await waitFor(() => /ready \d+/.test(flood.output()), {
      what: 'the attacker to finish opening 1100 connections',
      timeout: 60_000,
      seen: flood.output,
    });
    const statuses: number[] = [];
    const latencies: number[] = [];
    let maxHeld = 0;
    let maxKernelHeld = 0;
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      const res = await httpRequest(`http://${METADATA}/latest/meta-data`, {
        localAddress: VICTIM,
      });
      latencies.push(performance.now() - started);
      statuses.push(res.status);
      maxHeld = Math.max(maxHeld, server.stats().attacker!.openConnections);
      if (i % 10 === 0) maxKernelHeld = Math.max(maxKernelHeld, await heldByServer(ATTACKER));
      // Spaced out, so the measurement covers a few seconds of flood (slow headers included).
      await new Promise((r) => setTimeout(r, 60));
    }
    const stats = server.stats();
    console.log(
      `flood: victim p99 ${p99(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; attacker held ≤ ${maxHeld} (kernel ≤ ${maxKernelHeld}), refused ${stats.attacker!.refusedConnections}; ${flood.output().trim()}`,
    );
    expect(statuses).toEqual(Array(50).fill(200));
    // A latency bound, asked for by the issue; generous for a loaded 2-core machine.
    expect(p99(latencies)).toBeLessThan(1000);
    // The attacker never held more than its cap, in the server or in the kernel.
    expect(maxHeld).toBeLessThanOrEqual(32);
    expect(maxKernelHeld).toBeLessThanOrEqual(32);
    // Refused connections are charged to the attacker, not to the victim.
    expect(stats.attacker!.refusedConnections).toBeGreaterThan(1000);
    expect(stats.victim!.refusedConnections).toBe(0);
    expect(stats.victim!.requests['2xx']).toBe(50);
  }, 120_000);

  it('destroys a connection refused by the cap at once, even when the client never closes', async () => {
    const server = await startPair({ perNetwork: { maxConnections: 2 } });
    const held = await Promise.all(
      [1, 2].map(() => rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER })),
    );
    await waitFor(() => server.stats().attacker?.openConnections === 2, { what: '2 held' });
    const refused = await rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER });
    // We never send our FIN: the server must not wait for it.
    refused.socket.allowHalfOpen = true;
    const ended = once(refused.socket, 'end');
    await ended;
    expect(refused.received()).toMatch(/^HTTP\/1\.1 429 /);
    expect(refused.socket.destroyed).toBe(false);
    await waitFor(async () => (await heldByServer(ATTACKER)) === 2, {
      what: 'the server to hold only the 2 admitted attacker sockets',
    });
    refused.socket.destroy();
    expect(server.stats().attacker).toMatchObject({ openConnections: 2, refusedConnections: 1 });
    const victim = await httpRequest(`http://${METADATA}/`, { localAddress: VICTIM });
    expect([victim.status, victim.body]).toEqual([200, 'victim']);
    for (const c of held) c.socket.destroy();
  });

  it('limits the rate of new connections per network (429), not the other network', async () => {
    const server = await startPair({
      // One token per 1000 s: the bucket holds exactly its burst during the test.
      perNetwork: { connectionsPerSecond: 0.001, connectionBurst: 3 },
    });
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER });
      c.socket.write('GET / HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n');
      await c.closed;
      answers.push(c.received().slice(0, 12));
    }
    expect(answers).toEqual([
      'HTTP/1.1 200',
      'HTTP/1.1 200',
      'HTTP/1.1 200',
      'HTTP/1.1 429',
      'HTTP/1.1 429',
    ]);
    expect(server.stats().attacker?.refusedConnections).toBe(2);
    // The victim has a bucket of its own, full whatever the attacker spent.
    for (let i = 0; i < 3; i++) {
      const victim = await httpRequest(`http://${METADATA}/`, { localAddress: VICTIM });
      expect(victim.status).toBe(200);
    }
  });

  it('closes a connection that sends nothing after the first-byte timeout', async () => {
    const server = await startPair({ firstByteTimeoutMs: 300 });
    const idle = await rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER });
    idle.socket.allowHalfOpen = true;
    const opened = performance.now();
    await once(idle.socket, 'end');
    // Closed by the server without an answer (nothing was asked), and not before its time.
    expect(idle.received()).toBe('');
    expect(performance.now() - opened).toBeGreaterThanOrEqual(250);
    await waitFor(async () => (await heldByServer(ATTACKER)) === 0, {
      what: 'the server to hold no attacker socket while the client still does',
    });
    expect(server.stats().attacker?.openConnections).toBe(0);
    idle.socket.destroy();
    // A client that did send keeps its keep-alive connection past that timeout.
    const busy = await rawConnect({ host: METADATA, port: 80, localAddress: VICTIM });
    busy.socket.write('GET / HTTP/1.1\r\nHost: m\r\n\r\n');
    await busy.until(/victim$/);
    await new Promise((r) => setTimeout(r, 600));
    busy.socket.write('GET / HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n');
    await busy.closed;
    expect(busy.received().match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });

  it('keeps a share of the table for every network when caps add up to more than it', async () => {
    // 2 networks, global 8, cap 8: each is guaranteed 4. The attacker may borrow only what the
    // victim has not reserved.
    const server = await startPair({ maxConnections: 8, perNetwork: { maxConnections: 8 } });
    const attackers: Awaited<ReturnType<typeof rawConnect>>[] = [];
    for (let i = 0; i < 10; i++) {
      attackers.push(await rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER }));
    }
    await waitFor(() => server.stats().attacker?.refusedConnections === 6, {
      what: 'the attacker refused above its share of 4',
    });
    expect(server.stats().attacker?.openConnections).toBe(4);
    // Those six were over the global table (what nobody reserved), not the attacker's own cap:
    // answered 503, and counted in stats() both as refused connections and as 5xx answers.
    await waitFor(
      () => attackers.filter((c) => c.received().startsWith('HTTP/1.1 503 ')).length === 6,
      { what: 'six 503 answers to the attacker' },
    );
    expect(server.stats().attacker?.requests).toMatchObject({ '4xx': 0, '5xx': 6 });
    const victims = [];
    for (let i = 0; i < 4; i++) {
      victims.push(await rawConnect({ host: METADATA, port: 80, localAddress: VICTIM }));
    }
    await waitFor(() => server.stats().victim?.openConnections === 4, { what: '4 victim sockets' });
    expect(server.stats().victim?.refusedConnections).toBe(0);
    for (const c of [...attackers, ...victims]) c.socket.destroy();
  });
});
