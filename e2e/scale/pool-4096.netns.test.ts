import { Resolver } from 'node:dns/promises';
import { describeNetns, snapshotNamespace } from '@tapnet/testing';
import { Pool } from 'tapnet';
import { expect, it } from 'vitest';

// Scale (issue 13): the README promises up to 4096 networks. /28 networks fill a /16 exactly;
// the sandbox has no uplink. Both firewall backends: with iptables, 1000 networks once failed
// with `dnsmasq did not answer DNS on … within 10000 ms` (its readiness probe opened one socket
// per gateway, every 20 ms, and starved the host under iptables' per-packet cost), and
// dispose() of a pool with every network held ran one conntrack process per network.
const SIZE = 4096;

async function answers(gateway: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 3 });
  resolver.setServers([gateway]);
  return resolver.resolve4('taskcluster');
}

describeNetns('scale: a pool of 4096 networks', () => {
  for (const firewall of ['nft', 'iptables'] as const) {
    it(`${firewall}: creates 4096 /28 networks in a /16, serves DNS on the first and last gateway, hands out the last network, and disposes of everything`, async () => {
      const empty = await snapshotNamespace();
      const pool = await Pool.create({
        size: SIZE,
        prefix: 'sc',
        subnet: '10.96.0.0/16',
        prefixLength: 28,
        firewall,
        uplink: null,
        upstreamDns: [],
      });
      try {
        const held = Array.from({ length: SIZE }, () => pool.network());
        const first = held[0]!;
        const last = held.at(-1)!;
        expect(first.gateway).toBe('10.96.0.1');
        expect(last.gateway).toBe('10.96.255.241');
        expect(await answers(first.gateway)).toEqual(['169.254.169.254']);
        expect(await answers(last.gateway)).toEqual(['169.254.169.254']);
        // Released one by one, each network's flows are flushed by a conntrack process of its
        // own; dispose() releases the other 4094 and flushes the pool's span at once.
        first.release();
        last.release();
      } finally {
        await pool.dispose();
      }
      // The iptables backend leaves the kernel's empty built-in tables behind (iptables-nft
      // creates them on first use); nothing of ours may remain in them.
      const { nft, iptables, ip6tables, ...after } = await snapshotNamespace();
      const { nft: _n, iptables: _i, ip6tables: _i6, ...before } = empty;
      expect(after).toEqual(before);
      for (const text of [nft, iptables, ip6tables]) expect(text).not.toMatch(/tapnet|TAPNET/);
    }, 600_000);
  }
});
