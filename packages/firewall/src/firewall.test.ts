import { describe, expect, it } from 'vitest';
import { cleanupFirewall } from './cleanup.js';
import { iptablesConflicts, nftConflicts } from './conflicts.js';
import { detectBackend, detectUplink, parseDefaultRouteDevice } from './detect.js';
import { BackendUnavailableError, FirewallApplyError, InvalidPolicyError } from './errors.js';
import { createFirewall } from './firewall.js';
import { poolOptions } from './fixtures.test-helpers.js';
import { compileIptablesRemovalOf } from './iptables.js';
import { compileNft } from './nft.js';
import { buildPolicy } from './policy.js';
import type { Runner, RunResult } from './runner.js';

interface Call {
  argv: string[];
  input: string | undefined;
}

/** Records every command; `answer` decides each result (default: success with empty output). */
function recorder(
  answer: (argv: readonly string[], input?: string) => Partial<RunResult> = () => ({}),
) {
  const calls: Call[] = [];
  const runner: Runner = async (argv, options) => {
    calls.push({ argv: [...argv], input: options?.input });
    return { stdout: '', stderr: '', exitCode: 0, ...answer(argv, options?.input) };
  };
  return { calls, runner };
}

const three = buildPolicy(poolOptions(3, { uplink: 'eth0' }));
const many = buildPolicy(poolOptions(250, { uplink: 'eth0' }));

describe('createFirewall with the nft backend', () => {
  it('applies in one `nft -f -` with the compiled ruleset on stdin, whatever the size', async () => {
    const { calls, runner } = recorder();
    const fw = createFirewall({ backend: 'nft', runner });
    await fw.apply(three);
    expect(calls).toEqual([{ argv: ['nft', '-f', '-'], input: compileNft(three) }]);
    await fw.apply(many);
    expect(fw.processCount()).toBe(2);
    await fw.remove();
    expect(calls[2]).toEqual({
      argv: ['nft', '-f', '-'],
      input: 'table inet tapnet_tn {}\ndelete table inet tapnet_tn\n',
    });
    await fw.remove(); // nothing applied any more: no-op
    expect(fw.processCount()).toBe(3);
  });

  it('on failure removes our table and throws FirewallApplyError with the command as cause', async () => {
    const { calls, runner } = recorder((_argv, input) =>
      input?.includes('chain prerouting')
        ? { exitCode: 1, stderr: 'Error: Could not process rule' }
        : {},
    );
    const fw = createFirewall({ backend: 'nft', runner });
    const error = (await fw.apply(three).catch((e: unknown) => e)) as FirewallApplyError;
    expect(error).toBeInstanceOf(FirewallApplyError);
    expect(error.message).toBe(
      'Failed to apply the nft ruleset for prefix `tn`; nothing of ours remains: `nft -f -` exited with 1: Error: Could not process rule',
    );
    expect(error.cause).toMatchObject({
      argv: ['nft', '-f', '-'],
      exitCode: 1,
      stderr: 'Error: Could not process rule',
      input: compileNft(three),
    });
    expect(calls.map((c) => c.input?.split('\n')[1])).toEqual([
      'table inet tapnet_tn {}',
      'delete table inet tapnet_tn',
    ]);
  });

  it('refuses a hand-made policy without starting a process', async () => {
    const { calls, runner } = recorder();
    const fw = createFirewall({ backend: 'nft', runner });
    await expect(fw.apply({ ...three })).rejects.toBeInstanceOf(InvalidPolicyError);
    await expect(fw.remove('bad-prefix')).rejects.toBeInstanceOf(InvalidPolicyError);
    expect(calls).toEqual([]);
  });

  it('validates its own options', () => {
    expect(() => createFirewall({ backend: 'pf' as 'nft' })).toThrow(
      'Expected `backend` to be one of auto, nft, iptables, got `"pf"` (string)',
    );
  });
});

describe('createFirewall with the iptables backend', () => {
  const saved =
    '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j TAPNET-TN-INPUT\n:TAPNET-TN-INPUT - [0:0]\nCOMMIT\n';

  it('uses a constant number of processes: a set listing, saves, then one ipset and one restore per family', async () => {
    for (const policy of [three, many]) {
      const { calls, runner } = recorder((argv) =>
        argv[0] === 'iptables-save' ? { stdout: saved } : {},
      );
      const fw = createFirewall({ backend: 'iptables', runner });
      await fw.apply(policy);
      expect(calls.map((c) => c.argv.join(' '))).toEqual([
        'ipset list -n',
        'iptables-save',
        'ip6tables-save',
        'ipset restore',
        'iptables-restore --wait --noflush',
        'ip6tables-restore --wait --noflush',
      ]);
      // Every network's data is in the sets, filled whole and swapped in.
      expect(calls[3]?.input).toContain(
        `add tapnet-tn-nets-n ${policy.networks.at(-1)!.subnet},${policy.networks.at(-1)!.device}\n`,
      );
      expect(calls[3]?.input).toContain('swap tapnet-tn-nets-n tapnet-tn-nets\n');
      // The stale jump found by iptables-save is deleted in the same restore file.
      expect(calls[4]?.input).toContain('-D INPUT -j TAPNET-TN-INPUT\n');
    }
  });

  it('removes what it applied from the policy, with no save of our rules to read back', async () => {
    const { calls, runner } = recorder((argv) =>
      argv.join(' ') === 'ipset list -n' ? { stdout: 'tapnet-tn-nets\n' } : {},
    );
    const fw = createFirewall({ backend: 'iptables', runner });
    await fw.apply(three);
    calls.length = 0;
    await fw.remove();
    expect(calls.map((c) => c.argv.join(' '))).toEqual([
      'iptables-restore --wait --noflush',
      'ip6tables-restore --wait --noflush',
      // Nothing of ours left in either save: no second restore.
      'iptables-save',
      'ip6tables-save',
      'ipset list -n',
      'ipset restore',
    ]);
    const { ipv4, ipv6 } = compileIptablesRemovalOf(three);
    expect(calls[0]?.input).toBe(ipv4);
    expect(calls[1]?.input).toBe(ipv6);
    // Per table: jumps first, then every chain flushed before any is deleted (they jump to
    // each other within a table).
    for (const table of ipv4.split(/^(?=\*)/m)) {
      const lines = table.split('\n');
      const lastFlush = lines.findLastIndex((l) => l.startsWith('-F '));
      expect(lines.findIndex((l) => l.startsWith('-X '))).toBeGreaterThan(lastFlush);
      expect(lines.findLastIndex((l) => l.startsWith('-D '))).toBeLessThan(
        lines.findIndex((l) => l.startsWith('-F ')),
      );
    }
    expect(ipv4).toContain('-D INPUT -j TAPNET-TN-INPUT\n');
    expect(ipv4).toContain('-X TAPNET-TN-INPUT\n');
  });

  it('falls back to what the save shows when removing from the policy fails', async () => {
    let v4Restores = 0;
    const { calls, runner } = recorder((argv) => {
      // Someone deleted our jump: the policy's restore fails and changes nothing.
      if (argv[0] === 'iptables-restore' && ++v4Restores === 2)
        return { exitCode: 1, stderr: 'iptables-restore: line 2 failed' };
      if (argv[0] === 'iptables-save') return { stdout: saved };
      return {};
    });
    const fw = createFirewall({ backend: 'iptables', runner });
    await fw.apply(three);
    calls.length = 0;
    await fw.remove();
    expect(calls.map((c) => c.argv.join(' '))).toEqual([
      'iptables-restore --wait --noflush',
      'ip6tables-restore --wait --noflush',
      'iptables-save',
      'ip6tables-save',
      'iptables-restore --wait --noflush',
      'ipset list -n',
    ]);
    expect(calls[4]?.input).toBe(
      '*filter\n-D INPUT -j TAPNET-TN-INPUT\n-F TAPNET-TN-INPUT\n-X TAPNET-TN-INPUT\nCOMMIT\n',
    );
  });

  it('destroys a set of ours that an earlier apply made and no rule needs any more', async () => {
    const { calls, runner } = recorder((argv) =>
      argv.join(' ') === 'ipset list -n'
        ? { stdout: 'tapnet-tn-nets\ntapnet-tn-cap16\ntapnet-tnx-cap16\nother\n' }
        : {},
    );
    const fw = createFirewall({ backend: 'iptables', runner });
    await fw.apply(three);
    expect(calls.at(-1)).toEqual({
      argv: ['ipset', 'restore'],
      input: 'destroy tapnet-tn-cap16\n',
    });
    // An existing set is reused (swapped into), not created again.
    expect(calls[3]?.input).not.toContain('create tapnet-tn-nets ');
    expect(calls[3]?.input).toContain('create tapnet-tn-pool hash:net family inet\n');
  });

  it('rolls back both families and our sets when the IPv6 restore fails, and rethrows that failure', async () => {
    let v4Applied = '';
    const { calls, runner } = recorder((argv, input) => {
      if (argv[0] === 'iptables-restore' && input?.includes('-I ')) v4Applied = input;
      if (argv[0] === 'iptables-save' && v4Applied)
        return {
          stdout: '*filter\n:TAPNET-TN-INPUT - [0:0]\n-A INPUT -j TAPNET-TN-INPUT\nCOMMIT\n',
        };
      if (argv.join(' ') === 'ipset list -n' && v4Applied) return { stdout: 'tapnet-tn-taps\n' };
      if (argv[0] === 'ip6tables-restore')
        return { exitCode: 2, stderr: 'ip6tables-restore: line 3 failed' };
      return {};
    });
    const fw = createFirewall({ backend: 'iptables', runner });
    const error = (await fw.apply(three).catch((e: unknown) => e)) as FirewallApplyError;
    expect(error).toBeInstanceOf(FirewallApplyError);
    expect(error.cause).toMatchObject({
      argv: ['ip6tables-restore', '--wait', '--noflush'],
      stderr: 'ip6tables-restore: line 3 failed',
    });
    // The families' removals run side by side: both saves start before either restore.
    expect(calls.slice(6).map((c) => c.argv.join(' '))).toEqual([
      'iptables-save',
      'ip6tables-save',
      'iptables-restore --wait --noflush',
      'ipset list -n',
      'ipset restore',
    ]);
    expect(calls[8]?.input).toBe(
      '*filter\n-D INPUT -j TAPNET-TN-INPUT\n-F TAPNET-TN-INPUT\n-X TAPNET-TN-INPUT\nCOMMIT\n',
    );
    expect(calls[10]?.input).toBe('destroy tapnet-tn-taps\n');
  });
});

describe('backend and uplink detection', () => {
  it('prefers nft, falls back to iptables, else BackendUnavailableError', async () => {
    expect(await detectBackend(recorder().runner)).toBe('nft');
    const noNft = recorder((argv) =>
      argv[0] === 'nft' ? { exitCode: 127, stderr: 'not found' } : {},
    );
    expect(await detectBackend(noNft.runner)).toBe('iptables');
    const none = recorder(() => ({ exitCode: 127, stderr: 'not found' }));
    await expect(detectBackend(none.runner)).rejects.toBeInstanceOf(BackendUnavailableError);
    const fw = createFirewall({ runner: noNft.runner });
    expect(await fw.backend).toBe('iptables');
    expect(await fw.backend).toBe('iptables');
    expect(fw.processCount()).toBe(2); // detected once
  });

  it('reads the default route’s device, or null', async () => {
    const json =
      '[{"dst":"default","gateway":"10.0.0.1","dev":"wlan0","metric":600},{"dst":"default","dev":"enp3s0","metric":100}]';
    const { calls, runner } = recorder(() => ({ stdout: json }));
    expect(await detectUplink(runner)).toBe('enp3s0');
    expect(calls[0]?.argv).toEqual(['ip', '-json', 'route', 'show', 'default']);
    expect(parseDefaultRouteDevice('[]')).toBeNull();
    expect(parseDefaultRouteDevice('')).toBeNull();
    expect(parseDefaultRouteDevice('garbage')).toBeNull();
  });
});

describe('cleanupFirewall', () => {
  it('removes our nft table, iptables chains and ipsets, and reports them', async () => {
    const save =
      '*filter\n:INPUT ACCEPT [0:0]\n:TAPNET-TN-INPUT - [0:0]\n-A INPUT -j TAPNET-TN-INPUT\nCOMMIT\n';
    const { calls, runner } = recorder((argv) => {
      if (argv.join(' ') === 'nft list tables')
        return { stdout: 'table inet tapnet_tn\ntable inet tapnet_tnx\n' };
      if (argv[0] === 'iptables-save') return { stdout: save };
      if (argv[0] === 'ip6tables-save') return { stdout: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n' };
      if (argv.join(' ') === 'ipset list -n')
        return { stdout: 'tapnet-tn-nets\ntapnet-tnx-nets\ntapnet-tn-nets-n\n' };
      return {};
    });
    expect(await cleanupFirewall('tn', { runner })).toEqual({
      removed: [
        'nft table inet tapnet_tn',
        'iptables filter/TAPNET-TN-INPUT',
        'ipset tapnet-tn-nets',
        'ipset tapnet-tn-nets-n',
      ],
    });
    expect(calls.map((c) => c.argv.join(' '))).toEqual([
      'nft list tables',
      'nft -f -',
      'iptables-save',
      'ip6tables-save',
      'iptables-restore --wait --noflush',
      'ipset list -n',
      'ipset restore',
    ]);
    expect(calls.at(-1)?.input).toBe('destroy tapnet-tn-nets\ndestroy tapnet-tn-nets-n\n');
  });

  it("removes IPv6's chains even when IPv4's restore fails, keeps the sets, and throws IPv4's failure", async () => {
    const save = (table: string) =>
      `*filter\n:${table} ACCEPT [0:0]\n:TAPNET-TN-INPUT - [0:0]\n-A INPUT -j TAPNET-TN-INPUT\nCOMMIT\n`;
    const { calls, runner } = recorder((argv) => {
      if (argv[0] === 'iptables-save') return { stdout: save('INPUT') };
      if (argv[0] === 'ip6tables-save') return { stdout: save('INPUT') };
      if (argv[0] === 'iptables-restore') return { exitCode: 4, stderr: 'iptables-restore: busy' };
      if (argv.join(' ') === 'ipset list -n') return { stdout: 'tapnet-tn-nets\n' };
      return {};
    });
    const fw = createFirewall({ backend: 'iptables', runner });
    await expect(fw.remove('tn')).rejects.toMatchObject({
      argv: ['iptables-restore', '--wait', '--noflush'],
      stderr: 'iptables-restore: busy',
    });
    expect(calls.map((c) => c.argv.join(' '))).toEqual([
      'iptables-save',
      'ip6tables-save',
      'iptables-restore --wait --noflush',
      'ip6tables-restore --wait --noflush',
    ]);
    expect(calls[3]?.input).toContain('-X TAPNET-TN-INPUT');
  });

  it('tolerates a host without the ipset tool (nothing of ours can be there)', async () => {
    const { runner } = recorder((argv) =>
      argv[0] === 'ipset' ? { exitCode: 127, stderr: 'ipset: not found' } : {},
    );
    expect(await cleanupFirewall('tn', { runner })).toEqual({ removed: [] });
  });
});

describe('conflict detection', () => {
  it('finds other tables’ drop policies and unconditional drops on our hooks', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        {
          chain: {
            family: 'inet',
            table: 'firewalld',
            name: 'filter_INPUT',
            hook: 'input',
            prio: 10,
            policy: 'accept',
          },
        },
        {
          rule: {
            family: 'inet',
            table: 'firewalld',
            chain: 'filter_INPUT',
            expr: [{ reject: { type: 'icmpx', expr: 'admin-prohibited' } }],
          },
        },
        {
          rule: {
            family: 'inet',
            table: 'firewalld',
            chain: 'filter_INPUT',
            expr: [{ match: {} }, { drop: null }],
          },
        },
        {
          chain: {
            family: 'ip',
            table: 'filter',
            name: 'INPUT',
            hook: 'input',
            prio: 0,
            policy: 'drop',
          },
        },
        {
          chain: {
            family: 'ip',
            table: 'filter',
            name: 'FORWARD',
            hook: 'forward',
            prio: 0,
            policy: 'drop',
          },
        },
        {
          chain: {
            family: 'inet',
            table: 'tapnet_tn',
            name: 'input',
            hook: 'input',
            prio: -10,
            policy: 'drop',
          },
        },
      ],
    });
    expect(nftConflicts(json, 'tapnet_tn', { forward: false, ipv6: false })).toEqual([
      {
        source: 'nft ip filter INPUT',
        description:
          'policy drop on hook input (priority 0) would drop DHCP/DNS/metadata traffic that this firewall accepts',
      },
      {
        source: 'nft inet firewalld filter_INPUT',
        description:
          'unconditional reject rule on hook input would drop DHCP/DNS/metadata traffic that this firewall accepts',
      },
    ]);
    expect(nftConflicts(json, 'tapnet_tn', { forward: true, ipv6: false })).toContainEqual({
      source: 'nft ip filter FORWARD',
      description:
        'policy drop on hook forward (priority 0) would drop forwarded VM traffic that this firewall accepts',
    });
  });

  it('finds DROP policies and unconditional DROP/REJECT in iptables-save output', () => {
    const save = [
      '*filter',
      ':INPUT DROP [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      '-A OUTPUT -j REJECT --reject-with icmp-host-prohibited',
      '-A OUTPUT -o eth0 -j DROP',
      'COMMIT',
    ].join('\n');
    expect(iptablesConflicts(save, 'iptables', { forward: false })).toEqual([
      {
        source: 'iptables filter INPUT',
        description: 'policy DROP would drop DHCP/DNS/metadata traffic that this firewall accepts',
      },
      {
        source: 'iptables filter OUTPUT',
        description:
          'unconditional REJECT rule would drop DHCP/DNS/metadata traffic that this firewall accepts',
      },
    ]);
  });
});
