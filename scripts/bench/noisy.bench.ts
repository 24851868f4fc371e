// The noisy-neighbour drill as a benchmark: runs e2e/drills/noisy-neighbour.netns.test.ts in
// this sandbox (vitest, the same file `pnpm test` runs), then prints the drill's result file as
// JSON on stdout: per kind (DHCP, DNS, metadata) the well-behaved networks' p50/p99 and
// failures with no attacker and under attack, the attacker's counters, and whether the drill's
// checks passed. A failing drill is a measurement too (issue 11's attacks before their fixes):
// the script exits 0 whenever the drill wrote its result, and says `drillPassed: false`.
//
// Env: BENCH_NOISY_SECONDS (30): seconds of each phase (baseline, attacked).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertSandbox, loadavg, progress } from './lib.ts';

assertSandbox();
const root = resolve(import.meta.dirname, '../..');
const seconds = Number(process.env.BENCH_NOISY_SECONDS ?? 30);
const resultFile = join(tmpdir(), `noisy-neighbour-${process.pid}.json`);
rmSync(resultFile, { force: true });

progress(`noisy neighbour: ${seconds} s without the attacker, then ${seconds} s with it`);
const before = loadavg();
// vitest's report goes to stderr: stdout carries only this script's JSON.
const run = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--reporter=default',
    'e2e/drills/noisy-neighbour.netns.test.ts',
  ],
  {
    cwd: root,
    stdio: ['ignore', 2, 2],
    env: { ...process.env, NOISY_SECONDS: String(seconds), NOISY_RESULT_FILE: resultFile },
    timeout: 10 * 60_000,
  },
);
if (!existsSync(resultFile)) {
  progress(`the drill wrote no result (vitest exited ${run.status ?? run.signal})`);
  process.exit(1);
}
const result = JSON.parse(readFileSync(resultFile, 'utf8'));
rmSync(resultFile, { force: true });
process.stdout.write(
  `${JSON.stringify({
    benchmark: 'noisy-neighbour drill (e2e/drills/noisy-neighbour.netns.test.ts)',
    drillPassed: run.status === 0,
    vitestExit: run.status ?? run.signal,
    loadavgBefore: before,
    loadavgAfter: loadavg(),
    ...result,
  })}\n`,
);
