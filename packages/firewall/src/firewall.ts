// A firewall: apply, remove, status and watch of one pool's policy on the detected backend,
// one operation at a time. The rule text is compiled elsewhere (nft.ts, iptables.ts).
import { type Conflict, iptablesConflicts, nftConflicts } from './conflicts.js';
import { type Backend, detectBackend } from './detect.js';
import { FirewallApplyError, FirewallCommandError } from './errors.js';
import {
  applyIptables,
  iptablesDrift,
  iptablesPresent,
  readIptables,
  removeIptables,
} from './iptables-backend.js';
import {
  compileNft,
  compileNftRemoval,
  NFT_APPLY,
  nftDifferences,
  nftIntact,
  nftShape,
  nftTableName,
} from './nft.js';
import {
  checkPrefix,
  type FirewallOptions,
  normalizeOptions,
  normalizeWatchOptions,
} from './options.js';
import { assertPolicy, type Policy } from './policy.js';
import { countingRunner, runChecked } from './runner.js';
import { type FirewallWatch, startWatch, type WatchOptions } from './watch.js';

export type { FirewallOptions } from './options.js';

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
  /** The policy of the last successful apply (per prefix only the latest one counts). */
  let lastPolicy: Policy | undefined;
  // Operations on one firewall run one after another: each reads then writes kernel state.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => {});
    return next;
  };

  /** `applied`: the policy last applied for `prefix`, when known (iptables removes it first). */
  async function removeWith(kind: Backend, prefix: string, applied?: Policy): Promise<void> {
    if (kind === 'nft') await runChecked(run, NFT_APPLY, compileNftRemoval(prefix));
    else await removeIptables(run, prefix, { applied });
  }

  async function apply(policy: Policy): Promise<void> {
    assertPolicy(policy);
    const kind = await backend();
    try {
      if (kind === 'nft') {
        await runChecked(run, NFT_APPLY, compileNft(policy));
      } else {
        await applyIptables(run, policy);
      }
    } catch (error) {
      // The nft transaction is all-or-nothing, but a failed re-apply must not leave the
      // previous ruleset either; iptables commits per table (and ipset per command), so undo
      // whatever got through.
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
    lastPolicy = policy;
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
      // First: unreadable output throws FirewallOutputError rather than reading as "absent".
      const conflicts = nftConflicts(json, table, { forward, ipv6: policy.ipv6 });
      const { present, intact } = nftIntact(json, nftShape(policy));
      return { backend: kind, present, intact, uplink: policy.uplink, forwarding, conflicts };
    }
    const state = await readIptables(run);
    // First: unreadable output throws FirewallOutputError rather than reading as "absent".
    const conflicts = [
      ...iptablesConflicts(state.ipv4, 'iptables', { forward }),
      ...(policy.ipv6 ? iptablesConflicts(state.ipv6, 'ip6tables', { forward: false }) : []),
    ];
    const present = iptablesPresent(policy.prefix, state);
    const intact = present && iptablesDrift(policy, state).length === 0;
    return { backend: kind, present, intact, uplink: policy.uplink, forwarding, conflicts };
  }

  async function remove(prefix?: string): Promise<void> {
    const target = prefix === undefined ? lastPrefix : checkPrefix(prefix);
    if (target === undefined) return;
    await removeWith(
      await backend(),
      target,
      lastPolicy?.prefix === target ? lastPolicy : undefined,
    );
    if (target === lastPrefix) lastPrefix = undefined;
    if (target === lastPolicy?.prefix) lastPolicy = undefined;
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
    return iptablesDrift(policy, await readIptables(run));
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
