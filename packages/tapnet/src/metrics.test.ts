import { EventEmitter } from 'node:events';
import type { DnsStats } from '@tapnet/dhcp-dns';
import { describe, expect, it } from 'vitest';
import { createPoolMetrics } from './metrics.js';
import type { Pool } from './pool.js';

// The DNS series against a stand-in pool: what a scrape shows when dnsmasq answers and when it
// does not. The real pool and dnsmasq are in metrics.netns.test.ts.
function fakePool(answers: (DnsStats | undefined | Error)[]) {
  const pool = Object.assign(new EventEmitter(), {
    plan: { networks: [{ device: 'tm0' }] },
    calls: 0,
    status: () => Promise.reject(new Error('not under test')),
    dnsStats() {
      const answer = answers[pool.calls++];
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  });
  return pool;
}

const dnsLines = (text: string) => text.split('\n').filter((l) => /^tapnet_dns_/.test(l));

/** One scrape. The answer is shared until the turn of the event loop after it: wait that out. */
async function scrape(registry: { metrics(): Promise<string> }): Promise<string> {
  const text = await registry.metrics();
  await new Promise((resolve) => setImmediate(resolve));
  return text;
}

describe('pool metrics: DNS counters', () => {
  it('shows dnsmasq’s counters, asking once per scrape, and no sample (not 0) when it does not answer', async () => {
    const stats: DnsStats = {
      cacheSize: 150,
      insertions: 30,
      evictions: 2,
      forwarded: 4,
      answeredLocally: 17,
      authoritative: 0,
    };
    const pool = fakePool([stats, undefined, new Error('gone'), { ...stats, forwarded: 5 }]);
    const metrics = createPoolMetrics(pool as unknown as Pool);
    expect(dnsLines(await scrape(metrics.registry))).toEqual([
      'tapnet_dns_queries_total{answer="local"} 17',
      'tapnet_dns_queries_total{answer="forwarded"} 4',
      'tapnet_dns_cache_insertions_total 30',
      'tapnet_dns_cache_evictions_total 2',
      'tapnet_dns_cache_size 150',
    ]);
    expect(pool.calls).toBe(1);
    // No answer, then a rejection: the series vanish for that scrape, their HELP stays.
    for (const calls of [2, 3]) {
      const text = await scrape(metrics.registry);
      expect(dnsLines(text)).toEqual([]);
      expect(text).toContain('# TYPE tapnet_dns_cache_insertions_total counter');
      expect(pool.calls).toBe(calls);
    }
    expect(dnsLines(await scrape(metrics.registry))).toContain(
      'tapnet_dns_queries_total{answer="forwarded"} 5',
    );
    metrics.close();
  });
});
