import { waitFor } from '@tapnet/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { FetchHandler } from './handler.js';
import { Response as TapnetResponse } from './response.js';
import { MetadataServer } from './server.js';
import { httpRequest, rawConnect, rawExchange, statusOf } from './test-support.js';

// The fetch-style bridge end to end, on 127.0.0.1: what a handler receives and how each kind of
// Response reaches the wire.
const servers: MetadataServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close({ deadlineMs: 100 });
});

async function serve(handler: FetchHandler) {
  const server = await MetadataServer.create({ host: '127.0.0.1', port: 0 });
  servers.push(server);
  server.addNetwork('lo', '127.0.0.1/32');
  server.setHandler('lo', handler);
  return { server, port: server.address.port, base: `http://127.0.0.1:${server.address.port}` };
}

/** A response read raw off the wire, so framing headers are seen as sent. */
async function raw(port: number, request: string): Promise<string> {
  return rawExchange({ port }, `${request}\r\nHost: x\r\nConnection: close\r\n\r\n`);
}

describe('what a fetch handler receives', () => {
  it('gets an instanceof Request with the headers and JSON body the guest sent', async () => {
    let seen: unknown;
    const { base } = await serve(async (request) => {
      seen = [request instanceof Request, request.headers.get('x-tag'), await request.json()];
      return new Response('ok');
    });
    await httpRequest(`${base}/p`, {
      method: 'POST',
      headers: { 'x-tag': 'a', 'content-type': 'application/json' },
      body: '{"n":1}',
    });
    expect(seen).toEqual([true, 'a', { n: 1 }]);
  });

  it('gets a signal that aborts when the client goes away', async () => {
    let signal: AbortSignal | undefined;
    const { port } = await serve((request) => {
      signal = request.signal;
      return new Promise<Response>(() => {});
    });
    const c = await rawConnect({ port });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => signal !== undefined, { what: 'the handler to start' });
    expect(signal?.aborted).toBe(false);
    c.socket.destroy();
    await waitFor(() => signal?.aborted === true, { what: 'the signal to abort' });
  });

  it('gets an aborted signal when it first reads it after the client went away', async () => {
    let release: (() => void) | undefined;
    let aborted: boolean | undefined;
    const { server, port } = await serve(async (request) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      aborted = request.signal.aborted; // its first read, after the response closed
      return new Response('late');
    });
    let closed = false;
    server.on('request', () => {
      closed = true;
    });
    const c = await rawConnect({ port });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => release !== undefined, { what: 'the handler to start' });
    c.socket.destroy();
    await waitFor(() => closed, { what: 'the server to see the response close' });
    release?.();
    await waitFor(() => aborted !== undefined, { what: 'the handler to read its signal' });
    expect(aborted).toBe(true);
  });

  it('is never called for a method a Request cannot carry (TRACE → 400)', async () => {
    let called = false;
    const { port } = await serve(() => {
      called = true;
      return new Response('no');
    });
    expect(statusOf(await raw(port, 'TRACE / HTTP/1.1'))).toBe(400);
    expect(called).toBe(false);
  });
});

describe('how a fetch handler Response reaches the wire', () => {
  it('a string body: one response with its Content-Length', async () => {
    const { port } = await serve(() => new Response('hello'));
    const text = await raw(port, 'GET / HTTP/1.1');
    expect(text).toMatch(/\r\ncontent-length: 5\r\n/i);
    expect(text.endsWith('\r\n\r\nhello')).toBe(true);
  });

  it('a bytes body is passed on unchanged', async () => {
    const { base } = await serve(() => new Response(new Uint8Array([104, 105])));
    const res = await httpRequest(`${base}/`);
    expect([res.headers['content-length'], res.body]).toEqual(['2', 'hi']);
  });

  it('a body with every byte value is sent byte for byte', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const { port } = await serve(() => new Response(bytes));
    const text = await raw(port, 'GET / HTTP/1.1');
    expect(Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1')).toEqual(
      Buffer.from(bytes),
    );
  });

  it('Response.json() keeps its content type', async () => {
    const { base } = await serve(() => Response.json({ a: 1 }, { status: 201 }));
    const res = await httpRequest(`${base}/`);
    expect([res.status, res.headers['content-type'], res.body]).toEqual([
      201,
      'application/json',
      '{"a":1}',
    ]);
  });

  it('a null body is an empty body with Content-Length 0', async () => {
    const { port } = await serve(() => new Response(null, { status: 202 }));
    const text = await raw(port, 'GET / HTTP/1.1');
    expect([statusOf(text), /\r\ncontent-length: 0\r\n/i.test(text)]).toEqual([202, true]);
  });

  it('a 204 carries no body and no length', async () => {
    const { port } = await serve(() => new Response(null, { status: 204 }));
    const text = await raw(port, 'GET / HTTP/1.1');
    expect([statusOf(text), /content-length/i.test(text), text.endsWith('\r\n\r\n')]).toEqual([
      204,
      false,
      true,
    ]);
  });

  it('HEAD sends the head only', async () => {
    const { port } = await serve(() => new Response('body'));
    const text = await raw(port, 'HEAD / HTTP/1.1');
    expect([statusOf(text), text.endsWith('\r\n\r\n')]).toEqual([200, true]);
  });

  it('each set-cookie goes out as its own header line', async () => {
    const headers = new Headers();
    headers.append('set-cookie', 'a=1');
    headers.append('set-cookie', 'b=2');
    const { port } = await serve(() => new Response('c', { headers }));
    const text = await raw(port, 'GET / HTTP/1.1');
    expect(text.match(/^set-cookie: .*$/gim)).toEqual(['set-cookie: a=1', 'set-cookie: b=2']);
  });

  it('a handler-set Content-Length or Transfer-Encoding is replaced by the real framing', async () => {
    const { port } = await serve(
      () => new Response('abc', { headers: { 'content-length': '99', 'transfer-encoding': 'x' } }),
    );
    const text = await raw(port, 'GET / HTTP/1.1');
    expect([text.match(/^content-length: .*$/gim), /transfer-encoding/i.test(text)]).toEqual([
      ['content-length: 3'],
      false,
    ]);
  });

  it('a streamed body reaches the client chunk by chunk, before the stream ends', async () => {
    let push: ((text: string) => void) | undefined;
    let finish: (() => void) | undefined;
    const { port } = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              const encoder = new TextEncoder();
              push = (text) => controller.enqueue(encoder.encode(text));
              finish = () => controller.close();
            },
          }),
        ),
    );
    const c = await rawConnect({ port });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => push !== undefined, { what: 'the handler to answer' });
    push?.('first-chunk');
    await c.until(/first-chunk/);
    push?.('second-chunk');
    await c.until(/second-chunk/);
    finish?.();
    const text = await c.until(/\r\n0\r\n\r\n$/);
    expect(/transfer-encoding: chunked/i.test(text)).toBe(true);
    c.socket.destroy();
  });

  it('a streamed body is cancelled when the client goes away', async () => {
    let cancelled = false;
    let started = false;
    const { port } = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull() {
              started = true;
              return new Promise(() => {});
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
    );
    const c = await rawConnect({ port });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => started, { what: 'the body to be read' });
    c.socket.destroy();
    await waitFor(() => cancelled, { what: 'the stream to be cancelled' });
  });

  it('a stream that fails after its head was sent cuts the connection and is reported', async () => {
    const errors: unknown[] = [];
    let fail: ((error: Error) => void) | undefined;
    const { server, port } = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('partial'));
            },
            pull() {
              return new Promise((_resolve, reject) => {
                fail = reject;
              });
            },
          }),
        ),
    );
    server.on('error', (e) => errors.push((e.error as Error).message));
    const c = await rawConnect({ port });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until(/partial/);
    fail?.(new Error('mid-stream'));
    await c.closed;
    expect([statusOf(c.received()), errors]).toEqual([200, ['mid-stream']]);
  });
});

describe('a handler returning this package’s Response, through a real socket', () => {
  const keepAlive = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n';
  const exchange = async (R: typeof Response) => {
    const { port } = await serve(
      (request) =>
        new R(`path ${new URL(request.url).pathname}`, {
          headers: { 'content-type': 'text/plain', 'set-cookie': 'a=1' },
        }),
    );
    const c = await rawConnect({ port });
    c.socket.write(keepAlive);
    // Two answers on one kept-alive connection: the GET with its body, then the HEAD's head.
    const text = await c.until(/path \/a[\s\S]*HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n$/);
    c.socket.destroy();
    return text.replace(/\r\nDate: [^\r]*/gi, '');
  };

  it('sends what a global Response sends, on a kept-alive connection, GET then HEAD', async () => {
    const theirs = await exchange(Response);
    const ours = await exchange(TapnetResponse);
    expect(ours).toBe(theirs);
    expect(ours.match(/HTTP\/1\.1 200 OK\r\n/g)).toHaveLength(2);
    expect(ours).toMatch(/\r\ncontent-length: 7\r\n[\s\S]*\r\n\r\npath \/a/);
  });

  it('a body the handler already read is a 500 and an error event, as with a global one', async () => {
    for (const R of [Response, TapnetResponse]) {
      const errors: unknown[] = [];
      const { server, port } = await serve(async () => {
        const r = new R('once');
        await r.text();
        return r;
      });
      server.on('error', (e) => errors.push(e.error));
      expect(statusOf(await raw(port, 'GET / HTTP/1.1'))).toBe(500);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(TypeError);
    }
  });
});
