// "Came in on (or leaves through) one of our TAPs" for iptables, in a number of rule checks
// that does not grow with the pool. iptables has no set of interface names (an ipset
// hash:net,iface keyed by 0.0.0.0/0 hashes every entry into one bucket and holds at most 64),
// so the names become a trie of chains: each chain matches the next characters with `-i P+`
// wildcards and goes on (`-g`) to the chain for that prefix. For tn0…tn4095 a packet meets at
// most ~45 rules instead of one per network. Pure.

export interface Trie {
  /** Chains besides the root, in creation order. */
  chains: string[];
  rules: [chain: string, spec: string][];
}

/**
 * The trie for `devices` under `root` (a chain the caller creates and enters with `-j`).
 * A device's packet reaches `hit` (`-g CHAIN`, or `-j RETURN` to leave the root's caller's
 * next rule be next); any other packet runs `miss` (rules, each node's last) and returns to
 * the rule after the caller's `-j root`. Node chains are `<nodePrefix><n>` (n in base 36).
 */
export function deviceTrie(options: {
  devices: readonly string[];
  flag: '-i' | '-o';
  root: string;
  nodePrefix: string;
  hit: string;
  miss?: readonly string[];
}): Trie {
  const { flag, hit, nodePrefix } = options;
  const miss = options.miss ?? [];
  const trie: Trie = { chains: [], rules: [] };
  let next = 0;
  const sorted = [...new Set(options.devices)].sort();
  // `names` all start with `prefix`; emit the rules of `chain` deciding among them.
  const node = (chain: string, prefix: string, names: readonly string[]) => {
    const groups = new Map<string, string[]>();
    for (const name of names) {
      if (name === prefix) {
        trie.rules.push([chain, `${flag} ${name} ${hit}`]);
        continue;
      }
      const key = name[prefix.length]!;
      const group = groups.get(key);
      if (group) group.push(name);
      else groups.set(key, [name]);
    }
    for (const [key, group] of groups) {
      if (group.length === 1) {
        trie.rules.push([chain, `${flag} ${group[0]} ${hit}`]);
        continue;
      }
      // Skip the characters the whole group shares: one chain per branching point.
      let shared = prefix + key;
      while (
        group.every(
          (g) => g.length > shared.length && g[shared.length] === group[0]![shared.length],
        )
      )
        shared += group[0]![shared.length];
      const child = `${nodePrefix}${(next++).toString(36).toUpperCase()}`;
      trie.chains.push(child);
      trie.rules.push([chain, `${flag} ${shared}+ -g ${child}`]);
      node(child, shared, group);
    }
    for (const spec of miss) trie.rules.push([chain, spec]);
  };
  node(options.root, '', sorted);
  return trie;
}
