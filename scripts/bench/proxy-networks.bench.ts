// The metadata proxy with many networks, inside a sandbox: the proxy on 169.254.169.254:80 (as
// in a pool), a bare node:http server with the same handler on 169.254.169.254:81, and clients
// bound to addresses of 50 subnets added to `lo`. Prints JSON on stdout.
//
//   throughput (default): requests/s and p50/p99 with the traffic from 1 network and from 50
//     networks (same number of keep-alive connections, one request in flight each), rounds
//     alternating bare/proxy so drift hits both.
//   --memory: RSS and V8 heap after registering N networks with a handler each, then after one
//     open keep-alive connection per network (clients in a child process, so their memory is
//     not counted). Needs `node --expose-gc`.
//   --client ADDR...: (internal) the memory mode's clients.
//
// Env: BENCH_PROXY_DURATION_MS (2000), BENCH_PROXY_ROUNDS (5), BENCH_PROXY_CONNECTIONS (50),
// BENCH_PROXY_NETWORKS (50), BENCH_MEMORY_SIZES (50,250).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { MetadataServer, nodeHandler } from '../../packages/metadata-proxy/dist/index.js';
import { assertSandbox, loadavg, median, progress, round } from './lib.ts';
import { metadataHandler as handler } from './load/handler.ts';
import {
  DEFAULT_REQUEST,
  type LoadJob,
  type LoadResult,
  loadInWorker,
  ratios,
  summarize,
} from './load/http-load.ts';

const METADATA_IP = '169.254.169.254';

/** Source address of network i (10.200.0.2, 10.200.1.2, ...; 10.201.x past 256). */
const clientAddress = (i: number): string => `10.${200 + (i >> 8)}.${i & 255}.2`;
const clientSubnet = (i: number): string => `10.${200 + (i >> 8)}.${i & 255}.0/24`;

function addClientAddresses(count: number): void {
  const lines = [`addr add ${METADATA_IP}/32 dev lo`];
  for (let i = 0; i < count; i++) lines.push(`addr add ${clientAddress(i)}/32 dev lo`);
  execFileSync('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

async function throughput() {
  assertSandbox();
  const durationMs = Number(process.env.BENCH_PROXY_DURATION_MS ?? 2000);
  const rounds = Number(process.env.BENCH_PROXY_ROUNDS ?? 5);
  const connections = Number(process.env.BENCH_PROXY_CONNECTIONS ?? 50);
  const networks = Number(process.env.BENCH_PROXY_NETWORKS ?? 50);
  const maxRequests = 2_000_000;
  const loadavgStart = loadavg();
  addClientAddresses(networks);

  const bare = createServer(handler);
  bare.keepAliveTimeout = 5000;
  bare.listen(81, METADATA_IP);
  await once(bare, 'listening');
  // Default hardening, except per-network limits high enough never to answer 429 or refuse a
  // connection (the token bucket and the connection count still run on every request).
  const hardening = { perNetwork: { requestsPerSecond: 1e9, burst: 1e9, maxConnections: 1024 } };
  const proxy = await MetadataServer.create({ host: METADATA_IP, port: 80, hardening });
  for (let i = 0; i < networks; i++) {
    proxy.addNetwork(`n${i}`, clientSubnet(i));
    proxy.setHandler(`n${i}`, nodeHandler(handler));
  }

  const scenarios = { 1: 1, [String(networks)]: networks };
  // Connection j sends from network j % active: all from one network, or spread over all.
  const job = (port: number, active: number): LoadJob => ({
    host: METADATA_IP,
    port,
    connections,
    localAddresses: Array.from({ length: active }, (_, i) => clientAddress(i)),
    durationMs,
    maxRequests,
  });
  for (const active of Object.values(scenarios)) {
    for (const port of [81, 80]) {
      await loadInWorker({ ...job(port, active), durationMs: Math.min(500, durationMs) });
    }
  }
  const raw: Record<string, { bare: LoadResult[]; proxy: LoadResult[] }> = {};
  for (const [label, active] of Object.entries(scenarios)) {
    const runs: { bare: LoadResult[]; proxy: LoadResult[] } = { bare: [], proxy: [] };
    raw[label] = runs;
    for (let r = 0; r < rounds; r++) {
      runs.bare.push(await loadInWorker(job(81, active)));
      runs.proxy.push(await loadInWorker(job(80, active)));
    }
    progress(`proxy bench: traffic from ${label} network(s) done (loadavg ${loadavg()})`);
  }
  bare.closeAllConnections();
  bare.close();
  await proxy.close({ deadlineMs: 100 });

  const out: Record<string, unknown> = {};
  for (const [label, { bare: b, proxy: p }] of Object.entries(raw)) {
    const perRound = ratios(p, b);
    out[label] = {
      bare: summarize(b),
      proxy: summarize(p),
      throughputRatio: round(median(perRound)),
      throughputRatioPerRound: perRound.map((x) => round(x)),
    };
  }
  return {
    benchmark: 'proxy-networks',
    connections,
    networksRegistered: networks,
    durationMsPerRound: durationMs,
    rounds,
    hardening: 'defaults; perNetwork.requestsPerSecond/burst 1e9, maxConnections 1024',
    loadavgStart,
    scenarios: out,
    loadavgEnd: loadavg(),
  };
}

/** Memory mode's client: one keep-alive connection per address, one request each, then hold. */
async function client(addresses: string[]): Promise<void> {
  const sockets: Socket[] = [];
  await Promise.all(
    addresses.map(
      (localAddress) =>
        new Promise<void>((resolve, reject) => {
          const socket = connect({ port: 80, host: METADATA_IP, localAddress });
          sockets.push(socket);
          socket.on('error', reject);
          socket.on('connect', () => socket.write(DEFAULT_REQUEST));
          let text = '';
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (text.includes('\r\n\r\n') && text.endsWith('}')) {
              if (!text.startsWith('HTTP/1.1 200')) reject(new Error(text.split('\r\n')[0]));
              else resolve();
            }
          });
        }),
    ),
  );
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

async function memory() {
  assertSandbox();
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
  const sizes = (process.env.BENCH_MEMORY_SIZES ?? '50,250').split(',').map(Number);
  const loadavgStart = loadavg();
  addClientAddresses(Math.max(...sizes));
  const snapshot = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
  };
  const server = await MetadataServer.create({
    host: METADATA_IP,
    port: 80,
    hardening: { keepAliveTimeoutMs: 600_000 },
  });
  const base = await snapshot();
  const steps: Record<string, unknown>[] = [];
  const children: { child: ReturnType<typeof spawn>; count: number }[] = [];
  let registered = 0;
  for (const n of sizes) {
    for (; registered < n; registered++) {
      const name = `n${registered}`;
      server.addNetwork(name, clientSubnet(registered));
      // A distinct closure per network, as a VM engine would give each VM its own.
      const id = registered;
      server.setHandler(
        name,
        nodeHandler((req, res) => {
          res.setHeader('x-vm', String(id));
          handler(req, res);
        }),
      );
    }
    const afterRegister = await snapshot();
    const from = children.reduce((k, c) => k + c.count, 0);
    const addresses = Array.from({ length: n - from }, (_, k) => clientAddress(from + k));
    const child = spawn(process.execPath, [import.meta.filename, '--client', ...addresses], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push({ child, count: addresses.length });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    if (line !== 'ready') throw new Error(`client said ${line}`);
    const afterConnect = await snapshot();
    const open = Object.values(server.stats()).reduce((k, s) => k + s.openConnections, 0);
    type Snapshot = Awaited<ReturnType<typeof snapshot>>;
    const per = (m: Snapshot, key: keyof Snapshot) => Math.round((m[key] - base[key]) / n);
    steps.push({
      networks: n,
      openConnections: open,
      registered: {
        rssBytes: afterRegister.rss - base.rss,
        heapBytes: afterRegister.heapUsed - base.heapUsed,
      },
      connected: {
        rssBytes: afterConnect.rss - base.rss,
        heapBytes: afterConnect.heapUsed - base.heapUsed,
      },
      perNetwork: {
        registeredHeapBytes: per(afterRegister, 'heapUsed'),
        registeredRssBytes: per(afterRegister, 'rss'),
        connectedHeapBytes: per(afterConnect, 'heapUsed'),
        connectedRssBytes: per(afterConnect, 'rss'),
      },
    });
    progress(`proxy memory: ${n} networks done`);
  }
  for (const { child } of children) child.stdin?.end();
  await server.close({ deadlineMs: 100 });
  return {
    benchmark: 'proxy-memory',
    base: { rssBytes: base.rss, heapBytes: base.heapUsed },
    steps,
    note: 'deltas from the server with no network registered; after gc(); clients in a child process',
    loadavgStart,
    loadavgEnd: loadavg(),
  };
}

if (process.argv[2] === '--client') {
  await client(process.argv.slice(3));
} else {
  const result = process.argv[2] === '--memory' ? await memory() : await throughput();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
