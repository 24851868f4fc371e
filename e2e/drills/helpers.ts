import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type NamespaceState, runOk, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa, type ResultPromise } from 'execa';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const cliBin = resolve(repoRoot, 'packages/tapnet/dist/bin.js');
export const distIndex = resolve(repoRoot, 'packages/tapnet/dist/index.js');
export const holderScript = resolve(import.meta.dirname, 'pool-holder.ts');

/** The error `body` rejects with; fails the test when it resolves. */
export async function rejection(body: () => Promise<unknown>): Promise<Error & { code?: string }> {
  let value: unknown;
  try {
    value = await body();
  } catch (error) {
    return error as Error & { code?: string };
  }
  // A pool made by mistake would leak: take it down before failing.
  const disposable = value as { dispose?: () => Promise<void> } | undefined;
  await disposable?.dispose?.();
  throw new Error(`expected a rejection, got ${String(value)}`);
}

/** Pids of live (not zombie) processes with this `comm`, e.g. `dnsmasq`, `qemu-system-x86`. */
export function pidsOf(comm: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (name === comm && state !== 'Z') found.push(Number(pid));
    } catch {
      // exited
    }
  }
  return found.sort((a, b) => a - b);
}

/**
 * A snapshot with what differs between two equal pools taken out: interface indexes (new
 * devices get new ones), peer indexes and the random id in each run's TAP mark (ifalias).
 * Two pools with one prefix compare equal this way.
 */
export async function poolShape(): Promise<
  Omit<NamespaceState, 'processes'> & { processes: string }
> {
  const state = await snapshotNamespace();
  const strip = (text: string) =>
    text
      .split('\n')
      .map((line) =>
        line
          .replace(/^\d+:\s*/, '')
          .replace(/@if\d+/g, '')
          .replace(/alias tapnet:([a-z0-9]+):[0-9a-f]{16}/g, 'alias tapnet:$1:-'),
      )
      .join('\n');
  return { ...state, links: strip(state.links), addresses: strip(state.addresses) };
}

/** Names of the links whose name starts with `prefix` and continues with digits only. */
export async function poolLinks(prefix: string): Promise<string[]> {
  const out = await runOk(['ip', '-o', 'link', 'show']);
  const names = out
    .split('\n')
    .map((line) => /^\d+:\s*([^:@]+)/.exec(line)?.[1] ?? '')
    .filter((name) => new RegExp(`^${prefix}\\d+$`).test(name));
  return names.sort();
}

export interface HolderReady {
  pid: number;
  dnsmasqPid: number;
  qemuPids: number[];
  guests: { name: string; subnet: string; gateway: string; mac: string }[];
  plan: { name: string; subnet: string; gateway: string }[];
}

export interface Holder {
  child: ResultPromise;
  ready: HolderReady;
  output(): string;
  /** SIGTERM: the holder disposes its pool and exits 0. */
  stop(): Promise<void>;
}

/** Starts `pool-holder.ts` (the built package in a child Node) and waits for its READY line. */
export async function startHolder(input: {
  options: Record<string, unknown>;
  guests: number;
  tag: string;
  /** TAPs (made by the caller) the guests' QEMU hubs join to their networks' TAPs. */
  wires?: string[];
}): Promise<Holder> {
  const child = execa(process.execPath, [holderScript, JSON.stringify(input)], {
    reject: false,
    all: true,
  });
  let output = '';
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const line = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`holder exited ${child.exitCode}`);
      return /^READY (.*)$/m.exec(output)?.[1];
    },
    { what: 'the pool holder to be READY', timeout: 60_000, seen: () => output },
  );
  return {
    child,
    ready: JSON.parse(line) as HolderReady,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const result = await child;
      if (result.exitCode !== 0) throw new Error(`holder exited ${result.exitCode}: ${output}`);
    },
  };
}
