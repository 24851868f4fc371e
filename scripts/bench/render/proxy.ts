// The metadata proxy sections: one network on loopback, 1 vs 50 networks, memory per network.
import type {
  BenchRecord,
  LoadStats,
  ProxyMemoryResult,
  ProxyNetworksResult,
  ProxyResult,
} from '../results.ts';
import { fmt, ratio, renderFailed, resultOf, table } from './format.ts';

export function renderProxy(record: BenchRecord | undefined): string {
  const r = resultOf<ProxyResult>(record);
  if (!r) return renderFailed(record);
  const row = (label: string, x: LoadStats, base?: LoadStats) => [
    label,
    fmt(x.requestsPerSecond),
    `${fmt(x.p50Ms, 3)} ms`,
    `${fmt(x.p99Ms, 3)} ms`,
    fmt(x.errors),
    base ? ratio(x.requestsPerSecond, base.requestsPerSecond) : '1.00× (baseline)',
  ];
  const rows = [
    row('bare node:http', r.bare),
    row('metadata proxy, node-style handler', r.proxy, r.bare),
    row('metadata proxy, fetch-style handler', r.proxyFetch, r.bare),
  ];
  if (r.proxyFetchTapnet)
    rows.push(
      row(
        "metadata proxy, fetch-style handler returning tapnet's Response",
        r.proxyFetchTapnet,
        r.bare,
      ),
    );
  if (r.hono) rows.push(row('@hono/node-server, global Request/Response', r.hono, r.bare));
  if (r.honoGlobals)
    rows.push(
      row('@hono/node-server, its own Response as global (default)', r.honoGlobals, r.bare),
    );
  const forwardRows = [];
  if (r.upstream && r.proxyForward && r.proxyForwardUnix) {
    forwardRows.push(
      row('upstream alone (node:http, own thread)', r.upstream),
      row('metadata proxy forwarding over TCP', r.proxyForward, r.upstream),
      row('metadata proxy forwarding over a unix socket', r.proxyForwardUnix, r.upstream),
    );
  }
  const per = (xs: number[] | undefined) => (xs ?? []).map((x) => fmt(x, 3)).join(', ');
  return [
    `${r.benchmark}; ${r.connections} keep-alive connections, ${r.rounds} rounds of ${r.durationMsPerRound} ms per server, alternating; hardening: ${r.hardening}. Load generator: a worker thread in the same process (it shares the CPU with the servers).\n`,
    table(['server', 'requests/s', 'p50', 'p99', 'errors', 'throughput vs bare'], rows),
    `\nMedian of the per-round ratios (proxy / bare): ${fmt(r.proxyThroughputRatio, 3)} (rounds: ${per(r.proxyThroughputRatioPerRound)}); target ≥ ${r.target}.`,
    ...(r.hono === undefined
      ? []
      : [
          `Fetch-style: ${fmt(r.proxyFetchThroughputRatio, 3)} (rounds: ${per(r.proxyFetchThroughputRatioPerRound)})${r.proxyFetchTapnetThroughputRatio === undefined ? '' : `; returning tapnet's Response: ${fmt(r.proxyFetchTapnetThroughputRatio, 3)} (rounds: ${per(r.proxyFetchTapnetThroughputRatioPerRound)})`}; target ≥ ${r.fetchTarget ?? 0.9}. @hono/node-server with the global Response: ${fmt(r.honoThroughputRatio ?? Number.NaN, 3)}; with its own Response as the global: ${fmt(r.honoGlobalsThroughputRatio ?? Number.NaN, 3)}.`,
        ]),
    ...(r.proxyFetchCpuRatio === undefined
      ? []
      : [
          `Main-thread CPU time per request (steadier than requests/s on a shared machine): bare ${fmt(r.bare.cpuUsPerRequest ?? Number.NaN, 1)} µs, node-style ${fmt(r.proxy.cpuUsPerRequest ?? Number.NaN, 1)} µs, fetch-style ${fmt(r.proxyFetch.cpuUsPerRequest ?? Number.NaN, 1)} µs${r.proxyFetchTapnet ? ` (with tapnet's Response ${fmt(r.proxyFetchTapnet.cpuUsPerRequest ?? Number.NaN, 1)} µs)` : ''}, hono with the global Response ${fmt(r.hono?.cpuUsPerRequest ?? Number.NaN, 1)} µs, forwarding ${fmt(r.proxyForward?.cpuUsPerRequest ?? Number.NaN, 1)} µs (the proxy's share; the upstream runs on its own thread). bare / server: node-style ${fmt(r.proxyCpuRatio ?? Number.NaN, 3)}, fetch-style ${fmt(r.proxyFetchCpuRatio, 3)}${r.proxyFetchTapnetCpuRatio === undefined ? '' : ` (with tapnet's Response ${fmt(r.proxyFetchTapnetCpuRatio, 3)})`}, hono ${fmt(r.honoCpuRatio ?? Number.NaN, 3)}.`,
        ]),
    ...(forwardRows.length === 0
      ? []
      : [
          '\nForward handlers against their upstream alone (the ratio column is vs the upstream):\n',
          table(
            ['server', 'requests/s', 'p50', 'p99', 'errors', 'throughput vs upstream'],
            forwardRows,
          ),
          `\nMedian of the per-round ratios (forward over TCP / upstream): ${fmt(r.proxyForwardThroughputRatio ?? Number.NaN, 3)} (rounds: ${per(r.proxyForwardThroughputRatioPerRound)}); over a unix socket: ${fmt(r.proxyForwardUnixThroughputRatio ?? Number.NaN, 3)}.`,
        ]),
  ].join('\n');
}

export function renderProxyNetworks(record: BenchRecord | undefined): string {
  const r = resultOf<ProxyNetworksResult>(record);
  if (!r) return renderFailed(record);
  const rows: string[][] = [];
  for (const [label, s] of Object.entries(r.scenarios)) {
    rows.push([
      label,
      fmt(s.bare.requestsPerSecond),
      `${fmt(s.bare.p50Ms, 3)} / ${fmt(s.bare.p99Ms, 3)} ms`,
      fmt(s.proxy.requestsPerSecond),
      `${fmt(s.proxy.p50Ms, 3)} / ${fmt(s.proxy.p99Ms, 3)} ms`,
      `${fmt(s.throughputRatio, 3)} (${s.throughputRatioPerRound.map((x) => fmt(x, 2)).join(', ')})`,
      fmt(s.bare.errors + s.proxy.errors),
    ]);
  }
  return [
    `The proxy on 169.254.169.254:80 with ${r.networksRegistered} networks registered (10.200.i.0/24, a node-style handler each); a bare node:http server with the same handler on 169.254.169.254:81. ` +
      `${r.connections} keep-alive connections, one request in flight each, bound to source addresses in 1 subnet or spread over ${r.networksRegistered}; ${r.rounds} rounds of ${r.durationMsPerRound} ms per server, alternating. Hardening: ${r.hardening}.\n`,
    table(
      [
        'networks sending',
        'bare req/s',
        'bare p50 / p99',
        'proxy req/s',
        'proxy p50 / p99',
        'proxy / bare (median; per round)',
        'errors',
      ],
      rows,
    ),
  ].join('\n');
}

export function renderProxyMemory(record: BenchRecord | undefined): string {
  const r = resultOf<ProxyMemoryResult>(record);
  if (!r) return renderFailed(record);
  const kib = (b: number) => `${fmt(b / 1024, 1)} KiB`;
  return [
    `Server process after \`gc()\`: ${kib(r.base.rssBytes)} RSS, ${kib(r.base.heapBytes)} heap with no network. Per network = (value − that) / networks; the clients run in a child process.\n`,
    table(
      [
        'networks',
        'open connections',
        'heap / network, registered + handler',
        'RSS / network, registered + handler',
        'heap / network, + 1 keep-alive connection',
        'RSS / network, + 1 keep-alive connection',
      ],
      r.steps.map((s) => [
        fmt(s.networks),
        fmt(s.openConnections),
        kib(s.perNetwork.registeredHeapBytes),
        kib(s.perNetwork.registeredRssBytes),
        kib(s.perNetwork.connectedHeapBytes),
        kib(s.perNetwork.connectedRssBytes),
      ]),
    ),
    "\nRSS moves in pages and with the allocator's arenas, so its per-network figure is coarse; the heap figure is the steadier one.",
  ].join('\n');
}
