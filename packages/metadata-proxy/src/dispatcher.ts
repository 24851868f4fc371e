import { describeValue } from '@tapnet/internal';
import { type Cidr, formatCidr, maskOf, overlaps, parseCidr, remoteIPv4 } from './address.js';
import { DuplicateNetworkError, InvalidOptionError, NetworkOverlapError } from './errors.js';

export interface DispatchEntry<T> {
  readonly name: string;
  readonly cidr: Cidr;
  value: T;
}

/**
 * A table from source address to registered network. Lookup costs one hash probe per distinct
 * prefix length in use (at most 33), whatever the number of networks: O(1) in the table size.
 * Subnets may not overlap, so an address matches at most one network.
 */
export interface Dispatcher<T> {
  /** Registers `name` for `cidr`; throws on a bad cidr, a taken name or an overlapping subnet. */
  add(name: string, cidr: string, value: T): DispatchEntry<T>;
  /** Unregisters `name`; false when it was not registered. */
  remove(name: string): boolean;
  get(name: string): DispatchEntry<T> | undefined;
  /** The network a remote address (`a.b.c.d` or `::ffff:a.b.c.d`) belongs to. */
  lookup(address: string | undefined): DispatchEntry<T> | undefined;
  /** The network an IPv4 address (unsigned 32-bit integer) belongs to. */
  lookupIPv4(address: number): DispatchEntry<T> | undefined;
  entries(): IterableIterator<DispatchEntry<T>>;
  readonly size: number;
}

interface Level<T> {
  prefix: number;
  mask: number;
  table: Map<number, DispatchEntry<T>>;
}

const NAME_PATTERN = /^[\w.:@-]{1,128}$/;

/** Validates a network name: 1–128 characters of `[A-Za-z0-9_.:@-]`. */
export function assertNetworkName(name: unknown, label = 'name'): asserts name is string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new InvalidOptionError(
      `Expected \`${label}\` to be 1 to 128 characters of letters, digits, "_.:@-", got ${describeValue(name)}`,
    );
  }
}

export function createDispatcher<T = undefined>(): Dispatcher<T> {
  const byName = new Map<string, DispatchEntry<T>>();
  // Longest prefix first; with no overlaps the order only decides how soon a hit is found.
  let levels: Level<T>[] = [];

  const lookupIPv4 = (ip: number): DispatchEntry<T> | undefined => {
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]!;
      const hit = level.table.get((ip & level.mask) >>> 0);
      if (hit !== undefined) return hit;
    }
    return undefined;
  };

  return {
    add(name, cidrText, value) {
      assertNetworkName(name);
      const cidr = parseCidr(cidrText);
      if (byName.has(name)) {
        throw new DuplicateNetworkError(
          `Expected a new network name, got \`${name}\` which is already registered`,
        );
      }
      for (const other of byName.values()) {
        if (overlaps(other.cidr, cidr)) {
          throw new NetworkOverlapError(
            `Expected \`${formatCidr(cidr)}\` (network \`${name}\`) not to overlap \`${formatCidr(other.cidr)}\` (network \`${other.name}\`)`,
          );
        }
      }
      const entry: DispatchEntry<T> = { name, cidr, value };
      let level = levels.find((l) => l.prefix === cidr.prefixLength);
      if (!level) {
        level = { prefix: cidr.prefixLength, mask: maskOf(cidr.prefixLength), table: new Map() };
        levels = [...levels, level].sort((a, b) => b.prefix - a.prefix);
      }
      level.table.set(cidr.base, entry);
      byName.set(name, entry);
      return entry;
    },
    remove(name) {
      const entry = byName.get(name);
      if (!entry) return false;
      byName.delete(name);
      const level = levels.find((l) => l.prefix === entry.cidr.prefixLength);
      level?.table.delete(entry.cidr.base);
      if (level && level.table.size === 0) levels = levels.filter((l) => l !== level);
      return true;
    },
    get: (name) => byName.get(name),
    lookup(address) {
      const ip = remoteIPv4(address);
      return ip === undefined ? undefined : lookupIPv4(ip);
    },
    lookupIPv4,
    entries: () => byName.values(),
    get size() {
      return byName.size;
    },
  };
}
