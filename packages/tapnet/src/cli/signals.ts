import { constants } from 'node:os';

/** The signals a foreground command disposes on: Ctrl-C, a service stop, a closed terminal. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface StopTrap {
  /** Resolves with the first stop signal. */
  readonly stopped: Promise<NodeJS.Signals>;
  /** The first stop signal, once one arrived. */
  readonly signal: NodeJS.Signals | undefined;
  /** Removes the handlers: call it last, once everything is disposed. */
  release(): void;
}

const ignore = () => {};

/**
 * Traps the stop signals for a whole command, from before it creates anything until it has
 * disposed everything (`release()`), so none of them kills the process half-way:
 * - the handlers stay installed after the first signal: a second Ctrl-C, or the SIGHUP and
 *   SIGTERM a closing session sends after it, is ignored while disposing. (Removing them at the
 *   first signal was not enough: execa's signal-exit handler, added later, re-raises a signal
 *   when it finds itself the only listener, and the default action then killed the process.)
 * - after a stop signal, failed writes to stdout/stderr (a terminal that hung up: EIO, EPIPE)
 *   are ignored, so logging "disposing…" cannot crash the disposal it announces.
 */
export function trapStopSignals(): StopTrap {
  let signal: NodeJS.Signals | undefined;
  let resolveStopped: (signal: NodeJS.Signals) => void = ignore;
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    resolveStopped = resolve;
  });
  const on = (received: NodeJS.Signals) => {
    if (signal !== undefined) return;
    signal = received;
    process.stdout.on('error', ignore);
    process.stderr.on('error', ignore);
    resolveStopped(received);
  };
  for (const s of STOP_SIGNALS) process.on(s, on);
  return {
    stopped,
    get signal() {
      return signal;
    },
    release() {
      for (const s of STOP_SIGNALS) process.off(s, on);
    },
  };
}

/** The shell's exit status for a child killed by `signal`: 128 + its number. */
export function signalExitCode(signal: string): number {
  const number = (constants.signals as Record<string, number>)[signal];
  return 128 + (number ?? 0);
}
