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

/** A server with the network `lo` (127.0.0.1/32) answered by `handler`, when given. */
async function startLo(
  handler?: Parameters<MetadataServer['setHandler']>[1],
  options: Parameters<typeof MetadataServer.create>[0] = {},
) {
  const started = await start(options);
  started.server.addNetwork('lo', '127.0.0.1/32');
  if (handler) started.server.setHandler('lo', handler);
  return started;
}

describe('MetadataServer dispatch (loopback)', () => {
  it('answers 403 to a source no network contains', async () => {
    const { server, base } = await start();
    server.addNetwork('elsewhere', '10.0.0.0/8');
    expect((await httpRequest(`${base}/x`)).status).toBe(403);
  });

  it('answers 404 to a network without handler', async () => {
    const { base } = await startLo();
    const res = await httpRequest(`${base}/x`);
    expect([res.status, res.body]).toEqual([404, 'Not Found: no handler for this network\n']);
  });

  it('serves a fetch-style handler with the network and source address', async () => {
    const { base } = await start().then(async (s) => {
      s.server.addNetwork('lo', '127.0.0.0/8');
      s.server.setHandler('lo', async (request, ctx) =>
        Response.json({
          url: request.url,
          method: request.method,
          ctx: { ...ctx, remotePort: typeof ctx.remotePort },
        }),
      );
      return s;
    });
    const a = await httpRequest(`${base}/latest/meta-data?x=1`, {
      headers: { 'X-Forwarded-Host': 'ignored' },
    });
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({
      url: 'http://127.0.0.1/latest/meta-data?x=1',
      method: 'GET',
      ctx: { network: 'lo', remoteAddress: '127.0.0.1', remotePort: 'number' },
    });
  });

  it('serves a { fetch } handler with the request body', async () => {
    const { base } = await startLo({
      fetch: async (request) => new Response(`posted ${await request.text()}`, { status: 201 }),
    });
    const b = await httpRequest(`${base}/p`, { method: 'POST', body: 'hello' });
    expect([b.status, b.body]).toEqual([201, 'posted hello']);
  });

  it('serves a node-style handler with the network', async () => {
    const { base } = await startLo(
      nodeHandler((req, res, ctx) => {
        res.setHeader('x-network', ctx.network);
        res.end(`node ${req.method} ${req.url}`);
      }),
    );
    const c = await httpRequest(`${base}/n`);
    expect([c.status, c.headers['x-network'], c.body]).toEqual([200, 'lo', 'node GET /n']);
  });

  it('answers 500 and reports it when a node-style handler throws', async () => {
    const errors: MetadataErrorEvent[] = [];
    const { server, base } = await startLo(
      nodeHandler(() => {
        throw new Error('sync boom');
      }),
    );
    server.on('error', (e: MetadataErrorEvent) => errors.push(e));
    expect((await httpRequest(`${base}/`)).status).toBe(500);
    expect(errors.map((e) => [e.network, (e.error as Error).message])).toEqual([
      ['lo', 'sync boom'],
    ]);
  });

  it('answers 500 and reports it when a fetch-style handler rejects', async () => {
    const errors: MetadataErrorEvent[] = [];
    const { server, base } = await startLo(async () => {
      throw new Error('async boom');
    });
    server.on('error', (e: MetadataErrorEvent) => errors.push(e));
    expect((await httpRequest(`${base}/`)).status).toBe(500);
    expect(errors.map((e) => [e.network, (e.error as Error).message])).toEqual([
      ['lo', 'async boom'],
    ]);
  });

  it('answers 500 and reports it when a handler returns something that is not a Response', async () => {
    const errors: MetadataErrorEvent[] = [];
    const { server, base } = await startLo((() => 'not a response') as never);
    server.on('error', (e: MetadataErrorEvent) => errors.push(e));
    expect((await httpRequest(`${base}/`)).status).toBe(500);
    expect(errors.map((e) => [e.network, (e.error as Error).message])).toEqual([
      [
        'lo',
        'Expected the handler of network `lo` to return a Response with a status from 200 to 599, got `"not a response"` (string)',
      ],
    ]);
  });

  it('keeps serving after a handler failed, and counts both', async () => {
    const { server, base } = await startLo(() => {
      throw new Error('once');
    });
    server.on('error', () => {});
    expect((await httpRequest(`${base}/`)).status).toBe(500);
    server.setHandler('lo', () => new Response('fine'));
    expect((await httpRequest(`${base}/`)).body).toBe('fine');
    expect(server.stats().lo?.requests).toEqual({ '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 1 });
  });

  it('does not crash the process when nobody listens for errors', async () => {
    const { base } = await startLo(() => {
      throw new Error('unheard');
    });
    expect((await httpRequest(`${base}/`)).status).toBe(500);
  });

  it('refuses a handler for an unknown network with UnknownNetworkError', async () => {
    const { server } = await start();
    expect(() => server.setHandler('nope', () => new Response(''))).toThrow(UnknownNetworkError);
  });

  it('refuses a bad handler with InvalidOptionError and keeps the one it had', async () => {
    const { server, base } = await startLo(() => new Response('kept'));
    expect(() => server.setHandler('lo', { forward: 'ftp://x' })).toThrow(InvalidOptionError);
    expect((await httpRequest(`${base}/`)).body).toBe('kept');
  });

  it('takes removeNetwork and clear of an unknown name as no-ops', async () => {
    const { server, base } = await startLo(() => new Response('kept'));
    server.removeNetwork('nope');
    server.clear('nope');
    expect([Object.keys(server.stats()), (await httpRequest(`${base}/`)).body]).toEqual([
      ['lo'],
      'kept',
    ]);
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
    const { base } = await startLo(
      { forward: `${up.url}/base/` },
      { hardening: { rejectProxyHeaders: false } },
    );
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
      const { base } = await startLo({ forward: `unix:${path}` });
      expect((await httpRequest(`${base}/a`, { method: 'PUT', body: 'b' })).body).toBe(
        'unix PUT /a',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A server forwarding to `target`, with the errors it reports. */
  async function forwarding(target: Parameters<MetadataServer['setHandler']>[1]) {
    const errors: unknown[] = [];
    const started = await startLo(target);
    started.server.on('error', (e: MetadataErrorEvent) => errors.push(e.error));
    return { ...started, errors };
  }

  it('answers 502 for a dead upstream and reports an UpstreamError', async () => {
    const dead = await upstream(() => {});
    await new Promise<void>((r) => dead.server.close(() => r()));
    const { base, errors } = await forwarding({ forward: dead.url });
    expect((await httpRequest(`${base}/`)).status).toBe(502);
    expect(errors.map((e) => e instanceof UpstreamError)).toEqual([true]);
  });

  it('answers 502 for an upstream body declared over maxResponseBytes', async () => {
    const big = await upstream((_req, res) => res.end('x'.repeat(2000)));
    const { base, errors } = await forwarding({ forward: big.url, maxResponseBytes: 1000 });
    expect((await httpRequest(`${base}/`)).status).toBe(502);
    expect(errors.map((e) => e instanceof UpstreamError)).toEqual([true]);
  });

  it('answers 502 for a chunked upstream body that grows over maxResponseBytes', async () => {
    const chunked = await upstream((_req, res) => {
      res.write('x'.repeat(600));
      res.end('x'.repeat(600));
    });
    const { base, errors } = await forwarding({ forward: chunked.url, maxResponseBytes: 1000 });
    expect((await httpRequest(`${base}/`)).status).toBe(502);
    expect(errors.map((e) => e instanceof UpstreamError)).toEqual([true]);
  });

  it('answers 504 for a silent upstream', async () => {
    const silent = await upstream(() => {});
    const { base, errors } = await forwarding({ forward: silent.url, timeoutMs: 200 });
    expect((await httpRequest(`${base}/`)).status).toBe(504);
    silent.server.closeAllConnections();
    expect(errors.map((e) => e instanceof UpstreamError)).toEqual([true]);
  });
});

describe('MetadataServer tokens (loopback)', () => {
  const ttl = 'x-aws-ec2-metadata-token-ttl-seconds';
  const header = 'x-aws-ec2-metadata-token';
  const tokenUrl = (base: string) => `${base}/latest/api/token`;
  const issue = (base: string) =>
    httpRequest(tokenUrl(base), { method: 'PUT', headers: { [ttl]: '60' } });
  const required = () => startLo(() => new Response('secret'), { hardening: { tokens: {} } });
  const optional = () =>
    startLo(() => new Response('secret'), { hardening: { tokens: { required: false } } });

  it('required: refuses a request without a token (401)', async () => {
    const { base } = await required();
    expect((await httpRequest(`${base}/latest/meta-data`)).status).toBe(401);
  });

  it('answers the token path 405 but for PUT', async () => {
    const { base } = await required();
    expect((await httpRequest(tokenUrl(base))).status).toBe(405);
  });

  it('answers a PUT without a TTL, or a TTL of 0, with 400', async () => {
    const { base } = await required();
    const none = await httpRequest(tokenUrl(base), { method: 'PUT' });
    const zero = await httpRequest(tokenUrl(base), { method: 'PUT', headers: { [ttl]: '0' } });
    expect([none.status, zero.status]).toEqual([400, 400]);
  });

  it('issues a token that serves the network', async () => {
    const { base } = await required();
    const issued = await issue(base);
    expect([issued.status, issued.headers[ttl]]).toEqual([200, '60']);
    const ok = await httpRequest(`${base}/latest/meta-data`, {
      headers: { [header]: issued.body },
    });
    expect([ok.status, ok.body]).toEqual([200, 'secret']);
  });

  it('refuses a wrong token (401)', async () => {
    const { base } = await required();
    const issued = await issue(base);
    const wrong = await httpRequest(`${base}/x`, { headers: { [header]: `${issued.body}x` } });
    expect(wrong.status).toBe(401);
  });

  it('clearing the network (a new VM) invalidates the old VM tokens', async () => {
    const { server, base } = await required();
    const issued = await issue(base);
    server.clear('lo');
    server.setHandler('lo', () => new Response('secret'));
    const after = await httpRequest(`${base}/x`, { headers: { [header]: issued.body } });
    expect(after.status).toBe(401);
  });

  it('optional: serves a request without a token (IMDSv1-style, cloud-init outside AWS)', async () => {
    const { base } = await optional();
    const v1 = await httpRequest(`${base}/latest/meta-data`);
    expect([v1.status, v1.body]).toEqual([200, 'secret']);
  });

  it('optional: serves a request with a valid token', async () => {
    const { base } = await optional();
    const issued = await issue(base);
    expect(issued.status).toBe(200);
    const v2 = await httpRequest(`${base}/latest/meta-data`, {
      headers: { [header]: issued.body },
    });
    expect([v2.status, v2.body]).toEqual([200, 'secret']);
  });

  it.each(['wrong', 'empty'])(
    'optional: refuses a %s token, never taking it as "no token"',
    async (kind) => {
      const { base } = await optional();
      const issued = await issue(base);
      const token = kind === 'wrong' ? `${issued.body}x` : '';
      const bad = await httpRequest(`${base}/latest/meta-data`, { headers: { [header]: token } });
      expect(bad.status).toBe(401);
    },
  );

  it('optional: refuses a stale token after clear, and still serves without one', async () => {
    const { server, base } = await optional();
    const issued = await issue(base);
    server.clear('lo');
    server.setHandler('lo', () => new Response('secret'));
    const stale = await httpRequest(`${base}/x`, { headers: { [header]: issued.body } });
    expect([stale.status, (await httpRequest(`${base}/x`)).status]).toEqual([401, 200]);
  });

  it('optional: the token path keeps its rules (405 but for PUT)', async () => {
    const { base } = await optional();
    expect((await httpRequest(tokenUrl(base))).status).toBe(405);
  });
});

describe('MetadataServer hardening (loopback)', () => {
  const flavor = { hardening: { requiredHeader: { name: 'Metadata-Flavor', value: 'Google' } } };

  it('refuses a request without the required header, or with another value (403)', async () => {
    const { base } = await startLo(() => new Response('ok'), flavor);
    const without = await httpRequest(`${base}/`);
    const other = await httpRequest(`${base}/`, { headers: { 'metadata-flavor': 'google' } });
    expect([without.status, other.status]).toEqual([403, 403]);
  });

  it('serves a request with the required header', async () => {
    const { base } = await startLo(() => new Response('ok'), flavor);
    const res = await httpRequest(`${base}/`, { headers: { 'Metadata-Flavor': 'Google' } });
    expect(res.status).toBe(200);
  });

  const chunk = `${(60).toString(16)}\r\n${'y'.repeat(60)}\r\n`;

  it('refuses a declared body over the limit with 413, unread, before the handler', async () => {
    let reached = 0;
    const { port } = await startLo(
      nodeHandler((_req, res) => {
        reached++;
        res.end('read');
      }),
      { hardening: { maxBodyBytes: 100 } },
    );
    const declared = await rawExchange(
      { port },
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n',
    );
    expect([statusOf(declared), reached]).toEqual([413, 0]);
  });

  it('cuts a streamed body at the limit: a node handler never sees a byte past it', async () => {
    let reached = 0;
    let bodyBytes = 0;
    const { port } = await startLo(
      nodeHandler((req, res) => {
        reached++;
        req.on('data', (data: Buffer) => (bodyBytes += data.length));
        req.on('end', () => res.end('read'));
      }),
      { hardening: { maxBodyBytes: 100 } },
    );
    const streamed = await rawExchange(
      { port },
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}${chunk}0\r\n\r\n`,
    );
    expect(statusOf(streamed)).toBe(413);
    // The handler saw the request but never a byte past the limit.
    expect(reached).toBe(1);
    expect(bodyBytes).toBeLessThanOrEqual(100);
  });

  it('refuses a streamed body over the limit to a fetch handler with 413', async () => {
    const { port } = await startLo(async (request: Request) => new Response(await request.text()), {
      hardening: { maxBodyBytes: 100 },
    });
    const fetchStreamed = await rawExchange(
      { port },
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`,
    );
    expect(statusOf(fetchStreamed)).toBe(413);
  });

  it('answers CONNECT with 405', async () => {
    const { port } = await startLo(() => new Response('ok'));
    const reply = await rawExchange(
      { port },
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    expect(statusOf(reply)).toBe(405);
  });

  it('never fetches an absolute-form target (400, no handler call)', async () => {
    const urls: string[] = [];
    const { port } = await startLo((request: Request) => {
      urls.push(request.url);
      return new Response('ok');
    });
    const absolute = await rawExchange(
      { port },
      'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n',
    );
    expect([statusOf(absolute), urls]).toEqual([400, []]);
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
  const spoof = {
    'x-tapnet-network': 'other',
    'x-tapnet-remote-address': '10.0.0.9',
    'x-real-ip': '10.0.0.9',
    'x-custom': 'kept',
    'x-tapnet-exit': '0', // a guest's own header, not an identity
  };

  it('identity headers never reach a fetch-style handler', async () => {
    const { base } = await startLo((request: Request) =>
      Response.json([...request.headers.keys()].filter((k) => k.startsWith('x-'))),
    );
    const seen = JSON.parse((await httpRequest(`${base}/`, { headers: spoof })).body) as string[];
    expect(seen.sort()).toEqual(['x-custom', 'x-tapnet-exit']);
  });

  it('identity headers never reach a node-style handler, parsed or raw', async () => {
    const { base } = await startLo(
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
