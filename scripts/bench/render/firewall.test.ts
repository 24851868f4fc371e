import { describe, expect, it } from 'vitest';
import type { BenchRecord } from '../results.ts';
import { renderFirewall } from './firewall.ts';

const row = (backend: string, size: number, applyMs: number, p50: number) => ({
  backend,
  size,
  applyMs,
  reapplyMs: applyMs,
  statusMs: 10,
  watchRepairMs: 100,
  removeMs: applyMs / 2,
  perPacket: { p50, p90: p50 * 2, p99: p50 * 3 },
});

const record = (results: ReturnType<typeof row>[]): BenchRecord =>
  ({
    name: 'firewall',
    argv: [],
    env: {},
    exit: 0,
    seconds: 1,
    result: { loadStart: '0', loadEnd: '0', requests: 400, results },
  }) as unknown as BenchRecord;

describe('renderFirewall', () => {
  it('tabulates each backend and size, and the growth from the smallest to the largest size', () => {
    const text = renderFirewall(
      record([row('nft', 1, 50, 0.5), row('nft', 4096, 800, 0.55), row('iptables', 1, 100, 0.6)]),
    );
    expect(text).toContain('| nft | 4,096 | 800 ms |');
    // nft grows 16× in apply, 1.1× per packet; iptables has one size only: no growth row.
    expect(text).toContain('| nft | 1 → 4,096 | 16.0× | 16.0× | 1.10× |');
    expect(text).not.toMatch(/\| iptables \| 1 → /);
  });

  it('says it was not measured when the run left it out', () => {
    expect(renderFirewall(undefined)).toContain('Not measured in this run');
  });
});
