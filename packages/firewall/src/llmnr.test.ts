import { describe, expect, it } from 'vitest';
import { poolOptions } from './fixtures.test-helpers.js';
import { compileIptables } from './iptables.js';
import { compileNft } from './nft.js';
import { buildPolicy } from './policy.js';

describe('the llmnr policy field', () => {
  it('defaults to false and adds no LLMNR rule then', () => {
    const policy = buildPolicy(poolOptions(2));
    expect(policy.llmnr).toBe(false);
    expect(compileNft(policy)).not.toContain('5355');
    expect(compileIptables(policy).ipv4).not.toContain('5355');
  });

  it.each(['yes', 1, null])('refuses %j with a typed error naming the field', (value) => {
    expect(() => buildPolicy({ ...poolOptions(1), llmnr: value as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_POLICY', field: 'llmnr' }),
    );
  });

  it('opens only UDP 5355 from each TAP to the group or its own gateway, and back to its own subnet', () => {
    const { ipv4, ipv6 } = compileIptables(buildPolicy(poolOptions(2, { llmnr: true })));
    // Source in the subnet of the TAP it came in on (nets src,src), destination that TAP's own
    // gateway (gws dst,src); answers from a TAP's gateway to that TAP's subnet (src,dst / dst,dst).
    expect(ipv4.split('\n').filter((l) => l.includes('5355'))).toEqual([
      '-A TAPNET-TN-VIN -m set --match-set tapnet-tn-nets src,src -d 224.0.0.252/32 -p udp -m udp --dport 5355 -j RETURN',
      '-A TAPNET-TN-VIN -m set --match-set tapnet-tn-nets src,src -m set --match-set tapnet-tn-gws dst,src -p udp -m udp --dport 5355 -j RETURN',
      '-A TAPNET-TN-VOUT -m set --match-set tapnet-tn-gws src,dst -m set --match-set tapnet-tn-nets dst,dst -p udp -m udp --sport 5355 -j RETURN',
    ]);
    expect(ipv6).not.toContain('5355');
  });
});
