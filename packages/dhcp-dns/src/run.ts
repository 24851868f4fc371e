// One dnsmasq process: started in the foreground, its output kept (the last 64 KiB), stopped
// with SIGTERM then SIGKILL, and waited on until it serves every gateway.
import { DnsmasqStartError, listSome } from './errors.js';
import type { NormalizedOptions } from './options.js';
import { expectationOf, PROBE_GAP_MS, probeRound } from './readiness.js';
import type { ChildExit, ChildProcess, Runner } from './runner.js';

const STOP_GRACE_MS = 5000;
const OUTPUT_LIMIT = 64 * 1024;

export interface Run {
  child: ChildProcess;
  output: string;
  argv: readonly string[];
  readyAt?: number;
  /** Called with its output as it arrives, besides keeping it in `output` (see readStats). */
  readonly listeners: Set<(text: string) => void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function spawnRun(runner: Runner, dnsmasqPath: string, configPath: string): Run {
  const argv = ['--keep-in-foreground', '--log-facility=-', `--conf-file=${configPath}`];
  const child = runner.spawn(dnsmasqPath, argv);
  const run: Run = { child, output: '', argv: [dnsmasqPath, ...argv], listeners: new Set() };
  child.onOutput((text) => {
    run.output = (run.output + text).slice(-OUTPUT_LIMIT);
    for (const listener of run.listeners) listener(text);
  });
  return run;
}

/** SIGTERM, then SIGKILL if it has not exited within STOP_GRACE_MS. */
export async function terminate(run: Run): Promise<ChildExit> {
  run.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
  });
  const first = await Promise.race([run.child.exited, deadline]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  run.child.kill('SIGKILL');
  return run.child.exited;
}

export interface ReadyContext {
  runner: Runner;
  options: NormalizedOptions;
  /** The config text it was started on, for the error's details. */
  config: string;
  /** True once the run is no longer wanted (stopped, or replaced by another). */
  superseded: () => boolean;
}

/**
 * Resolves once `run` serves DNS on every gateway (see readiness.ts); otherwise stops it and
 * rejects with DnsmasqStartError: it exited, was superseded, or ran out of `readyTimeoutMs`.
 */
export async function waitUntilReady(run: Run, ctx: ReadyContext): Promise<void> {
  const o = ctx.options;
  const { child } = run;
  let exit: ChildExit | undefined;
  const exited = child.exited.then((e) => {
    exit = e;
  });
  const deadline = Date.now() + o.readyTimeoutMs;
  const pending = new Set(o.networks.map((n) => n.gateway));
  const expected = expectationOf(o.metadataNames, o.metadataIp);
  const details = () => ({
    argv: run.argv,
    exitCode: exit?.exitCode,
    signal: exit?.signal,
    stderr: exit?.failure ? `${run.output}${exit.failure}` : run.output,
    config: ctx.config,
  });
  const giveUp = async (message: string, signal: NodeJS.Signals): Promise<never> => {
    if (!exit) {
      child.kill(signal);
      if (signal === 'SIGKILL') await child.exited;
      else await terminate(run);
    }
    throw new DnsmasqStartError(message, details());
  };
  const progress = { answered: false, round: 0 };
  for (;;) {
    if (exit)
      return giveUp(
        `dnsmasq exited (${exit.failure ?? describeExit(exit)}) before it was ready`,
        'SIGKILL',
      );
    if (ctx.superseded()) return giveUp('dnsmasq was stopped before it was ready', 'SIGTERM');
    if (pending.size === 0) return;
    if (Date.now() >= deadline) {
      return giveUp(
        `dnsmasq did not answer DNS on ${listSome([...pending])} within ${o.readyTimeoutMs} ms`,
        'SIGKILL',
      );
    }
    await Promise.race([probeRound(ctx.runner, child.pid, pending, progress, expected), exited]);
    if (pending.size > 0 && !exit) await Promise.race([sleep(PROBE_GAP_MS), exited]);
  }
}

export function isExit(value: unknown): value is ChildExit {
  return (
    typeof value === 'object' &&
    value !== null &&
    'exitCode' in value &&
    'signal' in value &&
    !(value instanceof Error)
  );
}

function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`;
}

export function tailLines(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
