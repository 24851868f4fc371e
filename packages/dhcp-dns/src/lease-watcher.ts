// dnsmasq's leases as it writes them to its lease file: read when the file changes and when the
// next lease expires, kept by network so that a network's leases are found without going
// through every network's.
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { currentLeases, diffLeases, type Lease, parseLeaseFile } from './leases.js';
import type { NormalizedNetwork } from './options.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Gap between the two readings of the lease file that must agree. */
const LEASE_SETTLE_MS = 15;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface LeaseListener {
  lease(lease: Lease): void;
  expire(lease: Lease): void;
  release(lease: Lease): void;
  error(error: unknown): void;
}

/**
 * Follows a lease file: the current leases by network, and a call to `listener` for each lease
 * that appears (or is renewed), expires or is released. The lease file, not --dhcp-script: no
 * extra process, nothing for dnsmasq to execute.
 */
export class LeaseWatcher {
  readonly #folder: string;
  readonly #path: string;
  readonly #networks: () => readonly NormalizedNetwork[];
  readonly #listener: LeaseListener;
  #leases = new Map<string, Lease>();
  #byNetwork = new Map<string, Lease[]>();
  #watcher: FSWatcher | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  #readAgain = false;
  #stopped = false;

  constructor(
    folder: string,
    path: string,
    networks: () => readonly NormalizedNetwork[],
    listener: LeaseListener,
  ) {
    this.#folder = folder;
    this.#path = path;
    this.#networks = networks;
    this.#listener = listener;
  }

  /** Reads the file once, without events: what is current when following starts. */
  async load(): Promise<void> {
    this.#set(currentLeases(await this.#read(), new Date()));
  }

  /** Starts following the file (its folder, since dnsmasq replaces it) and reads it now. */
  follow(): void {
    try {
      this.#watcher = watch(this.#folder, { persistent: false }, (_event, file) => {
        if (file === null || file === undefined || String(file).startsWith('dnsmasq.leases'))
          this.refresh();
      });
      this.#watcher.on('error', (error) => this.#listener.error(error));
    } catch (error) {
      this.#listener.error(error);
    }
    this.refresh();
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#expiryTimer);
  }

  /** The current lease of `network` (the one expiring last if there are several). */
  leaseFor(network: string): Lease | undefined {
    let best: Lease | undefined;
    for (const lease of this.#byNetwork.get(network) ?? []) {
      if (!best || lease.expiresAt > best.expiresAt) best = lease;
    }
    return best ? { ...best } : undefined;
  }

  /** The current leases of `network`: as many steps as it has leases, whatever the others hold. */
  leasesOf(network: string): Lease[] {
    return (this.#byNetwork.get(network) ?? []).map((lease) => ({ ...lease }));
  }

  all(): Lease[] {
    return [...this.#leases.values()].map((lease) => ({ ...lease }));
  }

  /** Reads the file again (now, or right after a reading under way) and reports what changed. */
  refresh(): void {
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = (async () => {
      do {
        this.#readAgain = false;
        if (this.#stopped) break;
        try {
          const now = new Date();
          const leases = await this.#read();
          const changes = diffLeases(this.#leases, leases, now);
          this.#set(currentLeases(leases, now));
          this.#scheduleExpiry();
          for (const lease of changes.expired) this.#listener.expire({ ...lease });
          for (const lease of changes.released) this.#listener.release({ ...lease });
          for (const lease of changes.added) this.#listener.lease({ ...lease });
        } catch (error) {
          this.#listener.error(error);
        }
      } while (this.#readAgain);
      this.#reading = undefined;
    })();
  }

  #set(leases: Map<string, Lease>): void {
    this.#leases = leases;
    const byNetwork = new Map<string, Lease[]>();
    for (const lease of leases.values()) {
      const list = byNetwork.get(lease.network);
      if (list) list.push(lease);
      else byNetwork.set(lease.network, [lease]);
    }
    this.#byNetwork = byNetwork;
  }

  #read(): Promise<Lease[]> {
    return readLeaseFileStable(this.#path).then((text) => parseLeaseFile(text, this.#networks()));
  }

  #scheduleExpiry(): void {
    clearTimeout(this.#expiryTimer);
    let next = Number.POSITIVE_INFINITY;
    for (const lease of this.#leases.values()) next = Math.min(next, lease.expiresAt.getTime());
    if (!Number.isFinite(next) || this.#stopped) return;
    const delay = Math.min(Math.max(0, next - Date.now()) + 10, MAX_TIMER_MS);
    this.#expiryTimer = setTimeout(() => this.refresh(), delay);
    this.#expiryTimer.unref();
  }
}

/**
 * dnsmasq rewrites its lease file in place (truncate, then write), so a reading may catch it
 * empty or half-written. A reading counts once a second one a little later has the same text
 * and the same modification time: a rewrite in between would have changed the time (the
 * truncation alone does), and without one the second reading sees the finished file.
 */
export async function readLeaseFileStable(path: string): Promise<string> {
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
