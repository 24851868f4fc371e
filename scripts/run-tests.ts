// The test command: unit tests in one vitest run, then every privileged file
// (`*.netns.test.ts`) in a sandbox of its own (fresh network, PID and mount namespaces that
// die with it), a guard that the root namespace did not change, and the closing line
// `N passed, N failed, N skipped`.
//
// Usage: node scripts/run-tests.ts [--jobs N] [FILTER...]  (FILTER: substrings of test paths)
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  globSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { diffNamespaceState, snapshotHost } from '../tooling/testing/src/snapshot.ts';
import { sandboxArgv } from './sandbox.ts';

const root = resolve(import.meta.dirname, '..');
process.chdir(root);
const args = process.argv.slice(2);
let jobs = Math.max(1, Math.min(2, availableParallelism()));
const filters: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '--jobs') jobs = Number(args[++i]);
  else filters.push(arg);
}
const FILE_TIMEOUT_MS = 20 * 60_000;
// One folder per run, so runs started side by side do not overwrite each other's reports.
const resultsDir = join(
  root,
  '.test-results',
  `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`,
);
mkdirSync(resultsDir, { recursive: true });

const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const allFiles = globSync(
  [
    'packages/*/src/**/*.test.ts',
    'tooling/*/src/**/*.test.ts',
    'e2e/**/*.test.ts',
    'scripts/**/*.test.ts',
  ],
  {
    exclude: (f) => f.includes('node_modules'),
  },
)
  .map((f) => relative(root, resolve(f)))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const unitFiles = allFiles.filter((f) => !f.endsWith('.netns.test.ts'));
// e2e files boot guests and take longest: start them first so they overlap the rest.
const privilegedFiles = allFiles
  .filter((f) => f.endsWith('.netns.test.ts'))
  .sort((a, b) => Number(b.startsWith('e2e/')) - Number(a.startsWith('e2e/')));

const isRoot = process.getuid?.() === 0;
const hasTun = existsSync('/dev/net/tun');
const canSandbox = isRoot && hasTun;
const hostNetns = readlinkSync('/proc/self/ns/net');

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function runToLog(argv: string[], logFile: string, env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolveRun) => {
    const fd = openSync(logFile, 'w');
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    closeSync(fd);
    const timer = setTimeout(() => child.kill('SIGKILL'), FILE_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal });
    });
  });
}

function vitestArgv(files: string[], jsonFile: string): string[] {
  return [
    process.execPath,
    vitest,
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${jsonFile}`,
    ...files,
  ];
}

interface FileResult extends Outcome {
  label: string;
  json: string;
}

/** The part of vitest's JSON report read here. */
interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { status: string; fullName: string }[];
  }[];
}

const results: FileResult[] = [];

async function runUnit() {
  if (unitFiles.length === 0) return;
  const json = join(resultsDir, 'unit.json');
  const log = join(resultsDir, 'unit.log');
  console.log(`\n=== unit tests (${unitFiles.length} files)`);
  const outcome = await runToLog(vitestArgv(unitFiles, json), log, {});
  process.stdout.write(readFileSync(log, 'utf8'));
  results.push({ label: 'unit', json, ...outcome });
}

async function runPrivileged(file: string, index: number): Promise<void> {
  const json = join(resultsDir, `netns-${index}.json`);
  const log = join(resultsDir, `netns-${index}.log`);
  const argv = canSandbox ? sandboxArgv(vitestArgv([file], json)) : vitestArgv([file], json);
  const started = Date.now();
  const outcome = await runToLog(argv, log, { TAPNET_HOST_NETNS: hostNetns });
  console.log(
    `\n=== ${file} (${canSandbox ? 'sandboxed' : 'not sandboxed: privileged tests skip'}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  process.stdout.write(readFileSync(log, 'utf8'));
  results.push({ label: file, json, ...outcome });
}

// The root namespace before and after: a run that changed it fails (the host-state guard).
const before = await snapshotHost();
if (!canSandbox) {
  console.log(`privileged tests will be skipped: ${!isRoot ? 'not root' : 'no /dev/net/tun'}`);
}

await runUnit();
const queue = privilegedFiles.map((file, index) => () => runPrivileged(file, index));
await Promise.all(
  Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let task = queue.shift(); task; task = queue.shift()) await task();
  }),
);

let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];
for (const r of results) {
  let report: VitestReport;
  try {
    report = JSON.parse(readFileSync(r.json, 'utf8')) as VitestReport;
  } catch {
    failed += 1;
    failures.push(`${r.label}: no results (exit ${r.code ?? r.signal})`);
    continue;
  }
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  for (const suite of report.testResults) {
    for (const t of suite.assertionResults) {
      if (t.status === 'failed') failures.push(`${relative(root, suite.name)} > ${t.fullName}`);
    }
    // A file that failed to load has no assertions but a failed status.
    if (suite.status === 'failed' && suite.assertionResults.every((t) => t.status !== 'failed')) {
      failed += 1;
      failures.push(`${relative(root, suite.name)}: ${String(suite.message).split('\n')[0]}`);
    }
  }
  if (
    r.code !== 0 &&
    report.numFailedTests === 0 &&
    report.testResults.every((s) => s.status !== 'failed')
  ) {
    failed += 1;
    failures.push(`${r.label}: vitest exited ${r.code ?? r.signal}`);
  }
}

const changes = diffNamespaceState(before, await snapshotHost());
if (changes.length > 0) {
  failed += 1;
  failures.push('host-state guard: the root network namespace changed during the run');
  console.log(`\n=== host-state guard: FAILED\n${changes.join('\n')}`);
} else {
  passed += 1;
  console.log(
    '\n=== host-state guard: root namespace unchanged (links, addresses, routes, rules, nft, iptables, sysctls, netns, processes, /run/tapnet)',
  );
}
writeFileSync(
  join(resultsDir, 'summary.json'),
  JSON.stringify({ passed, failed, skipped, failures }, null, 2),
);
if (failures.length > 0) console.log(`\nFailures:\n${failures.map((f) => `  ${f}`).join('\n')}`);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
