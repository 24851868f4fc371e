import { createRunner } from '@tapnet/internal';
import { execa } from 'execa';
import { ConntrackError } from './errors.js';

const run = createRunner(execa);

/**
 * Deletes the connection-tracking entries of flows a network's VM started (source in its
 * subnet). A released network's next VM gets the same address (the MAC is the network's), so an
 * old flow left in the table would let the previous tenant's peers keep sending it packets
 * through the firewall's `established` rule.
 */
async function flushConntrack(conntrack: string, network: string, netmask: string): Promise<void> {
  const argv = [conntrack, '-D', '-s', network, '--mask-src', netmask];
  // The runner never rejects on an exit code; a binary that cannot start is exit 127.
  const { exitCode, stderr } = await run(argv);
  // Exit 1 with "0 flow entries have been deleted" just means there were none.
  if (exitCode === 0 || /\b0 flow entries have been deleted/.test(stderr)) return;
  throw new ConntrackError(argv, exitCode, stderr);
}

/**
 * Flushes released networks one at a time, each at most once per pass however often it was
 * released meanwhile: a burst of releases costs one process per network, not one per release.
 */
export class ConntrackFlusher {
  readonly #binary: string;
  readonly #onError: (error: Error) => void;
  readonly #dirty = new Map<string, string>();
  #running: Promise<void> | undefined;

  constructor(binary: string, onError: (error: Error) => void) {
    this.#binary = binary;
    this.#onError = onError;
  }

  flush(network: string, netmask: string): void {
    this.#dirty.set(network, netmask);
    this.#running ??= this.#drain();
  }

  /** Resolves once every flush asked for so far is done. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      for (
        let next = this.#dirty.entries().next();
        !next.done;
        next = this.#dirty.entries().next()
      ) {
        const [network, netmask] = next.value;
        this.#dirty.delete(network);
        try {
          await flushConntrack(this.#binary, network, netmask);
        } catch (error) {
          this.#onError(error as Error);
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}
