// The iptables backend's per-network addresses live in ipsets (hash lookups keyed by address
// and interface), so a packet's cost does not grow with the pool, as with nft's own sets.
// (Which interfaces are ours is a trie of chains: see iptables-trie.ts.) Pure: the text for
// `ipset restore` and the parsers.
import { assertPolicy, type Policy } from './policy.js';

/** `tapnet-<prefix>-`: every set of ours starts with it (prefixes never contain `-`). */
export function ipsetPrefix(prefix: string): string {
  return `tapnet-${prefix}-`;
}

export interface IpsetSet {
  readonly name: string;
  readonly type: 'hash:net' | 'hash:net,iface';
  readonly family: 'inet' | 'inet6';
  readonly elements: readonly string[];
}

/** The set names the rules refer to; `cap(length)` holds the networks of that prefix length. */
export function ipsetNames(prefix: string) {
  const p = ipsetPrefix(prefix);
  return {
    /** `<subnet>,<device>`: a source (or destination) of the network behind that TAP. */
    nets: `${p}nets`,
    /** `<gateway>/32,<device>`. */
    gateways: `${p}gws`,
    /** `<subnet>`: any pool subnet. */
    pool: `${p}pool`,
    cap: (length: number) => `${p}cap${length}`,
  };
}

/** Suffix of the set an apply fills before swapping it in (one swap per set is atomic). */
const NEXT = '-n';

/** The sets a policy needs, with their elements. Pure. */
export function ipsetSets(policy: Policy): IpsetSet[] {
  assertPolicy(policy);
  const n = ipsetNames(policy.prefix);
  const lengths = new Map<number, string[]>();
  for (const { device, subnet } of policy.networks) {
    const length = Number(subnet.split('/')[1]);
    const group = lengths.get(length);
    if (group) group.push(`${subnet},${device}`);
    else lengths.set(length, [`${subnet},${device}`]);
  }
  const iface = 'hash:net,iface' as const;
  return [
    {
      name: n.nets,
      type: iface,
      family: 'inet',
      elements: policy.networks.map((x) => `${x.subnet},${x.device}`),
    },
    {
      name: n.gateways,
      type: iface,
      family: 'inet',
      elements: policy.networks.map((x) => `${x.gateway}/32,${x.device}`),
    },
    {
      name: n.pool,
      type: 'hash:net',
      family: 'inet',
      elements: policy.networks.map((x) => x.subnet),
    },
    ...[...lengths]
      .sort(([a], [b]) => a - b)
      .map(
        ([length, elements]) =>
          ({ name: n.cap(length), type: iface, family: 'inet', elements }) as const,
      ),
  ];
}

/**
 * Text for `ipset restore` that fills each set under a temporary name and swaps it in, so a
 * rule referring to a set sees the old or the new elements, never a half-filled set.
 * `existing`: set names the host has now (`ipset list -n`). Pure.
 */
export function compileIpsetRestore(
  sets: readonly IpsetSet[],
  existing: ReadonlySet<string>,
): string {
  const lines: string[] = [];
  for (const set of sets) {
    const next = `${set.name}${NEXT}`;
    const create = (name: string) => `create ${name} ${set.type} family ${set.family}`;
    // A leftover of a crashed apply is ours and of the same type: empty it and reuse it.
    lines.push(existing.has(next) ? `flush ${next}` : create(next));
    for (const element of set.elements) lines.push(`add ${next} ${element}`);
    if (!existing.has(set.name)) lines.push(create(set.name));
    lines.push(`swap ${next} ${set.name}`, `destroy ${next}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Our set names in `ipset list -n` output that `keep` does not name. Pure. */
export function staleIpsets(prefix: string, listed: string, keep: ReadonlySet<string>): string[] {
  const ours = ipsetPrefix(prefix);
  return listed
    .split('\n')
    .map((l) => l.trim())
    .filter((name) => name.startsWith(ours) && !keep.has(name));
}

/** `ipset restore` text destroying `names`; '' when there are none. Pure. */
export function compileIpsetRemoval(names: readonly string[]): string {
  return names.map((name) => `destroy ${name}\n`).join('');
}

/** Set name → number of entries, from `ipset list -t` (terse) output. Pure. */
export function parseIpsetTerse(text: string): Map<string, number> {
  const sets = new Map<string, number>();
  let name: string | undefined;
  for (const line of text.split('\n')) {
    const field = /^([A-Za-z ]+):\s*(.*)$/.exec(line);
    if (!field) continue;
    if (field[1] === 'Name') name = field[2]!.trim();
    else if (field[1] === 'Number of entries' && name !== undefined) {
      sets.set(name, Number(field[2]));
      name = undefined;
    }
  }
  return sets;
}

/** Expected sets of a policy with their element counts. Pure. */
export function ipsetShape(policy: Policy): Record<string, number> {
  return Object.fromEntries(ipsetSets(policy).map((s) => [s.name, s.elements.length]));
}

/** What differs between `ipset list -t` output and the expected sets; `[]` when intact. Pure. */
export function ipsetDifferences(
  prefix: string,
  shape: Readonly<Record<string, number>>,
  terse: string,
): string[] {
  const found = parseIpsetTerse(terse);
  const problems: string[] = [];
  for (const [name, count] of Object.entries(shape)) {
    const got = found.get(name);
    if (got === undefined) problems.push(`ipset ${name} missing`);
    else if (got !== count) problems.push(`ipset ${name} has ${got} entries, expected ${count}`);
  }
  const ours = ipsetPrefix(prefix);
  for (const name of found.keys()) {
    if (name.startsWith(ours) && !(name in shape)) problems.push(`unexpected ipset ${name}`);
  }
  return problems;
}
