// The iptables backend's compiler: restore files for both families and the ipset restore
// text, applied as one `ipset restore` then one `iptables-restore` and one
// `ip6tables-restore`, whatever the number of networks. Pure.
import { compileIpsetRestore, ipsetSets, ipsetShape } from './ipset.js';
import { ipv4Tables, ipv6Tables, type TableText } from './iptables-rules.js';
import {
  type IptablesShape,
  parseIptablesSave,
  removalLines,
  type SavedState,
} from './iptables-save.js';
import { assertPolicy, type Policy } from './policy.js';

export { iptablesChainPrefix } from './iptables-rules.js';
export {
  type IptablesShape,
  iptablesDifferences,
  ourIptablesChains,
  parseIptablesSave,
  type SavedState,
} from './iptables-save.js';

export interface IptablesRuleset {
  ipv4: string;
  ipv6: string;
  /**
   * For `ipset restore`, run first: fills our sets (the rules' per-network data) under
   * temporary names and swaps each in. Given no `existing` sets it creates all of them.
   */
  ipset: string;
}

function render(tables: Map<string, string[]>): string {
  let text = '';
  for (const [table, lines] of tables) text += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  return text;
}

function compileFamily(tables: TableText[], prefix: string, saved: SavedState | undefined): string {
  const keep = new Set(tables.flatMap((t) => t.chains.map((c) => `${t.table}/${c}`)));
  const removal = saved ? removalLines(prefix, saved, keep) : new Map<string, string[]>();
  const out = new Map<string, string[]>();
  for (const t of tables) {
    const lines = [
      // Declaring a user chain under --noflush creates it, or flushes it when it exists.
      ...t.chains.map((c) => `:${c} - [0:0]`),
      ...(removal.get(t.table) ?? []),
      ...t.jumps.map(([builtin, chain]) => `-I ${builtin} 1 -j ${chain}`),
      ...t.rules.map(([chain, spec]) => `-A ${chain} ${spec}`),
    ];
    out.set(t.table, lines);
    removal.delete(t.table);
  }
  for (const [table, lines] of removal) out.set(table, lines);
  return render(out);
}

/**
 * Restore files for `iptables-restore --noflush` and `ip6tables-restore --noflush`. Given the
 * current `iptables-save` output of each family, they also delete our existing jumps (and stale
 * chains), so applying twice leaves one copy. `existingSets` (`ipset list -n`): which of our
 * sets to create rather than reuse. Pure.
 */
export function compileIptables(
  policy: Policy,
  saved?: { ipv4?: string; ipv6?: string; existingSets?: ReadonlySet<string> },
): IptablesRuleset {
  assertPolicy(policy);
  const parse = (text: string | undefined) =>
    text === undefined ? undefined : parseIptablesSave(text);
  return {
    ipv4: compileFamily(ipv4Tables(policy), policy.prefix, parse(saved?.ipv4)),
    ipv6: compileFamily(ipv6Tables(policy), policy.prefix, parse(saved?.ipv6)),
    ipset: compileIpsetRestore(ipsetSets(policy), saved?.existingSets ?? new Set()),
  };
}

/**
 * Restore files deleting the jumps and chains `policy` makes, without reading the kernel's state
 * first: jumps, then every chain flushed (our chains jump to each other), then deleted. A line
 * that does not match (a jump someone deleted) fails the restore. Pure.
 */
export function compileIptablesRemovalOf(policy: Policy): { ipv4: string; ipv6: string } {
  assertPolicy(policy);
  const family = (tables: TableText[]) =>
    render(
      new Map(
        tables.map((t) => [
          t.table,
          [
            ...t.jumps.map(([builtin, chain]) => `-D ${builtin} -j ${chain}`),
            ...t.chains.map((c) => `-F ${c}`),
            ...t.chains.map((c) => `-X ${c}`),
          ],
        ]),
      ),
    );
  return { ipv4: family(ipv4Tables(policy)), ipv6: family(ipv6Tables(policy)) };
}

/** A restore file deleting our jumps and chains found in `savedText`; '' when there are none. Pure. */
export function compileIptablesRemoval(prefix: string, savedText: string): string {
  return render(removalLines(prefix, parseIptablesSave(savedText), new Set()));
}

/** Expected chains and jumps for each family, and our sets with their element counts. Pure. */
export function iptablesShape(policy: Policy): {
  ipv4: IptablesShape;
  ipv6: IptablesShape;
  sets: Record<string, number>;
} {
  assertPolicy(policy);
  const shape = (tables: TableText[]): IptablesShape => {
    const chains: Record<string, number> = {};
    const jumps: Record<string, string> = {};
    for (const t of tables) {
      for (const c of t.chains) chains[`${t.table}/${c}`] = 0;
      // One pass: a trie makes thousands of chains at 4096 networks.
      for (const [c] of t.rules) chains[`${t.table}/${c}`]! += 1;
      for (const [builtin, c] of t.jumps) jumps[`${t.table}/${builtin}`] = c;
    }
    return { chains, jumps };
  };
  return {
    ipv4: shape(ipv4Tables(policy)),
    ipv6: shape(ipv6Tables(policy)),
    sets: ipsetShape(policy),
  };
}
