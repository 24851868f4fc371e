import { createDispatcher } from './dispatcher.js';
import { InvalidOptionError } from './errors.js';

/**
 * The registered networks, by name and by source address. A server dispatching by source
 * subnet uses the dispatcher; a single-network server (`singleNetwork`, e.g. behind a unix
 * socket where there is no source address) is the same table with one entry that every
 * connection belongs to, so the server itself has no single-network branches.
 */
export interface NetworkTable<T> {
  /** Registers a network; a bad cidr, a taken name or an overlap throws, nothing changed. */
  add(name: string, cidr: string, value: T): void;
  /** Unregisters a network and returns it; undefined when there is none to remove. */
  remove(name: string): T | undefined;
  get(name: unknown): T | undefined;
  /** The network a connection from `address` belongs to. */
  lookup(address: string): T | undefined;
  values(): Iterable<T>;
  readonly size: number;
}

/** Networks told apart by source subnet (lookup O(1) in the number of networks). */
export function subnetTable<T>(): NetworkTable<T> {
  const dispatcher = createDispatcher<T>();
  return {
    add: (name, cidr, value) => {
      dispatcher.add(name, cidr, value);
    },
    remove(name) {
      const entry = dispatcher.get(name);
      if (entry) dispatcher.remove(name);
      return entry?.value;
    },
    get: (name) => (typeof name === 'string' ? dispatcher.get(name)?.value : undefined),
    lookup: (address) => dispatcher.lookup(address)?.value,
    *values() {
      for (const entry of dispatcher.entries()) yield entry.value;
    },
    get size() {
      return dispatcher.size;
    },
  };
}

/** One network that every connection belongs to; it cannot be added to or removed. */
export function singleTable<T>(name: string, value: T): NetworkTable<T> {
  return {
    add(other) {
      throw new InvalidOptionError(
        `Expected no \`addNetwork\` on a server with \`singleNetwork\` (\`${name}\`), got \`${String(other)}\``,
      );
    },
    remove: () => undefined,
    get: (other) => (other === name ? value : undefined),
    lookup: () => value,
    values: () => [value],
    size: 1,
  };
}
