import { assertPolicy, BLOCKED_DESTINATIONS, type Policy } from './policy.js';

/** `TAPNET-<PREFIX>-`: every chain of ours starts with it. */
export function iptablesChainPrefix(prefix: string): string {
  return `TAPNET-${prefix.toUpperCase()}-`;
}

export interface IptablesRuleset {
  ipv4: string;
  ipv6: string;
}

/** Our chains per table with their rule counts, and the builtin chains that jump to them. */
export interface IptablesShape {
  /** `table/CHAIN` → number of rules. */
  readonly chains: Readonly<Record<string, number>>;
  /** `table/BUILTIN` → our chain it jumps to (exactly one jump each). */
  readonly jumps: Readonly<Record<string, string>>;
}

interface TableText {
  table: string;
  chains: string[];
  jumps: [builtin: string, chain: string][];
  rules: [chain: string, spec: string][];
}

function names(policy: Policy) {
  const p = iptablesChainPrefix(policy.prefix);
  return {
    pre: `${p}PRE`,
    input: `${p}INPUT`,
    reject: `${p}REJECT`,
    output: `${p}OUTPUT`,
    forward: `${p}FORWARD`,
    egress: `${p}EGRESS`,
    ingress: `${p}INGRESS`,
    nat: `${p}NAT`,
    conns: `${p}CONNS`,
  };
}

/** u32: the IP header length, then 32 bytes into UDP (giaddr) is not 0.0.0.0. */
const GIADDR_SET = '0x0>>0x16&0x3c@0x20=0x1:0xffffffff';

function ipv4Tables(policy: Policy): TableText[] {
  const c = names(policy);
  const udp = (sport: number | null, dport: number) =>
    `-p udp -m udp${sport === null ? '' : ` --sport ${sport}`} --dport ${dport}`;
  const raw: TableText = {
    table: 'raw',
    chains: [c.pre],
    jumps: [['PREROUTING', c.pre]],
    rules: [],
  };
  const filter: TableText = {
    table: 'filter',
    chains: [c.input, c.reject, c.output, c.forward, c.egress, c.ingress],
    jumps: [
      ['INPUT', c.input],
      ['OUTPUT', c.output],
      ['FORWARD', c.forward],
    ],
    rules: [],
  };
  const nat: TableText = {
    table: 'nat',
    chains: [c.nat],
    jumps: [['POSTROUTING', c.nat]],
    rules: [],
  };
  // Right after conntrack (mangle PREROUTING): a VM's new flow beyond its cap is dropped while
  // still unconfirmed, so it never takes a place in the shared conntrack table. connlimit
  // counts per source masked to the subnet's length, and the raw chain let in only the TAP's
  // own subnet: one count per VM, whatever addresses of its subnet it uses. (REJECT is not
  // allowed in mangle; the nft backend drops too.)
  const mangle: TableText = {
    table: 'mangle',
    chains: [c.conns],
    jumps: [['PREROUTING', c.conns]],
    rules: policy.networks.map((n): [string, string] => [
      c.conns,
      `-s ${n.subnet} -i ${n.device} -m conntrack --ctstate NEW -m connlimit --connlimit-above ${policy.connections} --connlimit-mask ${n.subnet.split('/')[1]} --connlimit-saddr -j DROP`,
    ]),
  };
  const md = `-d ${policy.metadataIp}/32 -p tcp -m tcp --dport ${policy.metadataPort}`;
  // RETURN where nft says accept: back in the builtin chain, the host's own rules after our
  // jump (ufw, DOCKER-USER, a DROP policy) still decide, as other tables do under nft.
  const ok = '-j RETURN';
  for (const { device: d, subnet: s, gateway: g } of policy.networks) {
    raw.rules.push(
      [c.pre, `-i ${d} -d 127.0.0.0/8 -j DROP`],
      [c.pre, `-i ${d} -s ${s} -j RETURN`],
      [c.pre, `-i ${d} -s 0.0.0.0/32 -d 255.255.255.255/32 ${udp(68, 67)} -j RETURN`],
      [c.pre, `-i ${d} -j DROP`],
    );
    filter.rules.push(
      // A pool source is a VM's only when it came in on that VM's TAP: the metadata service
      // dispatches by source address, and a host process may bind a gateway address (lo).
      [c.input, `-s ${s} ! -i ${d} ${md} -j REJECT --reject-with tcp-reset`],
      // A VM is never a BOOTP relay agent: drop a non-zero giaddr (UDP payload offset 24).
      [c.input, `-i ${d} ${udp(null, 67)} -m u32 --u32 "${GIADDR_SET}" -j DROP`],
      [c.input, `-i ${d} -d 255.255.255.255/32 ${udp(68, 67)} ${ok}`],
      [c.input, `-i ${d} -s ${s} -d ${g}/32 ${udp(68, 67)} ${ok}`],
      [c.input, `-i ${d} -s ${s} -d ${g}/32 ${udp(null, 53)} ${ok}`],
      [c.input, `-i ${d} -s ${s} -d ${g}/32 -p tcp -m tcp --dport 53 ${ok}`],
      [c.input, `-i ${d} -s ${s} ${md} ${ok}`],
      // LLMNR (as in nft): queries to the group or the own gateway, answers to the own subnet.
      ...(policy.llmnr
        ? ([
            [c.input, `-i ${d} -s ${s} -d 224.0.0.252/32 ${udp(null, 5355)} ${ok}`],
            [c.input, `-i ${d} -s ${s} -d ${g}/32 ${udp(null, 5355)} ${ok}`],
          ] as [string, string][])
        : []),
      [c.input, `-i ${d} -j ${c.reject}`],
      [c.output, `-o ${d} -m conntrack --ctstate RELATED,ESTABLISHED ${ok}`],
      // The metadata service's own segments, whatever conntrack remembers (as in nft).
      [
        c.output,
        `-o ${d} -s ${policy.metadataIp}/32 -d ${s} -p tcp -m tcp --sport ${policy.metadataPort} ${ok}`,
      ],
      [c.output, `-o ${d} -s ${g}/32 ${udp(67, 68)} ${ok}`],
      // dhcp-dns's forgetLeases (see nft.ts).
      [
        c.output,
        `-o ${d} -s ${g}/32 -d 255.255.255.255/32 ${udp(68, 67)} -m owner --uid-owner 0 ${ok}`,
      ],
      ...(policy.llmnr
        ? ([[c.output, `-o ${d} -s ${g}/32 -d ${s} -p udp -m udp --sport 5355 ${ok}`]] as [
            string,
            string,
          ][])
        : []),
      [c.output, `-o ${d} -j DROP`],
      // EGRESS/INGRESS return here when they let a packet pass; nothing below may drop it.
      [c.forward, `-i ${d} ! -s ${s} -j DROP`],
      [c.forward, `-i ${d} -j ${c.egress}`],
      [c.forward, `-o ${d} -j ${c.ingress}`],
    );
  }
  filter.rules.push(
    [c.reject, '-m pkttype --pkt-type broadcast -j DROP'],
    [c.reject, '-m pkttype --pkt-type multicast -j DROP'],
    [c.reject, '-p tcp -j REJECT --reject-with tcp-reset'],
    [c.reject, '-j REJECT --reject-with icmp-port-unreachable'],
  );
  const prohibit = '-j REJECT --reject-with icmp-admin-prohibited';
  // Same order as the nft chain: pool subnets, allow entries, blocked ranges, the uplink.
  for (const n of policy.networks) filter.rules.push([c.egress, `-d ${n.subnet} ${prohibit}`]);
  for (const a of policy.allow) {
    filter.rules.push([c.egress, `-d ${a.cidr}${a.via === null ? '' : ` -o ${a.via}`} ${ok}`]);
  }
  for (const b of BLOCKED_DESTINATIONS) filter.rules.push([c.egress, `-d ${b} ${prohibit}`]);
  if (policy.uplink !== null) filter.rules.push([c.egress, `-o ${policy.uplink} ${ok}`]);
  filter.rules.push(
    [c.egress, prohibit],
    [c.ingress, `-m conntrack --ctstate RELATED,ESTABLISHED ${ok}`],
    [c.ingress, '-j DROP'],
  );
  for (const n of policy.networks) nat.rules.push([c.nat, `-o ${n.device} -j RETURN`]);
  // Host-local traffic (out via lo) is never NATed, as in the nft ruleset.
  nat.rules.push([c.nat, '-o lo -j RETURN']);
  for (const n of policy.networks) nat.rules.push([c.nat, `-s ${n.subnet} -j MASQUERADE`]);
  return [raw, mangle, filter, nat];
}

function ipv6Tables(policy: Policy): TableText[] {
  const c = names(policy);
  if (!policy.ipv6) {
    const raw: TableText = {
      table: 'raw',
      chains: [c.pre],
      jumps: [['PREROUTING', c.pre]],
      rules: [],
    };
    const filter: TableText = {
      table: 'filter',
      chains: [c.output, c.forward],
      jumps: [
        ['OUTPUT', c.output],
        ['FORWARD', c.forward],
      ],
      rules: [],
    };
    for (const { device: d } of policy.networks) {
      raw.rules.push([c.pre, `-i ${d} -j DROP`]);
      filter.rules.push(
        [c.output, `-o ${d} -j DROP`],
        [c.forward, `-i ${d} -j DROP`],
        [c.forward, `-o ${d} -j DROP`],
      );
    }
    return [raw, filter];
  }
  const filter: TableText = {
    table: 'filter',
    chains: [c.input, c.reject, c.output, c.forward],
    jumps: [
      ['INPUT', c.input],
      ['OUTPUT', c.output],
      ['FORWARD', c.forward],
    ],
    rules: [],
  };
  const icmp = (type: string) => `-p ipv6-icmp -m icmp6 --icmpv6-type ${type}`;
  for (const { device: d } of policy.networks) {
    filter.rules.push(
      ...[
        'neighbour-solicitation',
        'neighbour-advertisement',
        'router-solicitation',
        'echo-request',
      ].map((t): [string, string] => [c.input, `-i ${d} ${icmp(t)} -j RETURN`]),
      [c.input, `-i ${d} -j ${c.reject}`],
      [c.output, `-o ${d} ${icmp('neighbour-solicitation')} -j RETURN`],
      [c.output, `-o ${d} ${icmp('neighbour-advertisement')} -j RETURN`],
      [c.output, `-o ${d} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`],
      [c.output, `-o ${d} -j DROP`],
      [c.forward, `-i ${d} -j DROP`],
      [c.forward, `-o ${d} -j DROP`],
    );
  }
  filter.rules.push(
    [c.reject, '-m pkttype --pkt-type multicast -j DROP'],
    [c.reject, '-p tcp -j REJECT --reject-with tcp-reset'],
    [c.reject, '-j REJECT --reject-with icmp6-port-unreachable'],
  );
  return [filter];
}

/** What an `iptables-save` shows of one family: our chains and rules, and jumps to them. */
export interface SavedState {
  /** table → chain → rule specs (`-A` lines without the `-A CHAIN ` head). */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, { policy: string; rules: string[] }>>;
}

/** Parses `iptables-save` output. Pure. */
export function parseIptablesSave(text: string): SavedState {
  const tables = new Map<string, Map<string, { policy: string; rules: string[] }>>();
  let current: Map<string, { policy: string; rules: string[] }> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = new Map();
      tables.set(line.slice(1).trim(), current);
    } else if (line.startsWith(':') && current) {
      const [name = '', policy = '-'] = line.slice(1).split(' ');
      current.set(name, { policy, rules: [] });
    } else if (line.startsWith('-A ') && current) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const spec = space < 0 ? '' : rest.slice(space + 1);
      let entry = current.get(chain);
      if (!entry) {
        entry = { policy: '-', rules: [] };
        current.set(chain, entry);
      }
      entry.rules.push(spec);
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
function removalLines(
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
 * chains), so applying twice leaves one copy. Pure.
 */
export function compileIptables(
  policy: Policy,
  saved?: { ipv4?: string; ipv6?: string },
): IptablesRuleset {
  assertPolicy(policy);
  const parse = (text: string | undefined) =>
    text === undefined ? undefined : parseIptablesSave(text);
  return {
    ipv4: compileFamily(ipv4Tables(policy), policy.prefix, parse(saved?.ipv4)),
    ipv6: compileFamily(ipv6Tables(policy), policy.prefix, parse(saved?.ipv6)),
  };
}

/** A restore file deleting our jumps and chains found in `savedText`; '' when there are none. Pure. */
export function compileIptablesRemoval(prefix: string, savedText: string): string {
  return render(removalLines(prefix, parseIptablesSave(savedText), new Set()));
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

/** Expected chains and jumps for each family. Pure. */
export function iptablesShape(policy: Policy): { ipv4: IptablesShape; ipv6: IptablesShape } {
  assertPolicy(policy);
  const shape = (tables: TableText[]): IptablesShape => {
    const chains: Record<string, number> = {};
    const jumps: Record<string, string> = {};
    for (const t of tables) {
      for (const c of t.chains)
        chains[`${t.table}/${c}`] = t.rules.filter(([chain]) => chain === c).length;
      for (const [builtin, c] of t.jumps) jumps[`${t.table}/${builtin}`] = c;
    }
    return { chains, jumps };
  };
  return { ipv4: shape(ipv4Tables(policy)), ipv6: shape(ipv6Tables(policy)) };
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
