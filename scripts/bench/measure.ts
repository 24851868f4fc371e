// Measuring: runs the selected benchmarks one after another, each in a sandbox of its own
// (fresh network, PID and mount namespaces, as the test command makes them), and collects what
// each printed with the machine, the commit and the load around it into one results object.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { sandboxArgv } from '../sandbox.ts';
import type { Benchmark } from './benchmarks.ts';
import type { BenchRecord, BenchResults, Machine } from './results.ts';

const root = resolve(import.meta.dirname, '../..');
const TIMEOUT_MS = 30 * 60_000;

function firstLine(argv: string[]): string | undefined {
  try {
    return execFileSync(argv[0]!, argv.slice(1), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .split('\n')
      .find((l) => l.trim())
      ?.trim();
  } catch (error) {
    const e = error as { code?: string; status?: number };
    return `unavailable (${e.code ?? e.status})`;
  }
}

/** The commit measured, with `+dirty` when the work tree had changes. */
function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    memAvailableGiB:
      Math.round((Number(/^MemAvailable:\s*(\d+)/m.exec(meminfo)?.[1] ?? 0) / 2 ** 20) * 10) / 10,
    kernel: firstLine(['uname', '-r']),
    node: process.version,
    qemu: firstLine(['qemu-system-x86_64', '--version']),
    nft: firstLine(['nft', '--version']),
    iptables: firstLine(['iptables', '--version']),
    dnsmasq: firstLine(['dnsmasq', '--version']),
    busybox: firstLine(['busybox']),
    kvm: existsSync('/dev/kvm') ? 'present (the guest benchmark uses TCG regardless)' : 'absent',
  };
}

function runSandboxed(bench: Benchmark, hostNetns: string): Promise<BenchRecord> {
  return new Promise((resolveRun) => {
    const argv = sandboxArgv(bench.argv);
    const started = Date.now();
    const loadavgBefore = readFileSync('/proc/loadavg', 'utf8').trim();
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...bench.env, TAPNET_HOST_NETNS: hostNetns },
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const record: BenchRecord = {
        name: bench.name,
        argv: bench.argv.map((a) => (a === process.execPath ? 'node' : a)),
        env: bench.env,
        exit: code ?? signal,
        seconds: Math.round((Date.now() - started) / 100) / 10,
        loadavgBefore,
        loadavgAfter: readFileSync('/proc/loadavg', 'utf8').trim(),
      };
      try {
        record.result = parseOutput(stdout);
      } catch (error) {
        record.error = `no JSON result (exit ${code ?? signal}): ${(error as Error).message}; stdout: ${stdout.slice(-500)}`;
      }
      if (code !== 0 && !record.error) record.error = `exited ${code ?? signal}`;
      resolveRun(record);
    });
  });
}

/** The whole output as JSON (pretty-printed results), else its last JSON line. */
function parseOutput(stdout: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch {
    const lines = stdout.trim().split('\n').reverse();
    for (const line of lines) {
      try {
        return JSON.parse(line);
      } catch {}
    }
    throw new Error('nothing parsed');
  }
}

export async function measureAll(
  selected: readonly Benchmark[],
  quick: boolean,
): Promise<BenchResults> {
  if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun')) {
    console.error('bench needs root and /dev/net/tun (it makes devices in sandboxes)');
    process.exit(2);
  }
  for (const pkg of ['tap-pool', 'firewall', 'dhcp-dns', 'metadata-proxy', 'tapnet']) {
    if (!existsSync(join(root, 'packages', pkg, 'dist/index.js'))) {
      console.error(`packages/${pkg}/dist is missing: run \`pnpm build\` first`);
      process.exit(2);
    }
  }
  const hostNetns = readlinkSync('/proc/self/ns/net');
  const results: BenchResults = {
    quick,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: machine(),
    loadavgBefore: readFileSync('/proc/loadavg', 'utf8').trim(),
    benchmarks: {},
  };
  for (const bench of selected) {
    console.error(`\n=== ${bench.name} (loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()})`);
    const record = await runSandboxed(bench, hostNetns);
    results.benchmarks[bench.name] = record;
    console.error(
      `=== ${bench.name}: ${record.error ? `FAILED: ${record.error}` : 'ok'} in ${record.seconds} s`,
    );
  }
  results.loadavgAfter = readFileSync('/proc/loadavg', 'utf8').trim();
  return results;
}
