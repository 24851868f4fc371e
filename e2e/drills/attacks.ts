// Starting and steering the noisy-neighbour agents (noisy-agent.ts) from a test: each runs as
// one Node process inside its namespace; the test reads its JSON lines (readiness, counters,
// the final result) and stops it through stdin.
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { assertInSandbox, type Netns, waitFor } from '@tapnet/testing';
import { execa, type ResultPromise } from 'execa';
import type { AttackConfig } from './attack-kinds.ts';
import type { InternetConfig, ProbeConfig, ProbeKind, ProbeOutcome } from './noisy-agent.ts';
import { percentile } from './noisy-packets.ts';

export type { AttackConfig, AttackCounters } from './attack-kinds.ts';
export type { ProbeKind, ProbeOutcome } from './noisy-agent.ts';

const agentScript = join(import.meta.dirname, 'noisy-agent.ts');

interface AgentMessage {
  type: 'ready' | 'counters' | 'result' | 'error';
  counters?: unknown;
  outcome?: unknown;
  error?: string;
}

export interface Agent<Result> {
  /** The last counters it printed (attacker and internet host), else undefined. */
  latest(): unknown;
  /** Settles with the final result line; rejects if the process ends without one. */
  readonly result: Promise<Result>;
  /** Asks it to stop (stdin `stop`) and waits for its result. */
  stop(): Promise<Result>;
  /** Kills it, whatever state it is in; idempotent. */
  kill(): Promise<void>;
  output(): string;
}

/** Starts `noisy-agent.ts` inside `ns` with `config` and waits until it says it is ready. */
export async function startAgent<Result>(
  ns: Netns,
  config: ProbeConfig | AttackConfig | InternetConfig,
  readyTimeout = 60_000,
): Promise<Agent<Result>> {
  assertInSandbox();
  const child: ResultPromise = execa(
    'ip',
    ['netns', 'exec', ns.name, process.execPath, agentScript, JSON.stringify(config)],
    { reject: false, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let ready = false;
  let latest: unknown;
  let settle: { resolve: (r: Result) => void; reject: (e: Error) => void } | undefined;
  const result = new Promise<Result>((resolve, reject) => {
    settle = { resolve, reject };
  });
  result.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let message: AgentMessage;
    try {
      message = JSON.parse(line) as AgentMessage;
    } catch {
      return;
    }
    if (message.type === 'ready') ready = true;
    else if (message.type === 'counters') latest = message.counters;
    else if (message.type === 'result') {
      latest = message.counters ?? latest;
      settle?.resolve((message.outcome ?? message.counters) as Result);
    } else if (message.type === 'error')
      settle?.reject(new Error(`${config.role} agent in ${ns.name}: ${message.error}`));
  });
  void child.then((exit) => {
    settle?.reject(
      new Error(
        `${config.role} agent in ${ns.name} exited ${exit.exitCode ?? exit.signal}: ${stderr}`,
      ),
    );
  });
  let killed: Promise<void> | undefined;
  const kill = () => {
    killed ??= (async () => {
      child.kill('SIGKILL');
      await child;
    })();
    return killed;
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`exited: ${stderr}`);
        // An agent that failed before it was ready says why on its result.
        await Promise.race([result, Promise.resolve()]);
        return ready;
      },
      {
        what: `the ${config.role} agent in ${ns.name} to be ready`,
        timeout: readyTimeout,
        seen: () => stderr,
      },
    );
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    latest: () => latest,
    result,
    async stop() {
      child.stdin?.write('stop\n');
      try {
        return await result;
      } finally {
        await kill();
      }
    },
    kill,
    output: () => stderr,
  };
}

export interface KindSummary {
  samples: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The first few failures, as the probe saw them. */
  firstFailures: { atMs: number; error: string }[];
}

/** Samples, failures and latency percentiles of one kind of probe (several probes pooled). */
export function summarize(outcomes: readonly ProbeOutcome[]): KindSummary {
  const latencies = outcomes.flatMap((o) => o.latencies).sort((a, b) => a - b);
  const failures = outcomes.flatMap((o) => o.failures).sort((a, b) => a.atMs - b.atMs);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    samples: latencies.length + failures.length,
    failures: failures.length,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies.at(-1) ?? Number.NaN),
    firstFailures: failures.slice(0, 5),
  };
}

export type ProbeResults = Record<ProbeKind, ProbeOutcome>;

/** Runs probe agents in every namespace at once (each with its own config) and waits for all. */
export async function runProbes(
  probes: { ns: Netns; config: ProbeConfig }[],
): Promise<ProbeResults[]> {
  // Started together, so their measured periods overlap (each warms up on its own first).
  const started = await Promise.allSettled(
    probes.map(({ ns, config }) => startAgent<ProbeResults>(ns, config)),
  );
  const agents = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    return await Promise.all(agents.map((a) => a.result));
  } finally {
    await Promise.all(agents.map((a) => a.kill()));
  }
}
