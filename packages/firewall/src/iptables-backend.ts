// The iptables backend's effects: one `ipset restore` (our sets, each swapped in whole), then
// one `iptables-restore` and one `ip6tables-restore` (our chains), in a constant number of
// processes whatever the number of networks.
import { FirewallCommandError } from './errors.js';
import {
  compileIpsetRemoval,
  ipsetDifferences,
  ipsetPrefix,
  ipsetShape,
  staleIpsets,
} from './ipset.js';
import {
  compileIptables,
  compileIptablesRemoval,
  compileIptablesRemovalOf,
  iptablesDifferences,
  iptablesShape,
  ourIptablesChains,
} from './iptables.js';
import type { Policy } from './policy.js';
import { type Runner, type RunResult, runChecked } from './runner.js';

const IPT = {
  ipv4: { save: ['iptables-save'], restore: ['iptables-restore', '--wait', '--noflush'] },
  ipv6: { save: ['ip6tables-save'], restore: ['ip6tables-restore', '--wait', '--noflush'] },
} as const;
const IPSET_NAMES = ['ipset', 'list', '-n'] as const;
const IPSET_TERSE = ['ipset', 'list', '-t'] as const;
const IPSET_RESTORE = ['ipset', 'restore'] as const;
/** How a runner reports a command that could not start (see runner.ts). */
const NOT_FOUND = 127;

/** Applies the policy's sets and chains; throws the first failed command (the caller rolls back). */
export async function applyIptables(run: Runner, policy: Policy): Promise<void> {
  const listed = await runChecked(run, IPSET_NAMES);
  const existingSets = new Set(listed.split('\n').map((l) => l.trim()));
  const ipv4 = await runChecked(run, IPT.ipv4.save);
  const ipv6 = await runChecked(run, IPT.ipv6.save);
  const ruleset = compileIptables(policy, { ipv4, ipv6, existingSets });
  // Sets first: the restored rules refer to them by name.
  await runChecked(run, IPSET_RESTORE, ruleset.ipset);
  await runChecked(run, IPT.ipv4.restore, ruleset.ipv4);
  await runChecked(run, IPT.ipv6.restore, ruleset.ipv6);
  // Sets of an earlier apply that no rule refers to any more (a prefix length gone).
  const wanted = new Set(Object.keys(ipsetShape(policy)));
  const stale = staleIpsets(policy.prefix, listed, wanted).filter(
    (name) => !wanted.has(name.replace(/-n$/, '')),
  );
  if (stale.length > 0) await runChecked(run, IPSET_RESTORE, compileIpsetRemoval(stale));
}

/**
 * Deletes our jumps and chains, then our sets (a set can go only when no rule refers to it).
 * `tolerant`: a missing tool is nothing to remove (crash cleanup on a host that lacks one).
 * `applied`: the policy this process applied for `prefix`, removed first from the policy alone;
 * what the families' saves still show of ours after that is removed from the saves.
 */
export async function removeIptables(
  run: Runner,
  prefix: string,
  options: { tolerant?: boolean; applied?: Policy } = {},
): Promise<string[]> {
  const fromPolicy =
    options.applied?.prefix === prefix ? compileIptablesRemovalOf(options.applied) : undefined;
  const removeFamily = async (
    name: string,
    family: (typeof IPT)[keyof typeof IPT],
    ofPolicy: string | undefined,
  ): Promise<string[]> => {
    // What this firewall applied goes first, from the policy: no save of the whole ruleset
    // (at 4096 networks `iptables-save` turns 27,500 rules back into text: 0.2-0.3 s). The save
    // below then finds nothing of ours, and is small; whatever it still finds (the restore
    // failed: someone deleted or doubled a jump) is removed from it as before.
    const fast =
      ofPolicy !== undefined && ofPolicy !== ''
        ? (await run(family.restore, { input: ofPolicy })).exitCode === 0
        : false;
    const saved = await run(family.save);
    if (saved.exitCode !== 0 && options.tolerant) return [];
    const text = compileIptablesRemoval(prefix, checked(family.save, saved));
    if (text !== '') await runChecked(run, family.restore, text);
    const chains = [
      ...new Set([
        ...(fast && ofPolicy ? deletedChains(ofPolicy) : []),
        ...ourIptablesChains(prefix, saved.stdout),
      ]),
    ];
    if (chains.length > 0) return chains.map((c) => `${name} ${c}`);
    return text === '' ? [] : [`${name} jumps`];
  };
  // The two families side by side: each is its own save and restore of its own tables (with
  // iptables-nft its own nft family; a commit that meets the other's is retried by the tool; legacy
  // iptables takes turns on the xtables lock, `--wait`). The slower family's time instead of the sum:
  // at 4096 networks each takes 0.3–0.5 s, most of it the tools' own work on thousands of chains.
  const families = await Promise.allSettled([
    removeFamily('iptables', IPT.ipv4, fromPolicy?.ipv4),
    removeFamily('ip6tables', IPT.ipv6, fromPolicy?.ipv6),
  ]);
  const removed: string[] = [];
  for (const family of families) {
    // IPv4's failure first, as when they ran one after the other; the sets stay while rules may
    // still refer to them.
    if (family.status === 'rejected') throw family.reason;
    removed.push(...family.value);
  }
  const listed = await run(IPSET_NAMES);
  // Without the ipset tool nothing of ours can have been made with it.
  if (listed.exitCode === NOT_FOUND || (listed.exitCode !== 0 && options.tolerant)) return removed;
  const sets = staleIpsets(prefix, checked(IPSET_NAMES, listed), new Set());
  if (sets.length > 0) {
    await runChecked(run, IPSET_RESTORE, compileIpsetRemoval(sets));
    removed.push(...sets.map((s) => `ipset ${s}`));
  }
  return removed;
}

/** `table/CHAIN` of each chain a restore file deletes (`-X`). Pure. */
function deletedChains(restore: string): string[] {
  const chains: string[] = [];
  let table = '';
  for (const line of restore.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith('-X ')) chains.push(`${table}/${line.slice(3)}`);
  }
  return chains;
}

function checked(argv: readonly string[], result: RunResult): string {
  if (result.exitCode !== 0) throw new FirewallCommandError(argv, result.exitCode, result.stderr);
  return result.stdout;
}

/** The kernel's state of our chains and sets, as the saves and `ipset list -t` show it. */
export async function readIptables(
  run: Runner,
): Promise<{ ipv4: string; ipv6: string; sets: string }> {
  return {
    ipv4: await runChecked(run, IPT.ipv4.save),
    ipv6: await runChecked(run, IPT.ipv6.save),
    sets: await runChecked(run, IPSET_TERSE),
  };
}

/** What differs between the kernel's chains and sets for the policy's prefix and the policy. */
export function iptablesDrift(
  policy: Policy,
  state: { ipv4: string; ipv6: string; sets: string },
): string[] {
  const shape = iptablesShape(policy);
  return [
    ...iptablesDifferences(policy.prefix, shape.ipv4, state.ipv4),
    ...iptablesDifferences(policy.prefix, shape.ipv6, state.ipv6),
    ...ipsetDifferences(policy.prefix, shape.sets, state.sets),
  ];
}

/** Whether anything of ours (chains or sets) exists. */
export function iptablesPresent(
  prefix: string,
  state: { ipv4: string; ipv6: string; sets: string },
): boolean {
  if (ourIptablesChains(prefix, state.ipv4).length > 0) return true;
  if (ourIptablesChains(prefix, state.ipv6).length > 0) return true;
  return state.sets.split('\n').some((l) => l.startsWith(`Name: ${ipsetPrefix(prefix)}`));
}
