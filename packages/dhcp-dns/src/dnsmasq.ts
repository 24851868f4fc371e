import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, type FSWatcher, watch } from 'node:fs';
import { readFile, rm, rmdir, stat } from 'node:fs/promises';
import { renderConfig } from './config.js';
import { DhcpDnsError, DnsmasqFailedError, DnsmasqStartError, listSome } from './errors.js';
import { leaseEntriesOf, releaseMessage, withoutNetwork } from './forget.js';
import { currentLeases, diffLeases, type Lease, parseLeaseFile } from './leases.js';
import {
  type DnsmasqOptions,
  type HostRecord,
  type NormalizedOptions,
  normalizeOptions,
  normalizeRecords,
  type SrvRecord,
} from './options.js';
import { expectationOf, PROBE_GAP_MS, probeRound } from './readiness.js';
import {
  type ChildExit,
  type ChildProcess,
  defaultRunner,
  type Runner,
  sendDhcpOnDevice,
} from './runner.js';
import { stopStaleDnsmasq } from './stale.js';
import { prepareStateDir, writeFileAtomic } from './state-dir.js';

export type DnsmasqState = 'running' | 'restarting' | 'failed' | 'stopped';

export interface DnsmasqStatus {
  state: DnsmasqState;
  pid?: number;
  restarts: number;
  lastError?: DhcpDnsError;
}

export interface RestartEvent {
  /** Consecutive restart attempt, from 1; resets after a run longer than the quick-failure window. */
  attempt: number;
  delayMs: number;
  exitCode: number | undefined;
  signal: string | undefined;
  /** The last lines dnsmasq wrote before it died. */
  stderr: string;
}

export interface DnsmasqRecords {
  metadataNames?: readonly string[];
  hostRecords?: readonly HostRecord[];
  srvRecords?: readonly SrvRecord[];
}

export interface DnsmasqEvents {
  lease: [Lease];
  expire: [Lease];
  release: [Lease];
  restart: [RestartEvent];
  failed: [DnsmasqFailedError];
  error: [Error];
}

export type DnsmasqStartOptions = DnsmasqOptions & { runner?: Runner };

export interface ForgetResult {
  /** Leases dnsmasq dropped on a DHCPRELEASE. */
  released: number;
  /** Whether dnsmasq had to be restarted on a filtered lease file (the fallback). */
  restarted: boolean;
  /** Leases of the network still held (only with `restart: false`). */
  remaining: number;
}

export interface ForgetOptions {
  /**
   * Restart dnsmasq on a filtered lease file when DHCPRELEASEs leave leases behind (default
   * true). With false, those leases stay until they expire.
   */
  restart?: boolean;
}

/** DHCPRELEASEs sent before checking that dnsmasq took them (its socket buffer holds ~100). */
const RELEASE_BATCH = 32;
/** How long a batch may take to show in the lease file before the fallback is used. */
const RELEASE_WAIT_MS = 1000;

const STOP_GRACE_MS = 5000;
const OUTPUT_LIMIT = 64 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Gap between the two readings of the lease file that must agree. */
const LEASE_SETTLE_MS = 15;

interface Run {
  child: ChildProcess;
  output: string;
  argv: readonly string[];
  readyAt?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One supervised dnsmasq serving DHCP and DNS on every network: started in the foreground as
 * our child, restarted with backoff when it dies, leases followed through its lease file.
 */
export class Dnsmasq extends EventEmitter<DnsmasqEvents> implements AsyncDisposable {
  readonly configPath: string;
  #options: NormalizedOptions;
  readonly #runner: Runner;
  #config: string;
  #run: Run | undefined;
  #state: DnsmasqState = 'restarting';
  #restarts = 0;
  #quickFailures = 0;
  #lastError: DhcpDnsError | undefined;
  #stopping: Promise<void> | undefined;
  /** Whether start() made the state folder: then stop() removes it (when nothing else is in it). */
  #madeFolder = false;
  #wake: (() => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #leases = new Map<string, Lease>();
  #watcher: FSWatcher | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  #readAgain = false;

  private constructor(options: NormalizedOptions, runner: Runner) {
    super();
    this.#options = options;
    this.#runner = runner;
    this.#config = renderConfig(options);
    this.configPath = options.configPath;
  }

  /** Validates, stops a stale dnsmasq of the same state folder, starts dnsmasq and waits until it answers DNS on every gateway. */
  static async start(options: DnsmasqStartOptions): Promise<Dnsmasq> {
    const normalized = normalizeOptions(options);
    const runner = options.runner ?? defaultRunner;
    const dnsmasq = new Dnsmasq(normalized, runner);
    dnsmasq.#madeFolder = !existsSync(normalized.stateDir);
    prepareStateDir(normalized.stateDir, normalized.leasePath);
    await stopStaleDnsmasq(normalized.stateDir);
    // A lease file an earlier dnsmasq left here (a crashed pool, an earlier one with this folder)
    // names VMs that are gone: never read as this instance's leases, it starts empty.
    await writeFileAtomic(normalized.leasePath, '', { mode: 0o644 });
    await writeFileAtomic(normalized.configPath, dnsmasq.#config);
    try {
      dnsmasq.#leases = currentLeases(await dnsmasq.#readLeaseFile(), new Date());
      await dnsmasq.#launch();
      dnsmasq.#watchLeases();
    } catch (error) {
      await dnsmasq.stop();
      throw error;
    }
    return dnsmasq;
  }

  get pid(): number | undefined {
    return this.#state === 'running' ? this.#run?.child.pid : undefined;
  }

  status(): DnsmasqStatus {
    const status: DnsmasqStatus = { state: this.#state, restarts: this.#restarts };
    if (this.pid !== undefined) status.pid = this.pid;
    if (this.#lastError) status.lastError = this.#lastError;
    return status;
  }

  /** The current lease of `networkName` (the one expiring last if there are several). */
  leaseFor(networkName: string): Lease | undefined {
    let best: Lease | undefined;
    for (const lease of this.#leases.values()) {
      if (lease.network === networkName && (!best || lease.expiresAt > best.expiresAt))
        best = lease;
    }
    return best ? { ...best } : undefined;
  }

  leases(): Lease[] {
    return [...this.#leases.values()].map((lease) => ({ ...lease }));
  }

  /**
   * Replaces the metadata names, host records and/or SRV records given (others stay as they
   * are). dnsmasq re-reads none of these
   * on SIGHUP, so it is restarted on the same lease file: leases survive, DNS pauses briefly.
   * Invalid records throw InvalidConfigError and change nothing.
   */
  async reload(records: DnsmasqRecords): Promise<void> {
    const normalized = normalizeRecords(records);
    const changed: { -readonly [K in keyof typeof normalized]?: (typeof normalized)[K] } = {};
    if (records.metadataNames !== undefined) changed.metadataNames = normalized.metadataNames;
    if (records.hostRecords !== undefined) changed.hostRecords = normalized.hostRecords;
    if (records.srvRecords !== undefined) changed.srvRecords = normalized.srvRecords;
    await this.#serialize(async () => {
      if (this.#stopping || this.#state === 'stopped') {
        throw new DhcpDnsError(
          'ERR_STOPPED',
          'Expected a running dnsmasq to reload, got a stopped one',
        );
      }
      const previous = { options: this.#options, config: this.#config };
      this.#options = Object.freeze({ ...this.#options, ...changed });
      this.#config = renderConfig(this.#options);
      await writeFileAtomic(this.configPath, this.#config);
      if (this.#state !== 'running') return; // the pending restart (or the next start) reads the new file
      try {
        await this.#replaceRun();
      } catch (error) {
        // Back to the records that worked, so the pool keeps its DNS.
        this.#options = previous.options;
        this.#config = previous.config;
        await writeFileAtomic(this.configPath, this.#config);
        if (!this.#stopping) {
          try {
            await this.#launch();
          } catch (again) {
            this.#supervise(undefined, again);
          }
        }
        throw error;
      }
    });
  }

  /**
   * Removes every lease of `networkName` from dnsmasq (its memory and its lease file), so the
   * network's next VM finds the whole range free. Each lease gets the DHCPRELEASE its client
   * could have sent, handed to dnsmasq as if it came in on the network's device (no process,
   * other networks untouched); the lease file shows when dnsmasq has dropped them. Leases it
   * did not drop (the host's firewall blocks the loop-back, say) are removed by the fallback:
   * one restart of dnsmasq on the lease file without that network's lines (unless
   * `restart: false`). A dnsmasq that gave up restarting just gets the filtered file.
   */
  async forgetLeases(networkName: string, options: ForgetOptions = {}): Promise<ForgetResult> {
    const network = this.#options.networks.find((n) => n.name === networkName);
    if (!network) {
      throw new DhcpDnsError(
        'ERR_UNKNOWN_NETWORK',
        `Expected the name of one of the networks, got ${JSON.stringify(networkName)}`,
      );
    }
    return this.#serialize(async () => {
      if (this.#stopping || this.#state === 'stopped') {
        throw new DhcpDnsError(
          'ERR_STOPPED',
          'Expected a running dnsmasq to forget leases, got a stopped one',
        );
      }
      const leasePath = this.#options.leasePath;
      const left = async () => leaseEntriesOf(await readLeaseFileStable(leasePath), network);
      const before = await left();
      if (before.length === 0) return { released: 0, restarted: false, remaining: 0 };
      if (this.#state !== 'running') {
        // dnsmasq is not running (it gave up): the next start reads the file.
        const text = await readLeaseFileStable(leasePath);
        await writeFileAtomic(leasePath, withoutNetwork(text, network));
        this.#refreshLeases();
        return { released: 0, restarted: false, remaining: 0 };
      }
      const send = this.#runner.sendDhcp?.bind(this.#runner) ?? sendDhcpOnDevice;
      let remaining = before;
      for (let i = 0; i < before.length; i += RELEASE_BATCH) {
        const batch = before.slice(i, i + RELEASE_BATCH);
        await send(
          network.gateway,
          batch.map((entry) => releaseMessage(entry, network, randomInt(2 ** 32))),
        ).catch(() => {}); // judged by the lease file below
        const ips = new Set(batch.map((e) => e.ip));
        const deadline = Date.now() + RELEASE_WAIT_MS;
        for (;;) {
          remaining = await left();
          const pending = remaining.filter((e) => ips.has(e.ip)).length;
          if (pending === 0 || Date.now() >= deadline) break;
          await sleep(10);
        }
        // Not one of the batch taken: releases do not reach dnsmasq here, stop sending.
        if (remaining.filter((e) => ips.has(e.ip)).length === batch.length) break;
      }
      remaining = await left();
      const released = before.length - remaining.length;
      if (remaining.length === 0 || options.restart === false)
        return { released, restarted: false, remaining: remaining.length };
      try {
        await this.#replaceRun(async () => {
          const text = await readLeaseFileStable(leasePath);
          await writeFileAtomic(leasePath, withoutNetwork(text, network));
        });
      } catch (error) {
        // The supervisor keeps trying (with backoff), as after a crash.
        if (!this.#stopping) this.#supervise(undefined, error);
        throw error;
      } finally {
        this.#refreshLeases();
      }
      return { released, restarted: true, remaining: 0 };
    });
  }

  /**
   * SIGTERM, SIGKILL after a deadline; stops following leases; removes the files start() wrote
   * (and the state folder, when start() made it). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#wake?.();
      this.#watcher?.close();
      this.#watcher = undefined;
      clearTimeout(this.#expiryTimer);
      await this.#queue.catch(() => {});
      const run = this.#run;
      this.#run = undefined;
      if (run) await this.#terminate(run);
      // What start() wrote goes with it: pid file, config, lease file, and the folder if start()
      // made it and nothing else is in it.
      for (const path of [this.#options.pidPath, this.configPath, this.#options.leasePath]) {
        await rm(path, { force: true });
      }
      if (this.#madeFolder) await rmdir(this.#options.stateDir).catch(() => {});
      this.#state = 'stopped';
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => {});
    return result;
  }

  async #terminate(run: Run): Promise<ChildExit> {
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

  async #replaceRun(whileStopped?: () => Promise<void>): Promise<void> {
    const old = this.#run;
    this.#run = undefined; // its exit is expected now
    this.#state = 'restarting';
    if (old) await this.#terminate(old);
    await whileStopped?.();
    await this.#launch();
  }

  /** Starts dnsmasq and resolves once every gateway answers; rejects with DnsmasqStartError. */
  async #launch(): Promise<void> {
    const o = this.#options;
    const argv = ['--keep-in-foreground', '--log-facility=-', `--conf-file=${this.configPath}`];
    const child = this.#runner.spawn(o.dnsmasqPath, argv);
    const run: Run = { child, output: '', argv: [o.dnsmasqPath, ...argv] };
    child.onOutput((text) => {
      run.output = (run.output + text).slice(-OUTPUT_LIMIT);
    });
    this.#run = run;
    let exit: ChildExit | undefined;
    const exited = child.exited.then((e) => {
      exit = e;
    });
    const deadline = Date.now() + o.readyTimeoutMs;
    const gateways = o.networks.map((n) => n.gateway);
    const pending = new Set(gateways);
    const expected = expectationOf(o.metadataNames, o.metadataIp);
    const config = this.#config;
    const details = () => ({
      argv: run.argv,
      exitCode: exit?.exitCode,
      signal: exit?.signal,
      stderr: exit?.failure ? `${run.output}${exit.failure}` : run.output,
      config,
    });
    const giveUp = async (message: string, signal: NodeJS.Signals): Promise<never> => {
      if (!exit) {
        child.kill(signal);
        if (signal === 'SIGKILL') await child.exited;
        else await this.#terminate(run);
      }
      if (this.#run === run) this.#run = undefined;
      throw new DnsmasqStartError(message, details());
    };
    const progress = { answered: false, round: 0 };
    for (;;) {
      if (exit)
        return giveUp(
          `dnsmasq exited (${exit.failure ?? describeExit(exit)}) before it was ready`,
          'SIGKILL',
        );
      if (this.#stopping || this.#run !== run)
        return giveUp('dnsmasq was stopped before it was ready', 'SIGTERM');
      if (pending.size === 0) break;
      if (Date.now() >= deadline) {
        return giveUp(
          `dnsmasq did not answer DNS on ${listSome([...pending])} within ${o.readyTimeoutMs} ms`,
          'SIGKILL',
        );
      }
      await Promise.race([
        probeRound(this.#runner, child.pid, pending, progress, expected),
        exited,
      ]);
      if (pending.size > 0 && !exit) await Promise.race([sleep(PROBE_GAP_MS), exited]);
    }
    run.readyAt = Date.now();
    this.#state = 'running';
    child.exited.then((e) => this.#onExit(run, e));
  }

  #onExit(run: Run, exit: ChildExit): void {
    if (this.#run !== run || this.#stopping) return; // stopped or replaced on purpose
    this.#run = undefined;
    this.#supervise(run, exit);
  }

  /** Restarts with exponential backoff until a run lasts, or gives up after too many quick failures. */
  #supervise(failed: Run | undefined, reason: unknown): void {
    this.#serialize(async () => {
      let run = failed;
      let cause = reason;
      for (;;) {
        if (this.#stopping) return;
        const o = this.#options.restart;
        const lasted =
          run?.readyAt !== undefined && Date.now() - run.readyAt >= o.quickFailureWindowMs;
        this.#quickFailures = lasted ? 0 : this.#quickFailures + 1;
        const exit = isExit(cause) ? cause : undefined;
        if (this.#quickFailures >= o.maxQuickFailures) {
          const error = new DnsmasqFailedError(
            `dnsmasq failed ${this.#quickFailures} times in a row within ${o.quickFailureWindowMs} ms of starting; gave up restarting it`,
            this.#restarts,
            cause instanceof Error
              ? cause
              : { exitCode: exit?.exitCode, signal: exit?.signal, stderr: run?.output ?? '' },
          );
          this.#state = 'failed';
          this.#lastError = error;
          this.emit('failed', error);
          return;
        }
        const attempt = this.#quickFailures + (lasted ? 1 : 0);
        const delayMs = Math.min(o.initialDelayMs * 2 ** Math.max(0, attempt - 1), o.maxDelayMs);
        this.#state = 'restarting';
        this.#restarts += 1;
        this.emit('restart', {
          attempt: Math.max(1, attempt),
          delayMs,
          exitCode: exit?.exitCode,
          signal: exit?.signal,
          stderr: tailLines(run?.output ?? (cause instanceof Error ? cause.message : '')),
        });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
        if (this.#stopping) return;
        try {
          await this.#launch();
          this.#lastError = undefined;
          return;
        } catch (error) {
          if (this.#stopping) return;
          this.#lastError = error as DhcpDnsError;
          run = undefined;
          cause = error;
        }
      }
    }).catch((error: unknown) => this.#reportError(error));
  }

  #reportError(error: unknown): void {
    // An 'error' event without a listener would crash the process: report only to listeners.
    if (this.listenerCount('error') > 0)
      this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  #readLeaseFile(): Promise<Lease[]> {
    return readLeaseFileStable(this.#options.leasePath).then((text) =>
      parseLeaseFile(text, this.#options.networks),
    );
  }

  // The lease file, not --dhcp-script: no extra process, nothing for dnsmasq to execute.
  #watchLeases(): void {
    try {
      this.#watcher = watch(this.#options.stateDir, { persistent: false }, (_event, file) => {
        if (file === null || file === undefined || String(file).startsWith('dnsmasq.leases'))
          this.#refreshLeases();
      });
      this.#watcher.on('error', (error) => this.#reportError(error));
    } catch (error) {
      this.#reportError(error);
    }
    this.#refreshLeases();
  }

  #refreshLeases(): void {
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = (async () => {
      do {
        this.#readAgain = false;
        if (this.#stopping) break;
        try {
          const now = new Date();
          const leases = await this.#readLeaseFile();
          const changes = diffLeases(this.#leases, leases, now);
          this.#leases = currentLeases(leases, now);
          this.#scheduleExpiry();
          for (const lease of changes.expired) this.emit('expire', { ...lease });
          for (const lease of changes.released) this.emit('release', { ...lease });
          for (const lease of changes.added) this.emit('lease', { ...lease });
        } catch (error) {
          this.#reportError(error);
        }
      } while (this.#readAgain);
      this.#reading = undefined;
    })();
  }

  #scheduleExpiry(): void {
    clearTimeout(this.#expiryTimer);
    let next = Number.POSITIVE_INFINITY;
    for (const lease of this.#leases.values()) next = Math.min(next, lease.expiresAt.getTime());
    if (!Number.isFinite(next) || this.#stopping) return;
    const delay = Math.min(Math.max(0, next - Date.now()) + 10, MAX_TIMER_MS);
    this.#expiryTimer = setTimeout(() => this.#refreshLeases(), delay);
    this.#expiryTimer.unref();
  }
}

/**
 * dnsmasq rewrites its lease file in place (truncate, then write), so a reading may catch it
 * empty or half-written. A reading counts once a second one a little later has the same text
 * and the same modification time: a rewrite in between would have changed the time (the
 * truncation alone does), and without one the second reading sees the finished file.
 */
async function readLeaseFileStable(path: string): Promise<string> {
  const read = async (): Promise<{ text: string; mtime: bigint }> => {
    try {
      const before = await stat(path, { bigint: true });
      const text = await readFile(path, 'utf8');
      const after = await stat(path, { bigint: true });
      // Changed while reading: a mismatch forces another round.
      return { text, mtime: before.mtimeNs === after.mtimeNs ? after.mtimeNs : -1n };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', mtime: 0n };
      throw error;
    }
  };
  let previous = await read();
  for (let i = 0; i < 100; i++) {
    await sleep(LEASE_SETTLE_MS);
    const current = await read();
    if (current.mtime >= 0n && current.mtime === previous.mtime && current.text === previous.text)
      return current.text;
    previous = current;
  }
  return previous.text;
}

function isExit(value: unknown): value is ChildExit {
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

function tailLines(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
