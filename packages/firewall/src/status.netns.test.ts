import { describeNetns, run, runOk, snapshotNamespace } from '@tapnet/testing';
import { describe, expect, it } from 'vitest';
import { cleanupFirewall } from './cleanup.js';
import { createFirewall } from './firewall.js';
import { poolOptions } from './fixtures.test-helpers.js';
import { buildPolicy } from './policy.js';

const policy = buildPolicy(poolOptions(3, { uplink: 'eth0' }));

describeNetns('status, conflicts and crash cleanup with the real tools', () => {
  it('detects the backend of this machine: nft', async () => {
    expect(await createFirewall().backend).toBe('nft');
  });

  describe.each(['nft', 'iptables'] as const)('%s backend', (backend) => {
    it('status: absent, then present and intact, then not intact once a rule of ours is gone', async () => {
      const fw = createFirewall({ backend });
      expect(await fw.status(policy)).toMatchObject({
        backend,
        present: false,
        intact: false,
        uplink: 'eth0',
      });
      await fw.apply(policy);
      expect(await fw.status(policy)).toMatchObject({ present: true, intact: true });
      if (backend === 'nft')
        await runOk(['nft', 'flush', 'chain', 'inet', 'tapnet_tn', 'vm_to_host']);
      else await runOk(['iptables', '-D', 'TAPNET-TN-INPUT', '1']);
      expect(await fw.status(policy)).toMatchObject({ present: true, intact: false });
      await fw.remove();
      expect(await fw.status(policy)).toMatchObject({ present: false, intact: false });
    });

    if (backend === 'iptables') {
      it('status: not intact once someone flushes one of our sets', async () => {
        const fw = createFirewall({ backend });
        await fw.apply(policy);
        await runOk(['ipset', 'flush', 'tapnet-tn-nets']);
        expect(await fw.status(policy)).toMatchObject({ present: true, intact: false });
        await fw.apply(policy);
        expect(await fw.status(policy)).toMatchObject({ present: true, intact: true });
        await fw.remove();
        expect(await runOk(['ipset', 'list', '-n'])).not.toContain('tapnet-tn-');
      });
    }

    it('status reports another table’s input drop policy and an iptables INPUT policy DROP', async () => {
      const fw = createFirewall({ backend });
      await fw.apply(policy);
      await runOk(['nft', '-f', '-'], {
        input:
          'table inet strict {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\n',
      });
      await runOk(['iptables', '-P', 'INPUT', 'DROP']);
      try {
        const { conflicts, intact } = await fw.status(policy);
        expect(intact).toBe(true);
        if (backend === 'nft') {
          // iptables-nft's table shows in the nft ruleset too.
          expect(conflicts.map((c) => c.source)).toEqual([
            'nft inet strict input',
            'nft ip filter INPUT',
          ]);
        } else {
          expect(conflicts.map((c) => c.source)).toEqual(['iptables filter INPUT']);
        }
      } finally {
        await runOk(['nft', 'delete', 'table', 'inet', 'strict']);
        await runOk(['iptables', '-P', 'INPUT', 'ACCEPT']);
        await fw.remove();
      }
    });
  });

  it('cleanupFirewall removes what a crashed run left in both backends, and only that', async () => {
    // Someone else's rules, with a prefix that starts like ours.
    await runOk(['iptables', '-N', 'TAPNET-TNX-INPUT']);
    await runOk(['iptables', '-A', 'INPUT', '-j', 'TAPNET-TNX-INPUT']);
    await runOk(['nft', 'add', 'table', 'inet', 'tapnet_tnx']);
    await runOk(['ipset', 'create', 'tapnet-tnx-nets', 'hash:net']);
    const before = await snapshotNamespace();
    const setsBefore = await runOk(['ipset', 'list', '-n']);
    // "Crash": applied with both backends, then the process went away without remove().
    await createFirewall({ backend: 'nft' }).apply(policy);
    await createFirewall({ backend: 'iptables' }).apply(policy);
    const { removed } = await cleanupFirewall('tn');
    expect(removed).toContain('nft table inet tapnet_tn');
    expect(removed).toContain('iptables filter/TAPNET-TN-INPUT');
    expect(removed).toContain('iptables raw/TAPNET-TN-PRE');
    expect(removed).toContain('ip6tables filter/TAPNET-TN-OUTPUT');
    expect(removed).toContain('ipset tapnet-tn-nets');
    expect(await runOk(['ipset', 'list', '-n'])).toBe(setsBefore);
    const after = await snapshotNamespace();
    expect(after.nft).toBe(before.nft);
    expect(after.iptables).toBe(before.iptables);
    expect(after.ip6tables).toBe(before.ip6tables);
    expect(await cleanupFirewall('tn')).toEqual({ removed: [] });
    // Then apply works again.
    const fw = createFirewall({ backend: 'iptables' });
    await fw.apply(policy);
    expect((await fw.status(policy)).intact).toBe(true);
    // apply: set listing, 2 saves, ipset restore, 2 restores; status: sysctl, 2 saves, set listing
    expect(fw.processCount()).toBe(6 + 4);
    await fw.remove();
    expect((await run(['iptables-save'])).stdout).toContain('TAPNET-TNX-INPUT');
  });
});
