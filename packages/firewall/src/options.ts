// createFirewall's and watch()'s options: validated once, defaults in one place. Pure.
import { describeValue } from '@tapnet/internal';
import { InvalidPolicyError } from './errors.js';
import { defaultSpawner, type Spawner } from './monitor.js';
import { PREFIX_PATTERN } from './policy.js';
import { defaultRunner, type Runner } from './runner.js';
import type { WatchOptions } from './watch.js';

export interface FirewallOptions {
  /** Default `auto`: nft when it works, else iptables. */
  backend?: 'auto' | 'nft' | 'iptables';
  /** Runs the OS commands; default: execa, argv arrays, no shell. */
  runner?: Runner;
  /** Starts the long-lived `nft monitor` of `watch()`; default: execa, argv, no shell. */
  spawner?: Spawner;
}

const BACKENDS = ['auto', 'nft', 'iptables'] as const;

export function normalizeOptions(options: FirewallOptions | undefined): {
  backend: (typeof BACKENDS)[number];
  runner: Runner;
  spawner: Spawner;
} {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidPolicyError(
      'options',
      `Expected \`options\` to be an object, got ${describeValue(options)}`,
    );
  }
  const o: FirewallOptions = Object.assign(Object.create(null), options);
  const backend = o.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) {
    throw new InvalidPolicyError(
      'backend',
      `Expected \`backend\` to be one of auto, nft, iptables, got ${describeValue(backend)}`,
    );
  }
  const runner = o.runner ?? defaultRunner;
  if (typeof runner !== 'function') {
    throw new InvalidPolicyError(
      'runner',
      `Expected \`runner\` to be a function, got ${describeValue(runner)}`,
    );
  }
  const spawner = o.spawner ?? defaultSpawner;
  if (typeof spawner !== 'function') {
    throw new InvalidPolicyError(
      'spawner',
      `Expected \`spawner\` to be a function, got ${describeValue(spawner)}`,
    );
  }
  return { backend, runner, spawner };
}

export function normalizeWatchOptions(
  options: WatchOptions | undefined,
): Required<Pick<WatchOptions, 'interval'>> & WatchOptions {
  const o: WatchOptions = Object.assign(Object.create(null), options);
  const interval = o.interval ?? 1000;
  if (!Number.isInteger(interval) || interval < 10 || interval > 3_600_000) {
    throw new InvalidPolicyError(
      'interval',
      `Expected \`interval\` to be an integer from 10 to 3600000 (ms), got ${describeValue(interval)}`,
    );
  }
  for (const name of ['onDrift', 'onError'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'function') {
      throw new InvalidPolicyError(
        name,
        `Expected \`${name}\` to be a function, got ${describeValue(o[name])}`,
      );
    }
  }
  return { ...o, interval };
}

export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new InvalidPolicyError(
      'prefix',
      `Expected \`prefix\` to be a string of 1 to 12 characters from [a-z0-9_] starting with a letter, got ${describeValue(prefix)}`,
    );
  }
  return prefix;
}
