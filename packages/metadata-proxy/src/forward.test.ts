import { once } from 'node:events';
import {
  createServer,
  type IncomingMessage,
  request as nodeRequest,
  type Server,
  type ServerResponse,
} from 'node:http';
import { waitFor } from '@tapnet/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamError } from './errors.js';
import { FORWARD_CONNECTIONS, Forwarder } from './forward.js';
import { parseForwardTarget } from './handler.js';
import type { MetadataErrorEvent } from './server.js';
import { MetadataServer } from './server.js';
import { httpRequest, rawConnect } from './test-support.js';

// Forward handlers through the whole server, on 127.0.0.1 (more in server.test.ts): the
// kept-alive upstream pool, the limits and timeouts of the collected body, and aborting.
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An upstream on a loopback port that counts the connections it accepted. */
async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer(handler);
  const counts = { connections: 0, requests: 0 };
  server.on('connection', () => counts.connections++);
  server.on('request', () => counts.requests++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, counts, url: `http://127.0.0.1:${port}` };
}

/** The proxy with the network `lo` (127.0.0.1/32) forwarding to `target`, and its errors. */
async function forwarding(
  target: Parameters<MetadataServer['setHandler']>[1],
  perNetwork: { maxConnections?: number } = {},
) {
  const server = await MetadataServer.create({
    host: '127.0.0.1',
    port: 0,
    hardening: { perNetwork },
  });
  cleanups.push(() => server.close({ deadlineMs: 100 }));
  server.addNetwork('lo', '127.0.0.1/32');
  server.setHandler('lo', target);
  const errors: unknown[] = [];
  server.on('error', (e: MetadataErrorEvent) => errors.push(e.error));
  return {
    server,
    errors,
    port: server.address.port,
    base: `http://127.0.0.1:${server.address.port}`,
  };
}

/** A GET on a kept-alive agent (so the guest side reuses its connections too). */
function get(
  port: number,
  path: string,
  agent: import('node:http').Agent,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = nodeRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('forward handlers: the upstream pool', () => {
  it('reuses one kept-alive upstream connection for sequential requests', async () => {
    const up = await upstream((req, res) => res.end(`seen ${req.url}`));
    const { port } = await forwarding({ forward: up.url });
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    for (let i = 0; i < 20; i++) {
      expect(await get(port, `/n/${i}`, agent)).toEqual({ status: 200, body: `seen /n/${i}` });
    }
    expect(up.counts).toEqual({ connections: 1, requests: 20 });
  });

  it('holds at most FORWARD_CONNECTIONS upstream connections per network', async () => {
    const up = await upstream((req, res) => res.end(`seen ${req.url}`));
    // A guest cap above the pool's, so that the pool is what bounds the upstream side.
    const guests = FORWARD_CONNECTIONS + 16;
    const { port } = await forwarding({ forward: up.url }, { maxConnections: guests });
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: guests });
    cleanups.push(() => agent.destroy());
    for (let wave = 0; wave < 3; wave++) {
      const answers = await Promise.all(
        Array.from({ length: guests }, (_, i) => get(port, `/w${wave}/${i}`, agent)),
      );
      expect(answers.every((a, i) => a.status === 200 && a.body === `seen /w${wave}/${i}`)).toBe(
        true,
      );
    }
    expect(up.counts.requests).toBe(3 * guests);
    expect(up.counts.connections).toBeGreaterThanOrEqual(1);
    expect(up.counts.connections).toBeLessThanOrEqual(FORWARD_CONNECTIONS);
  });
});

describe('forward handlers: the collected response', () => {
  it('passes a body of exactly maxResponseBytes, sent in chunks, whole', async () => {
    const up = await upstream((_req, res) => {
      res.write('a'.repeat(400));
      res.write('b'.repeat(400));
      res.end('c'.repeat(200));
    });
    const { base, errors } = await forwarding({ forward: up.url, maxResponseBytes: 1000 });
    const res = await httpRequest(`${base}/`);
    expect([res.status, res.headers['content-length'], res.headers['transfer-encoding']]).toEqual([
      200,
      '1000',
      undefined,
    ]);
    expect(res.body).toBe(`${'a'.repeat(400)}${'b'.repeat(400)}${'c'.repeat(200)}`);
    expect(errors).toEqual([]);
  });

  it('answers 502 one byte past maxResponseBytes, and the next request is served', async () => {
    let size = 1001;
    const up = await upstream((_req, res) => {
      // Chunked: the limit is found while reading, not from a declared length.
      res.write('x'.repeat(size - 5));
      res.end('x'.repeat(5));
    });
    const { base, errors } = await forwarding({ forward: up.url, maxResponseBytes: 1000 });
    expect((await httpRequest(`${base}/`)).status).toBe(502);
    expect(errors.map((e) => (e as Error).message)).toEqual([
      `Upstream response exceeds 1000 bytes (${up.url}/)`,
    ]);
    size = 10;
    expect(await httpRequest(`${base}/`)).toMatchObject({ status: 200, body: 'x'.repeat(10) });
  });

  it('passes the status, every set-cookie and the declared length of a HEAD', async () => {
    const up = await upstream((req, res) => {
      res.statusCode = 201;
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('content-length', '1234');
      res.setHeader('x-method', req.method ?? '');
      res.end();
    });
    const { base } = await forwarding({ forward: up.url });
    const res = await httpRequest(`${base}/h`, { method: 'HEAD' });
    expect([
      res.status,
      res.headers['set-cookie'],
      res.headers['content-length'],
      res.body,
    ]).toEqual([201, ['a=1', 'b=2'], '1234', '']);
    expect(res.headers['x-method']).toBe('HEAD');
  });

  it('forwards a request body and answers with the upstream body', async () => {
    const up = await upstream((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => res.end(`${req.method} ${req.headers['content-length']} ${body}`));
    });
    const { base } = await forwarding({ forward: up.url });
    const res = await httpRequest(`${base}/p`, { method: 'POST', body: 'hello' });
    expect([res.status, res.body]).toEqual([200, 'POST 5 hello']);
  });

  it('answers 504 when the body stops arriving, with what was late', async () => {
    const up = await upstream((_req, res) => {
      res.setHeader('content-length', '100');
      res.write('partial');
    });
    const { base, errors } = await forwarding({ forward: up.url, timeoutMs: 300 });
    expect((await httpRequest(`${base}/slow`)).status).toBe(504);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(UpstreamError);
    expect((errors[0] as Error).message).toBe(
      `Upstream response body did not arrive in time (${up.url}/slow)`,
    );
  });
});

describe('forward handlers: the guest goes away', () => {
  it('aborts the upstream request when the client closes, and reports nothing', async () => {
    const upstreamClosed: string[] = [];
    const up = await upstream((req, res) => {
      // Never answers: only the guest leaving ends this request.
      res.on('close', () => upstreamClosed.push(req.url ?? ''));
    });
    // A timeout far past the wait below, so that only the abort can end the upstream request.
    const { port, errors } = await forwarding({ forward: up.url, timeoutMs: 60_000 });
    const guest = await rawConnect({ port });
    guest.socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => up.counts.requests === 1, { what: 'the request upstream' });
    guest.socket.destroy();
    await waitFor(() => upstreamClosed.length === 1, {
      what: 'the upstream request to be aborted',
      timeout: 10_000,
    });
    expect(upstreamClosed).toEqual(['/hang']);
    expect(errors).toEqual([]);
  });

  it('aborts requests in flight when the network is cleared', async () => {
    const upstreamClosed: string[] = [];
    const up = await upstream((req, res) => {
      res.on('close', () => upstreamClosed.push(req.url ?? ''));
    });
    const { server, port, errors } = await forwarding({ forward: up.url });
    const guests = await Promise.all([rawConnect({ port }), rawConnect({ port })]);
    for (const [i, g] of guests.entries()) g.socket.write(`GET /c${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => up.counts.requests === 2, { what: 'both requests upstream' });
    server.clear('lo');
    await Promise.all(guests.map((g) => g.closed));
    await waitFor(() => upstreamClosed.length === 2, {
      what: 'both upstream requests to be aborted',
    });
    expect(upstreamClosed.sort()).toEqual(['/c0', '/c1']);
    expect(errors).toEqual([]);
  });

  it('a request cut short by destroy() (the network cleared) ends with nothing to report', async () => {
    const up = await upstream(() => {}); // never answers
    const forwarder = new Forwarder(parseForwardTarget({ forward: up.url }));
    // The guest is still there (its signal never aborts): only destroy() ends the request, and
    // however undici's failure and the guest's close are ordered, it is no upstream failure.
    const req = { url: '/x', method: 'GET', rawHeaders: [] } as unknown as IncomingMessage;
    const ctx = { network: 'lo', remoteAddress: '127.0.0.1', remotePort: 1 };
    const outcome = forwarder.forward(
      req,
      {} as ServerResponse,
      ctx,
      undefined,
      new AbortController().signal,
    );
    await waitFor(() => up.counts.requests === 1, { what: 'the request upstream' });
    forwarder.destroy();
    expect(await outcome).toEqual({ ok: false, status: 0, error: undefined });
  });

  it('answers a request in flight from the old upstream when the handler is replaced', async () => {
    let answer: (() => void) | undefined;
    const up = await upstream((req, res) => {
      answer = () => res.end(`old ${req.url}`);
    });
    const { server, base, errors } = await forwarding({ forward: up.url });
    const reply = httpRequest(`${base}/slow`);
    await waitFor(() => answer !== undefined, { what: 'the request upstream' });
    server.setHandler('lo', () => new Response('new'));
    answer?.();
    expect(await reply).toMatchObject({ status: 200, body: 'old /slow' });
    expect(errors).toEqual([]);
    expect(await httpRequest(`${base}/next`)).toMatchObject({ status: 200, body: 'new' });
  });
});
