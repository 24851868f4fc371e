// `pnpm bench`: runs every benchmark of bench/benchmarks.ts (those under scripts/bench/ and the
// metadata proxy's own) in a sandbox of its own (bench/measure.ts), saves the JSON they print,
// and writes BENCHMARKS.md from it (bench/render/). Every number in BENCHMARKS.md comes from
// that JSON.
//
// Usage: node scripts/bench.ts [--quick] [--only NAME,...] [--out FILE] [--render RESULTS.json]
//   --quick   small sizes and few repeats (a smoke test, about 1-2 minutes)
//   --only    run some benchmarks: pool, firewall, proxy, proxy-networks, proxy-memory, guest, limits, noisy
//   --out     where to write the report (default BENCHMARKS.md at the repository root)
//   --render  write the report from a saved results file, measuring nothing
// Raw results: .test-results/bench/<time>.json (git-ignored).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchmarks } from './bench/benchmarks.ts';
import { measureAll } from './bench/measure.ts';
import { render } from './bench/render/report.ts';
import type { BenchResults } from './bench/results.ts';

const root = resolve(import.meta.dirname, '..');
process.chdir(root);
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(root, 'BENCHMARKS.md') },
    render: { type: 'string' },
  },
});

const quick = flags.quick;

let results: BenchResults;
if (flags.render) {
  results = JSON.parse(readFileSync(flags.render, 'utf8')) as BenchResults;
} else {
  const only = flags.only?.split(',');
  const all = benchmarks(quick);
  const unknown = only?.filter((name) => !all.some((b) => b.name === name)) ?? [];
  if (unknown.length > 0) {
    console.error(
      `Expected --only to name benchmarks among ${all.map((b) => b.name).join(', ')}, got ${unknown.join(', ')}`,
    );
    process.exit(2);
  }
  results = await measureAll(
    all.filter((b) => !only || only.includes(b.name)),
    quick,
  );
  const dir = join(root, '.test-results/bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${results.date.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.error(`\nraw results: ${relative(root, file)}`);
}
writeFileSync(flags.out, render(results));
console.error(`wrote ${relative(root, resolve(flags.out)) || flags.out}`);
const failed = Object.values(results.benchmarks).filter((x) => x?.error);
if (failed.length > 0) {
  console.error(`failed: ${failed.map((x) => x?.name).join(', ')}`);
  process.exit(1);
}
