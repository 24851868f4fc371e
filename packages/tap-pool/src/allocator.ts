import { AllNetworksInUseError, describeValue, InvalidOptionError } from './errors.js';

export interface AcquireOptions {
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds to wait before rejecting with AllNetworksInUseError. */
  timeout?: number;
}

interface Waiter<T> {
  resolve(item: T): void;
  reject(error: unknown): void;
}

/**
 * Hands out networks one holder at a time. A released network goes to the longest waiting
 * `acquireAsync` caller first, otherwise to the back of the free list (least recently used
 * first, which gives a lease on it time to expire).
 */
export class NetworkAllocator<T> {
  readonly #items: readonly T[];
  readonly #free: T[];
  readonly #held = new Set<T>();
  readonly #waiters: Waiter<T>[] = [];

  constructor(items: readonly T[]) {
    if (!Array.isArray(items))
      throw new InvalidOptionError(
        `Expected \`items\` to be an array, got ${describeValue(items)}`,
      );
    if (new Set(items).size !== items.length) {
      throw new InvalidOptionError('Expected `items` to be distinct, got the same item twice');
    }
    this.#items = Object.freeze([...items]);
    this.#free = [...items];
  }

  /** Every item, held or not. */
  get items(): readonly T[] {
    return this.#items;
  }

  get available(): number {
    return this.#free.length;
  }

  get inUse(): number {
    return this.#held.size;
  }

  /** How many `acquireAsync` calls are waiting. */
  get waiting(): number {
    return this.#waiters.length;
  }

  isHeld(item: T): boolean {
    return this.#held.has(item);
  }

  /** A free network, now held; throws AllNetworksInUseError when none is free. */
  acquire(): T {
    if (this.#free.length === 0) {
      throw new AllNetworksInUseError(
        `Expected a free network, got all ${this.#items.length} in use`,
      );
    }
    const item = this.#free.shift() as T;
    this.#held.add(item);
    return item;
  }

  /** Returns a held network; false (and nothing changes) when it is not held. Idempotent. */
  release(item: T): boolean {
    if (!this.#held.has(item)) return false;
    const waiter = this.#waiters.shift();
    if (waiter) {
      // Straight to the next holder: it never shows as free, so acquire() cannot take it first.
      waiter.resolve(item);
    } else {
      this.#held.delete(item);
      this.#free.push(item);
    }
    return true;
  }

  /** A free network now, or the next one released (FIFO among waiters). */
  acquireAsync(options: AcquireOptions = {}): Promise<T> {
    const opts: AcquireOptions = Object.assign(Object.create(null), options);
    const { signal, timeout } = opts;
    if (
      timeout !== undefined &&
      (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout))
    ) {
      return Promise.reject(
        new InvalidOptionError(
          `Expected \`timeout\` to be a finite number of milliseconds >= 0, got ${describeValue(timeout)}`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#free.length > 0) return Promise.resolve(this.acquire());
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
      };
      const waiter: Waiter<T> = {
        resolve: (item) => {
          settle();
          resolve(item);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const onAbort = () => waiter.reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeout !== undefined) {
        timer = setTimeout(
          () =>
            waiter.reject(
              new AllNetworksInUseError(
                `Expected a network to be released within ${timeout} ms, got none`,
              ),
            ),
          timeout,
        );
      }
      this.#waiters.push(waiter);
    });
  }

  /** Same as acquireAsync: waits for a release when nothing is free. */
  waitForRelease(options: AcquireOptions = {}): Promise<T> {
    return this.acquireAsync(options);
  }
}
