import { describeNetns, runOk } from '@tapnet/testing';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { MetadataServer } from './server.js';
import { httpRequest, rawConnect, rawExchange, statusOf } from './test-support.js';

// Runs in a sandbox namespace: the metadata address and the "VMs'" source addresses sit on lo,
// and each client binds its own source address, as a VM behind its TAP device would have.
const METADATA = '169.254.169.254';
const ATTACKER = '10.66.0.2';
const VICTIM = '10.77.0.2';
const STRANGER = '10.99.0.2';

function manyNetworks(): { name: string; cidr: string; client: string }[] {
  const out = [];
  for (let i = 0; i < 50; i++)
    out.push({ name: `vm${i}`, cidr: `10.${100 + i}.0.0/24`, client: `10.${100 + i}.0.17` });
  out.push({ name: 'wide', cidr: '172.16.0.0/16', client: '172.16.200.3' });
  out.push({ name: 'tiny', cidr: '192.168.7.4/30', client: '192.168.7.6' });
  out.push({ name: 'single', cidr: '192.168.7.9/32', client: '192.168.7.9' });
  return out;
}

describeNetns('MetadataServer on 169.254.169.254:80 with VMs on their own addresses', () => {
  beforeAll(async () => {
    const addresses = [
      METADATA,
      ATTACKER,
      VICTIM,
      STRANGER,
      ...manyNetworks().map((n) => n.client),
    ];
    await runOk(['ip', '-batch', '-'], {
      input: addresses.map((a) => `addr add ${a}/32 dev lo\n`).join(''),
    });
  });

  let server: MetadataServer | undefined;
  afterEach(async () => {
    await server?.close({ deadlineMs: 1000 });
    server = undefined;
  });

  async function startPair(hardening: Parameters<typeof MetadataServer.create>[0] = {}) {
    // Defaults: 169.254.169.254, port 80.
    server = await MetadataServer.create(hardening);
    expect(server.address).toEqual({ host: METADATA, port: 80 });
    server.addNetwork('attacker', '10.66.0.0/24');
    server.addNetwork('victim', '10.77.0.0/24');
    const seen: string[] = [];
    server.setHandler('attacker', (request) => {
      seen.push(request.url);
      return new Response('attacker');
    });
    server.setHandler('victim', () => new Response('victim'));
    return { server, seen };
  }

  async function victimIsServed(): Promise<void> {
    const res = await httpRequest(`http://${METADATA}/latest/meta-data`, { localAddress: VICTIM });
    expect([res.status, res.body]).toEqual([200, 'victim']);
  }

  const raw = (data: string) =>
    rawExchange({ host: METADATA, port: 80, localAddress: ATTACKER }, data);

  it('dispatches each of many networks of mixed prefix lengths by source address only', async () => {
    server = await MetadataServer.create();
    const networks = manyNetworks();
    for (const n of networks) {
      server.addNetwork(n.name, n.cidr);
      server.setHandler(n.name, (_request, ctx) =>
        Response.json({ network: ctx.network, from: ctx.remoteAddress }),
      );
    }
    const answers = await Promise.all(
      networks.map((n) =>
        httpRequest(`http://${METADATA}/`, {
          localAddress: n.client,
          // Headers never choose the network.
          headers: { 'x-tapnet-network': 'vm0', host: 'vm0' },
        }),
      ),
    );
    expect(answers.map((a) => JSON.parse(a.body))).toEqual(
      networks.map((n) => ({ network: n.name, from: n.client })),
    );
    expect((await httpRequest(`http://${METADATA}/`, { localAddress: STRANGER })).status).toBe(403);
    server.clear('vm3');
    expect(
      (await httpRequest(`http://${METADATA}/`, { localAddress: networks[3]!.client })).status,
    ).toBe(404);
    server.removeNetwork('vm4');
    expect(
      (await httpRequest(`http://${METADATA}/`, { localAddress: networks[4]!.client })).status,
    ).toBe(403);
    expect(server.stats().vm0?.requests['2xx']).toBe(1);
  });

  it('answers header floods and oversized heads with 431', async () => {
    const { server } = await startPair();
    const flood = Array.from({ length: 60 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    expect(statusOf(await raw(`GET / HTTP/1.1\r\nHost: m\r\n${flood}\r\n`))).toBe(431);
    expect(
      statusOf(await raw(`GET / HTTP/1.1\r\nHost: m\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`)),
    ).toBe(431);
    expect(server.stats().attacker?.requests['4xx']).toBe(2);
    await victimIsServed();
  });

  it('answers slow headers with 408 once the header timeout passes', async () => {
    await startPair({ hardening: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } });
    const slow = await rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER });
    slow.socket.write('GET / HTTP/1.1\r\nHost: m\r\nX-Slow: ');
    // Nothing more is sent: the server must give up on its own and say so.
    await slow.closed;
    expect(statusOf(slow.received())).toBe(408);
    await victimIsServed();
  });

  it('answers a huge declared body with 413 without reading it', async () => {
    const { seen } = await startPair();
    const c = await rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER });
    c.socket.write('POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 10000000000\r\n\r\n');
    await c.until(/\r\n\r\n/);
    expect(statusOf(c.received())).toBe(413);
    await c.closed;
    expect(seen).toEqual([]);
    await victimIsServed();
  });

  it.each([
    [
      'CL+TE',
      'POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: m\r\n\r\n',
    ],
    [
      'TE+CL',
      'POST / HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: m\r\n\r\n',
    ],
    [
      'duplicate Content-Length',
      'POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\n\r\n',
    ],
    [
      'equal duplicate Content-Length',
      'POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd',
    ],
    [
      'obfuscated Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
    ],
  ])('refuses %s smuggling with 400 and never serves the hidden request', async (_name, attack) => {
    const { seen } = await startPair();
    const answer = await raw(attack);
    expect(statusOf(answer)).toBe(400);
    expect(answer.match(/HTTP\/1\.1/g)).toHaveLength(1);
    expect(seen).toEqual([]);
    await victimIsServed();
  });

  it('never fetches absolute-form or CONNECT targets', async () => {
    const { seen } = await startPair();
    expect(
      statusOf(await raw('GET http://127.0.0.1:22/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')),
    ).toBe(400);
    expect(statusOf(await raw('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'))).toBe(
      405,
    );
    expect(statusOf(await raw('OPTIONS * HTTP/1.1\r\nHost: m\r\n\r\n'))).toBe(400);
    expect(seen).toEqual([]);
    await victimIsServed();
  });

  it.each([['X-Forwarded-For: 10.77.0.2'], ['Forwarded: for=10.77.0.2'], ['Via: 1.1 proxy']])(
    'refuses requests carrying %s with 403',
    async (header) => {
      const { seen } = await startPair();
      expect(
        statusOf(await raw(`GET / HTTP/1.1\r\nHost: m\r\n${header}\r\nConnection: close\r\n\r\n`)),
      ).toBe(403);
      expect(seen).toEqual([]);
      await victimIsServed();
    },
  );

  it('rate-limits a flooding network with 429 + Retry-After while another is served', async () => {
    const { server } = await startPair({
      // A refill of one token per 1000 s: during the test the bucket holds exactly its burst,
      // so what is served is a count, not a function of how fast the machine is.
      // Each request opens a connection: the connection rate (tested in flood.netns.test.ts) is
      // turned off so that only the request rate answers here.
      hardening: {
        perNetwork: { requestsPerSecond: 0.001, burst: 20, connectionsPerSecond: Infinity },
      },
    });
    const flood: number[] = [];
    const retryAfter = new Set<unknown>();
    const victim: number[] = [];
    // Attacker and victim interleave: 200 attacker requests (4 in parallel), 20 victim ones.
    await Promise.all([
      ...Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 50; i++) {
          const r = await httpRequest(`http://${METADATA}/`, { localAddress: ATTACKER });
          flood.push(r.status);
          if (r.status === 429) retryAfter.add(r.headers['retry-after']);
        }
      }),
      (async () => {
        for (let i = 0; i < 20; i++)
          victim.push((await httpRequest(`http://${METADATA}/`, { localAddress: VICTIM })).status);
      })(),
    ]);
    const served = flood.filter((s) => s === 200).length;
    expect(flood.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(served).toBe(20); // the burst, and not one more
    expect(flood.filter((s) => s === 429).length).toBe(180);
    // Seconds until the next token: 1000 at first, a little less once a second has passed (a
    // loaded machine can take that long for 200 requests).
    expect([...retryAfter].filter((v) => !(Number(v) >= 990 && Number(v) <= 1000))).toEqual([]);
    expect(retryAfter.size).toBeGreaterThan(0);
    expect(victim).toEqual(Array(20).fill(200));
    const stats = server.stats();
    expect(stats.attacker?.requests['4xx']).toBe(200 - served);
    expect(stats.victim?.requests).toEqual({ '2xx': 20, '3xx': 0, '4xx': 0, '5xx': 0 });
  });

  it('caps connections per network (429) without touching another network', async () => {
    const { server } = await startPair({ hardening: { perNetwork: { maxConnections: 4 } } });
    const held = await Promise.all(
      Array.from({ length: 4 }, () =>
        rawConnect({ host: METADATA, port: 80, localAddress: ATTACKER }),
      ),
    );
    const { waitFor } = await import('@tapnet/testing');
    await waitFor(() => server.stats().attacker?.openConnections === 4, {
      what: '4 open attacker connections',
    });
    const extra = await raw('GET / HTTP/1.1\r\nHost: m\r\n\r\n');
    expect(extra).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\nRetry-After: 1\r\n/);
    await victimIsServed();
    for (const c of held) c.socket.destroy();
  });

  it('binds session tokens to the network that asked for them', async () => {
    await startPair({ hardening: { tokens: { maxTtlSeconds: 60 } } });
    const ttl = { 'x-aws-ec2-metadata-token-ttl-seconds': '60' };
    const token = await httpRequest(`http://${METADATA}/latest/api/token`, {
      method: 'PUT',
      headers: ttl,
      localAddress: ATTACKER,
    });
    expect(token.status).toBe(200);
    const stolen = await httpRequest(`http://${METADATA}/`, {
      headers: { 'x-aws-ec2-metadata-token': token.body },
      localAddress: VICTIM,
    });
    expect(stolen.status).toBe(401);
    const own = await httpRequest(`http://${METADATA}/`, {
      headers: { 'x-aws-ec2-metadata-token': token.body },
      localAddress: ATTACKER,
    });
    expect([own.status, own.body]).toEqual([200, 'attacker']);
  });
});
