import { describe, expect, it } from 'vitest';
import type { BenchRecord, PoolScaleResult, ScaleSummary } from '../results.ts';
import { growth, renderPoolScale } from './pool-scale.ts';

const summary = (createMs: number, disposeMs: number): ScaleSummary => ({
  createMs,
  disposeMs,
  createMsRuns: [createMs],
  disposeMsRuns: [disposeMs],
  nodeRssKiB: 1024,
  dnsmasqRssKiB: 2048,
  kiBPerNetwork: 30.7,
});

const scale: PoolScaleResult = {
  sizes: [100, 4096],
  repeats: 1,
  subnet: '10.96.0.0/16',
  prefixLength: 28,
  loadavgStart: '1.00 0.50 0.25 1/100 1234',
  backends: {
    nft: { 100: summary(200, 100), 4096: summary(1800, 1200) },
    iptables: { 100: summary(300, 150) },
  },
  errors: { nft: {}, iptables: { 4096: 'DnsmasqStartError: dnsmasq did not answer' } },
};
const record = { ok: true, result: { scale } } as unknown as BenchRecord;

describe('renderPoolScale', () => {
  it('computes growth as time at 4096 over time at 100', () => {
    expect(growth(scale, 'nft', 'createMs')).toBe(9);
    expect(growth(scale, 'nft', 'disposeMs')).toBe(12);
    expect(growth(scale, 'iptables', 'createMs')).toBeUndefined();
  });

  it('renders the table, the growth against the 10× goal, and the failures', () => {
    const text = renderPoolScale(record);
    expect(text).toContain('| 4,096 | 1,800 ms | 1,200 ms | 30.7 KiB (dnsmasq 2.0 MiB) | failed |');
    expect(text).toContain('| nft | 9.0× | 12.0× (over 10×) |');
    expect(text).toContain('| iptables | – | – |');
    expect(text).toContain('- iptables, 4096 networks: DnsmasqStartError: dnsmasq did not answer');
  });

  it('renders nothing for a results file without the scale part', () => {
    expect(renderPoolScale({ ok: true, result: {} } as unknown as BenchRecord)).toBe('');
  });
});
