import { randomBytes } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { type RunResult, run, runOk } from './run.js';
import { assertInSandbox } from './sandbox.js';

export interface Netns {
  readonly name: string;
  /** Runs argv inside the namespace; resolves whatever the exit code. */
  run(argv: readonly string[], options?: { input?: string; timeout?: number }): Promise<RunResult>;
  /** Runs argv inside the namespace; rejects on a non-zero exit. */
  runOk(argv: readonly string[], options?: { input?: string; timeout?: number }): Promise<string>;
  /** Starts a long-running process inside the namespace; it is killed on delete(). */
  spawn(argv: readonly string[]): ResultPromise;
  /** Kills what runs inside and deletes the namespace; idempotent. */
  delete(): Promise<void>;
}

/**
 * Creates a named network namespace (a "test host") beside the sandbox the test runs in, with
 * its loopback up. Only inside a sandbox: a test never makes or deletes anything in the root
 * namespace.
 */
export async function createNetns(prefix = 'tt'): Promise<Netns> {
  assertInSandbox();
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await runOk(['ip', 'netns', 'add', name]);
  const children = new Set<ResultPromise>();
  let deleted = false;
  const ns: Netns = {
    name,
    run: (argv, options) => run(['ip', 'netns', 'exec', name, ...argv], options),
    runOk: (argv, options) => runOk(['ip', 'netns', 'exec', name, ...argv], options),
    spawn(argv) {
      const child = execa('ip', ['netns', 'exec', name, ...argv], {
        reject: false,
        buffer: true,
        all: true,
      });
      children.add(child);
      return child;
    },
    async delete() {
      if (deleted) return;
      deleted = true;
      for (const child of children) child.kill('SIGKILL');
      await Promise.allSettled(children);
      // Anything else started in it (daemons that forked) goes too, by pid.
      const pids = await run(['ip', 'netns', 'pids', name]);
      for (const pid of pids.stdout.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      // The kernel dismantles a deleted namespace asynchronously, so a veth whose other end
      // is in it would outlive `ip netns del` for a while: delete its links first, which takes
      // both ends of a veth at once.
      const links = await run(['ip', '-n', name, '-o', 'link', 'show']);
      const names = links.stdout
        .split('\n')
        .map((line) => /^\d+: ([^:@\s]+)/.exec(line)?.[1])
        .filter((link): link is string => link !== undefined && link !== 'lo');
      if (names.length > 0) {
        await run(['ip', '-n', name, '-force', '-batch', '-'], {
          input: names.map((l) => `link del dev ${l}\n`).join(''),
        });
      }
      await run(['ip', 'netns', 'del', name]);
    },
  };
  await ns.runOk(['ip', 'link', 'set', 'lo', 'up']);
  return ns;
}

/** Runs `body` with fresh namespaces and deletes them afterwards, whether it passed or not. */
export async function withNetns<T>(
  count: number,
  body: (...namespaces: Netns[]) => Promise<T>,
): Promise<T> {
  const made: Netns[] = [];
  try {
    for (let i = 0; i < count; i++) made.push(await createNetns());
    return await body(...made);
  } finally {
    for (const ns of made.reverse()) await ns.delete();
  }
}
