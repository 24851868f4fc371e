import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchRecord, BenchResults, LoadStats, ProxyResult } from '../results.ts';
import { renderProxy } from './proxy.ts';

// The proxy section with the fields proxy.bench.ts has printed since the fetch fast path
// (hono baselines, forward rows, CPU per request), on top of the saved run's proxy result.
const stats = (requestsPerSecond: number, cpuUsPerRequest: number): LoadStats => ({
  requestsPerSecond,
  p50Ms: 0.5,
  p99Ms: 2,
  errors: 0,
  cpuUsPerRequest,
});

function record(): BenchRecord {
  const saved = JSON.parse(
    readFileSync(join(import.meta.dirname, 'fixture-results.json'), 'utf8'),
  ) as BenchResults;
  const base = saved.benchmarks.proxy as BenchRecord;
  const result: ProxyResult = {
    ...(base.result as ProxyResult),
    bare: stats(10_000, 25),
    proxy: stats(9_600, 26),
    proxyFetch: stats(9_000, 30),
    proxyFetchTapnet: stats(9_400, 27),
    hono: stats(6_000, 50),
    honoGlobals: stats(10_000, 1),
    upstream: stats(8_000, 1),
    proxyForward: stats(4_000, 60),
    proxyForwardUnix: stats(4_400, 55),
    proxyFetchThroughputRatio: 0.9,
    proxyFetchThroughputRatioPerRound: [0.9, 0.91],
    honoThroughputRatio: 0.6,
    honoGlobalsThroughputRatio: 1,
    proxyForwardThroughputRatio: 0.5,
    proxyForwardThroughputRatioPerRound: [0.5, 0.49],
    proxyForwardUnixThroughputRatio: 0.55,
    proxyCpuRatio: 0.962,
    proxyFetchCpuRatio: 0.833,
    proxyFetchTapnetThroughputRatio: 0.94,
    proxyFetchTapnetThroughputRatioPerRound: [0.94, 0.95],
    proxyFetchTapnetCpuRatio: 0.926,
    honoCpuRatio: 0.5,
    fetchTarget: 0.9,
  };
  return { ...base, result };
}

describe('renderProxy with the hono and forward baselines', () => {
  it('lists both hono servers against bare', () => {
    const text = renderProxy(record());
    expect(text).toContain('| @hono/node-server, global Request/Response | 6,000 |');
    expect(text).toContain('| @hono/node-server, its own Response as global (default) | 10,000 |');
  });

  it('states the fetch-style medians (global and tapnet Response) with their rounds and target', () => {
    expect(renderProxy(record())).toContain(
      "Fetch-style: 0.900 (rounds: 0.900, 0.910); returning tapnet's Response: 0.940 (rounds: 0.940, 0.950); target ≥ 0.9.",
    );
    expect(renderProxy(record())).toContain(
      "| metadata proxy, fetch-style handler returning tapnet's Response | 9,400 |",
    );
  });

  it('measures forward handlers against the upstream alone', () => {
    const text = renderProxy(record());
    expect(text).toContain('| metadata proxy forwarding over TCP | 4,000 |');
    expect(text).toContain('| 0.50× |');
    expect(text).toContain('over a unix socket: 0.550.');
  });

  it('states the CPU time per request and the CPU ratios', () => {
    expect(renderProxy(record())).toContain(
      "bare / server: node-style 0.962, fetch-style 0.833 (with tapnet's Response 0.926), hono 0.500.",
    );
  });
});
