import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFetchResponse, writeResponseParts } from './fetch-response.js';
import { responseParts, Response as TapnetResponse } from './response.js';
import { rawExchange } from './test-support.js';

// The bytes each writer puts on the wire: this package's Response through its fast path must
// send exactly what a global Response made from the same arguments sends through the general
// one (Node's Date header aside).
const GlobalResponse = globalThis.Response;
type Make = (R: typeof GlobalResponse) => Response;

let server: Server;
let port = 0;
/** What the next request answers, and with which class (the test sets both). */
let current: { make: Make; R: typeof GlobalResponse; prepare?: (r: Response) => void } = {
  make: (R) => new R('unset'),
  R: GlobalResponse,
};
let usedFastPath = false;

beforeAll(async () => {
  server = createServer((req, res) => {
    const response = current.make(current.R);
    current.prepare?.(response);
    const parts = responseParts(response);
    usedFastPath = parts !== undefined && parts.real === undefined;
    const method = req.method ?? 'GET';
    const written = parts
      ? writeResponseParts(res, parts, method)
      : writeFetchResponse(res, response, method);
    written?.catch((error: unknown) => res.destroy(error as Error));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function wire(
  R: typeof GlobalResponse,
  make: Make,
  method = 'GET',
  prepare?: (r: Response) => void,
): Promise<string> {
  current = { make, R, ...(prepare ? { prepare } : {}) };
  const text = await rawExchange(
    { port },
    `${method} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );
  return text.replace(/\r\nDate: [^\r]*/i, '');
}

const encode = (text: string) => new TextEncoder().encode(text);
const big = 'x'.repeat(40_000);

const cases: Record<string, { make: Make; fast: boolean }> = {
  'a string': { make: (R) => new R('héllo wörld'), fast: true },
  'an empty string': { make: (R) => new R(''), fast: true },
  'a string with a lone surrogate': { make: (R) => new R('a\ud800b'), fast: true },
  'a 40 KB string': { make: (R) => new R(big), fast: true },
  'every byte value': {
    make: (R) => new R(Uint8Array.from({ length: 256 }, (_, i) => i)),
    fast: true,
  },
  '40 KB of bytes': { make: (R) => new R(encode(big)), fast: true },
  'an ArrayBuffer': { make: (R) => new R(encode('ab').buffer), fast: true },
  'a null body': { make: (R) => new R(null, { status: 202 }), fast: true },
  'status 204': { make: (R) => new R(null, { status: 204 }), fast: true },
  'status 304': { make: (R) => new R(null, { status: 304 }), fast: true },
  'Response.json()': { make: (R) => R.json({ a: 1 }, { status: 201 }), fast: true },
  'headers, a cookie and framing the server replaces': {
    make: (R) =>
      new R('abc', {
        status: 418,
        statusText: 'Teapot',
        headers: {
          'X-Z': 'last',
          'set-cookie': 'a=1; Path=/',
          'content-length': '99',
          'transfer-encoding': 'chunked',
          Accept: 'x',
        },
      }),
    fast: true,
  },
  'a Headers init with two cookies': {
    make: (R) => {
      const h = new Headers([
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['x-a', '1'],
      ]);
      return new R('c', { headers: h });
    },
    fast: true,
  },
  'a stream (left to the general path)': {
    make: (R) =>
      new R(
        new ReadableStream({
          start(c) {
            c.enqueue(encode('streamed'));
            c.close();
          },
        }),
      ),
    fast: false,
  },
};

describe('writing this package’s Response: the same bytes as a global Response', () => {
  for (const [name, { make, fast }] of Object.entries(cases)) {
    for (const method of ['GET', 'HEAD']) {
      it(`${name}, ${method}`, async () => {
        const theirs = await wire(GlobalResponse, make, method);
        const ours = await wire(TapnetResponse, make, method);
        expect(usedFastPath).toBe(fast);
        expect(ours).toBe(theirs);
        expect(theirs).toMatch(/^HTTP\/1\.1 \d{3} /);
      });
    }
  }

  it('sends each set-cookie as its own line and one content-length', async () => {
    const text = await wire(
      TapnetResponse,
      (R) => new R('abc', { headers: { 'set-cookie': 'a=1', 'content-length': '99' } }),
    );
    expect([text.match(/^set-cookie: .*$/gim), text.match(/^content-length: .*$/gim)]).toEqual([
      ['set-cookie: a=1'],
      ['content-length: 3'],
    ]);
    expect(text.endsWith('\r\n\r\nabc')).toBe(true);
  });
});

describe('headers changed after construction reach the wire', () => {
  const mutate = (r: Response) => {
    r.headers.set('x-late', 'yes');
    r.headers.delete('x-gone');
    r.headers.append('set-cookie', 'a=1');
    r.headers.append('set-cookie', 'b=2');
  };
  const make: Make = (R) => new R('body', { headers: { 'x-gone': '1', 'x-kept': '2' } });

  it('read and changed before returning', async () => {
    const theirs = await wire(GlobalResponse, make, 'GET', mutate);
    const ours = await wire(TapnetResponse, make, 'GET', mutate);
    expect(usedFastPath).toBe(true);
    expect(ours).toBe(theirs);
    expect(ours).toMatch(/\r\nx-late: yes\r\n/);
    expect(ours).not.toMatch(/x-gone/);
    expect(ours.match(/^set-cookie: .*$/gim)).toEqual(['set-cookie: a=1', 'set-cookie: b=2']);
  });

  it('changed after the body was touched (a global Response then stands behind it)', async () => {
    const prepare = (r: Response) => {
      const headers = r.headers;
      void r.body;
      headers.set('x-after-body', '1');
    };
    const theirs = await wire(GlobalResponse, make, 'GET', prepare);
    const ours = await wire(TapnetResponse, make, 'GET', prepare);
    expect(usedFastPath).toBe(false);
    expect(ours).toBe(theirs);
    expect(ours).toMatch(/\r\nx-after-body: 1\r\n/);
    expect(ours.endsWith('\r\n\r\nbody')).toBe(true);
  });
});
