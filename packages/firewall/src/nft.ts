import { assertPolicy, BLOCKED_DESTINATIONS, type Policy } from './policy.js';

/** Applies a ruleset (one atomic transaction) read from stdin. */
export const NFT_APPLY = ['nft', '-f', '-'] as const;

export function nftTableName(prefix: string): string {
  return `tapnet_${prefix}`;
}

/** What `status()` expects to find in our table: rules per chain and elements per set. */
export interface NftShape {
  readonly table: string;
  readonly chains: Readonly<Record<string, number>>;
  /** Elements per set; -1 for a set the kernel fills (any number will do). */
  readonly sets: Readonly<Record<string, number>>;
}

interface Compiled {
  text: string;
  shape: NftShape;
}

function q(name: string): string {
  // Device names are validated to [A-Za-z0-9_.-], so quoting needs no escaping.
  return `"${name}"`;
}

function set(
  name: string,
  type: string,
  elements: readonly string[],
  flags: 'interval' | 'dynamic' | null,
): string[] {
  const lines = [`\tset ${name} {`, `\t\ttype ${type}`];
  // A dynamic set is filled by the rules; it needs room for every TAP (MAX_NETWORKS).
  if (flags === 'dynamic') lines.push('\t\tsize 65535');
  if (flags) lines.push(`\t\tflags ${flags}`);
  if (elements.length > 0)
    lines.push(`\t\telements = {\n${elements.map((e) => `\t\t\t${e},`).join('\n')}\n\t\t}`);
  lines.push('\t}');
  return lines;
}

function compile(policy: Policy): Compiled {
  const table = nftTableName(policy.prefix);
  const taps = policy.networks.map((n) => q(n.device));
  const nets = policy.networks.map((n) => `${q(n.device)} . ${n.subnet}`);
  const gateways = policy.networks.map((n) => `${q(n.device)} . ${n.gateway}`);
  const pool = policy.networks.map((n) => n.subnet);
  const allowed = policy.allow.filter((a) => a.via === null).map((a) => a.cidr);
  const allowedVia = policy.allow
    .filter((a) => a.via !== null)
    .map((a) => `${q(a.via!)} . ${a.cidr}`);
  const sets: Record<string, number> = {
    taps: taps.length,
    nets: nets.length,
    gateways: gateways.length,
    pool: pool.length,
    blocked: BLOCKED_DESTINATIONS.length,
    allowed: allowed.length,
    allowed_via: allowedVia.length,
    conns: -1,
  };

  const v6In = policy.ipv6
    ? [
        'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, echo-request } accept',
      ]
    : ['meta nfproto ipv6 drop'];
  const v6Out = policy.ipv6
    ? ['icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept']
    : ['meta nfproto ipv6 drop'];
  const md = `${policy.metadataIp}`;
  // LLMNR (RFC 4795) for resolvers that never send single-label names to unicast DNS
  // (systemd-resolved): queries to the group or the own gateway, answers to the own subnet.
  const llmnrIn = policy.llmnr
    ? [
        'udp dport 5355 iifname . ip saddr @nets ip daddr 224.0.0.252 accept',
        'udp dport 5355 iifname . ip saddr @nets iifname . ip daddr @gateways accept',
      ]
    : [];
  const llmnrOut = policy.llmnr
    ? ['udp sport 5355 oifname . ip saddr @gateways oifname . ip daddr @nets accept']
    : [];
  const chains: [string, string | null, string[]][] = [
    // Right after conntrack (priority mangle): a VM's new flow beyond its cap is dropped while
    // still unconfirmed, so it never takes a place in the host's shared conntrack table. One
    // count per TAP (the key), whatever addresses of its subnet the VM uses.
    [
      'conn_cap',
      'type filter hook prerouting priority mangle; policy accept;',
      [
        `iifname @taps ct state new add @conns { iifname ct count over ${policy.connections} } drop`,
      ],
    ],
    // Earliest hook: spoofed sources, loopback destinations and (unless enabled) IPv6 never
    // reach conntrack or any other table.
    [
      'prerouting',
      'type filter hook prerouting priority raw; policy accept;',
      ['iifname @taps jump vm_ingress'],
    ],
    [
      'vm_ingress',
      null,
      [
        policy.ipv6 ? 'meta nfproto ipv6 return' : 'meta nfproto ipv6 drop',
        'ip daddr 127.0.0.0/8 drop',
        'iifname . ip saddr @nets return',
        'ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return',
        'drop',
      ],
    ],
    [
      'input',
      'type filter hook input priority filter - 10; policy accept;',
      [
        // A pool source is a VM's only when it came in on that VM's TAP. The metadata service
        // dispatches by source address, so a host process binding a gateway address (its
        // packets arrive on lo) would otherwise pose as that network's VM.
        `ip daddr ${md} tcp dport ${policy.metadataPort} ip saddr @pool iifname . ip saddr != @nets reject with tcp reset`,
        'iifname @taps jump vm_to_host',
      ],
    ],
    [
      'vm_to_host',
      null,
      [
        ...v6In,
        // A VM is never a BOOTP relay agent: a non-zero giaddr (payload offset 24) is a lie
        // that would make dnsmasq pick a range by the claimed relay's address.
        'udp dport 67 @th,256,32 != 0 drop',
        'udp sport 68 udp dport 67 ip daddr 255.255.255.255 accept',
        'udp sport 68 udp dport 67 iifname . ip saddr @nets iifname . ip daddr @gateways accept',
        'meta l4proto { tcp, udp } th dport 53 iifname . ip saddr @nets iifname . ip daddr @gateways accept',
        `tcp dport ${policy.metadataPort} iifname . ip saddr @nets ip daddr ${md} accept`,
        ...llmnrIn,
        'meta pkttype { broadcast, multicast } drop',
        'meta l4proto tcp reject with tcp reset',
        'reject with icmpx type port-unreachable',
      ],
    ],
    [
      'output',
      'type filter hook output priority filter - 10; policy accept;',
      ['oifname @taps jump host_to_vm'],
    ],
    [
      'host_to_vm',
      null,
      [
        ...v6Out,
        'ct state established,related accept',
        // The metadata service's own segments, whatever conntrack remembers: flushing a
        // released network's flows must not strand a connection (a reply, a reset) mid-way.
        `ip saddr ${md} tcp sport ${policy.metadataPort} oifname . ip daddr @nets accept`,
        'udp sport 67 udp dport 68 oifname . ip saddr @gateways accept',
        // dhcp-dns's forgetLeases: root's DHCPRELEASE broadcasts from a gateway, looped back to
        // dnsmasq as if received on that TAP, drop a released network's leases without a restart.
        'meta skuid 0 udp sport 68 udp dport 67 ip daddr 255.255.255.255 oifname . ip saddr @gateways accept',
        ...llmnrOut,
        'drop',
      ],
    ],
    [
      'forward',
      'type filter hook forward priority filter - 10; policy accept;',
      ['iifname @taps jump vm_forward', 'oifname @taps jump to_vm_forward'],
    ],
    [
      'vm_forward',
      null,
      [
        'meta nfproto ipv6 drop',
        'iifname . ip saddr != @nets drop',
        'ip daddr @pool reject with icmpx type admin-prohibited',
        'ip daddr @allowed accept',
        'oifname . ip daddr @allowed_via accept',
        'ip daddr @blocked reject with icmpx type admin-prohibited',
        ...(policy.uplink === null ? [] : [`oifname ${q(policy.uplink)} accept`]),
        'reject with icmpx type admin-prohibited',
      ],
    ],
    [
      'to_vm_forward',
      null,
      ['meta nfproto ipv6 drop', 'ct state established,related accept', 'drop'],
    ],
    [
      'postrouting',
      'type nat hook postrouting priority srcnat; policy accept;',
      // Host-local traffic (out via lo) is never NATed: a host process using a gateway address
      // as its source must still be seen with that address, e.g. by the metadata service.
      ['oifname @taps return', 'oifname "lo" return', 'ip saddr @pool masquerade'],
    ],
  ];

  const lines = [
    `# tapnet firewall for pool \`${policy.prefix}\`: ${policy.networks.length} network(s); one atomic transaction.`,
    // Create-then-delete makes the re-apply idempotent: the table is replaced, never merged.
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...set('taps', 'ifname', taps, null),
    ...set('nets', 'ifname . ipv4_addr', nets, 'interval'),
    ...set('gateways', 'ifname . ipv4_addr', gateways, null),
    ...set('pool', 'ipv4_addr', pool, 'interval'),
    ...set('blocked', 'ipv4_addr', BLOCKED_DESTINATIONS, 'interval'),
    ...set('allowed', 'ipv4_addr', allowed, 'interval'),
    ...set('allowed_via', 'ifname . ipv4_addr', allowedVia, 'interval'),
    ...set('conns', 'ifname', [], 'dynamic'),
  ];
  const chainShape: Record<string, number> = {};
  for (const [name, base, rules] of chains) {
    lines.push(`\tchain ${name} {`);
    if (base) lines.push(`\t\t${base}`);
    for (const rule of rules) lines.push(`\t\t${rule}`);
    lines.push('\t}');
    chainShape[name] = rules.length;
  }
  lines.push('}', '');
  return {
    text: lines.join('\n'),
    shape: Object.freeze({ table, chains: Object.freeze(chainShape), sets: Object.freeze(sets) }),
  };
}

/** The full text for ONE `nft -f -` transaction that creates or replaces our table. Pure. */
export function compileNft(policy: Policy): string {
  assertPolicy(policy);
  return compile(policy).text;
}

/** The chains (with rule counts) and sets (with element counts) compileNft produces. Pure. */
export function nftShape(policy: Policy): NftShape {
  assertPolicy(policy);
  return compile(policy).shape;
}

/** One transaction deleting our table; `table … {}` first makes it succeed when absent. */
export function compileNftRemoval(prefix: string): string {
  const table = nftTableName(prefix);
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}

/**
 * What differs between our table in `nft -j list ruleset` (or `list table`) output and the
 * expected shape: missing table, chains or sets, rule or element counts. `[]` when intact. Pure.
 */
export function nftDifferences(json: string, shape: NftShape): string[] {
  let items: Record<string, Record<string, unknown>>[];
  try {
    items = (JSON.parse(json) as { nftables?: typeof items }).nftables ?? [];
  } catch {
    return [`unreadable nft output for table inet ${shape.table}`];
  }
  const ours = (x: Record<string, unknown> | undefined) =>
    x?.family === 'inet' && x.table === shape.table;
  if (!items.some((i) => i.table?.family === 'inet' && i.table.name === shape.table)) {
    return [`table inet ${shape.table} missing`];
  }
  const chains = new Map<string, number>();
  const sets = new Map<string, number>();
  for (const item of items) {
    if (ours(item.chain)) chains.set(String(item.chain!.name), 0);
    if (ours(item.set))
      sets.set(String(item.set!.name), Array.isArray(item.set!.elem) ? item.set!.elem.length : 0);
  }
  for (const item of items) {
    if (!ours(item.rule)) continue;
    const chain = String(item.rule!.chain);
    chains.set(chain, (chains.get(chain) ?? 0) + 1);
  }
  const problems: string[] = [];
  const compare = (
    kind: string,
    what: string,
    want: Record<string, number>,
    got: Map<string, number>,
  ) => {
    for (const [name, count] of Object.entries(want)) {
      const found = got.get(name);
      if (found === undefined) problems.push(`${kind} ${name} missing`);
      else if (count >= 0 && found !== count)
        problems.push(`${kind} ${name} has ${found} ${what}, expected ${count}`);
    }
    for (const name of got.keys()) if (!(name in want)) problems.push(`unexpected ${kind} ${name}`);
  };
  compare('chain', 'rules', shape.chains, chains);
  compare('set', 'elements', shape.sets, sets);
  return problems;
}

/** Compares our table in `nft -j list ruleset` output with the expected shape. Pure. */
export function nftIntact(json: string, shape: NftShape): { present: boolean; intact: boolean } {
  const problems = nftDifferences(json, shape);
  const present = !problems.includes(`table inet ${shape.table} missing`);
  return { present, intact: present && problems.length === 0 };
}
