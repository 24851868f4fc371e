import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@tapnet/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClosedError,
  InvalidOptionError,
  ListenError,
  UnknownNetworkError,
  UpstreamError,
} from './errors.js';
import { nodeHandler } from './handler.js';
import type { MetadataErrorEvent } from './server.js';
import { MetadataServer } from './server.js';
import { httpRequest, rawConnect, rawExchange, statusOf } from './test-support.js';

// Everything here runs on 127.0.0.1 only; other source addresses live in server.netns.test.ts.
const servers: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0).reverse()) await s.close();
});

async function start(options: Parameters<typeof MetadataServer.create>[0] = {}) {
  const server = await MetadataServer.create({ host: '127.0.0.1', port: 0, ...options });
  servers.push(server);
  const base = `http://127.0.0.1:${server.address.port}`;
  return { server, base, port: server.address.port };
}

async function upstream(
  handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
  path?: string,
) {
  const server: Server = createServer(handler);
  if (path) server.listen(path);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({ close: () => new Promise<void>((r) => server.close(() => r())).then(() => {}) });
  server.closeIdleConnections();
  const address = server.address();
  return {
    server,
    url: typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : '',
  };
}

describe('MetadataServer dispatch (loopback)', () => {
  it('answers 403 to an unknown source and 404 to a network without handler', async () => {
    const { server, base } = await start();
    server.addNetwork('elsewhere', '10.0.0.0/8');
    expect((await httpRequest(`${base}/x`)).status).toBe(403);
    server.addNetwork('lo', '127.0.0.1/32');
    const res = await httpRequest(`${base}/x`);
    expect([res.status, res.body]).toEqual([404, 'Not Found: no handler for this network\n']);
  });

  it('serves fetch-style, { fetch } and node-style handlers with the network and source address', async () => {
    const { server, base } = await start();
    server.addNetwork('lo', '127.0.0.0/8');
    server.setHandler('lo', async (request, ctx) =>
      Response.json({
        url: request.url,
        method: request.method,
        ctx: { ...ctx, remotePort: typeof ctx.remotePort },
      }),
    );
    const a = await httpRequest(`${base}/latest/meta-data?x=1`, {
      headers: { 'X-Forwarded-Host': 'ignored' },
    });
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({
      url: 'http://127.0.0.1/latest/meta-data?x=1',
      method: 'GET',
      ctx: { network: 'lo', remoteAddress: '127.0.0.1', remotePort: 'number' },
    });
    server.setHandler('lo', {
      fetch: async (request) => new Response(`posted ${await request.text()}`, { status: 201 }),
    });
    const b = await httpRequest(`${base}/p`, { method: 'POST', body: 'hello' });
    expect([b.status, b.body]).toEqual([201, 'posted hello']);
    server.setHandler(
      'lo',
      nodeHandler((req, res, ctx) => {
        res.setHeader('x-network', ctx.network);
        res.end(`node ${req.method} ${req.url}`);
      }),
    );
    const c = await httpRequest(`${base}/n`);
    expect([c.status, c.headers['x-network'], c.body]).toEqual([200, 'lo', 'node GET /n']);
  });

  it('answers 500 when a handler throws, rejects or returns junk, reports it, and keeps serving', async () => {
    const { server, base } = await start();
    const errors: MetadataErrorEvent[] = [];
    server.on('error', (e: MetadataErrorEvent) => errors.push(e));
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler(
      'lo',
      nodeHandler(() => {
        throw new Error('sync boom');
      }),
    );
    expect((await httpRequest(`${base}/`)).status).toBe(500);
    server.setHandler('lo', async () => {
      throw new Error('async boom');
    });
    expect((await httpRequest(`${base}/`)).status).toBe(500);
    server.setHandler('lo', (() => 'not a response') as never);
    expect((await httpRequest(`${base}/`)).status).toBe(500);
    expect(errors.map((e) => [e.network, (e.error as Error).message])).toEqual([
      ['lo', 'sync boom'],
      ['lo', 'async boom'],
      [
        'lo',
        'Expected the handler of network `lo` to return a Response with a status from 200 to 599, got `"not a response"` (string)',
      ],
    ]);
    server.setHandler('lo', () => new Response('fine'));
    expect((await httpRequest(`${base}/`)).body).toBe('fine');
    expect(server.stats().lo?.requests).toEqual({ '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 3 });
  });

  it('does not crash the process when nobody listens for errors', async () => {
    const { server, base } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', () => {
      throw new Error('unheard');
    });
    expect((await httpRequest(`${base}/`)).status).toBe(500);
  });

  it('refuses unknown networks and bad handlers with typed errors, changing nothing', async () => {
    const { server, base } = await start();
    expect(() => server.setHandler('nope', () => new Response(''))).toThrow(UnknownNetworkError);
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', () => new Response('kept'));
    expect(() => server.setHandler('lo', { forward: 'ftp://x' })).toThrow(InvalidOptionError);
    expect((await httpRequest(`${base}/`)).body).toBe('kept');
    server.removeNetwork('nope'); // a no-op
    server.clear('nope'); // a no-op
  });

  it('reports a taken port as ListenError with the cause', async () => {
    const { port } = await start();
    const error = await MetadataServer.create({ host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ListenError);
    expect((error as ListenError).message).toBe(
      `Could not listen on 127.0.0.1:${port}: EADDRINUSE`,
    );
    expect(((error as ListenError).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
  });
});

describe('MetadataServer forwarding', () => {
  it('forwards to an HTTP upstream without hop-by-hop and identity headers, and tells who is served', async () => {
    const up = await upstream((req, res) => {
      res.setHeader('connection', 'close');
      res.setHeader('x-upstream', '1');
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
    const { server, base } = await start({ hardening: { rejectProxyHeaders: false } });
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', { forward: `${up.url}/base/` });
    const res = await httpRequest(`${base}/latest/x?y=1`, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-tapnet-network': 'spoofed',
        'x-keep': 'yes',
        te: 'trailers',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-upstream']).toBe('1');
    const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/base/latest/x?y=1');
    expect(seen.headers['x-keep']).toBe('yes');
    expect(seen.headers['x-tapnet-network']).toBe('lo');
    expect(seen.headers['x-tapnet-remote-address']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-for']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
  });

  it('forwards to a unix socket upstream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-'));
    try {
      const path = join(dir, 'up.sock');
      await upstream((req, res) => res.end(`unix ${req.method} ${req.url}`), path);
      const { server, base } = await start();
      server.addNetwork('lo', '127.0.0.1/32');
      server.setHandler('lo', { forward: `unix:${path}` });
      expect((await httpRequest(`${base}/a`, { method: 'PUT', body: 'b' })).body).toBe(
        'unix PUT /a',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 502 for a dead or oversized upstream and 504 for a silent one', async () => {
    const errors: unknown[] = [];
    const { server, base } = await start();
    server.on('error', (e: MetadataErrorEvent) => errors.push(e.error));
    server.addNetwork('lo', '127.0.0.1/32');
    const dead = await upstream(() => {});
    const deadUrl = dead.url;
    await new Promise<void>((r) => dead.server.close(() => r()));
    server.setHandler('lo', { forward: deadUrl });
    expect((await httpRequest(`${base}/`)).status).toBe(502);
    const big = await upstream((_req, res) => res.end('x'.repeat(2000)));
    server.setHandler('lo', { forward: big.url, maxResponseBytes: 1000 });
    expect((await httpRequest(`${base}/`)).status).toBe(502);
    const chunked = await upstream((_req, res) => {
      res.write('x'.repeat(600));
      res.end('x'.repeat(600));
    });
    server.setHandler('lo', { forward: chunked.url, maxResponseBytes: 1000 });
    expect((await httpRequest(`${base}/`)).status).toBe(502);
    const silent = await upstream(() => {});
    server.setHandler('lo', { forward: silent.url, timeoutMs: 200 });
    expect((await httpRequest(`${base}/`)).status).toBe(504);
    silent.server.closeAllConnections();
    expect(errors.every((e) => e instanceof UpstreamError)).toBe(true);
    expect(errors).toHaveLength(4);
  });
});

describe('MetadataServer hardening (loopback)', () => {
  it('issues IMDSv2-style tokens and requires them', async () => {
    const { server, base } = await start({ hardening: { tokens: {} } });
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', () => new Response('secret'));
    expect((await httpRequest(`${base}/latest/meta-data`)).status).toBe(401);
    expect((await httpRequest(`${base}/latest/api/token`)).status).toBe(405);
    expect((await httpRequest(`${base}/latest/api/token`, { method: 'PUT' })).status).toBe(400);
    const ttl = 'x-aws-ec2-metadata-token-ttl-seconds';
    expect(
      (await httpRequest(`${base}/latest/api/token`, { method: 'PUT', headers: { [ttl]: '0' } }))
        .status,
    ).toBe(400);
    const issued = await httpRequest(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { [ttl]: '60' },
    });
    expect([issued.status, issued.headers[ttl]]).toEqual([200, '60']);
    const ok = await httpRequest(`${base}/latest/meta-data`, {
      headers: { 'x-aws-ec2-metadata-token': issued.body },
    });
    expect([ok.status, ok.body]).toEqual([200, 'secret']);
    const wrong = await httpRequest(`${base}/x`, {
      headers: { 'x-aws-ec2-metadata-token': `${issued.body}x` },
    });
    expect(wrong.status).toBe(401);
    // Clearing the network (a new VM) invalidates the old VM's tokens.
    server.clear('lo');
    server.setHandler('lo', () => new Response('secret'));
    const after = await httpRequest(`${base}/x`, {
      headers: { 'x-aws-ec2-metadata-token': issued.body },
    });
    expect(after.status).toBe(401);
  });

  it('optional tokens: no token is served, a presented token must be valid', async () => {
    const { server, base } = await start({ hardening: { tokens: { required: false } } });
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', () => new Response('secret'));
    const header = 'x-aws-ec2-metadata-token';
    // IMDSv1-style (cloud-init outside AWS): served.
    const v1 = await httpRequest(`${base}/latest/meta-data`);
    expect([v1.status, v1.body]).toEqual([200, 'secret']);
    const issued = await httpRequest(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
    });
    expect(issued.status).toBe(200);
    const v2 = await httpRequest(`${base}/latest/meta-data`, {
      headers: { [header]: issued.body },
    });
    expect([v2.status, v2.body]).toEqual([200, 'secret']);
    // A wrong, empty or stale token is refused, never treated as "no token".
    for (const token of [`${issued.body}x`, '']) {
      const bad = await httpRequest(`${base}/latest/meta-data`, { headers: { [header]: token } });
      expect([token, bad.status]).toEqual([token, 401]);
    }
    server.clear('lo');
    server.setHandler('lo', () => new Response('secret'));
    const stale = await httpRequest(`${base}/x`, { headers: { [header]: issued.body } });
    expect(stale.status).toBe(401);
    expect((await httpRequest(`${base}/x`)).status).toBe(200);
    // The token endpoint itself keeps its rules.
    expect((await httpRequest(`${base}/latest/api/token`)).status).toBe(405);
  });

  it('requires a configured header', async () => {
    const { server, base } = await start({
      hardening: { requiredHeader: { name: 'Metadata-Flavor', value: 'Google' } },
    });
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', () => new Response('ok'));
    expect((await httpRequest(`${base}/`)).status).toBe(403);
    expect(
      (await httpRequest(`${base}/`, { headers: { 'metadata-flavor': 'google' } })).status,
    ).toBe(403);
    expect(
      (await httpRequest(`${base}/`, { headers: { 'Metadata-Flavor': 'Google' } })).status,
    ).toBe(200);
  });

  it('refuses bodies over the limit: declared (413 unread) and streamed', async () => {
    const { server, port } = await start({ hardening: { maxBodyBytes: 100 } });
    server.addNetwork('lo', '127.0.0.1/32');
    let reached = 0;
    let bodyBytes = 0;
    server.setHandler(
      'lo',
      nodeHandler((req, res) => {
        reached++;
        req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
        req.on('end', () => res.end('read'));
      }),
    );
    const declared = await rawExchange(
      { port },
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n',
    );
    expect(statusOf(declared)).toBe(413);
    expect(reached).toBe(0);
    const chunk = `${(60).toString(16)}\r\n${'y'.repeat(60)}\r\n`;
    const streamed = await rawExchange(
      { port },
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}${chunk}0\r\n\r\n`,
    );
    expect(statusOf(streamed)).toBe(413);
    // The handler saw the request but never a byte past the limit.
    expect(reached).toBe(1);
    expect(bodyBytes).toBeLessThanOrEqual(100);
    server.setHandler('lo', async (request) => new Response(await request.text()));
    const fetchStreamed = await rawExchange(
      { port },
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`,
    );
    expect(statusOf(fetchStreamed)).toBe(413);
  });

  it('answers CONNECT with 405 and never fetches absolute-form targets', async () => {
    const { server, port } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    const urls: string[] = [];
    server.setHandler('lo', (request) => {
      urls.push(request.url);
      return new Response('ok');
    });
    expect(
      statusOf(
        await rawExchange(
          { port },
          'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
        ),
      ),
    ).toBe(405);
    const absolute = await rawExchange(
      { port },
      'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(absolute)).toBe(400);
    expect(urls).toEqual([]);
  });
});

describe('MetadataServer lifecycle', () => {
  it('clear() cuts live keep-alive connections; the next VM gets a fresh connection and handler', async () => {
    const { server, port } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', () => new Response('old vm'));
    const c = await rawConnect({ port });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await c.until(/old vm/)).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: keep-alive/);
    expect(server.stats().lo?.openConnections).toBe(1);
    server.clear('lo');
    server.setHandler('lo', () => new Response('new vm'));
    await c.closed;
    expect(c.socket.destroyed).toBe(true);
    expect(server.stats().lo?.openConnections).toBe(0);
    const fresh = await rawExchange(
      { port },
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(fresh).toMatch(/new vm$/);
  });

  it('clear() ends in-flight requests', async () => {
    const { server, port } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    let aborted = false;
    let started = false;
    server.setHandler('lo', (request) => {
      started = true;
      return new Promise<Response>((_resolve, reject) => {
        request.signal.addEventListener('abort', () => {
          aborted = true;
          reject(request.signal.reason);
        });
      });
    });
    const c = await rawConnect({ port });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => started, { what: 'the handler to start' });
    server.clear('lo');
    await c.closed;
    await waitFor(() => aborted, { what: 'the handler to see the abort' });
    expect(c.received()).toBe('');
  });

  it('close() stops accepting, lets running requests finish, then resolves', async () => {
    const { server, port, base } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    let release: (() => void) | undefined;
    server.setHandler(
      'lo',
      () => new Promise<Response>((r) => (release = () => r(new Response('finished')))),
    );
    const idle = await rawConnect({ port });
    const busy = await rawConnect({ port });
    busy.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => release, { what: 'the handler to start' });
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    expect(server.close()).toBe(server.close());
    await idle.closed; // idle keep-alive connections go at once
    await expect(httpRequest(`${base}/`)).rejects.toThrow();
    expect(closed).toBe(false);
    release!();
    expect(await busy.until(/finished/)).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*finished$/);
    await busy.closed;
    await closing;
    expect(() => server.addNetwork('x', '10.0.0.0/8')).toThrow(ClosedError);
  });

  it('close() destroys what has not finished by the deadline', async () => {
    const { server, port } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    let started = false;
    server.setHandler(
      'lo',
      nodeHandler(() => {
        started = true; // never answers
      }),
    );
    const busy = await rawConnect({ port });
    busy.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => started, { what: 'the handler to start' });
    await server.close({ deadlineMs: 100 });
    await busy.closed;
    expect(busy.received()).toBe('');
  });

  it('serves connections from an already listening listener, and Symbol.asyncDispose closes it', async () => {
    const { createServer: createNetServer } = await import('node:net');
    const listener = createNetServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const port = (listener.address() as { port: number }).port;
    {
      await using server = await MetadataServer.create({ listener });
      expect(server.address).toEqual({ host: '127.0.0.1', port });
      server.addNetwork('lo', '127.0.0.1/32');
      server.setHandler('lo', () => new Response('via listener'));
      expect((await httpRequest(`http://127.0.0.1:${port}/`)).body).toBe('via listener');
    }
    expect(listener.listening).toBe(false);
  });

  it('counts bytes and requests per network', async () => {
    const { server, base } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    server.addNetwork('other', '10.0.0.0/8');
    server.setHandler('lo', () => new Response('12345'));
    await httpRequest(`${base}/`);
    await httpRequest(`${base}/`);
    const stats = server.stats();
    expect(stats.lo?.requests).toEqual({ '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 0 });
    expect(stats.lo?.bytesOut).toBeGreaterThan(10);
    expect(stats.other).toEqual({
      requests: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
      bytesOut: 0,
      openConnections: 0,
      refusedConnections: 0,
    });
  });
});

describe('what a guest cannot tell a handler', () => {
  it('identity headers never reach fetch-style or node-style handlers', async () => {
    const { server, base } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    const spoof = {
      'x-tapnet-network': 'other',
      'x-tapnet-remote-address': '10.0.0.9',
      'x-real-ip': '10.0.0.9',
      'x-custom': 'kept',
      'x-tapnet-exit': '0', // a guest's own header, not an identity
    };
    server.setHandler('lo', (request: Request) =>
      Response.json([...request.headers.keys()].filter((k) => k.startsWith('x-'))),
    );
    const seen = JSON.parse((await httpRequest(`${base}/`, { headers: spoof })).body) as string[];
    expect(seen.sort()).toEqual(['x-custom', 'x-tapnet-exit']);
    server.setHandler(
      'lo',
      nodeHandler((req, res) =>
        res.end(
          JSON.stringify([
            Object.keys(req.headers).filter((k) => k.startsWith('x-')),
            req.rawHeaders.filter((h) => /^x-/i.test(h)),
          ]),
        ),
      ),
    );
    const [names, raw] = JSON.parse((await httpRequest(`${base}/`, { headers: spoof })).body) as [
      string[],
      string[],
    ];
    expect(names.sort()).toEqual(['x-custom', 'x-tapnet-exit']);
    expect(raw.map((h) => h.toLowerCase()).sort()).toEqual(['x-custom', 'x-tapnet-exit']);
  });

  it.each(['/a/../b', '/..', '/a/%2e%2e/b', '/a/%2E./b', '/./a', '/a/.?q=1'])(
    'refuses the target %s with 400 before any handler runs',
    async (target) => {
      const { server, port } = await start();
      server.addNetwork('lo', '127.0.0.1/32');
      let called = false;
      server.setHandler('lo', () => {
        called = true;
        return new Response('served');
      });
      const raw = await rawExchange(
        { host: '127.0.0.1', port },
        `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(statusOf(raw)).toBe(400);
      expect(called).toBe(false);
    },
  );

  it('serves paths that merely contain dots', async () => {
    const { server, base } = await start();
    server.addNetwork('lo', '127.0.0.1/32');
    server.setHandler('lo', (request: Request) => new Response(new URL(request.url).pathname));
    expect((await httpRequest(`${base}/v1.0/..data/file.json`)).body).toBe(
      '/v1.0/..data/file.json',
    );
  });
});
