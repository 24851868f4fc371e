import { buildPolicy, type PolicyOptions } from './policy.js';

/** `count` networks `tn<i>` with /24 subnets from 10.231.0.0 (one /16 holds 256). */
export function poolOptions(count: number, extra: Partial<PolicyOptions> = {}): PolicyOptions {
  return {
    prefix: 'tn',
    networks: Array.from({ length: count }, (_, i) => ({
      device: `tn${i}`,
      subnet: `10.${231 + (i >> 8)}.${i & 255}.0/24`,
      gateway: `10.${231 + (i >> 8)}.${i & 255}.1`,
    })),
    ...extra,
  };
}

export const samplePolicies = {
  one: () => buildPolicy(poolOptions(1)),
  three: () =>
    buildPolicy(
      poolOptions(3, {
        uplink: 'eth0',
        allow: [{ cidr: '10.8.0.0/16', via: 'wg0' }, { cidr: '192.0.2.0/24' }],
      }),
    ),
  many: () => buildPolicy(poolOptions(250, { uplink: 'uplink0', ipv6: true })),
  llmnr: () => buildPolicy(poolOptions(2, { uplink: 'eth0', llmnr: true })),
};
