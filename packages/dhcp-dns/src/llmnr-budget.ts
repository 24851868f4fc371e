import { maskOf, parseIPv4 } from '@tapnet/internal';
import { prefixLengthOfNetmask } from './validate.js';

/** Per-network query budget: a token bucket refilled at `perSecond`, holding at most `burst`. */
export interface LlmnrRate {
  perSecond: number;
  burst: number;
}

/**
 * One token bucket per key. A hostile guest flooding LLMNR costs one Map lookup and a few
 * arithmetic operations per packet above its budget: nothing is parsed or sent for it, and
 * other networks' buckets are untouched. Pure apart from the injected clock.
 */
export class TokenBuckets {
  readonly #rate: LlmnrRate;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(rate: LlmnrRate, now: () => number = () => performance.now()) {
    this.#rate = rate;
    this.#now = now;
  }

  /** Takes one token for `key`; false when its bucket is empty (drop the packet). */
  take(key: string): boolean {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.#rate.burst, at: now };
      this.#buckets.set(key, bucket);
    }
    const refill = ((now - bucket.at) / 1000) * this.#rate.perSecond;
    bucket.tokens = Math.min(this.#rate.burst, bucket.tokens + refill);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

export interface SubnetEntry<T> {
  gateway: string;
  netmask: string;
  value: T;
}

/**
 * Finds the network a source address belongs to. The firewall admits a VM's packets only
 * with a source of its own TAP's subnet, so the source names the network (as it does for the
 * metadata service). One Map per prefix length: O(distinct lengths) per lookup. Pure.
 */
export class SubnetIndex<T> {
  readonly #byLength = new Map<number, Map<number, T>>();

  constructor(entries: readonly SubnetEntry<T>[]) {
    for (const { gateway, netmask, value } of entries) {
      const length = prefixLengthOfNetmask(netmask);
      const address = parseIPv4(gateway);
      if (length === undefined || address === undefined) {
        throw new RangeError(`Expected a gateway and netmask, got ${gateway}/${netmask}`);
      }
      let map = this.#byLength.get(length);
      if (!map) {
        map = new Map();
        this.#byLength.set(length, map);
      }
      map.set((address & maskOf(length)) >>> 0, value);
    }
  }

  find(source: string): T | undefined {
    const address = parseIPv4(source);
    if (address === undefined) return undefined;
    for (const [length, map] of this.#byLength) {
      const found = map.get((address & maskOf(length)) >>> 0);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}
