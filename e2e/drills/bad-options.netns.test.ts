import { createTapPeer, describeNetns, runOk, snapshotNamespace } from '@tapnet/testing';
import { Pool, type PoolOptions } from 'tapnet';
import { expect, it } from 'vitest';
import { pidsOf, poolShape, rejection, startHolder } from './helpers.ts';

// Drill: exhaustion and bad options. Each refused `Pool.create` must throw a typed error with a
// stable `code` whose message names the option and the value, and change nothing: the
// namespace snapshot before and after is equal (links, addresses, routes, nft, iptables,
// sysctls, dnsmasq/qemu processes).
describeNetns('drill: exhaustion and bad options change nothing', () => {
  const cases: { name: string; options: PoolOptions; code: string; message: RegExp[] }[] = [
    {
      name: 'size 0',
      options: { size: 0 },
      code: 'ERR_INVALID_OPTION',
      message: [/`size`/, /`0`/],
    },
    {
      name: 'size beyond the address plan (2 networks of /24 in a /24)',
      options: { size: 2, subnet: '10.231.0.0/24', prefixLength: 24, prefix: 'dx' },
      code: 'ERR_INVALID_OPTION',
      message: [/size/, /10\.231\.0\.0\/24/],
    },
    {
      name: 'size beyond the hard limit',
      options: { size: 5000 },
      code: 'ERR_INVALID_OPTION',
      message: [/`size`/, /5000/],
    },
    {
      name: 'device names too long (`abcdefghijklmn10` is 16 bytes)',
      options: { size: 11, prefix: 'abcdefghijklmn' },
      code: 'ERR_INVALID_OPTION',
      message: [/prefix/, /abcdefghijklmn/],
    },
    {
      // Fits IFNAMSIZ (`abcdefghijklm1`, 14 bytes) but not the firewall's 12-character names:
      // the facade checks the prefix against what every package can name.
      name: 'a prefix the firewall cannot name (13 characters)',
      options: { size: 2, prefix: 'abcdefghijklm' },
      code: 'ERR_INVALID_OPTION',
      message: [/prefix/, /abcdefghijklm/],
    },
    {
      name: 'a prefix that is not a name',
      options: { size: 2, prefix: 'Tn-0' },
      code: 'ERR_INVALID_OPTION',
      message: [/prefix/, /Tn-0/],
    },
    {
      name: 'a subnet with host bits',
      options: { size: 2, subnet: '10.231.0.1/16' },
      code: 'ERR_INVALID_OPTION',
      message: [/subnet/, /10\.231\.0\.1\/16/],
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.code}, nothing changed`, async () => {
      const before = await snapshotNamespace();
      const error = await rejection(() => Pool.create(c.options));
      expect(error.code).toBe(c.code);
      for (const pattern of c.message) expect(error.message).toMatch(pattern);
      expect(await snapshotNamespace()).toEqual(before);
    });
  }

  it('overlapping subnets (a host address covering the plan): ERR_PLAN_CONFLICT, nothing changed', async () => {
    await runOk(['ip', 'link', 'add', 'drbr', 'type', 'bridge']);
    await runOk(['ip', 'addr', 'add', '10.231.0.1/16', 'dev', 'drbr']);
    await runOk(['ip', 'link', 'set', 'drbr', 'up']);
    try {
      const before = await snapshotNamespace();
      const error = await rejection(() => Pool.create({ size: 3, prefix: 'dv' }));
      expect(error.code).toBe('ERR_PLAN_CONFLICT');
      expect(error.message).toMatch(/10\.231\.0\.0\/24/); // the planned network
      expect(error.message).toMatch(/10\.231\.0\.0\/16|drbr/); // what it collides with
      expect(await snapshotNamespace()).toEqual(before);
      // A plan beside the host's range is fine: the refusal was about the overlap.
      await using pool = await Pool.create({ size: 3, prefix: 'dv', subnet: '10.232.0.0/16' });
      expect(pool.size).toBe(3);
    } finally {
      await runOk(['ip', 'link', 'del', 'drbr']);
    }
  });

  // Was a bug: a record naming this process was treated as stale and the running pool's
  // dnsmasq and firewall were removed before the refusal. Now a live record is never touched.
  it('a prefix shared with a running pool (same process): refused, and the running pool is untouched', async () => {
    const empty = await snapshotNamespace();
    const pool = await Pool.create({ size: 3, prefix: 'dr' });
    try {
      const network = pool.network();
      network.setHandler(() => new Response(`first:${network.name}`));
      const running = await poolShape();
      const dnsmasqBefore = (await pool.status()).dnsmasq.pid;

      const error = await rejection(() => Pool.create({ size: 3, prefix: 'dr' }));
      expect(error.code).toBe('ERR_PREFIX_IN_USE');
      expect(error.message).toMatch(/prefix `dr` is running \(pid \d+, this process\)/);

      // The running pool keeps every device, rule, address and its dnsmasq...
      expect(await poolShape()).toEqual(running);
      const status = await pool.status();
      expect(status.dnsmasq).toMatchObject({ state: 'running', pid: dnsmasqBefore });
      expect(status.firewall.present).toBe(true);
      expect(pidsOf('dnsmasq')).toEqual([dnsmasqBefore]);
      // ...and still serves its network.
      await using vm = await createTapPeer({
        tap: network.name,
        subnet: network.subnet,
        gateway: network.gateway,
        mac: network.mac,
      });
      expect(await vm.get()).toEqual({ status: 200, body: 'first:dr0' });
    } finally {
      await pool.dispose();
    }
    expect(await snapshotNamespace()).toEqual(empty);
  });

  it('a prefix shared with a running pool (another process): refused, and that pool is untouched', async () => {
    const empty = await snapshotNamespace();
    const holder = await startHolder({ options: { size: 3, prefix: 'dp' }, guests: 0, tag: 'h' });
    try {
      const running = await poolShape();
      const error = await rejection(() => Pool.create({ size: 3, prefix: 'dp' }));
      expect(error.code).toBe('ERR_PREFIX_IN_USE');
      expect(error.message).toMatch(/prefix `dp` is running \(pid \d+\)/);
      expect(await poolShape()).toEqual(running);
      expect(pidsOf('dnsmasq')).toEqual([holder.ready.dnsmasqPid]);
      // The holder's pool still answers (it has no guests, so: registered, no handler).
      const [free] = holder.ready.plan;
      await using vm = await createTapPeer({
        tap: free!.name,
        subnet: free!.subnet,
        gateway: free!.gateway,
      });
      expect((await vm.get()).status).toBe(404);
    } finally {
      await holder.stop();
    }
    expect(await snapshotNamespace()).toEqual(empty);
  });

  it('every network in use: network() throws ERR_ALL_NETWORKS_IN_USE, acquire({ timeout }) too, and nothing changes', async () => {
    await using pool = await Pool.create({ size: 2, prefix: 'de' });
    const held = [pool.network(), pool.network()];
    const shape = await poolShape();
    let error: (Error & { code?: string }) | undefined;
    try {
      pool.network();
    } catch (caught) {
      error = caught as Error & { code?: string };
    }
    expect(error?.code).toBe('ERR_ALL_NETWORKS_IN_USE');
    expect(error?.message).toMatch(/2/);
    const timedOut = await rejection(() => pool.acquire({ timeout: 20 }));
    expect(timedOut.code).toBe('ERR_ALL_NETWORKS_IN_USE');
    expect((await pool.status()).inUse).toBe(2);
    expect(await poolShape()).toEqual(shape);
    for (const n of held) n.release();
    expect((await pool.status()).available).toBe(2);
  });
});
