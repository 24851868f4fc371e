// The iptables backend's rules, per table, for each family. Per-network addresses are matched
// in ipsets (ipset.ts) and our interfaces by a trie of chains (iptables-trie.ts), so a packet
// walks a number of rules that does not grow with the pool. Pure.
import { ipsetNames } from './ipset.js';
import { deviceTrie } from './iptables-trie.js';
import { BLOCKED_DESTINATIONS, type Policy } from './policy.js';

/** `TAPNET-<PREFIX>-`: every chain of ours starts with it. */
export function iptablesChainPrefix(prefix: string): string {
  return `TAPNET-${prefix.toUpperCase()}-`;
}

export interface TableText {
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
    // What a packet from / to one of our TAPs meets (reached through a trie).
    vmPre: `${p}VPRE`,
    vmInput: `${p}VIN`,
    vmOutput: `${p}VOUT`,
    vmForward: `${p}VFWD`,
    // Trie roots (entered with -j); their nodes are named <root><n>.
    fromTap: `${p}I`,
    toTap: `${p}O`,
  };
}

/**
 * A hook chain's trie: its root (entered with `-j root` by the caller) and node chains, the
 * hit target for our devices and the miss rules for any other packet.
 */
function tapTrie(
  policy: Policy,
  root: string,
  flag: '-i' | '-o',
  hit: string,
  miss: string[] = [],
): { chains: string[]; rules: [string, string][] } {
  const trie = deviceTrie({
    devices: policy.networks.map((n) => n.device),
    flag,
    root,
    nodePrefix: root,
    hit,
    miss,
  });
  return { chains: [root, ...trie.chains], rules: trie.rules };
}

/** u32: the IP header length, then 32 bytes into UDP (giaddr) is not 0.0.0.0. */
const GIADDR_SET = '0x0>>0x16&0x3c@0x20=0x1:0xffffffff';

/**
 * `-m set` matches. For a `hash:net,iface` set the second direction names the interface:
 * `src` the one the packet came in on, `dst` the one it leaves through.
 */
function setMatch(set: string, directions: string, negate = false): string {
  return `-m set ${negate ? '! ' : ''}--match-set ${set} ${directions}`;
}

export function ipv4Tables(policy: Policy): TableText[] {
  const c = names(policy);
  const s = ipsetNames(policy.prefix);
  // Source in the subnet of the TAP it came in on / destination in the subnet of the TAP it
  // leaves by; the gateway of the TAP it came in on / leaves by.
  const fromOwnNet = setMatch(s.nets, 'src,src');
  const toOwnNet = setMatch(s.nets, 'dst,dst');
  const toOwnGateway = setMatch(s.gateways, 'dst,src');
  const fromOwnGateway = setMatch(s.gateways, 'src,dst');
  const udp = (sport: number | null, dport: number) =>
    `-p udp -m udp${sport === null ? '' : ` --sport ${sport}`} --dport ${dport}`;
  const md = `-d ${policy.metadataIp}/32 -p tcp -m tcp --dport ${policy.metadataPort}`;
  // RETURN where nft says accept: back in the builtin chain, the host's own rules after our
  // jump (ufw, DOCKER-USER, a DROP policy) still decide, as other tables do under nft.
  const ok = '-j RETURN';
  // Each table has its own chains, so each has its own trie (named alike).
  const preTrie = tapTrie(policy, `${c.fromTap}P`, '-i', `-g ${c.vmPre}`);
  const raw: TableText = {
    table: 'raw',
    chains: [c.pre, ...preTrie.chains, c.vmPre],
    jumps: [['PREROUTING', c.pre]],
    rules: [
      [c.pre, `-j ${preTrie.chains[0]}`],
      ...preTrie.rules,
      [c.vmPre, '-d 127.0.0.0/8 -j DROP'],
      [c.vmPre, `${fromOwnNet} -j RETURN`],
      [c.vmPre, `-s 0.0.0.0/32 -d 255.255.255.255/32 ${udp(68, 67)} -j RETURN`],
      [c.vmPre, '-j DROP'],
    ],
  };
  // Right after conntrack (mangle PREROUTING): a VM's new flow beyond its cap is dropped while
  // still unconfirmed, so it never takes a place in the shared conntrack table. connlimit
  // counts per source masked to the subnet's length (one rule per length present, its set
  // holding the networks of that length with their TAPs), and the raw chain let in only the
  // TAP's own subnet: one count per VM, whatever addresses of its subnet it uses. (REJECT is
  // not allowed in mangle; the nft backend drops too.)
  const lengths = [...new Set(policy.networks.map((n) => Number(n.subnet.split('/')[1])))].sort(
    (a, b) => a - b,
  );
  const mangle: TableText = {
    table: 'mangle',
    chains: [c.conns],
    jumps: [['PREROUTING', c.conns]],
    rules: lengths.map((length): [string, string] => [
      c.conns,
      `${setMatch(s.cap(length), 'src,src')} -m conntrack --ctstate NEW -m connlimit --connlimit-above ${policy.connections} --connlimit-mask ${length} --connlimit-saddr -j DROP`,
    ]),
  };
  const inTrie = tapTrie(policy, `${c.fromTap}I`, '-i', `-g ${c.vmInput}`);
  const outTrie = tapTrie(policy, `${c.toTap}O`, '-o', `-g ${c.vmOutput}`);
  const fwdInTrie = tapTrie(policy, `${c.fromTap}F`, '-i', `-g ${c.vmForward}`);
  const fwdOutTrie = tapTrie(policy, `${c.toTap}F`, '-o', `-g ${c.ingress}`);
  const llmnr = policy.llmnr;
  const filter: TableText = {
    table: 'filter',
    chains: [
      c.input,
      ...inTrie.chains,
      c.vmInput,
      c.reject,
      c.output,
      ...outTrie.chains,
      c.vmOutput,
      c.forward,
      ...fwdInTrie.chains,
      c.vmForward,
      ...fwdOutTrie.chains,
      c.egress,
      c.ingress,
    ],
    jumps: [
      ['INPUT', c.input],
      ['OUTPUT', c.output],
      ['FORWARD', c.forward],
    ],
    rules: [
      // A pool source is a VM's only when it came in on that VM's TAP: the metadata service
      // dispatches by source address, and a host process may bind a gateway address (lo).
      [
        c.input,
        `${md} ${setMatch(s.pool, 'src')} ${setMatch(s.nets, 'src,src', true)} -j REJECT --reject-with tcp-reset`,
      ],
      [c.input, `-j ${inTrie.chains[0]}`],
      ...inTrie.rules,
      // A VM is never a BOOTP relay agent: drop a non-zero giaddr (UDP payload offset 24).
      [c.vmInput, `${udp(null, 67)} -m u32 --u32 "${GIADDR_SET}" -j DROP`],
      [c.vmInput, `-d 255.255.255.255/32 ${udp(68, 67)} ${ok}`],
      [c.vmInput, `${fromOwnNet} ${toOwnGateway} ${udp(68, 67)} ${ok}`],
      [c.vmInput, `${fromOwnNet} ${toOwnGateway} ${udp(null, 53)} ${ok}`],
      [c.vmInput, `${fromOwnNet} ${toOwnGateway} -p tcp -m tcp --dport 53 ${ok}`],
      [c.vmInput, `${fromOwnNet} ${md} ${ok}`],
      // LLMNR (as in nft): queries to the group or the own gateway, answers to the own subnet.
      ...(llmnr
        ? ([
            [c.vmInput, `${fromOwnNet} -d 224.0.0.252/32 ${udp(null, 5355)} ${ok}`],
            [c.vmInput, `${fromOwnNet} ${toOwnGateway} ${udp(null, 5355)} ${ok}`],
          ] as [string, string][])
        : []),
      [c.vmInput, `-j ${c.reject}`],
      [c.reject, '-m pkttype --pkt-type broadcast -j DROP'],
      [c.reject, '-m pkttype --pkt-type multicast -j DROP'],
      [c.reject, '-p tcp -j REJECT --reject-with tcp-reset'],
      [c.reject, '-j REJECT --reject-with icmp-port-unreachable'],
      [c.output, `-j ${outTrie.chains[0]}`],
      ...outTrie.rules,
      [c.vmOutput, `-m conntrack --ctstate RELATED,ESTABLISHED ${ok}`],
      // The metadata service's own segments, whatever conntrack remembers (as in nft).
      [
        c.vmOutput,
        `-s ${policy.metadataIp}/32 -p tcp -m tcp --sport ${policy.metadataPort} ${toOwnNet} ${ok}`,
      ],
      [c.vmOutput, `${fromOwnGateway} ${udp(67, 68)} ${ok}`],
      // dhcp-dns's forgetLeases (see nft.ts).
      [
        c.vmOutput,
        `${fromOwnGateway} -d 255.255.255.255/32 ${udp(68, 67)} -m owner --uid-owner 0 ${ok}`,
      ],
      ...(llmnr
        ? ([[c.vmOutput, `${fromOwnGateway} ${toOwnNet} -p udp -m udp --sport 5355 ${ok}`]] as [
            string,
            string,
          ][])
        : []),
      [c.vmOutput, '-j DROP'],
      // From a TAP: egress checks; to a TAP: ingress checks (both, as before, for one packet).
      // EGRESS/INGRESS return here when they let a packet pass; nothing below may drop it.
      [c.forward, `-j ${fwdInTrie.chains[0]}`],
      [c.forward, `-j ${fwdOutTrie.chains[0]}`],
      ...fwdInTrie.rules,
      [c.vmForward, `${setMatch(s.nets, 'src,src', true)} -j DROP`],
      [c.vmForward, `-j ${c.egress}`],
      ...fwdOutTrie.rules,
    ],
  };
  const prohibit = '-j REJECT --reject-with icmp-admin-prohibited';
  // Same order as the nft chain: pool subnets, allow entries, blocked ranges, the uplink.
  filter.rules.push([c.egress, `${setMatch(s.pool, 'dst')} ${prohibit}`]);
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
  // Towards a TAP: nothing (RETURN to NAT's caller); else a pool source is masqueraded. The
  // miss rule sits in every trie node, as a packet that left the trie's path ends there.
  const natTrie = tapTrie(policy, `${c.toTap}N`, '-o', ok, [
    `${setMatch(s.pool, 'src')} -j MASQUERADE`,
  ]);
  const nat: TableText = {
    table: 'nat',
    chains: [c.nat, ...natTrie.chains],
    jumps: [['POSTROUTING', c.nat]],
    rules: [
      // Host-local traffic (out via lo) is never NATed, as in the nft ruleset.
      [c.nat, '-o lo -j RETURN'],
      [c.nat, `-j ${natTrie.chains[0]}`],
      ...natTrie.rules,
    ],
  };
  return [raw, mangle, filter, nat];
}

export function ipv6Tables(policy: Policy): TableText[] {
  const c = names(policy);
  const drop = '-j DROP';
  const fwdIn = tapTrie(policy, `${c.fromTap}F`, '-i', drop);
  const fwdOut = tapTrie(policy, `${c.toTap}F`, '-o', drop);
  const forward = {
    chains: [c.forward, ...fwdIn.chains, ...fwdOut.chains],
    rules: [
      [c.forward, `-j ${fwdIn.chains[0]}`],
      [c.forward, `-j ${fwdOut.chains[0]}`],
      ...fwdIn.rules,
      ...fwdOut.rules,
    ] as [string, string][],
  };
  if (!policy.ipv6) {
    const pre = tapTrie(policy, `${c.fromTap}P`, '-i', drop);
    const out = tapTrie(policy, `${c.toTap}O`, '-o', drop);
    return [
      {
        table: 'raw',
        chains: [c.pre, ...pre.chains],
        jumps: [['PREROUTING', c.pre]],
        rules: [[c.pre, `-j ${pre.chains[0]}`], ...pre.rules],
      },
      {
        table: 'filter',
        chains: [c.output, ...out.chains, ...forward.chains],
        jumps: [
          ['OUTPUT', c.output],
          ['FORWARD', c.forward],
        ],
        rules: [[c.output, `-j ${out.chains[0]}`], ...out.rules, ...forward.rules],
      },
    ];
  }
  const icmp = (type: string) => `-p ipv6-icmp -m icmp6 --icmpv6-type ${type}`;
  const inTrie = tapTrie(policy, `${c.fromTap}I`, '-i', `-g ${c.vmInput}`);
  const outTrie = tapTrie(policy, `${c.toTap}O`, '-o', `-g ${c.vmOutput}`);
  const filter: TableText = {
    table: 'filter',
    chains: [
      c.input,
      ...inTrie.chains,
      c.vmInput,
      c.reject,
      c.output,
      ...outTrie.chains,
      c.vmOutput,
      ...forward.chains,
    ],
    jumps: [
      ['INPUT', c.input],
      ['OUTPUT', c.output],
      ['FORWARD', c.forward],
    ],
    rules: [
      [c.input, `-j ${inTrie.chains[0]}`],
      ...inTrie.rules,
      ...[
        'neighbour-solicitation',
        'neighbour-advertisement',
        'router-solicitation',
        'echo-request',
      ].map((t): [string, string] => [c.vmInput, `${icmp(t)} -j RETURN`]),
      [c.vmInput, `-j ${c.reject}`],
      [c.reject, '-m pkttype --pkt-type multicast -j DROP'],
      [c.reject, '-p tcp -j REJECT --reject-with tcp-reset'],
      [c.reject, '-j REJECT --reject-with icmp6-port-unreachable'],
      [c.output, `-j ${outTrie.chains[0]}`],
      ...outTrie.rules,
      [c.vmOutput, `${icmp('neighbour-solicitation')} -j RETURN`],
      [c.vmOutput, `${icmp('neighbour-advertisement')} -j RETURN`],
      [c.vmOutput, '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN'],
      [c.vmOutput, '-j DROP'],
      ...forward.rules,
    ],
  };
  return [filter];
}
