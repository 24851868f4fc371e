// Throughput and latency of the metadata proxy against a bare node:http server running the same
// handler, measured in the same run, on loopback only. Run after `pnpm --filter
// @tapnet/metadata-proxy build`:
//
//   node packages/metadata-proxy/bench/proxy.bench.ts [--duration-ms 2000] [--rounds 5] [--connections 16]
//
// Prints one JSON object; `proxyThroughputRatio` is the median over rounds of proxy/bare
// requests per second (target: at least 0.9). The load generator runs in a worker thread (its own event loop) and
// drives raw keep-alive sockets: one request in flight per connection, bounded by time and by
// a request cap per round. Rounds alternate bare/proxy so drift on a shared machine hits both.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface LoadJob {
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

/** The handler both servers run. */
function handler(_req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(BODY));
  res.end(BODY);
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
    let buffer = Buffer.alloc(0);
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

if (!isMainThread) {
  const result = await load(workerData as LoadJob);
  parentPort!.postMessage(result);
} else {
  await main();
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
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

  const bare = createServer(handler);
  bare.listen(0, '127.0.0.1');
  await once(bare, 'listening');
  const barePort = (bare.address() as { port: number }).port;

  // Default hardening, except a rate limit high enough not to answer 429 (its bucket still runs).
  const hardening = { perNetwork: { requestsPerSecond: 1e9, burst: 1e9, maxConnections: 1024 } };
  const proxy = await MetadataServer.create({ host: '127.0.0.1', port: 0, hardening });
  proxy.addNetwork('bench', '127.0.0.0/8');
  proxy.setHandler('bench', nodeHandler(handler));
  const fetchProxy = await MetadataServer.create({ host: '127.0.0.1', port: 0, hardening });
  fetchProxy.addNetwork('bench', '127.0.0.0/8');
  fetchProxy.setHandler(
    'bench',
    () => new Response(BODY, { headers: { 'content-type': 'application/json' } }),
  );

  const job = (port: number): LoadJob => ({ port, connections, durationMs, maxRequests });
  // Warm-up (JIT, sockets) for each server, not counted.
  for (const port of [barePort, proxy.address.port, fetchProxy.address.port]) {
    await runLoad({ ...job(port), durationMs: Math.min(500, durationMs) });
  }
  const results: Record<'bare' | 'proxy' | 'proxyFetch', LoadResult[]> = {
    bare: [],
    proxy: [],
    proxyFetch: [],
  };
  for (let i = 0; i < rounds; i++) {
    results.bare.push(await runLoad(job(barePort)));
    results.proxy.push(await runLoad(job(proxy.address.port)));
    results.proxyFetch.push(await runLoad(job(fetchProxy.address.port)));
  }
  bare.closeAllConnections();
  bare.close();
  await proxy.close({ deadlineMs: 100 });
  await fetchProxy.close({ deadlineMs: 100 });

  const summary = {
    bare: summarize(results.bare),
    proxy: summarize(results.proxy),
    proxyFetch: summarize(results.proxyFetch),
  };
  // Each round measures bare and proxy back to back; the median of the per-round ratios is
  // steadier than the ratio of totals when other work shares the machine.
  const rate = (r: LoadResult) => r.requests / r.elapsedMs;
  const roundRatios = results.bare.map((b, i) => rate(results.proxy[i]!) / rate(b));
  const sortedRatios = [...roundRatios].sort((a, b) => a - b);
  const ratio = sortedRatios[Math.floor(sortedRatios.length / 2)]!;
  const r3 = (n: number) => Math.round(n * 1000) / 1000;
  console.log(
    JSON.stringify(
      {
        benchmark: '@tapnet/metadata-proxy vs bare node:http, same node-style handler, loopback',
        node: process.version,
        cpus: cpus().length,
        connections,
        durationMsPerRound: durationMs,
        rounds,
        loadAverage: loadavg().map(r3),
        hardening: 'defaults; perNetwork.requestsPerSecond/burst 1e9, maxConnections 1024',
        ...summary,
        proxyThroughputRatio: r3(ratio),
        proxyThroughputRatioPerRound: roundRatios.map(r3),
        proxyFetchThroughputRatio:
          Math.round(
            (summary.proxyFetch.requestsPerSecond / summary.bare.requestsPerSecond) * 1000,
          ) / 1000,
        target: 0.9,
        meetsTarget: ratio >= 0.9,
      },
      null,
      2,
    ),
  );
}
