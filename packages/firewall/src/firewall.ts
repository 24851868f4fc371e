import { type Conflict, iptablesConflicts, nftConflicts } from './conflicts.js';
import { type Backend, detectBackend } from './detect.js';
import { describeValue, FirewallApplyError, InvalidPolicyError } from './errors.js';
import {
  compileIptables,
  compileIptablesRemoval,
  iptablesDifferences,
  iptablesShape,
  ourIptablesChains,
} from './iptables.js';
import { compileNft, compileNftRemoval, type NftShape, nftShape, nftTableName } from './nft.js';
import { assertPolicy, type Policy, PREFIX_PATTERN } from './policy.js';
import { countingRunner, defaultRunner, type Runner, runChecked } from './runner.js';

export interface FirewallOptions {
  /** Default `auto`: nft when it works, else iptables. */
  backend?: 'auto' | 'nft' | 'iptables';
  /** Runs the OS commands; default: execa, argv arrays, no shell. */
  runner?: Runner;
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
  return { backend, runner };
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

  return {
    apply: (policy) => serial(() => apply(policy)),
    remove: (prefix) => serial(() => remove(prefix)),
    status: (policy) => serial(() => status(policy)),
    get backend() {
      return backend();
    },
    processCount: counted.count,
    [Symbol.asyncDispose]: () => serial(() => remove()),
  };
}

/** Compares our table in `nft -j list ruleset` output with the expected shape. Pure. */
export function nftIntact(json: string, shape: NftShape): { present: boolean; intact: boolean } {
  let items: Record<string, Record<string, unknown>>[];
  try {
    items = (JSON.parse(json) as { nftables?: typeof items }).nftables ?? [];
  } catch {
    return { present: false, intact: false };
  }
  const ours = (x: Record<string, unknown> | undefined) =>
    x?.family === 'inet' && x.table === shape.table;
  const present = items.some((i) => i.table?.family === 'inet' && i.table.name === shape.table);
  const chains: Record<string, number> = {};
  const sets: Record<string, number> = {};
  for (const item of items) {
    if (ours(item.chain)) chains[String(item.chain!.name)] = 0;
    if (ours(item.set))
      sets[String(item.set!.name)] = Array.isArray(item.set!.elem) ? item.set!.elem.length : 0;
  }
  for (const item of items) {
    if (ours(item.rule)) {
      const chain = String(item.rule!.chain);
      chains[chain] = (chains[chain] ?? 0) + 1;
    }
  }
  const same = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) =>
    Object.keys(a).length === Object.keys(b).length &&
    Object.entries(a).every(([k, v]) => b[k] === v);
  return { present, intact: present && same(chains, shape.chains) && same(sets, shape.sets) };
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
