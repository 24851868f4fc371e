import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { poolOptions, samplePolicies } from './fixtures.test-helpers.js';
import {
  compileIptables,
  compileIptablesRemoval,
  iptablesDifferences,
  iptablesShape,
} from './iptables.js';
import { compileNft, nftShape } from './nft.js';
import { buildPolicy } from './policy.js';

const goldenDir = join(import.meta.dirname, '__golden__');

/** Compares with `__golden__/<name>`; UPDATE_GOLDEN=1 rewrites it (review the diff by eye). */
function golden(name: string, text: string): void {
  const file = join(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1')
      throw new Error(`missing golden ${name}; run with UPDATE_GOLDEN=1`);
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe.each(Object.entries(samplePolicies))(
  'compiled rules for the %s-network sample',
  (name, make) => {
    it('nft text matches the golden file', () => golden(`${name}.nft`, compileNft(make())));
    it('iptables restore files match the golden files', () => {
      const { ipv4, ipv6, ipset } = compileIptables(make());
      golden(`${name}.iptables`, ipv4);
      golden(`${name}.ip6tables`, ipv6);
      golden(`${name}.ipset`, ipset);
    });
  },
);

const parsed = new Map<string, Map<string, string[]>>();
function chainsOf(text: string): Map<string, string[]> {
  let byChain = parsed.get(text);
  if (!byChain) {
    byChain = new Map();
    for (const line of text.split('\n')) {
      const m = /^-A (\S+) (.*)$/.exec(line);
      if (!m) continue;
      const rules = byChain.get(m[1]!) ?? [];
      rules.push(m[2]!);
      byChain.set(m[1]!, rules);
    }
    parsed.set(text, byChain);
  }
  return byChain;
}

/**
 * Follows a packet of `device` through a chain the way the kernel does (`-i`/`-o` exact or
 * `name+` wildcard, `-j`/`-g` into our chains): how many rules it meets, and whether it ends
 * in `target`.
 */
function walk(
  text: string,
  chain: string,
  device: string,
  target: string,
): { rules: number; reached: boolean } {
  const byChain = chainsOf(text);
  let rules = 0;
  let current = chain;
  for (;;) {
    let jumped = false;
    for (const spec of byChain.get(current) ?? []) {
      rules += 1;
      const iface = /-[io] (\S+)/.exec(spec)?.[1];
      const matches =
        iface === undefined ||
        (iface.endsWith('+') ? device.startsWith(iface.slice(0, -1)) : device === iface);
      const next = /-[jg] (\S+)$/.exec(spec)?.[1];
      if (!matches || !next) continue;
      if (next === target) return { rules, reached: true };
      if (next.startsWith('TAPNET-')) {
        current = next;
        jumped = true;
        break;
      }
    }
    if (!jumped) return { rules, reached: false };
  }
}

describe('iptables per-packet work does not grow with the number of networks', () => {
  const options = (count: number) => ({
    prefix: 'tn',
    uplink: 'eth0',
    networks: Array.from({ length: count }, (_, i) => ({
      device: `tn${i}`,
      subnet: `10.200.${i >> 4}.${(i & 15) << 4}/28`,
      gateway: `10.200.${i >> 4}.${((i & 15) << 4) + 1}`,
    })),
  });
  const most = buildPolicy(options(4096));
  const { ipv4 } = compileIptables(most);

  it('brings a packet of every one of 4096 TAPs to its checks through at most 50 rules', () => {
    let longest = 0;
    for (const { device } of most.networks) {
      const { rules, reached } = walk(ipv4, 'TAPNET-TN-II', device, 'TAPNET-TN-VIN');
      expect(reached).toBe(true);
      longest = Math.max(longest, rules);
    }
    expect(longest).toBeLessThanOrEqual(50);
    // Not ours: out of the trie without reaching the checks (tn4096, tnx1, eth0).
    for (const other of ['tn4096', 'tnx1', 'eth0', 'tn']) {
      expect(walk(ipv4, 'TAPNET-TN-II', other, 'TAPNET-TN-VIN').reached).toBe(false);
    }
  });

  it('keeps the per-network addresses in sets: the checks are the same rules for 1 and 4096', () => {
    const one = compileIptables(buildPolicy(options(1))).ipv4;
    const checks = (text: string) =>
      text
        .split('\n')
        .filter((l) => /^-A TAPNET-TN-(VPRE|VIN|VOUT|VFWD|EGRESS|INGRESS|REJECT|CONNS) /.test(l));
    expect(checks(ipv4)).toEqual(checks(one));
    expect(iptablesShape(most).sets['tapnet-tn-nets']).toBe(4096);
  });
});

describe('nft rule count does not grow with the number of networks', () => {
  it('has the same chains and rules for 1 and 250 networks, only set sizes differ', () => {
    const one = nftShape(buildPolicy(poolOptions(1, { uplink: 'eth0' })));
    const many = nftShape(buildPolicy(poolOptions(250, { uplink: 'eth0' })));
    expect(Object.keys(many.chains)).toEqual(Object.keys(one.chains));
    const rules = (s: typeof one) => Object.values(s.chains).reduce((a, b) => a + b, 0);
    expect(rules(many)).toBe(rules(one));
    expect(many.sets.nets).toBe(250);
    expect(one.sets.nets).toBe(1);
  });

  it('matches every per-network field by set lookup at 4096 networks: no rule names a device or subnet', () => {
    const networks = Array.from({ length: 4096 }, (_, i) => ({
      device: `tn${i}`,
      subnet: `10.200.${i >> 4}.${(i & 15) << 4}/28`,
      gateway: `10.200.${i >> 4}.${((i & 15) << 4) + 1}`,
    }));
    const policy = buildPolicy({ prefix: 'tn', uplink: 'eth0', networks });
    const shape = nftShape(policy);
    expect(shape.chains).toEqual(nftShape(buildPolicy(poolOptions(1, { uplink: 'eth0' }))).chains);
    expect(shape.sets.nets).toBe(4096);
    const text = compileNft(policy);
    const rules = text.slice(text.indexOf('\tchain ')).split('\n');
    expect(rules.filter((l) => /"tn\d+"|10\.200\./.test(l))).toEqual([]);
  });
});

describe('iptables re-apply and removal', () => {
  const saved = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':TAPNET-TN-INPUT - [0:0]',
    ':TAPNET-TN-OLD - [0:0]',
    ':OTHER - [0:0]',
    '-A INPUT -j TAPNET-TN-INPUT',
    '-A INPUT -i eth0 -p tcp -m tcp --dport 22 -j ACCEPT',
    '-A FORWARD -j TAPNET-TN-INPUT',
    '-A TAPNET-TN-INPUT -i tn0 -j DROP',
    '-A OTHER -j TAPNET-TNX-INPUT',
    'COMMIT',
    '',
  ].join('\n');

  it('deletes existing jumps and stale chains of ours before inserting, in the same file', () => {
    const { ipv4 } = compileIptables(samplePolicies.one(), { ipv4: saved, ipv6: '' });
    const filter = ipv4.slice(
      ipv4.indexOf('*filter'),
      ipv4.indexOf('COMMIT', ipv4.indexOf('*filter')),
    );
    const lines = filter.split('\n');
    const declared = lines.filter((l) => l.startsWith(':'));
    expect(declared).toContain(':TAPNET-TN-INPUT - [0:0]');
    expect(declared).toContain(':TAPNET-TN-INGRESS - [0:0]');
    expect(lines.slice(0, 1 + declared.length).slice(1)).toEqual(declared);
    expect(lines.slice(1 + declared.length, 1 + declared.length + 5)).toEqual([
      '-D INPUT -j TAPNET-TN-INPUT',
      '-D FORWARD -j TAPNET-TN-INPUT',
      '-F TAPNET-TN-OLD',
      '-X TAPNET-TN-OLD',
      '-I INPUT 1 -j TAPNET-TN-INPUT',
    ]);
  });

  it('removal touches exactly our jumps and chains (another prefix sharing the start is left alone)', () => {
    expect(compileIptablesRemoval('tn', saved)).toBe(
      [
        '*filter',
        '-D INPUT -j TAPNET-TN-INPUT',
        '-D FORWARD -j TAPNET-TN-INPUT',
        '-F TAPNET-TN-INPUT',
        '-F TAPNET-TN-OLD',
        '-X TAPNET-TN-INPUT',
        '-X TAPNET-TN-OLD',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(compileIptablesRemoval('tn', '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n')).toBe('');
  });

  it('reports what differs from the expected shape', () => {
    const shape = iptablesShape(samplePolicies.one()).ipv4;
    const problems = iptablesDifferences('tn', shape, saved);
    expect(problems).toContain('filter/FORWARD has 1 jump(s) into our chains, expected 1');
    expect(problems).toContain('chain filter/TAPNET-TN-INPUT has 1 rules, expected 2');
    expect(problems).toContain('unexpected chain filter/TAPNET-TN-OLD');
    expect(problems).toContain('chain raw/TAPNET-TN-PRE missing');
  });

  it('lets only other pools’ jumps come before ours (two watching pools must not fight)', () => {
    const shape = { chains: {}, jumps: { 'filter/FORWARD': 'TAPNET-TN-FORWARD' } };
    const forward = (...rules: string[]) =>
      `*filter\n:FORWARD ACCEPT [0:0]\n${rules.map((r) => `-A FORWARD ${r}`).join('\n')}\nCOMMIT\n`;
    const ours = '-j TAPNET-TN-FORWARD';
    expect(iptablesDifferences('tn', shape, forward(ours, '-j DOCKER-USER'))).toEqual([]);
    expect(iptablesDifferences('tn', shape, forward('-j TAPNET-TX-FORWARD', ours))).toEqual([]);
    for (const before of ['-j DOCKER-USER', '-i tn0 -j ACCEPT', '-j TAPNET-TX-FORWARD -m comment'])
      expect(iptablesDifferences('tn', shape, forward(before, ours))).toEqual([
        'filter/FORWARD: our jump is not the first rule',
      ]);
  });
});

describe('per-VM conntrack cap', () => {
  it("puts the policy's cap into one nft rule keyed by TAP, and one connlimit rule per subnet length masked to it", () => {
    const policy = buildPolicy(poolOptions(2, { connections: 50 }));
    expect(compileNft(policy)).toContain(
      'iifname @taps ct state new add @conns { iifname ct count over 50 } drop',
    );
    const { ipv4, ipset } = compileIptables(policy);
    const caps = ipv4.split('\n').filter((l) => l.includes('connlimit'));
    expect(caps).toEqual([
      '-A TAPNET-TN-CONNS -m set --match-set tapnet-tn-cap24 src,src -m conntrack --ctstate NEW -m connlimit --connlimit-above 50 --connlimit-mask 24 --connlimit-saddr -j DROP',
    ]);
    // The set holds each network with the TAP it must come in on.
    for (const n of policy.networks) {
      expect(ipset).toContain(`add tapnet-tn-cap24-n ${n.subnet},${n.device}\n`);
    }
    const mixed = buildPolicy({
      prefix: 'tn',
      networks: [
        { device: 'tn0', subnet: '10.231.0.0/24', gateway: '10.231.0.1' },
        { device: 'tn1', subnet: '10.231.1.0/28', gateway: '10.231.1.1' },
      ],
    });
    expect(
      compileIptables(mixed)
        .ipv4.split('\n')
        .filter((l) => l.includes('connlimit'))
        .map((l) => /--connlimit-mask (\d+)/.exec(l)?.[1]),
    ).toEqual(['24', '28']);
    // The kernel fills the nft set: status() must not call it drift whatever its size.
    expect(nftShape(policy).sets.conns).toBe(-1);
  });
});
