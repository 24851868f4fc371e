import { randomBytes } from 'node:crypto';

/**
 * A token bucket: `burst` requests at once, then `rate` per second. Pure: the caller passes the
 * clock, so tests drive it by value.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly rate: number;
  readonly burst: number;

  constructor(rate: number, burst: number, now: number) {
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  /** Whether a token is available now, without taking it. */
  ready(now: number): boolean {
    if (this.rate === Number.POSITIVE_INFINITY) return true;
    const elapsed = now > this.#last ? now - this.#last : 0;
    return Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000) >= 1;
  }

  /** Takes one token: 0 when allowed, otherwise the milliseconds until one is available. */
  take(now: number): number {
    if (this.rate === Number.POSITIVE_INFINITY) return 0;
    const elapsed = now > this.#last ? now - this.#last : 0;
    this.#last = now;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.rate);
  }
}

/**
 * IMDSv2-style session tokens, each bound to the network it was issued to and expiring. At most
 * `maxPerNetwork` live tokens per network (the oldest is dropped first), so a flood of token
 * requests cannot grow memory without bound.
 */
export class SessionTokens {
  readonly #byNetwork = new Map<string, Map<string, number>>();
  readonly #maxPerNetwork: number;
  readonly #random: () => string;

  constructor(
    maxPerNetwork: number,
    random: () => string = () => randomBytes(32).toString('base64url'),
  ) {
    this.#maxPerNetwork = maxPerNetwork;
    this.#random = random;
  }

  issue(network: string, ttlSeconds: number, now: number): string {
    let tokens = this.#byNetwork.get(network);
    if (!tokens) {
      tokens = new Map();
      this.#byNetwork.set(network, tokens);
    }
    for (const [token, expires] of tokens) {
      if (expires <= now) tokens.delete(token);
    }
    while (tokens.size >= this.#maxPerNetwork) {
      const oldest = tokens.keys().next().value as string;
      tokens.delete(oldest);
    }
    const token = this.#random();
    tokens.set(token, now + ttlSeconds * 1000);
    return token;
  }

  /** True when `token` was issued to `network` and has not expired. */
  verify(network: string, token: string | undefined, now: number): boolean {
    if (token === undefined) return false;
    const tokens = this.#byNetwork.get(network);
    const expires = tokens?.get(token);
    if (expires === undefined) return false;
    if (expires <= now) {
      tokens!.delete(token);
      return false;
    }
    return true;
  }

  /** Forgets every token of a network (on clear: a new VM must not inherit them). */
  drop(network: string): void {
    this.#byNetwork.delete(network);
  }
}
