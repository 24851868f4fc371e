import { existsSync } from 'node:fs';
import { waitFor } from '@tapnet/testing';
import { execa, type ResultPromise } from 'execa';
import { Agent, type Dispatcher, request } from 'undici';
import { bin } from '../cli-test-support.js';

/** Test helpers: a real `tapnet serve` process and a client over its socket (undici). */

export { bin };

export interface Daemon {
  child: ResultPromise;
  socket: string;
  /** Everything the daemon wrote to stderr (its log). */
  log(): string;
  call(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
  /** The daemon's log lines as JSON (it runs with --log-format json). */
  events(): { event: string; [k: string]: unknown }[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface Answer {
  status: number;
  body: unknown;
  text: string;
}

export async function startDaemon(args: string[], socket: string): Promise<Daemon> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (pnpm build)`);
  const child = execa(
    process.execPath,
    [bin, 'serve', '--socket', socket, '--log-format', 'json', ...args],
    {
      reject: false,
      stdin: 'ignore',
    },
  );
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  child.stdout?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`serve exited: ${log}`);
      return log.includes('"event":"serving"');
    },
    { what: '`tapnet serve` to listen', timeout: 90_000, seen: () => log },
  );
  const agent = new Agent({ connect: { socketPath: socket } });
  const call = async (
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await request(`http://tapnet${path}`, {
      method,
      dispatcher: agent,
      ...(body !== undefined && {
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...headers },
      }),
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, body: parsed, text };
  };
  return {
    child,
    socket,
    log: () => log,
    call,
    events: () =>
      log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event: string }),
    async stop(signal = 'SIGTERM') {
      // Destroyed, not closed: close() would wait for a request still in flight.
      await agent.destroy();
      if (child.exitCode === null) child.kill(signal);
      await child;
    },
  };
}
