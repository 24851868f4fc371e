import { execa } from 'execa';
import type { DnsResponse } from './dns-message.js';
import { queryDns } from './dns-query.js';

export interface ChildExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** Set when the process could not be started at all (e.g. `spawn dnsmasq ENOENT`). */
  failure?: string;
}

export interface ChildProcess {
  readonly pid: number | undefined;
  /** Resolves (never rejects) once the process has exited. */
  readonly exited: Promise<ChildExit>;
  kill(signal: NodeJS.Signals): void;
  /** stdout and stderr text as it arrives. */
  onOutput(listener: (text: string) => void): void;
}

/** Everything this package does to the OS besides files, injectable for tests. */
export interface Runner {
  spawn(file: string, args: readonly string[]): ChildProcess;
  queryDns(server: string, name: string, type: number, timeoutMs: number): Promise<DnsResponse>;
}

export const defaultRunner: Runner = {
  spawn(file, args) {
    const child = execa(file, args, {
      reject: false,
      buffer: false,
      stdin: 'ignore',
      // Killed with us if this process exits without stop().
      cleanup: true,
    });
    const listeners: ((text: string) => void)[] = [];
    const forward = (chunk: Buffer | string) => {
      const text = chunk.toString();
      for (const listener of listeners) listener(text);
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    const exited = child.then(
      (result) => {
        const exit: ChildExit = { exitCode: result.exitCode, signal: result.signal };
        if (result.failed && result.exitCode === undefined && !result.signal)
          exit.failure = result.shortMessage;
        return exit;
      },
      (error: unknown) => ({ exitCode: undefined, signal: undefined, failure: String(error) }),
    );
    return {
      get pid() {
        return child.pid;
      },
      exited,
      kill(signal) {
        child.kill(signal);
      },
      onOutput(listener) {
        listeners.push(listener);
      },
    };
  },
  queryDns(server, name, type, timeoutMs) {
    return queryDns(server, name, type, { timeoutMs });
  },
};
