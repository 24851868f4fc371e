import { describeValue } from '@tapnet/internal';
import { AllNetworksInUseError, InvalidOptionError } from './errors.js';

export interface AcquireOptions {
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds to wait before rejecting with AllNetworksInUseError. */
  timeout?: number;
}

/**
 * One holder's hold on an item, from `acquire()` until it is released. Releasing is keyed by the
 * holding, not the item: once the item went to a next holder, a late second release by the
 * previous one is a no-op instead of freeing the next holder's item.
 */
export interface Holding<T> {
  readonly item: T;
  /** True once this holding was released (the item may belong to someone else by now). */
  readonly released: boolean;
  /** Returns the item; false (and nothing changes) when this holding was released already. */
  release(): boolean;
}

interface Waiter<T> {
  resolve(holding: Holding<T>): void;
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
  /** The current holding of each held item. */
  readonly #held = new Map<T, Holding<T>>();
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
  acquire(): Holding<T> {
    if (this.#free.length === 0) {
      throw new AllNetworksInUseError(
        `Expected a free network, got all ${this.#items.length} in use`,
      );
    }
    return this.#hold(this.#free.shift() as T);
  }

  /**
   * Returns a holding's network; false (and nothing changes) when that holding is not the
   * network's current one: released already, even if the network is held again by someone else.
   */
  release(holding: Holding<T>): boolean {
    if (holding === null || typeof holding !== 'object') return false;
    const { item } = holding;
    if (this.#held.get(item) !== holding) return false;
    const waiter = this.#waiters.shift();
    if (waiter) {
      // Straight to the next holder: it never shows as free, so acquire() cannot take it first.
      waiter.resolve(this.#hold(item));
    } else {
      this.#held.delete(item);
      this.#free.push(item);
    }
    return true;
  }

  #hold(item: T): Holding<T> {
    const allocator = this;
    const holding: Holding<T> = Object.freeze({
      item,
      get released() {
        return allocator.#held.get(item) !== holding;
      },
      release: () => allocator.release(holding),
    });
    this.#held.set(item, holding);
    return holding;
  }

  /** A free network now, or the next one released (FIFO among waiters). */
  acquireAsync(options: AcquireOptions = {}): Promise<Holding<T>> {
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
    return new Promise<Holding<T>>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
      };
      const waiter: Waiter<T> = {
        resolve: (holding) => {
          settle();
          resolve(holding);
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
  waitForRelease(options: AcquireOptions = {}): Promise<Holding<T>> {
    return this.acquireAsync(options);
  }
}
