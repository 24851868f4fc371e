import type { Backend } from './detect.js';
import { FirewallWatchError } from './errors.js';
import type { LineProcess, Spawner } from './monitor.js';

/** Reported after our rules were found changed by someone else and applied again. */
export interface DriftEvent {
  backend: Backend;
  /** The first difference found between the kernel's rules and the policy. */
  reason: string;
  /** When the re-apply completed. */
  reappliedAt: Date;
}

export interface WatchOptions {
  /** Called after each re-apply. */
  onDrift?: (event: DriftEvent) => void;
  /** A failed check or re-apply (retried after `interval`), or the event stream ending (restarted). */
  onError?: (error: Error) => void;
  /**
   * Milliseconds. iptables: the period of the check (it has no event stream). Both backends:
   * the delay before a failed re-apply or a dead `nft monitor` is retried. Default 1000.
   */
  interval?: number;
}

export interface FirewallWatch {
  /** Re-applies done so far. */
  readonly reapplied: number;
  /** Stops watching and waits for a check or re-apply in flight; no re-apply starts after. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** What a watch needs from its firewall. */
export interface WatchTarget {
  backend: Backend;
  /**
   * Compares our rules with the policy and re-applies when they differ, in the firewall's
   * queue; does nothing once `stopped()` is true. Resolves with the difference it repaired.
   */
  repair(stopped: () => boolean): Promise<string | undefined>;
  /** An event stream telling when to check (nft); without it the watch polls every interval. */
  monitor?: { argv: readonly string[]; concerns(line: string): boolean; spawn: Spawner };
  /** Resolves once the firewall's queue has drained. */
  settled(): Promise<void>;
}

/** A burst of events (a flush is one event per object) becomes one check. */
const SETTLE_MS = 20;
/** With an event stream, a slow check anyway, in case events were lost (e.g. while it started). */
const BACKSTOP_MS = 10_000;
/**
 * A check's cost grows with the ruleset (iptables: the interface tries, ~10 rules per
 * network); the next periodic check waits at least this many times as long as the last one
 * took, so a large pool on a loaded host spends at most a fifth of a core on checking.
 */
const COST_FACTOR = 4;

export function startWatch(
  target: WatchTarget,
  options: { onDrift?: (e: DriftEvent) => void; onError?: (e: Error) => void; interval: number },
): FirewallWatch {
  let closed = false;
  let reapplied = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  let restartTimer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let rerun = false;
  let monitor: LineProcess | undefined;
  const stopped = () => closed;
  const report = (error: unknown) => {
    if (!closed) options.onError?.(error instanceof Error ? error : new Error(String(error)));
  };

  /** Runs a check after `delay` ms, unless one is due sooner; a check in flight runs again after. */
  function schedule(delay: number): void {
    if (closed) return;
    if (running) {
      rerun = true;
      return;
    }
    const at = Date.now() + delay;
    if (timer !== undefined && timerAt <= at) return;
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Number.POSITIVE_INFINITY;
      running = (async () => {
        const started = Date.now();
        const failed = await check();
        const took = Date.now() - started;
        running = undefined;
        if (rerun) schedule(SETTLE_MS);
        rerun = false;
        const period = failed || !target.monitor ? options.interval : BACKSTOP_MS;
        schedule(Math.max(period, COST_FACTOR * took));
      })();
    }, delay);
  }

  /** One check (and re-apply when needed); resolves true when it failed. */
  async function check(): Promise<boolean> {
    try {
      const reason = await target.repair(stopped);
      if (reason !== undefined) {
        reapplied += 1;
        if (!closed)
          options.onDrift?.({ backend: target.backend, reason, reappliedAt: new Date() });
      }
      return false;
    } catch (error) {
      report(error);
      return true;
    }
  }

  function startMonitor(): void {
    const m = target.monitor;
    if (closed || !m) return;
    const restart = () => {
      // Events were missed while it was down: check as soon as it is back.
      restartTimer = setTimeout(() => {
        startMonitor();
        schedule(0);
      }, options.interval);
    };
    try {
      monitor = m.spawn(m.argv, {
        line: (text) => {
          if (m.concerns(text)) schedule(SETTLE_MS);
        },
        exit: (reason) => {
          monitor = undefined;
          report(new FirewallWatchError(`The ${target.backend} event stream ended: ${reason}`));
          if (!closed) restart();
        },
      });
    } catch (error) {
      report(new FirewallWatchError(`Could not start \`${m.argv.join(' ')}\``, { cause: error }));
      restart();
    }
  }

  startMonitor();
  // What happened before the stream was listening is found by a first check.
  schedule(0);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      closed = true;
      clearTimeout(timer);
      clearTimeout(restartTimer);
      await monitor?.stop();
      await running;
      await target.settled();
    })();
    return closing;
  };
  return {
    get reapplied() {
      return reapplied;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
