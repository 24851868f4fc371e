// A first-in-first-out queue in a ring buffer: push and shift touch one slot each at any length.
// Array#shift moves every element (or relies on V8 trimming the array in place, which it does
// not do for every array), so a pool's free list of 4096 networks paid for its length on each
// network() call.

export class Fifo<T> {
  /** Slots read or written by every Fifo so far (growth included): what the tests count. */
  static touched = 0;
  #slots: (T | undefined)[];
  #head = 0;
  #length = 0;

  constructor(items: Iterable<T> = []) {
    this.#slots = [...items];
    this.#length = this.#slots.length;
    if (this.#slots.length === 0) this.#slots.length = 16;
  }

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#slots.length) this.#grow();
    this.#slots[(this.#head + this.#length) % this.#slots.length] = item;
    this.#length += 1;
    Fifo.touched += 1;
  }

  /** The oldest item, removed; undefined when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#slots[this.#head];
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#slots.length;
    this.#length -= 1;
    Fifo.touched += 1;
    return item;
  }

  /** Doubles the ring (amortized: one copy per item per doubling). */
  #grow(): void {
    const slots: (T | undefined)[] = new Array(Math.max(16, this.#slots.length * 2));
    for (let i = 0; i < this.#length; i++)
      slots[i] = this.#slots[(this.#head + i) % this.#slots.length];
    Fifo.touched += this.#length;
    this.#slots = slots;
    this.#head = 0;
  }
}
