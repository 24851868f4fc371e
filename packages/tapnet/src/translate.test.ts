import { InvalidConfigError } from '@tapnet/dhcp-dns';
import { InvalidPolicyError } from '@tapnet/firewall';
import { planPool } from '@tapnet/tap-pool';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, TapnetError } from './errors.js';
import { normalizeOptions, type PoolOptions } from './options.js';
import {
  dnsmasqOptionsOf,
  llmnrOptionsOf,
  planParts,
  policyOptionsOf,
  tapPoolOptionsOf,
} from './translate.js';

const o = (options: Partial<PoolOptions> = {}) => normalizeOptions({ size: 2, ...options });

describe('option translation', () => {
  const plan = planPool({ size: 2, prefix: 'tx', subnet: '10.9.0.0/16' });

  it('gives tap-pool the plan options, leaving its own defaults for what the caller left out', () => {
    expect(tapPoolOptionsOf(o({ prefix: 'tx', owner: { uid: 1000 } }))).toEqual({
      size: 2,
      prefix: 'tx',
      metadataIp: '169.254.169.254',
      ipv6: false,
      owner: { uid: 1000 },
      stateDir: '/run/tapnet',
    });
    expect(tapPoolOptionsOf(o({ subnet: '10.9.0.0/16', prefixLength: 28 }))).toMatchObject({
      subnet: '10.9.0.0/16',
      prefixLength: 28,
    });
  });

  it('gives the firewall the planned networks, the uplink and the per-VM cap', () => {
    expect(
      policyOptionsOf(
        o({ allow: [{ cidr: '10.50.0.0/16', via: 'wg0' }], limits: { connections: 64 } }),
        plan,
        'eth0',
      ),
    ).toEqual({
      prefix: 'tx',
      networks: [
        { device: 'tx0', subnet: '10.9.0.0/24', gateway: '10.9.0.1' },
        { device: 'tx1', subnet: '10.9.1.0/24', gateway: '10.9.1.1' },
      ],
      metadataIp: '169.254.169.254',
      metadataPort: 80,
      uplink: 'eth0',
      allow: [{ cidr: '10.50.0.0/16', via: 'wg0' }],
      ipv6: false,
      connections: 64,
      llmnr: true,
    });
  });

  it('gives dnsmasq one folder per pool and renames upstreamDns, dnsDomain, dnsmasqRestart', () => {
    expect(
      dnsmasqOptionsOf(
        o({
          stateDir: '/tmp/s',
          upstreamDns: ['192.0.2.53'],
          dnsDomain: null,
          dnsmasqRestart: { maxQuickFailures: 2 },
        }),
        plan,
      ),
    ).toEqual({
      networks: [
        {
          name: 'tx0',
          device: 'tx0',
          gateway: '10.9.0.1',
          netmask: '255.255.255.0',
          rangeStart: '10.9.0.2',
          rangeEnd: '10.9.0.254',
        },
        {
          name: 'tx1',
          device: 'tx1',
          gateway: '10.9.1.1',
          netmask: '255.255.255.0',
          rangeStart: '10.9.1.2',
          rangeEnd: '10.9.1.254',
        },
      ],
      stateDir: '/tmp/s/tx',
      metadataIp: '169.254.169.254',
      metadataNames: ['taskcluster'],
      hostRecords: [],
      srvRecords: [],
      upstream: ['192.0.2.53'],
      leaseTime: '20m',
      domain: null,
      restart: { maxQuickFailures: 2 },
    });
    // Left out: dhcp-dns's own default domain, not one restated here.
    expect(dnsmasqOptionsOf(o(), plan)).not.toHaveProperty('domain');
    expect(dnsmasqOptionsOf(o(), plan)).not.toHaveProperty('restart');
  });

  it('gives the LLMNR responder the gateways and the names it answers', () => {
    expect(llmnrOptionsOf(o({ metadataNames: ['meta'] }), plan)).toEqual({
      networks: [
        { name: 'tx0', gateway: '10.9.0.1', netmask: '255.255.255.0' },
        { name: 'tx1', gateway: '10.9.1.1', netmask: '255.255.255.0' },
      ],
      metadataIp: '169.254.169.254',
      metadataNames: ['meta'],
      hostRecords: [],
    });
  });
});

describe('planParts', () => {
  it('plans every part from good options, hardening normalised by the metadata package', () => {
    const parts = planParts(o({ metadataHardening: { tokens: true } }), null);
    expect(parts.plan.networks.map((n) => n.device)).toEqual(['tn0', 'tn1']);
    expect(parts.policy.uplink).toBeNull();
    expect(parts.llmnr?.networks).toHaveLength(2);
    expect(parts.hardening?.tokens).toMatchObject({ path: '/latest/api/token', required: true });
    expect(planParts(o({ llmnr: false }), null).llmnr).toBeUndefined();
    expect(planParts(o(), null).hardening).toBeUndefined();
  });

  // Each bad option is refused by the package that owns it; the facade names it by its own path.
  it.each<[string, Partial<PoolOptions>, string, string]>([
    ['a subnet that is no CIDR', { subnet: '10.0.0.0' }, 'subnet', 'CIDR'],
    [
      'a prefix length out of range',
      { prefixLength: 31 },
      'prefixLength',
      'Expected `prefixLength`',
    ],
    [
      'a metadata IP that is no address',
      { metadataIp: '169.254.169' },
      'metadataIp',
      '`metadataIp`',
    ],
    ['a negative owner uid', { owner: { uid: -1 } }, 'owner.uid', 'Expected `owner.uid`'],
    [
      'an allow entry that is no CIDR',
      { allow: [{ cidr: 'nope' }] },
      'allow[0].cidr',
      '`allow[0].cidr`',
    ],
    [
      'an allow entry via a bad device',
      { allow: [{ cidr: '10.50.0.0/16', via: 'a b' }] },
      'allow[0].via',
      '`allow[0].via`',
    ],
    [
      'an upstream server that is no address',
      { upstreamDns: ['dns.example'] },
      'upstreamDns[0]',
      'Expected `upstreamDns[0]`',
    ],
    [
      'a second bad upstream server',
      { upstreamDns: ['192.0.2.1', 'x'] },
      'upstreamDns[1]',
      '`upstreamDns[1]`',
    ],
    ['a lease time too short', { leaseTime: '30s' }, 'leaseTime', 'Expected `leaseTime`'],
    [
      'a metadata name that is no DNS name',
      { metadataNames: ['a b'] },
      'metadataNames[0]',
      '`metadataNames[0]`',
    ],
    [
      'a host record without names',
      { hostRecords: [{ names: [], ipv4: '10.1.1.1' }] },
      'hostRecords[0].names',
      '`hostRecords[0].names`',
    ],
    [
      'an SRV record with a bad port',
      { srvRecords: [{ service: 'x', protocol: 'tcp', target: 'h', port: 70_000 }] },
      'srvRecords[0].port',
      '`srvRecords[0].port`',
    ],
    [
      'an unknown restart option',
      { dnsmasqRestart: { tries: 3 } as never },
      'dnsmasqRestart.tries',
      '`dnsmasqRestart.tries`',
    ],
    [
      'a restart delay out of range',
      { dnsmasqRestart: { maxDelayMs: -1 } },
      'dnsmasqRestart.maxDelayMs',
      'Expected `dnsmasqRestart.maxDelayMs`',
    ],
    [
      'hardening that is no object',
      { metadataHardening: 5 as never },
      'metadataHardening',
      'Expected `metadataHardening`',
    ],
    [
      'bad token options',
      { metadataHardening: { tokens: 'yes' as never } },
      'metadataHardening.tokens',
      '`metadataHardening.tokens`',
    ],
    [
      'a token lifetime out of range',
      { metadataHardening: { tokens: { maxTtlSeconds: 0 } } },
      'metadataHardening.tokens.maxTtlSeconds',
      '`metadataHardening.tokens.maxTtlSeconds`',
    ],
    [
      'an unknown hardening option',
      { metadataHardening: { speed: 1 } as never },
      'metadataHardening',
      'Expected `metadataHardening` to have only `rejectProxyHeaders`',
    ],
    [
      'per-network limits out of range',
      { metadataHardening: { perNetwork: { burst: 0 } } },
      'metadataHardening.perNetwork.burst',
      '`metadataHardening.perNetwork.burst`',
    ],
  ])('%s → `%s`', (_what, options, option, message) => {
    let error: unknown;
    try {
      planParts(o(options), null);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toBeInstanceOf(TapnetError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', option });
    expect((error as Error).message).toContain(message);
    // The package's own error is kept as the cause, with its own class and code.
    const cause = (error as Error).cause as { code?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect(cause).not.toBeInstanceOf(TapnetError);
    expect(cause.code).toMatch(/^ERR_INVALID_(OPTION|POLICY|CONFIG)$/);
  });

  it('keeps the package class as the cause: firewall and dhcp-dns errors alike', () => {
    const causeOf = (options: Partial<PoolOptions>) => {
      try {
        planParts(o(options), null);
      } catch (error) {
        return (error as Error).cause;
      }
      return undefined;
    };
    expect(causeOf({ allow: [{ cidr: 'nope' }] })).toBeInstanceOf(InvalidPolicyError);
    expect(causeOf({ upstreamDns: ['x'] })).toBeInstanceOf(InvalidConfigError);
  });
});
