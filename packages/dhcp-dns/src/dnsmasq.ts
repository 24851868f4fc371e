import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { restartDecision } from './backoff.js';
import { renderConfig } from './config.js';
import { type DnsStats, readStats } from './dns-stats.js';
import type {
  DnsmasqEvents,
  DnsmasqRecords,
  DnsmasqStartOptions,
  DnsmasqState,
  DnsmasqStatus,
  ForgetOptions,
  ForgetResult,
} from './dnsmasq-types.js';
import { DhcpDnsError, DnsmasqFailedError } from './errors.js';
import { leaseEntriesOf, withoutNetwork } from './forget.js';
import { LeaseWatcher, readLeaseFileStable } from './lease-watcher.js';
import type { Lease } from './leases.js';
import { type NormalizedOptions, normalizeOptions, normalizeRecords } from './options.js';
import { sendReleases } from './release-leases.js';
import { isExit, type Run, spawnRun, tailLines, terminate, waitUntilReady } from './run.js';
import { type ChildExit, defaultRunner, type Runner, sendDhcpOnDevice } from './runner.js';
import { stopStaleDnsmasq } from './stale.js';
import { prepareStateDir, writeFileAtomic } from './state-dir.js';

export type {
  DnsmasqEvents,
  DnsmasqRecords,
  DnsmasqStartOptions,
  DnsmasqState,
  DnsmasqStatus,
  ForgetOptions,
  ForgetResult,
  RestartEvent,
} from './dnsmasq-types.js';

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
  readonly #leases: LeaseWatcher;
  #pendingStats: Promise<DnsStats | undefined> | undefined;

  private constructor(options: NormalizedOptions, runner: Runner) {
    super();
    this.#options = options;
    this.#runner = runner;
    this.#config = renderConfig(options);
    this.configPath = options.configPath;
    this.#leases = new LeaseWatcher(
      options.stateDir,
      options.leasePath,
      () => this.#options.networks,
      {
        lease: (lease) => this.emit('lease', lease),
        expire: (lease) => this.emit('expire', lease),
        release: (lease) => this.emit('release', lease),
        error: (error) => this.#reportError(error),
      },
    );
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
      await dnsmasq.#leases.load();
      await dnsmasq.#launch();
      dnsmasq.#leases.follow();
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
    return this.#leases.leaseFor(networkName);
  }

  /** The current leases of `networkName`; as fast with 4096 networks as with one. */
  leasesOf(networkName: string): Lease[] {
    return this.#leases.leasesOf(networkName);
  }

  leases(): Lease[] {
    return this.#leases.all();
  }

  /**
   * dnsmasq's DNS counters since it last started (see dns-stats.ts), or undefined when it is
   * not serving or did not answer within `timeoutMs` (default 1000). Never rejects. Calls
   * while one is under way share its answer: one SIGUSR1 per scrape, however many ask.
   */
  dnsStats(options: { timeoutMs?: number } = {}): Promise<DnsStats | undefined> {
    const run = this.#run;
    // Only a run that answered readiness: before dnsmasq installs its handlers SIGUSR1 kills it.
    if (this.#state !== 'running' || run?.readyAt === undefined) return Promise.resolve(undefined);
    this.#pendingStats ??= readStats(run, options.timeoutMs ?? 1000).finally(() => {
      this.#pendingStats = undefined;
    });
    return this.#pendingStats;
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
        this.#leases.refresh();
        return { released: 0, restarted: false, remaining: 0 };
      }
      const send = this.#runner.sendDhcp?.bind(this.#runner) ?? sendDhcpOnDevice;
      await sendReleases(send, network, before, left);
      const remaining = await left();
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
        this.#leases.refresh();
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
      this.#leases.stop();
      await this.#queue.catch(() => {});
      const run = this.#run;
      this.#run = undefined;
      if (run) await terminate(run);
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

  async #replaceRun(whileStopped?: () => Promise<void>): Promise<void> {
    const old = this.#run;
    this.#run = undefined; // its exit is expected now
    this.#state = 'restarting';
    if (old) await terminate(old);
    await whileStopped?.();
    await this.#launch();
  }

  /** Starts dnsmasq and resolves once it serves every gateway; rejects with DnsmasqStartError. */
  async #launch(): Promise<void> {
    const o = this.#options;
    const run = spawnRun(this.#runner, o.dnsmasqPath, this.configPath);
    this.#run = run;
    try {
      await waitUntilReady(run, {
        runner: this.#runner,
        options: o,
        config: this.#config,
        superseded: () => this.#stopping !== undefined || this.#run !== run,
      });
    } catch (error) {
      if (this.#run === run) this.#run = undefined;
      throw error;
    }
    run.readyAt = Date.now();
    this.#state = 'running';
    run.child.exited.then((e) => this.#onExit(run, e));
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
        const decision = restartDecision(this.#quickFailures, lasted, o);
        this.#quickFailures = decision.quickFailures;
        const exit = isExit(cause) ? cause : undefined;
        if (decision.giveUp) {
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
        const { attempt, delayMs } = decision;
        this.#state = 'restarting';
        this.#restarts += 1;
        this.emit('restart', {
          attempt,
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
}
