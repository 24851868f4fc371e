import { describeNetns, run } from '@tapnet/testing';
import { expect, it, onTestFinished } from 'vitest';
import { samplePolicies } from './fixtures.test-helpers.js';
import { compileIptables } from './iptables.js';
import { compileNft } from './nft.js';

describeNetns('compiled rules are accepted by the real tools (check mode, nothing applied)', () => {
  it.each(Object.entries(samplePolicies))('%s: nft -c -f -', async (_name, make) => {
    const result = await run(['nft', '-c', '-f', '-'], { input: compileNft(make()) });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it.each(Object.entries(samplePolicies))(
    '%s: iptables-restore --test / ip6tables-restore --test',
    async (_name, make) => {
      const { ipv4, ipv6, ipset } = compileIptables(make());
      // The rules refer to our sets, which must exist to be checked: made here, destroyed after.
      const sets = await run(['ipset', 'restore'], { input: ipset });
      expect(sets.stderr).toBe('');
      expect(sets.exitCode).toBe(0);
      onTestFinished(async () => {
        await run(['ipset', 'destroy']);
      });
      const v4 = await run(['iptables-restore', '--test', '--noflush'], { input: ipv4 });
      expect(v4.stderr).toBe('');
      expect(v4.exitCode).toBe(0);
      const v6 = await run(['ip6tables-restore', '--test', '--noflush'], { input: ipv6 });
      expect(v6.stderr).toBe('');
      expect(v6.exitCode).toBe(0);
    },
  );

  it('iptables-restore --test rejects a rule naming a set that does not exist (the check is real)', async () => {
    const { ipv4 } = compileIptables(samplePolicies.one());
    const result = await run(['iptables-restore', '--test', '--noflush'], { input: ipv4 });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('tapnet-tn-');
  });

  it('nft -c rejects a broken ruleset (the check is real)', async () => {
    const text = compileNft(samplePolicies.one()).replace(
      'ip daddr @blocked',
      'ip daddr @nonexistent',
    );
    expect((await run(['nft', '-c', '-f', '-'], { input: text })).exitCode).not.toBe(0);
  });
});
