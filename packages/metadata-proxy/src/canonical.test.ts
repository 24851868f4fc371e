import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MetadataHandler, nodeHandler } from './handler.js';
import { MetadataServer } from './server.js';
import { rawExchange, statusOf } from './test-support.js';

// Issue 11 item 2: a guest must not escape its handler's base path. A real upstream routes with
// WHATWG `new URL()` (reading `\` as `/`, resolving `..`), holding network tn0's data under /tn0
// and another network's secret under /tn1. Network tn0 is served by each handler kind in turn,
// each composing its path the way real handlers do.
let upstream: Server;
let origin = '';
const upstreamSaw: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://upstream').pathname;
    upstreamSaw.push(path);
    if (path.startsWith('/tn1/')) res.end('tn1 secret');
    else if (path.startsWith('/tn0/')) res.end(`tn0 ${path}`);
    else res.writeHead(404).end();
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const address = upstream.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

const HANDLERS: [string, () => MetadataHandler][] = [
  ['a forward handler', () => ({ forward: `${origin}/tn0` })],
  [
    // Passes the raw target on, as a node handler naturally does; fetch() parses it WHATWG-style.
    'a node handler',
    () =>
      nodeHandler(async (req, res) => {
        const r = await fetch(`${origin}/tn0${req.url}`);
        res.end(await r.text());
      }),
  ],
  [
    // Decodes the path it was given (a common step before looking a file up).
    'a fetch handler',
    () => async (request: Request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      return new Response(await (await fetch(`${origin}/tn0${path}`)).text());
    },
  ],
];

const ESCAPES = [
  '/..\\tn1\\secret',
  '/..\\..\\tn1\\secret',
  '/%2e%2e/tn1/secret',
  '/.%2E/tn1/secret',
  '/..%2ftn1%2fsecret',
  '/..%5ctn1%5csecret',
  '/%2e%2e%2ftn1%2fsecret',
  '/a/../../tn1/secret',
];

describe.each(HANDLERS)('the canonical-path rule for %s', (_kind, make) => {
  let server: MetadataServer;
  let port = 0;
  beforeAll(async () => {
    server = await MetadataServer.create({ host: '127.0.0.1', port: 0 });
    port = server.address.port;
    server.addNetwork('tn0', '127.0.0.1/32');
    server.setHandler('tn0', make());
  });
  afterAll(() => server.close());

  const get = (target: string) =>
    rawExchange(
      { host: '127.0.0.1', port },
      `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );

  it('serves its own data', async () => {
    const answer = await get('/latest/meta-data');
    expect([statusOf(answer), answer.endsWith('tn0 /tn0/latest/meta-data')]).toEqual([200, true]);
  });

  it.each(ESCAPES)('refuses %s with 400; the other network’s data is never fetched', async (t) => {
    upstreamSaw.length = 0;
    const answer = await get(t);
    expect(answer).not.toContain('tn1 secret');
    expect(statusOf(answer)).toBe(400);
    expect(upstreamSaw).toEqual([]);
  });
});
