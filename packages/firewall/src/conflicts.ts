import { FirewallOutputError } from './errors.js';
import { parseIptablesSave } from './iptables-save.js';

export interface Conflict {
  /** Where: `nft inet filter input`, `iptables filter INPUT`. */
  source: string;
  description: string;
}

const WHY = 'would drop DHCP/DNS/metadata traffic that this firewall accepts';
const WHY_FORWARD = 'would drop forwarded VM traffic that this firewall accepts';
/** Expressions that do not make a rule conditional. */
const NEUTRAL = new Set(['counter', 'log', 'limit', 'comment']);

interface NftChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  prio?: number;
  policy?: string;
}

/**
 * The `nftables` array of `nft -j` output. Anything else throws FirewallOutputError: read as
 * "nothing there" it would report no conflicts without having looked. Pure.
 */
export function readNftJson(json: string, source: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = undefined;
  }
  const items = (parsed as { nftables?: unknown } | undefined)?.nftables;
  if (!Array.isArray(items)) {
    throw new FirewallOutputError(source, 'JSON with an `nftables` array', json, json);
  }
  return items;
}

/**
 * Base chains of other tables that drop what we accept: a drop policy, or an unconditional
 * drop/reject rule, on a hook our allowed traffic passes. From `nft -j list ruleset`. Pure.
 */
export function nftConflicts(
  rulesetJson: string,
  ourTable: string,
  options: { forward: boolean; ipv6: boolean },
): Conflict[] {
  const items = readNftJson(rulesetJson, 'nft -j list ruleset');
  const hooks = new Set([
    'prerouting',
    'input',
    'output',
    'postrouting',
    ...(options.forward ? ['forward'] : []),
  ]);
  const families = new Set(['ip', 'inet', ...(options.ipv6 ? ['ip6'] : [])]);
  const chains = new Map<string, NftChain>();
  const conflicts: Conflict[] = [];
  for (const item of items) {
    const chain = (item as { chain?: NftChain }).chain;
    if (!chain?.hook || !hooks.has(chain.hook) || !families.has(chain.family)) continue;
    if (chain.family === 'inet' && chain.table === ourTable) continue;
    const key = `${chain.family} ${chain.table} ${chain.name}`;
    chains.set(key, chain);
    if (chain.policy === 'drop') {
      conflicts.push({
        source: `nft ${key}`,
        description: `policy drop on hook ${chain.hook} (priority ${chain.prio ?? '?'}) ${chain.hook === 'forward' ? WHY_FORWARD : WHY}`,
      });
    }
  }
  for (const item of items) {
    const rule = (
      item as {
        rule?: { family: string; table: string; chain: string; expr?: Record<string, unknown>[] };
      }
    ).rule;
    if (!rule) continue;
    const chain = chains.get(`${rule.family} ${rule.table} ${rule.chain}`);
    if (!chain) continue;
    const expr = rule.expr ?? [];
    const conditional = expr.some((e) => {
      const [kind] = Object.keys(e);
      return kind !== 'drop' && kind !== 'reject' && !NEUTRAL.has(kind ?? '');
    });
    const verdict = expr.find((e) => 'drop' in e || 'reject' in e);
    if (!conditional && verdict) {
      conflicts.push({
        source: `nft ${rule.family} ${rule.table} ${rule.chain}`,
        description: `unconditional ${'drop' in verdict ? 'drop' : 'reject'} rule on hook ${chain.hook} ${chain.hook === 'forward' ? WHY_FORWARD : WHY}`,
      });
    }
  }
  return conflicts;
}

/** Builtin chains with policy DROP, or unconditional DROP/REJECT rules, in `iptables-save` output. Pure. */
export function iptablesConflicts(
  saveText: string,
  family: 'iptables' | 'ip6tables',
  options: { forward: boolean },
): Conflict[] {
  const watched = new Set([
    'INPUT',
    'OUTPUT',
    'PREROUTING',
    'POSTROUTING',
    ...(options.forward ? ['FORWARD'] : []),
  ]);
  const conflicts: Conflict[] = [];
  for (const [table, chains] of parseIptablesSave(saveText, `${family}-save`).tables) {
    for (const [chain, entry] of chains) {
      if (!watched.has(chain)) continue;
      const why = chain === 'FORWARD' ? WHY_FORWARD : WHY;
      if (entry.policy === 'DROP') {
        conflicts.push({
          source: `${family} ${table} ${chain}`,
          description: `policy DROP ${why}`,
        });
      }
      for (const spec of entry.rules) {
        const verdict =
          /^(?:-m comment --comment (?:"[^"]*"|\S+) )?-j (DROP|REJECT)(?: --reject-with \S+)?$/.exec(
            spec,
          );
        if (verdict) {
          conflicts.push({
            source: `${family} ${table} ${chain}`,
            description: `unconditional ${verdict[1]} rule ${why}`,
          });
        }
      }
    }
  }
  return conflicts;
}
