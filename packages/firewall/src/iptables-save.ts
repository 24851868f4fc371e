// Reading `iptables-save` output: our chains and the jumps into them, what to delete to
// remove them, and what differs from the expected shape (the drift check). Pure.
import { FirewallOutputError } from './errors.js';
import { iptablesChainPrefix } from './iptables-rules.js';

/** Our chains per table with their rule counts, and the builtin chains that jump to them. */
export interface IptablesShape {
  /** `table/CHAIN` → number of rules. */
  readonly chains: Readonly<Record<string, number>>;
  /** `table/BUILTIN` → our chain it jumps to (exactly one jump each). */
  readonly jumps: Readonly<Record<string, string>>;
}

/** What an `iptables-save` shows of one family: our chains and rules, and jumps to them. */
export interface SavedState {
  /** table → chain → rule specs (`-A` lines without the `-A CHAIN ` head). */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, { policy: string; rules: string[] }>>;
}

/**
 * Parses `iptables-save` output. Pure. A line that is none of `*table`, `:CHAIN`, `-A`, `COMMIT`
 * or a comment (or a rule outside a table) throws FirewallOutputError: reading such output as
 * "no chains" would report our rules absent and the host's rules harmless without knowing.
 */
export function parseIptablesSave(text: string, source = 'iptables-save'): SavedState {
  const tables = new Map<string, Map<string, { policy: string; rules: string[] }>>();
  let current: Map<string, { policy: string; rules: string[] }> | undefined;
  const unreadable = (line: string): never => {
    throw new FirewallOutputError(source, 'lines of *table, :CHAIN, -A, COMMIT or #', line, text);
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = new Map();
      tables.set(line.slice(1).trim(), current);
    } else if (line.startsWith(':')) {
      if (!current) unreadable(line);
      const [name = '', policy = '-'] = line.slice(1).split(' ');
      current!.set(name, { policy, rules: [] });
    } else if (line.startsWith('-A ')) {
      if (!current) unreadable(line);
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const spec = space < 0 ? '' : rest.slice(space + 1);
      let entry = current!.get(chain);
      if (!entry) {
        entry = { policy: '-', rules: [] };
        current!.set(chain, entry);
      }
      entry.rules.push(spec);
    } else if (!(line.trim() === '' || line.startsWith('#') || line.trim() === 'COMMIT')) {
      unreadable(line);
    }
  }
  return { tables };
}

function jumpTarget(spec: string): string | undefined {
  return /(?:^| )-j (\S+)$/.exec(spec)?.[1];
}

/**
 * Restore-file lines (per table, without `*table`/`COMMIT`) that delete every jump into our
 * chains and then flush and delete our chains, as found in `saved`. Pure.
 */
export function removalLines(
  prefix: string,
  saved: SavedState,
  keep: ReadonlySet<string>,
): Map<string, string[]> {
  const ours = iptablesChainPrefix(prefix);
  const out = new Map<string, string[]>();
  for (const [table, chains] of saved.tables) {
    const deletes: string[] = [];
    const flush: string[] = [];
    const drop: string[] = [];
    for (const [chain, entry] of chains) {
      if (chain.startsWith(ours)) {
        if (!keep.has(`${table}/${chain}`)) {
          flush.push(`-F ${chain}`);
          drop.push(`-X ${chain}`);
        }
        continue;
      }
      for (const spec of entry.rules) {
        if (jumpTarget(spec)?.startsWith(ours)) deletes.push(`-D ${chain} ${spec}`);
      }
    }
    const lines = [...deletes, ...flush, ...drop];
    if (lines.length > 0) out.set(table, lines);
  }
  return out;
}

/** Chain names of ours present in `savedText` (`table/CHAIN`). Pure. */
export function ourIptablesChains(prefix: string, savedText: string): string[] {
  const ours = iptablesChainPrefix(prefix);
  const found: string[] = [];
  for (const [table, chains] of parseIptablesSave(savedText).tables) {
    for (const chain of chains.keys()) if (chain.startsWith(ours)) found.push(`${table}/${chain}`);
  }
  return found;
}

/**
 * Our jump comes before every rule of the host's. Only other tapnet pools' jumps may precede
 * it: their chains decide only for their own devices, and each pool's apply puts its jump on
 * top, so two pools' watches must not call that drift and re-apply against each other forever.
 */
function firstButOtherPools(rules: readonly string[], ourJump: string): boolean {
  for (const spec of rules) {
    if (spec === ourJump) return true;
    if (!(spec.startsWith('-j TAPNET-') && /^-j \S+$/.test(spec))) return false;
  }
  return false;
}

/** Compares `iptables-save` output with the expected shape; returns what differs. Pure. */
export function iptablesDifferences(
  prefix: string,
  shape: IptablesShape,
  savedText: string,
): string[] {
  const saved = parseIptablesSave(savedText);
  const ours = iptablesChainPrefix(prefix);
  const problems: string[] = [];
  for (const [key, count] of Object.entries(shape.chains)) {
    const [table = '', chain = ''] = key.split('/');
    const got = saved.tables.get(table)?.get(chain);
    if (!got) problems.push(`chain ${key} missing`);
    else if (got.rules.length !== count)
      problems.push(`chain ${key} has ${got.rules.length} rules, expected ${count}`);
  }
  for (const [table, chains] of saved.tables) {
    for (const [chain, entry] of chains) {
      if (chain.startsWith(ours)) {
        if (!(`${table}/${chain}` in shape.chains))
          problems.push(`unexpected chain ${table}/${chain}`);
        continue;
      }
      const jumps = entry.rules.filter((spec) => jumpTarget(spec)?.startsWith(ours));
      const expected = shape.jumps[`${table}/${chain}`];
      const want = expected === undefined ? 0 : 1;
      if (jumps.length !== want || (expected && jumpTarget(jumps[0] ?? '') !== expected)) {
        problems.push(
          `${table}/${chain} has ${jumps.length} jump(s) into our chains, expected ${want}`,
        );
      } else if (expected && !firstButOtherPools(entry.rules, jumps[0]!)) {
        problems.push(`${table}/${chain}: our jump is not the first rule`);
      }
    }
  }
  for (const key of Object.keys(shape.jumps)) {
    const [table = '', chain = ''] = key.split('/');
    if (!saved.tables.get(table)?.get(chain)) problems.push(`${key} missing`);
  }
  return problems;
}
