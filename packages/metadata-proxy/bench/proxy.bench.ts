// Throughput and latency of the metadata proxy against a bare node:http server running the same
// handler, measured in the same run, on loopback only. Run after `pnpm --filter
// @tapnet/metadata-proxy build`:
//
//   node packages/metadata-proxy/bench/proxy.bench.ts [--duration-ms 2000] [--rounds 5] [--connections 16]
//
// Prints one JSON object; `proxyThroughputRatio` is the median over rounds of proxy/bare
// requests per second (target: at least 0.95 node-style, 0.9 fetch-style). The load generator
// runs in a worker thread (its own event loop) and drives raw keep-alive sockets: one request in
// flight per connection, bounded by time and by a request cap per round. Rounds alternate
// between the servers so drift on a shared machine hits all of them.
//
// Baselines measured in the same run: a bare node:http server (node-style handler), and
// `@hono/node-server` serving the same fetch handler two ways: with the global `Request` and
// `Response` (`overrideGlobalObjects: false`, the same classes our handler gets), and as hono
// runs by default, with its lightweight `Response` installed as the global one. The latter runs
// in a worker thread of its own, so its globals do not leak into the servers measured here.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { getRequestListener } from '@hono/node-server';

interface LoadJob {
  role: 'load';
  port: number;
  connections: number;
  durationMs: number;
  maxRequests: number;
}

interface LoadResult {
  requests: number;
  errors: number;
  elapsedMs: number;
  latenciesMs: number[];
}

const REQUEST = Buffer.from(
  'GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n',
);
const BODY = JSON.stringify({
  instanceId: 'i-0123456789abcdef0',
  region: 'local',
  tags: ['bench'],
});

/** The handler every node-style server runs. */
function handler(_req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(BODY));
  res.end(BODY);
}

/** The same answer as a fetch-style handler (`Response` is looked up when it runs). */
function fetchHandler(): Response {
  return new Response(BODY, { headers: { 'content-type': 'application/json' } });
}

/** A node:http server running `listener` on a loopback port. */
async function listen(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; close(): void }> {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** One keep-alive connection: send, read a full response (Content-Length framed), repeat. */
function drive(
  job: LoadJob,
  deadline: number,
  budget: { left: number },
  result: LoadResult,
): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port: job.port, host: '127.0.0.1', noDelay: true });
    let buffer: Buffer = Buffer.alloc(0);
    let sentAt = 0;
    const send = () => {
      if (performance.now() >= deadline || budget.left <= 0) {
        socket.end();
        return resolve();
      }
      budget.left--;
      sentAt = performance.now();
      socket.write(REQUEST);
    };
    socket.on('connect', send);
    socket.on('error', () => {
      result.errors++;
      resolve();
    });
    socket.on('close', () => resolve());
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const match = /\r\ncontent-length: *(\d+)/i.exec(head);
        const length = match ? Number(match[1]) : 0;
        if (buffer.length < end + 4 + length) return;
        if (!head.startsWith('HTTP/1.1 200')) result.errors++;
        buffer = buffer.subarray(end + 4 + length);
        result.requests++;
        result.latenciesMs.push(performance.now() - sentAt);
        send();
      }
    });
  });
}

async function load(job: LoadJob): Promise<LoadResult> {
  const result: LoadResult = { requests: 0, errors: 0, elapsedMs: 0, latenciesMs: [] };
  const started = performance.now();
  const budget = { left: job.maxRequests };
  await Promise.all(
    Array.from({ length: job.connections }, () =>
      drive(job, started + job.durationMs, budget, result),
    ),
  );
  result.elapsedMs = performance.now() - started;
  return result;
}

type WorkerJob = LoadJob | { role: 'hono-globals' } | { role: 'upstream'; socketPath: string };

if (isMainThread) {
  await main();
} else if ((workerData as WorkerJob).role === 'load') {
  parentPort?.postMessage(await load(workerData as LoadJob));
} else if ((workerData as WorkerJob).role === 'upstream') {
  // The forward handlers' upstream: the node-style handler on its own thread (as a real
  // upstream runs apart from the proxy), on TCP and on a unix socket.
  const { socketPath } = workerData as { socketPath: string };
  const tcp = await listen(handler);
  const unix = createServer(handler);
  unix.listen(socketPath);
  await once(unix, 'listening');
  parentPort?.postMessage(tcp.port);
} else {
  // hono as it runs by default: its lightweight Request/Response installed as the globals of
  // this thread only. Serves until the main thread terminates the worker.
  const server = await listen(getRequestListener(fetchHandler));
  parentPort?.postMessage(server.port);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A server in a worker thread of its own; `close` terminates the thread. */
async function workerServer(job: WorkerJob): Promise<{ port: number; close(): Promise<number> }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  const [port] = (await once(worker, 'message')) as [number];
  return { port, close: () => worker.terminate() };
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  const [result] = (await once(worker, 'message')) as [LoadResult];
  await worker.terminate();
  return result;
}

interface Summary {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

function summarize(results: LoadResult[]): Summary {
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const elapsed = results.reduce((n, r) => n + r.elapsedMs, 0);
  const latencies = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    requestsPerSecond: Math.round((requests / elapsed) * 1000),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    requests,
    errors: results.reduce((n, r) => n + r.errors, 0),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-ms': { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '16' },
      'max-requests': { type: 'string', default: '500000' },
    },
  });
  const durationMs = Math.min(30_000, Math.max(100, Number(values['duration-ms'])));
  const rounds = Math.min(20, Math.max(1, Number(values.rounds)));
  const connections = Math.min(256, Math.max(1, Number(values.connections)));
  const maxRequests = Math.min(5_000_000, Math.max(1, Number(values['max-requests'])));

  // The built package, so this measures what consumers run.
  const { MetadataServer, nodeHandler } = (await import(
    new URL('../dist/index.js', import.meta.url).href
  )) as typeof import('../src/index.ts');

  const bare = await listen(handler);
  const hono = await listen(getRequestListener(fetchHandler, { overrideGlobalObjects: false }));
  const honoGlobals = await workerServer({ role: 'hono-globals' });
  const folder = mkdtempSync(join(tmpdir(), 'tapnet-proxy-bench-'));
  const socketPath = join(folder, 'upstream.sock');
  const upstream = await workerServer({ role: 'upstream', socketPath });

  // Default hardening, except a rate limit high enough not to answer 429 (its bucket still runs).
  const hardening = { perNetwork: { requestsPerSecond: 1e9, burst: 1e9, maxConnections: 1024 } };
  const proxy = await MetadataServer.create({ host: '127.0.0.1', port: 0, hardening });
  proxy.addNetwork('bench', '127.0.0.0/8');
  proxy.setHandler('bench', nodeHandler(handler));
  const fetchProxy = await MetadataServer.create({ host: '127.0.0.1', port: 0, hardening });
  fetchProxy.addNetwork('bench', '127.0.0.0/8');
  fetchProxy.setHandler('bench', fetchHandler);
  const forwardProxy = await MetadataServer.create({ host: '127.0.0.1', port: 0, hardening });
  forwardProxy.addNetwork('bench', '127.0.0.0/8');
  forwardProxy.setHandler('bench', { forward: `http://127.0.0.1:${upstream.port}` });
  const forwardUnixProxy = await MetadataServer.create({ host: '127.0.0.1', port: 0, hardening });
  forwardUnixProxy.addNetwork('bench', '127.0.0.0/8');
  forwardUnixProxy.setHandler('bench', { forward: `unix:${socketPath}` });

  const ports = {
    bare: bare.port,
    proxy: proxy.address.port,
    proxyFetch: fetchProxy.address.port,
    hono: hono.port,
    honoGlobals: honoGlobals.port,
    upstream: upstream.port,
    proxyForward: forwardProxy.address.port,
    proxyForwardUnix: forwardUnixProxy.address.port,
  };
  type Name = keyof typeof ports;
  const names = Object.keys(ports) as Name[];
  const job = (port: number): LoadJob => ({
    role: 'load',
    port,
    connections,
    durationMs,
    maxRequests,
  });
  // Warm-up (JIT, sockets) for each server, not counted.
  for (const name of names) {
    await runLoad({ ...job(ports[name]), durationMs: Math.min(500, durationMs) });
  }
  const results = Object.fromEntries(names.map((n) => [n, [] as LoadResult[]])) as Record<
    Name,
    LoadResult[]
  >;
  for (let i = 0; i < rounds; i++) {
    // Each round starts with a different server, so none always runs first or last.
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length]!;
      results[name].push(await runLoad(job(ports[name])));
    }
  }
  bare.close();
  hono.close();
  await honoGlobals.close();
  await proxy.close({ deadlineMs: 100 });
  await fetchProxy.close({ deadlineMs: 100 });
  await forwardProxy.close({ deadlineMs: 100 });
  await forwardUnixProxy.close({ deadlineMs: 100 });
  await upstream.close();
  rmSync(folder, { recursive: true, force: true });

  const summary = Object.fromEntries(names.map((n) => [n, summarize(results[n])])) as Record<
    Name,
    Summary
  >;
  // Each round measures every server back to back; the median of the per-round ratios is
  // steadier than the ratio of totals when other work shares the machine.
  const rate = (r: LoadResult) => r.requests / r.elapsedMs;
  const r3 = (n: number) => Math.round(n * 1000) / 1000;
  const perRound = (name: Name, baseline: Name = 'bare') =>
    results[baseline].map((b, i) => rate(results[name][i]!) / rate(b));
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  const ratio = median(perRound('proxy'));
  const fetchRatio = median(perRound('proxyFetch'));
  console.log(
    JSON.stringify(
      {
        benchmark:
          '@tapnet/metadata-proxy vs bare node:http and @hono/node-server, the same answer, loopback',
        node: process.version,
        cpus: cpus().length,
        connections,
        durationMsPerRound: durationMs,
        rounds,
        loadAverage: loadavg().map(r3),
        hardening: 'defaults; perNetwork.requestsPerSecond/burst 1e9, maxConnections 1024',
        ...summary,
        proxyThroughputRatio: r3(ratio),
        proxyThroughputRatioPerRound: perRound('proxy').map(r3),
        proxyFetchThroughputRatio: r3(fetchRatio),
        proxyFetchThroughputRatioPerRound: perRound('proxyFetch').map(r3),
        honoThroughputRatio: r3(median(perRound('hono'))),
        honoGlobalsThroughputRatio: r3(median(perRound('honoGlobals'))),
        // Forward handlers against their upstream alone (a TCP port on its own thread): what
        // the proxy costs in front of it. The unix-socket row has the same upstream.
        proxyForwardThroughputRatio: r3(median(perRound('proxyForward', 'upstream'))),
        proxyForwardThroughputRatioPerRound: perRound('proxyForward', 'upstream').map(r3),
        proxyForwardUnixThroughputRatio: r3(median(perRound('proxyForwardUnix', 'upstream'))),
        target: 0.95,
        fetchTarget: 0.9,
        meetsTarget: ratio >= 0.95 && fetchRatio >= 0.9,
      },
      null,
      2,
    ),
  );
}
