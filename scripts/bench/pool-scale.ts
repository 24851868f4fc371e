// Pool.create / dispose from 1 to 4096 networks, both firewall backends: the growth from 100 to
// 4096 networks (41× the networks; issue 13 wants at most 10× the time), the memory a network
// costs (this process's RSS and dnsmasq's), and what fails. /28 networks in a /16 (4096 fill it
// exactly), no uplink. Called by pool.bench.ts inside its sandbox.
import { readFileSync } from 'node:fs';
import { Pool } from '../../packages/tapnet/dist/index.js';
import { loadavg, median, progress, round } from './lib.ts';
import type { Backend, PoolScaleResult, ScaleSummary } from './results.ts';

const SUBNET = '10.96.0.0/16';
const PREFIX_LENGTH = 28;

function rssKiB(pid: number | 'self'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

interface ScaleRun {
  createMs: number;
  disposeMs: number;
  /** This process's RSS with the pool up, minus before it was created. */
  nodeRssKiB: number;
  dnsmasqRssKiB: number;
}

async function once(n: number, backend: Backend): Promise<ScaleRun> {
  const rss0 = rssKiB('self');
  const t0 = performance.now();
  const pool = await Pool.create({
    size: n,
    prefix: 'bs',
    subnet: SUBNET,
    prefixLength: PREFIX_LENGTH,
    firewall: backend,
    uplink: null,
    upstreamDns: [],
  });
  const createMs = performance.now() - t0;
  const nodeRssKiB = rssKiB('self') - rss0;
  const pid = (await pool.status()).dnsmasq.pid;
  const dnsmasqRssKiB = pid === undefined ? Number.NaN : rssKiB(pid);
  const t1 = performance.now();
  await pool.dispose();
  return { createMs, disposeMs: performance.now() - t1, nodeRssKiB, dnsmasqRssKiB };
}

function summarize(n: number, runs: ScaleRun[]): ScaleSummary {
  const med = (key: keyof ScaleRun) => median(runs.map((r) => r[key]));
  const memory = med('nodeRssKiB') + med('dnsmasqRssKiB');
  return {
    createMs: round(med('createMs'), 1),
    disposeMs: round(med('disposeMs'), 1),
    createMsRuns: runs.map((r) => round(r.createMs, 1)),
    disposeMsRuns: runs.map((r) => round(r.disposeMs, 1)),
    nodeRssKiB: Math.round(med('nodeRssKiB')),
    dnsmasqRssKiB: Math.round(med('dnsmasqRssKiB')),
    kiBPerNetwork: round(memory / n, 1),
  };
}

/** Each size `repeats` times, the backends interleaved per repeat; failures recorded, not thrown. */
export async function measureScale(
  sizes: readonly number[],
  repeats: number,
): Promise<PoolScaleResult> {
  const result: PoolScaleResult = {
    sizes: [...sizes],
    repeats,
    subnet: SUBNET,
    prefixLength: PREFIX_LENGTH,
    loadavgStart: loadavg(),
    backends: { nft: {}, iptables: {} },
    errors: { nft: {}, iptables: {} },
  };
  for (const n of sizes) {
    const runs: Record<Backend, ScaleRun[]> = { nft: [], iptables: [] };
    for (let r = 0; r < repeats; r++) {
      for (const backend of ['nft', 'iptables'] as const) {
        try {
          runs[backend].push(await once(n, backend));
        } catch (error) {
          // Bounded (issue 13); the first line says what failed.
          result.errors[backend][n] = String((error as Error).message ?? error).slice(0, 300);
        }
      }
    }
    for (const backend of ['nft', 'iptables'] as const) {
      if (runs[backend].length > 0) result.backends[backend][n] = summarize(n, runs[backend]);
    }
    progress(`pool scale: ${n} networks done (loadavg ${loadavg()})`);
  }
  result.loadavgEnd = loadavg();
  return result;
}
