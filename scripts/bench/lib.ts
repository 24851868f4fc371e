// Helpers shared by the benchmark scripts. Each script runs inside its own sandbox (made by
// scripts/bench.ts), prints one JSON object on stdout and its progress on stderr.
import { readFileSync, readlinkSync } from 'node:fs';

/** /proc/loadavg as read now: the three load averages and the running/total tasks. */
export function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').trim();
}

/**
 * The last PID handed out in the reader's PID namespace (the last field of /proc/loadavg).
 * Inside a sandbox with its own PID namespace, the difference across a step is the number of
 * tasks the step created: processes, and also threads (a new thread takes a PID too).
 */
export function pidCursor() {
  return Number(loadavg().split(' ').at(-1));
}

export function median(xs: ArrayLike<number>): number {
  if (xs.length === 0) return Number.NaN;
  const s = Array.from(xs).sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

export const round = (n: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export function numberList(text: string | undefined, fallback: string): number[] {
  return (text ?? fallback).split(',').filter(Boolean).map(Number);
}

export function progress(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Refuses to run outside a sandbox made by scripts/bench.ts (never touch the host's network). */
export function assertSandbox() {
  const host = process.env.TAPNET_HOST_NETNS;
  if (process.env.TAPNET_SANDBOX !== '1' || !host || readlinkSync('/proc/self/ns/net') === host) {
    process.stderr.write('run benchmarks through `node scripts/bench.ts` (they need a sandbox)\n');
    process.exit(2);
  }
}
