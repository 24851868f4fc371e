import { describeNetns, run } from '@tapnet/testing';
import { expect, it } from 'vitest';
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
      const { ipv4, ipv6 } = compileIptables(make());
      const v4 = await run(['iptables-restore', '--test', '--noflush'], { input: ipv4 });
      expect(v4.stderr).toBe('');
      expect(v4.exitCode).toBe(0);
      const v6 = await run(['ip6tables-restore', '--test', '--noflush'], { input: ipv6 });
      expect(v6.stderr).toBe('');
      expect(v6.exitCode).toBe(0);
    },
  );

  it('nft -c rejects a broken ruleset (the check is real)', async () => {
    const text = compileNft(samplePolicies.one()).replace(
      'ip daddr @blocked',
      'ip daddr @nonexistent',
    );
    expect((await run(['nft', '-c', '-f', '-'], { input: text })).exitCode).not.toBe(0);
  });
});
