import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchRecord, BenchResults, NoisyResult, PoolResult } from '../results.ts';
import { fmt, pct, ratio, renderFailed, table } from './format.ts';
import { renderNoisy } from './noisy.ts';
import { renderAcquire, renderPool } from './pool.ts';
import { renderProxy } from './proxy.ts';
import { render } from './report.ts';

// A saved results file: the full run BENCHMARKS.md was written from (commit 84d58a7), with the
// fields no renderer reads (per-run arrays, the drill's per-network figures) taken out.
const fixture = (): BenchResults =>
  JSON.parse(
    readFileSync(join(import.meta.dirname, 'fixture-results.json'), 'utf8'),
  ) as BenchResults;

const poolResult = (results: BenchResults) => results.benchmarks.pool?.result as PoolResult;

describe('the report', () => {
  it('renders the saved results file as the golden report', async () => {
    // The golden was checked equal to BENCHMARKS.md as written from the same run.
    await expect(render(fixture())).toMatchFileSnapshot('./__golden__/BENCHMARKS.md');
  });

  it('calls a run noisy when the load before it exceeded half the cores', () => {
    const results = fixture();
    results.loadavgBefore = '1.35 2.24 3.16 2/93 23280';
    expect(render(results)).toContain('> **Noisy run.** The 1-minute load average was 1.35 on 2');
    results.loadavgBefore = '0.40 0.30 0.20 1/90 100';
    expect(render(results)).toContain('> A quiet start: the 1-minute load average was 0.40 on 2');
  });

  it('marks a quick run as not to be quoted', () => {
    const results = fixture();
    results.quick = true;
    expect(render(results)).toContain('with `--quick` (small sizes, few repeats');
  });

  it('says which benchmark was not measured, and why, in place of its section', () => {
    const results = fixture();
    delete results.benchmarks.proxy;
    const guest = results.benchmarks.guest as BenchRecord;
    delete guest.result;
    guest.error = 'exited 1';
    const report = render(results);
    expect(report).toContain('**Not measured in this run**: not selected.');
    expect(report).toContain('**Not measured in this run**: exited 1.');
  });
});

describe('the pool section', () => {
  it("puts tapnet's time at 100 networks as a share of the original's", () => {
    const results = fixture();
    const r = poolResult(results);
    const share = (ms: number) => `${((ms / r.original[100]!.setupMs) * 100).toFixed(1)} %`;
    expect(renderPool(results.benchmarks.pool)).toContain(
      `devices + firewall ${share(r.network.nft[100]!.setupMs)} (nft), ${share(r.network.iptables[100]!.setupMs)} (iptables)`,
    );
  });

  it('leaves the 5 % target unevaluated when 100 networks were not measured', () => {
    const results = fixture();
    const r = poolResult(results);
    r.sizes = [1, 10, 250];
    expect(renderPool(results.benchmarks.pool)).toContain(
      "(100 networks not in this run's sizes: the 5 % target is not evaluated.)",
    );
  });

  it('compares the acquire cycle with the baseline only when the baseline ran', () => {
    const results = fixture();
    expect(renderAcquire(results.benchmarks.pool)).toContain("the baseline's rate");
    delete poolResult(results).acquire?.baselineCycle;
    expect(renderAcquire(results.benchmarks.pool)).not.toContain('baseline');
  });
});

describe('the other sections', () => {
  it('renders a failed proxy benchmark as not measured', () => {
    const record: BenchRecord = {
      name: 'proxy',
      argv: ['node', 'packages/metadata-proxy/bench/proxy.bench.ts'],
      env: {},
      exit: 1,
      seconds: 1,
      loadavgBefore: '0 0 0 1/1 1',
      loadavgAfter: '0 0 0 1/1 1',
      error: 'no JSON result (exit 1): nothing parsed; stdout: ',
    };
    expect(renderProxy(record)).toBe(
      '**Not measured in this run**: no JSON result (exit 1): nothing parsed; stdout: .',
    );
  });

  it("reports the drill's verdict as the drill gave it", () => {
    const results = fixture();
    expect(renderNoisy(results.benchmarks.noisy)).toContain('**passed**');
    (results.benchmarks.noisy?.result as NoisyResult).drillPassed = false;
    expect(renderNoisy(results.benchmarks.noisy)).toContain('**FAILED**');
  });
});

describe('formatting', () => {
  it('prints a dash for a missing number and groups thousands', () => {
    expect([fmt(undefined), fmt(null), fmt(Number.NaN), fmt(1234.56, 1)]).toEqual([
      '–',
      '–',
      '–',
      '1,234.6',
    ]);
  });

  it('prints shares and ratios, with a dash when the base is zero or absent', () => {
    expect([pct(1, 8), pct(1, 0), ratio(3, 2), ratio(3, undefined)]).toEqual([
      '12.5 %',
      '–',
      '1.50×',
      '–',
    ]);
  });

  it('builds a Markdown table', () => {
    expect(table(['a', 'b'], [['1', '2']])).toBe('| a | b |\n| --- | --- |\n| 1 | 2 |');
  });

  it('names the reason a section is missing', () => {
    expect(renderFailed(undefined)).toBe('**Not measured in this run**: not selected.');
  });
});
