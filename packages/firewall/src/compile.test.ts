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
      const { ipv4, ipv6 } = compileIptables(make());
      golden(`${name}.iptables`, ipv4);
      golden(`${name}.ip6tables`, ipv6);
    });
  },
);

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
    expect(filter.split('\n').slice(0, 12)).toEqual([
      '*filter',
      ':TAPNET-TN-INPUT - [0:0]',
      ':TAPNET-TN-REJECT - [0:0]',
      ':TAPNET-TN-OUTPUT - [0:0]',
      ':TAPNET-TN-FORWARD - [0:0]',
      ':TAPNET-TN-EGRESS - [0:0]',
      ':TAPNET-TN-INGRESS - [0:0]',
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
    expect(problems).toContain('chain filter/TAPNET-TN-INPUT has 1 rules, expected 8');
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
  it("puts the policy's cap into one nft rule keyed by TAP, and one connlimit rule per network masked to its subnet", () => {
    const policy = buildPolicy(poolOptions(2, { connections: 50 }));
    expect(compileNft(policy)).toContain(
      'iifname @taps ct state new add @conns { iifname ct count over 50 } drop',
    );
    const { ipv4 } = compileIptables(policy);
    const caps = ipv4.split('\n').filter((l) => l.includes('connlimit'));
    expect(caps).toHaveLength(2);
    expect(caps[0]).toBe(
      `-A TAPNET-TN-CONNS -s ${policy.networks[0]!.subnet} -i tn0 -m conntrack --ctstate NEW -m connlimit --connlimit-above 50 --connlimit-mask 24 --connlimit-saddr -j DROP`,
    );
    // The kernel fills the nft set: status() must not call it drift whatever its size.
    expect(nftShape(policy).sets.conns).toBe(-1);
  });
});
