import { describeValue } from '@tapnet/internal';
import { type Conflict, iptablesConflicts, nftConflicts } from './conflicts.js';
import { type Backend, detectBackend } from './detect.js';
import { FirewallApplyError, FirewallCommandError, InvalidPolicyError } from './errors.js';
import {
  compileIptables,
  compileIptablesRemoval,
  iptablesDifferences,
  iptablesShape,
  ourIptablesChains,
} from './iptables.js';
import { defaultSpawner, type Spawner } from './monitor.js';
import {
  compileNft,
  compileNftRemoval,
  type NftShape,
  nftDifferences,
  nftShape,
  nftTableName,
} from './nft.js';
import { assertPolicy, type Policy, PREFIX_PATTERN } from './policy.js';
import { countingRunner, defaultRunner, type Runner, runChecked } from './runner.js';
import { type FirewallWatch, startWatch, type WatchOptions } from './watch.js';

export interface FirewallOptions {
  /** Default `auto`: nft when it works, else iptables. */
  backend?: 'auto' | 'nft' | 'iptables';
  /** Runs the OS commands; default: execa, argv arrays, no shell. */
  runner?: Runner;
  /** Starts the long-lived `nft monitor` of `watch()`; default: execa, argv, no shell. */
  spawner?: Spawner;
}

export interface FirewallStatus {
  backend: Backend;
  /** Some of our table/chains exist. */
  present: boolean;
  /** Everything `apply(policy)` makes exists, exactly once, with the expected rule counts. */
  intact: boolean;
  uplink: string | null;
  /** `net.ipv4.ip_forward` is 1. */
  forwarding: boolean;
  /** Other tables/chains that would drop traffic our policy allows. */
  conflicts: Conflict[];
}

export interface Firewall {
  /** Atomic; re-apply replaces our previous ruleset for the prefix; on failure nothing of ours remains. */
  apply(policy: Policy): Promise<void>;
  /** Deletes exactly our table/chains (default: the prefix last applied); idempotent. */
  remove(prefix?: string): Promise<void>;
  status(policy: Policy): Promise<FirewallStatus>;
  /**
   * Keeps `policy` applied: re-applies it (atomically, as `apply`) when our rules are found
   * changed by someone else, checked on each `nft monitor` event about our rules (nft, and
   * iptables-nft when `nft` is installed), else every `interval` (legacy iptables, 1 s). `remove()` of the prefix or `close()` ends it; no
   * re-apply starts after either. A later `apply()` of the prefix becomes what it keeps.
   */
  watch(policy: Policy, options?: WatchOptions): Promise<FirewallWatch>;
  /** The backend in use; detected on first use when `auto`. Always a promise. */
  readonly backend: Promise<Backend>;
  /** Processes spawned so far by this firewall (for benchmarks). */
  processCount(): number;
  /** Same as `remove()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const BACKENDS = ['auto', 'nft', 'iptables'] as const;

function normalizeOptions(options: FirewallOptions | undefined): {
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

function normalizeWatchOptions(
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

function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new InvalidPolicyError(
      'prefix',
      `Expected \`prefix\` to be a string of 1 to 12 characters from [a-z0-9_] starting with a letter, got ${describeValue(prefix)}`,
    );
  }
  return prefix;
}

const NFT_APPLY = ['nft', '-f', '-'] as const;
const IPT = {
  ipv4: { save: ['iptables-save'], restore: ['iptables-restore', '--wait', '--noflush'] },
  ipv6: { save: ['ip6tables-save'], restore: ['ip6tables-restore', '--wait', '--noflush'] },
} as const;

export function createFirewall(options?: FirewallOptions): Firewall {
  const o = normalizeOptions(options);
  const counted = countingRunner(o.runner);
  const run = counted.runner;
  let detected: Promise<Backend> | undefined;
  // Lazy, so an unused firewall never rejects unobserved.
  const backend = () => {
    detected ??= o.backend === 'auto' ? detectBackend(run) : Promise.resolve(o.backend);
    return detected;
  };
  let lastPrefix: string | undefined;
  // Operations on one firewall run one after another: each reads then writes kernel state.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => {});
    return next;
  };

  async function removeIptables(prefix: string): Promise<void> {
    for (const family of [IPT.ipv4, IPT.ipv6]) {
      const saved = await runChecked(run, family.save);
      const text = compileIptablesRemoval(prefix, saved);
      if (text !== '') await runChecked(run, family.restore, text);
    }
  }

  async function removeWith(kind: Backend, prefix: string): Promise<void> {
    if (kind === 'nft') await runChecked(run, NFT_APPLY, compileNftRemoval(prefix));
    else await removeIptables(prefix);
  }

  async function apply(policy: Policy): Promise<void> {
    assertPolicy(policy);
    const kind = await backend();
    try {
      if (kind === 'nft') {
        await runChecked(run, NFT_APPLY, compileNft(policy));
      } else {
        const ipv4 = await runChecked(run, IPT.ipv4.save);
        const ipv6 = await runChecked(run, IPT.ipv6.save);
        const ruleset = compileIptables(policy, { ipv4, ipv6 });
        await runChecked(run, IPT.ipv4.restore, ruleset.ipv4);
        await runChecked(run, IPT.ipv6.restore, ruleset.ipv6);
      }
    } catch (error) {
      // The nft transaction is all-or-nothing, but a failed re-apply must not leave the
      // previous ruleset either; iptables commits per table, so undo whatever got through.
      try {
        await removeWith(kind, policy.prefix);
      } catch {
        // The first error is the one to report.
      }
      throw new FirewallApplyError(
        `Failed to apply the ${kind} ruleset for prefix \`${policy.prefix}\`; nothing of ours remains: ${(error as Error).message}`,
        { cause: error },
      );
    }
    lastPrefix = policy.prefix;
  }

  async function readForwarding(): Promise<boolean> {
    const result = await run(['sysctl', '-n', 'net.ipv4.ip_forward']);
    return result.exitCode === 0 && result.stdout.trim() === '1';
  }

  async function status(policy: Policy): Promise<FirewallStatus> {
    assertPolicy(policy);
    const kind = await backend();
    const forward = policy.uplink !== null || policy.allow.length > 0;
    const forwarding = await readForwarding();
    if (kind === 'nft') {
      const json = await runChecked(run, ['nft', '-j', 'list', 'ruleset']);
      const table = nftTableName(policy.prefix);
      const { present, intact } = nftIntact(json, nftShape(policy));
      return {
        backend: kind,
        present,
        intact,
        uplink: policy.uplink,
        forwarding,
        conflicts: nftConflicts(json, table, { forward, ipv6: policy.ipv6 }),
      };
    }
    const ipv4 = await runChecked(run, IPT.ipv4.save);
    const ipv6 = await runChecked(run, IPT.ipv6.save);
    const shape = iptablesShape(policy);
    const present =
      ourIptablesChains(policy.prefix, ipv4).length +
        ourIptablesChains(policy.prefix, ipv6).length >
      0;
    const problems = [
      ...iptablesDifferences(policy.prefix, shape.ipv4, ipv4),
      ...iptablesDifferences(policy.prefix, shape.ipv6, ipv6),
    ];
    return {
      backend: kind,
      present,
      intact: present && problems.length === 0,
      uplink: policy.uplink,
      forwarding,
      conflicts: [
        ...iptablesConflicts(ipv4, 'iptables', { forward }),
        ...(policy.ipv6 ? iptablesConflicts(ipv6, 'ip6tables', { forward: false }) : []),
      ],
    };
  }

  async function remove(prefix?: string): Promise<void> {
    const target = prefix === undefined ? lastPrefix : checkPrefix(prefix);
    if (target === undefined) return;
    await removeWith(await backend(), target);
    if (target === lastPrefix) lastPrefix = undefined;
  }

  /** What differs between the kernel's rules for the policy's prefix and the policy; [] when intact. */
  async function differences(kind: Backend, policy: Policy): Promise<string[]> {
    if (kind === 'nft') {
      const table = nftTableName(policy.prefix);
      // Only our table: the cost does not depend on what else the host has.
      const argv = ['nft', '-j', 'list', 'table', 'inet', table];
      const listed = await run(argv);
      if (listed.exitCode !== 0) {
        if (/No such file or directory/.test(listed.stderr)) return [`table inet ${table} missing`];
        throw new FirewallCommandError(argv, listed.exitCode, listed.stderr);
      }
      return nftDifferences(listed.stdout, nftShape(policy));
    }
    const shape = iptablesShape(policy);
    return [
      ...iptablesDifferences(policy.prefix, shape.ipv4, await runChecked(run, IPT.ipv4.save)),
      ...iptablesDifferences(policy.prefix, shape.ipv6, await runChecked(run, IPT.ipv6.save)),
    ];
  }

  /**
   * What tells a watch to check: `nft monitor` lines about our table; with iptables-nft (when
   * `nft` is there too) the same stream shows changes to the iptables tables. Legacy iptables
   * has none: the watch polls.
   */
  async function eventSource(
    kind: Backend,
    prefix: string,
  ): Promise<{ argv: string[]; concerns: (line: string) => boolean } | undefined> {
    const argv = ['nft', 'monitor'];
    if (kind === 'nft') {
      const ours = new RegExp(`(^|\\s)inet ${nftTableName(prefix)}(\\s|$)`);
      return { argv, concerns: (line) => ours.test(line) };
    }
    const variant = await run(['iptables', '--version']);
    if (variant.exitCode !== 0 || !variant.stdout.includes('nf_tables')) return undefined;
    if ((await run(['nft', '--version'])).exitCode !== 0) return undefined;
    const tables = /(^|\s)ip6? (raw|mangle|filter|nat)(\s|$)/;
    return { argv, concerns: (line) => tables.test(line) };
  }

  // Live watches: a later apply() of their prefix is what they keep; remove() ends them.
  const watches = new Set<{ policy: Policy; stopped: boolean; handle?: FirewallWatch }>();
  const endWatches = (prefix: string | undefined) => {
    for (const w of watches) {
      if (w.policy.prefix !== prefix) continue;
      w.stopped = true;
      watches.delete(w);
      void w.handle?.close();
    }
  };

  async function watch(policy: Policy, options?: WatchOptions): Promise<FirewallWatch> {
    assertPolicy(policy);
    const settings = normalizeWatchOptions(options);
    const entry: { policy: Policy; stopped: boolean; handle?: FirewallWatch } = {
      policy,
      stopped: false,
    };
    // Registered at once: a remove() while this is still starting must end it too.
    watches.add(entry);
    const kind = await backend();
    const monitor = await eventSource(kind, policy.prefix);
    if (entry.stopped) {
      const closed = async () => {};
      entry.handle = { reapplied: 0, close: closed, [Symbol.asyncDispose]: closed };
      return entry.handle;
    }
    const handle = startWatch(
      {
        backend: kind,
        repair: (stopped) =>
          serial(async () => {
            const gone = () => stopped() || entry.stopped;
            if (gone()) return undefined;
            const problems = await differences(kind, entry.policy);
            if (problems.length === 0 || gone()) return undefined;
            await apply(entry.policy);
            return problems.slice(0, 3).join('; ') + (problems.length > 3 ? '; …' : '');
          }),
        ...(monitor && { monitor: { ...monitor, spawn: o.spawner } }),
        settled: () => serial(async () => {}),
      },
      settings,
    );
    const close = handle.close;
    entry.handle = {
      get reapplied() {
        return handle.reapplied;
      },
      close: () => {
        entry.stopped = true;
        watches.delete(entry);
        return close();
      },
      [Symbol.asyncDispose]: () => entry.handle!.close(),
    };
    return entry.handle;
  }

  return {
    apply: (policy) =>
      serial(async () => {
        await apply(policy);
        for (const w of watches) if (w.policy.prefix === policy.prefix) w.policy = policy;
      }),
    remove: (prefix) => {
      // Before queueing: a check already queued must not put back what is being removed.
      endWatches(prefix === undefined ? lastPrefix : prefix);
      return serial(() => remove(prefix));
    },
    status: (policy) => serial(() => status(policy)),
    watch: (policy, options) => watch(policy, options),
    get backend() {
      return backend();
    },
    processCount: counted.count,
    [Symbol.asyncDispose]: () => {
      endWatches(lastPrefix);
      return serial(() => remove());
    },
  };
}

/** Compares our table in `nft -j list ruleset` output with the expected shape. Pure. */
export function nftIntact(json: string, shape: NftShape): { present: boolean; intact: boolean } {
  const problems = nftDifferences(json, shape);
  const present = !problems.includes(`table inet ${shape.table} missing`);
  return { present, intact: present && problems.length === 0 };
}

/**
 * Removes leftovers of a crashed run for `prefix` from both backends (whichever tools exist):
 * our nft table, our iptables/ip6tables chains and the jumps into them.
 */
export async function cleanupFirewall(
  prefix: string,
  options?: { runner?: Runner },
): Promise<{ removed: string[] }> {
  checkPrefix(prefix);
  const runner = options?.runner ?? defaultRunner;
  const removed: string[] = [];
  const tables = await runner(['nft', 'list', 'tables']);
  const table = nftTableName(prefix);
  if (
    tables.exitCode === 0 &&
    tables.stdout.split('\n').some((l) => l.trim() === `table inet ${table}`)
  ) {
    await runChecked(runner, NFT_APPLY, compileNftRemoval(prefix));
    removed.push(`nft table inet ${table}`);
  }
  for (const [name, family] of [
    ['iptables', IPT.ipv4],
    ['ip6tables', IPT.ipv6],
  ] as const) {
    const saved = await runner(family.save);
    if (saved.exitCode !== 0) continue;
    const text = compileIptablesRemoval(prefix, saved.stdout);
    if (text === '') continue;
    await runChecked(runner, family.restore, text);
    const chains = ourIptablesChains(prefix, saved.stdout);
    removed.push(...(chains.length > 0 ? chains.map((c) => `${name} ${c}`) : [`${name} jumps`]));
  }
  return { removed };
}
