import { createInterface } from 'node:readline';
import { execa } from 'execa';

/** A long-lived child process whose stdout is read line by line (e.g. `nft monitor`). */
export interface LineProcess {
  /** Ends the process and waits for it; idempotent. `exit` is not called after this. */
  stop(): Promise<void>;
}

export interface LineHandlers {
  line(text: string): void;
  /** The process ended by itself (or never started); `reason` says how. */
  exit(reason: string): void;
}

/** Starts argv (never a shell) and reports its stdout lines and its end. */
export type Spawner = (argv: readonly string[], handlers: LineHandlers) => LineProcess;

/** The real spawner: execa with an argv array, no stdin, no buffering of the output. */
export const defaultSpawner: Spawner = (argv, handlers) => {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('spawner: empty argv');
  const child = execa(file, args, {
    reject: false,
    shell: false,
    buffer: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let stopping = false;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    // Only the tail matters for the report; a chatty process must not grow memory.
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      if (!stopping) handlers.line(text);
    });
  }
  const done = child.then((result) => {
    if (stopping) return;
    const how = result.exitCode ?? result.signal ?? 'failed to start';
    handlers.exit(
      `\`${argv.join(' ')}\` ended (${how}): ${stderr.trim() || result.shortMessage || '(no stderr)'}`,
    );
  });
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        child.kill('SIGTERM');
        await done;
      })();
      return stopped;
    },
  };
};
