import { readdirSync, readFileSync } from 'node:fs';
import { type Agent, request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import {
  type NamespaceState,
  type Netns,
  runOk,
  snapshotNamespace,
  waitFor,
} from '@tapnet/testing';
import { execa, type ResultPromise } from 'execa';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const cliBin = resolve(repoRoot, 'packages/tapnet/dist/bin.js');
export const distIndex = resolve(repoRoot, 'packages/tapnet/dist/index.js');
export const holderScript = resolve(import.meta.dirname, 'pool-holder.ts');

export interface Reply {
  status: number;
  body: string;
}

/**
 * A GET to the metadata service from `localAddress`. Bound to a network's gateway address the
 * request comes from inside that network's subnet, so the pool dispatches it to that network.
 */
export function getFrom(
  localAddress: string,
  path = '/',
  options: { agent?: Agent; port?: number } = {},
): Promise<Reply> {
  return new Promise((done, fail) => {
    const req = httpRequest(
      {
        host: '169.254.169.254',
        port: options.port ?? 80,
        path,
        localAddress,
        agent: options.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end();
  });
}

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
 * devices get new ones) and peer indexes. Two pools with one prefix compare equal this way.
 */
export async function poolShape(): Promise<
  Omit<NamespaceState, 'processes'> & { processes: string }
> {
  const state = await snapshotNamespace();
  const strip = (text: string) =>
    text
      .split('\n')
      .map((line) => line.replace(/^\d+:\s*/, '').replace(/@if\d+/g, ''))
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

/**
 * A wire from one of a pool's TAPs to a TAP inside `client` (which then plays the VM): one QEMU
 * with no machine that opens both TAPs and joins them with its emulated hub. The pool's TAP is
 * opened by QEMU exactly as a guest's would be; frames pass unchanged both ways.
 */
export async function tapWire(options: {
  poolTap: string;
  client: Netns;
  clientDev: string;
  clientMac?: string;
}): Promise<{ qemu: ResultPromise }> {
  const temp = `w${Math.random().toString(36).slice(2, 10)}`;
  await runOk(['ip', 'tuntap', 'add', 'dev', temp, 'mode', 'tap']);
  await runOk(['ip', 'link', 'set', temp, 'up']); // so that NO-CARRIER shows until QEMU attaches
  const qemu = execa(
    'qemu-system-x86_64',
    [
      '-machine',
      'none',
      '-nodefaults',
      '-display',
      'none',
      '-monitor',
      'none',
      '-serial',
      'none',
      '-netdev',
      `tap,id=pool,ifname=${options.poolTap},script=no,downscript=no`,
      '-netdev',
      `tap,id=client,ifname=${temp},script=no,downscript=no`,
      '-netdev',
      'hubport,id=p0,hubid=0,netdev=pool',
      '-netdev',
      'hubport,id=p1,hubid=0,netdev=client',
    ],
    { reject: false, all: true },
  );
  let output = '';
  qemu.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // Attached once the temporary TAP reports a carrier (QEMU holds its fd).
  await waitFor(
    async () => {
      if (qemu.exitCode !== null) throw new Error(`qemu exited: ${output}`);
      const flags = await runOk(['ip', '-o', 'link', 'show', 'dev', temp]);
      return !flags.includes('NO-CARRIER');
    },
    { what: `QEMU to open ${options.poolTap} and ${temp}`, timeout: 20_000, seen: () => output },
  );
  // The TAP keeps QEMU's fd when it moves: the client's end now lives in the client namespace.
  await runOk(['ip', 'link', 'set', temp, 'netns', options.client.name]);
  await options.client.runOk(['ip', 'link', 'set', temp, 'name', options.clientDev]);
  if (options.clientMac)
    await options.client.runOk([
      'ip',
      'link',
      'set',
      options.clientDev,
      'address',
      options.clientMac,
    ]);
  await options.client.runOk(['ip', 'link', 'set', options.clientDev, 'up']);
  // Wrapped: a subprocess is a thenable, and returning it bare would wait for QEMU to exit.
  return { qemu };
}

export interface HolderReady {
  pid: number;
  dnsmasqPid: number;
  qemuPids: number[];
  guests: { name: string; gateway: string }[];
  plan: { name: string; gateway: string }[];
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
