// Throughput and latency of the metadata proxy against baselines running the same answer,
// measured in the same run, on loopback only. Run after `pnpm --filter @tapnet/metadata-proxy
// build`:
//
//   node packages/metadata-proxy/bench/proxy.bench.ts [--duration-ms 2000] [--rounds 5] [--connections 16]
//     [--only upstream,proxyForward,proxyForwardUnix]   (measure only these servers: for profiling;
//                                                        the ratios of servers left out are null)
//
// Prints one JSON object. Servers:
//   bare          node:http, the node-style handler (the baseline of the handler rows)
//   proxy         the proxy, the same node-style handler            (target ≥ 0.95× bare)
//   proxyFetch    the proxy, the same answer as a fetch handler returning the global Response
//   proxyFetchTapnet
//                 the proxy, the same fetch handler returning this package's Response
//                 (target ≥ 0.9× bare)
//   hono          @hono/node-server, the same fetch handler, with the global Request/Response
//                 (`overrideGlobalObjects: false`: the classes our handler gets too)
//   honoGlobals   @hono/node-server as it runs by default: its lightweight Response installed
//                 as the global one, in a worker thread of its own so that it does not leak
//                 into the servers measured here
//   upstream      node:http with the node-style handler on its own thread: a forward upstream
//   proxyForward, proxyForwardUnix
//                 the proxy forwarding to that upstream over TCP / a unix socket (baseline:
//                 the upstream alone)
// Besides requests/s, each server's CPU time per request on the main thread (cpuUsPerRequest).
// Ratios are medians of per-round ratios; every round runs each server once, starting with a
// different one, so drift on a shared machine hits all of them. The load generator is the one
// of scripts/bench (raw keep-alive sockets in a worker thread).
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { getRequestListener } from '@hono/node-server';
import { loadavg, median, round } from '../../../scripts/bench/lib.ts';
import { BODY, metadataHandler as handler } from '../../../scripts/bench/load/handler.ts';
import {
  type LoadJob,
  type LoadResult,
  loadInWorker,
  ratios,
  summarize,
} from '../../../scripts/bench/load/http-load.ts';
import type { MetadataHandler } from '../src/index.ts';

/** The same answer as a fetch-style handler (`Response` is looked up when it runs). */
function fetchHandler(): Response {
  return new Response(BODY, { headers: { 'content-type': 'application/json' } });
}

/** A node:http server running `listener` on a loopback port (or a unix socket). */
async function listen(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  socketPath?: string,
): Promise<{ port: number; close(): void }> {
  const server = createServer(listener);
  if (socketPath) server.listen(socketPath);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

type ServerJob = { role: 'hono-globals' } | { role: 'upstream'; socketPath: string };

if (!isMainThread) {
  // A server on a thread of its own; it serves until the main thread terminates the worker.
  const job = workerData as ServerJob;
  if (job.role === 'upstream') {
    const tcp = await listen(handler);
    await listen(handler, job.socketPath);
    parentPort?.postMessage(tcp.port);
  } else {
    // hono's default: its Request/Response become this thread's globals.
    parentPort?.postMessage((await listen(getRequestListener(fetchHandler))).port);
  }
} else {
  await main();
}

async function workerServer(job: ServerJob): Promise<{ port: number; close(): Promise<number> }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  const [port] = (await once(worker, 'message')) as [number];
  return { port, close: () => worker.terminate() };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-ms': { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '16' },
      'max-requests': { type: 'string', default: '500000' },
      only: { type: 'string' },
    },
  });
  const durationMs = Math.min(30_000, Math.max(100, Number(values['duration-ms'])));
  const rounds = Math.min(20, Math.max(1, Number(values.rounds)));
  const connections = Math.min(256, Math.max(1, Number(values.connections)));
  const maxRequests = Math.min(5_000_000, Math.max(1, Number(values['max-requests'])));

  // The built package, so this measures what consumers run.
  const {
    MetadataServer,
    nodeHandler,
    Response: TapnetResponse,
  } = (await import(
    new URL('../dist/index.js', import.meta.url).href
  )) as typeof import('../src/index.ts');

  const folder = mkdtempSync(join(tmpdir(), 'tapnet-proxy-bench-'));
  const socketPath = join(folder, 'upstream.sock');
  const bare = await listen(handler);
  const hono = await listen(getRequestListener(fetchHandler, { overrideGlobalObjects: false }));
  const honoGlobals = await workerServer({ role: 'hono-globals' });
  const upstream = await workerServer({ role: 'upstream', socketPath });

  // Default hardening, except a rate limit high enough not to answer 429 (its bucket still runs).
  const hardening = { perNetwork: { requestsPerSecond: 1e9, burst: 1e9, maxConnections: 1024 } };
  const proxyWith = async (h: MetadataHandler) => {
    const server = await MetadataServer.create({ host: '127.0.0.1', port: 0, hardening });
    server.addNetwork('bench', '127.0.0.0/8');
    server.setHandler('bench', h);
    return server;
  };
  const proxies = {
    proxy: await proxyWith(nodeHandler(handler)),
    proxyFetch: await proxyWith(fetchHandler),
    proxyFetchTapnet: await proxyWith(
      () => new TapnetResponse(BODY, { headers: { 'content-type': 'application/json' } }),
    ),
    proxyForward: await proxyWith({ forward: `http://127.0.0.1:${upstream.port}` }),
    proxyForwardUnix: await proxyWith({ forward: `unix:${socketPath}` }),
  };

  const ports = {
    bare: bare.port,
    proxy: proxies.proxy.address.port,
    proxyFetch: proxies.proxyFetch.address.port,
    proxyFetchTapnet: proxies.proxyFetchTapnet.address.port,
    hono: hono.port,
    honoGlobals: honoGlobals.port,
    upstream: upstream.port,
    proxyForward: proxies.proxyForward.address.port,
    proxyForwardUnix: proxies.proxyForwardUnix.address.port,
  };
  type Name = keyof typeof ports;
  const all = Object.keys(ports) as Name[];
  const only = values.only?.split(',');
  const names = all.filter((n) => !only || only.includes(n));
  const job = (port: number, ms = durationMs): LoadJob => ({
    host: '127.0.0.1',
    port,
    connections,
    durationMs: ms,
    maxRequests,
  });
  // Warm-up (JIT, sockets) for each server, not counted.
  for (const name of names) await loadInWorker(job(ports[name], Math.min(500, durationMs)));
  const results = Object.fromEntries(all.map((n) => [n, [] as LoadResult[]])) as Record<
    Name,
    LoadResult[]
  >;
  // CPU time of this thread (where bare, hono and the proxies run; not the load generator's,
  // nor honoGlobals' or the upstream's, which have threads of their own) per run: a cost per
  // request that a machine shared with other work disturbs far less than requests/s.
  const cpuUs = Object.fromEntries(all.map((n) => [n, 0])) as Record<Name, number>;
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length] as Name;
      const before = process.threadCpuUsage();
      results[name].push(await loadInWorker(job(ports[name])));
      const after = process.threadCpuUsage();
      cpuUs[name] += after.user - before.user + (after.system - before.system);
    }
  }
  bare.close();
  hono.close();
  await honoGlobals.close();
  await upstream.close();
  for (const server of Object.values(proxies)) await server.close({ deadlineMs: 100 });
  rmSync(folder, { recursive: true, force: true });

  // NaN (null in the JSON) for a server left out by --only, so its CPU ratios are null too.
  const cpuPerRequest = (name: Name) =>
    results[name].length === 0
      ? Number.NaN
      : cpuUs[name] /
        Math.max(
          1,
          results[name].reduce((n, r) => n + r.requests, 0),
        );
  const summary = Object.fromEntries(
    names.map((n) => [
      n,
      { ...summarize(results[n]), cpuUsPerRequest: round(cpuPerRequest(n), 1) },
    ]),
  );
  const perRound = (name: Name, baseline: Name = 'bare') =>
    names.includes(name) && names.includes(baseline)
      ? ratios(results[name], results[baseline]).map((x) => round(x))
      : [];
  const ratio = round(median(perRound('proxy')));
  const fetchRatio = round(median(perRound('proxyFetch')));
  const tapnetFetchRatio = round(median(perRound('proxyFetchTapnet')));
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
        loadAverage: loadavg(),
        hardening: 'defaults; perNetwork.requestsPerSecond/burst 1e9, maxConnections 1024',
        ...summary,
        proxyThroughputRatio: ratio,
        proxyThroughputRatioPerRound: perRound('proxy'),
        proxyFetchThroughputRatio: fetchRatio,
        proxyFetchThroughputRatioPerRound: perRound('proxyFetch'),
        proxyFetchTapnetThroughputRatio: tapnetFetchRatio,
        proxyFetchTapnetThroughputRatioPerRound: perRound('proxyFetchTapnet'),
        honoThroughputRatio: round(median(perRound('hono'))),
        honoGlobalsThroughputRatio: round(median(perRound('honoGlobals'))),
        proxyForwardThroughputRatio: round(median(perRound('proxyForward', 'upstream'))),
        proxyForwardThroughputRatioPerRound: perRound('proxyForward', 'upstream'),
        proxyForwardUnixThroughputRatio: round(median(perRound('proxyForwardUnix', 'upstream'))),
        // bare's CPU per request over the server's: the throughput ratio a CPU-bound server
        // would reach (forward: the proxy's own share, the upstream runs elsewhere).
        proxyCpuRatio: round(cpuPerRequest('bare') / cpuPerRequest('proxy')),
        proxyFetchCpuRatio: round(cpuPerRequest('bare') / cpuPerRequest('proxyFetch')),
        proxyFetchTapnetCpuRatio: round(cpuPerRequest('bare') / cpuPerRequest('proxyFetchTapnet')),
        honoCpuRatio: round(cpuPerRequest('bare') / cpuPerRequest('hono')),
        target: 0.95,
        // The fetch target is for a handler returning this package's Response.
        fetchTarget: 0.9,
        meetsTarget: ratio >= 0.95 && tapnetFetchRatio >= 0.9,
      },
      null,
      2,
    ),
  );
}
