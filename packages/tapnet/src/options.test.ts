import { defaults as dnsDefaults } from '@tapnet/dhcp-dns';
import { buildPolicy, DEFAULT_CONNECTIONS } from '@tapnet/firewall';
import { DEFAULTS as metadataDefaults } from '@tapnet/metadata-proxy';
import { MAX_SIZE, DEFAULTS as tapDefaults } from '@tapnet/tap-pool';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from './errors.js';
import { normalizeOptions } from './options.js';

describe('normalizeOptions', () => {
  it('fills the defaults in one place', () => {
    expect(normalizeOptions({ size: 3 })).toMatchObject({
      size: 3,
      prefix: 'tn',
      firewall: 'auto',
      uplink: undefined,
      metadataIp: '169.254.169.254',
      metadataPort: 80,
      metadataNames: ['taskcluster'],
      upstreamDns: 'host',
      leaseTime: '20m',
      ipv6: false,
      limits: { connections: 8192, traffic: {} },
      llmnr: true,
      stateDir: '/run/tapnet',
      dnsDomain: undefined,
    });
    expect(normalizeOptions({ size: 1, dnsDomain: null }).dnsDomain).toBeNull();
    expect(normalizeOptions({ size: 1, dnsDomain: 'ci.internal' }).dnsDomain).toBe('ci.internal');
  });

  it.each([
    [{ size: 0 }, 'size', 'Expected `size` to be an integer from 1 to 4096, got `0` (number)'],
    [{ size: 1.5 }, 'size', 'got `1.5` (number)'],
    [{ size: '3' }, 'size', 'got `"3"` (string)'],
    [{ size: 5000 }, 'size', 'from 1 to 4096'],
    [{ size: 1, firewall: 'pf' }, 'firewall', "one of 'auto', 'nft', 'iptables'"],
    [{ size: 1, uplink: 'eth 0' }, 'uplink', 'interface name'],
    [{ size: 1, uplink: 'averyveryverylongname' }, 'uplink', '1 to 15 bytes'],
    [{ size: 1, metadataPort: 0 }, 'metadataPort', '1 to 65535'],
    [{ size: 1, hostRecords: {} }, 'hostRecords', 'array'],
    [{ size: 1, upstreamDns: '8.8.8.8' }, 'upstreamDns', "'host' or an array"],
    [{ size: 1, ipv6: 'yes' }, 'ipv6', 'boolean'],
    [{ size: 1, llmnr: 'no' }, 'llmnr', 'boolean'],
    [{ size: 1, stateDir: 'run' }, 'stateDir', 'absolute path'],
    [{ size: 1, prefix: 'abcdefghijklm' }, 'prefix', '1 to 12 characters'],
    [{ size: 1, prefix: 'Tn-0' }, 'prefix', 'got `"Tn-0"` (string)'],
    [{ size: 1, count: 1 }, 'count', 'did you mean `size`'],
    [{ size: 1, upstream: [] }, 'upstream', 'did you mean `upstreamDns`'],
    [{ size: 1, bogus: 1 }, 'bogus', 'Unknown option `bogus`'],
    [{ size: 1, dnsDomain: 'ci.internal\nserver=1.2.3.4' }, 'dnsDomain', 'a DNS name'],
    [{ size: 1, dnsDomain: 'ci.internal.' }, 'dnsDomain', 'no trailing dot'],
    [{ size: 1, dnsDomain: 7 }, 'dnsDomain', 'got `7` (number)'],
    [{ size: 1, domain: 'x.internal' }, 'domain', 'did you mean `dnsDomain`'],
    [{ size: 1, limits: 5 }, 'limits', 'Expected `limits` to be an object'],
    [{ size: 1, limits: { conns: 5 } }, 'limits.conns', 'Unknown option `limits.conns`'],
    [
      { size: 1, limits: { connections: 0 } },
      'limits.connections',
      'Expected `limits.connections` to be an integer from 1 to 2147483647, got `0` (number)',
    ],
    [{ size: 1, limits: { connections: -5 } }, 'limits.connections', 'got `-5` (number)'],
    [{ size: 1, limits: { connections: 2.5 } }, 'limits.connections', 'got `2.5` (number)'],
    [{ size: 1, limits: { connections: '100' } }, 'limits.connections', 'got `"100"` (string)'],
  ])('%j → %s', (options, option, message) => {
    let error: unknown;
    try {
      normalizeOptions(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', option });
    expect((error as Error).message).toContain(message);
  });

  it('takes its defaults from the packages that own them', () => {
    expect(normalizeOptions({ size: 1 })).toMatchObject({
      prefix: tapDefaults.prefix,
      stateDir: tapDefaults.stateDir,
      metadataIp: tapDefaults.metadataIp,
      metadataPort: metadataDefaults.port,
      metadataNames: dnsDefaults.metadataNames,
      upstreamDns: dnsDefaults.upstream,
      leaseTime: dnsDefaults.leaseTime,
      limits: { connections: DEFAULT_CONNECTIONS },
    });
    expect(() => normalizeOptions({ size: MAX_SIZE })).not.toThrow();
    expect(() => normalizeOptions({ size: MAX_SIZE + 1 })).toThrow(InvalidOptionError);
  });

  // One rule for interface names, the firewall's: the facade accepts no uplink it would refuse.
  it.each(['eth@0', 'wg:0', 'tap\u00e9', '..', 'a/b'])(
    'refuses uplink %j, as the firewall does',
    (uplink) => {
      expect(() =>
        buildPolicy({
          prefix: 'tn',
          networks: [{ device: 'tn0', subnet: '10.9.0.0/24', gateway: '10.9.0.1' }],
          uplink,
        }),
      ).toThrow();
      expect(() => normalizeOptions({ size: 1, uplink })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'uplink' }),
      );
    },
  );

  it.each(['eth0', 'enp0s31f6', 'br-lan.10', 'wg_0'])('accepts uplink %j', (uplink) => {
    expect(normalizeOptions({ size: 1, uplink }).uplink).toBe(uplink);
  });

  it('keeps an explicit per-VM connection cap', () => {
    expect(normalizeOptions({ size: 1, limits: { connections: 64 } }).limits).toEqual({
      connections: 64,
      traffic: {},
    });
  });

  it('takes default traffic limits beside the connection cap', () => {
    expect(
      normalizeOptions({ size: 1, limits: { egress: '20mbit', packetsPerSecond: 500 } }).limits,
    ).toEqual({
      connections: 8192,
      traffic: { egress: { rate: 20_000_000, burst: 50_000 }, packetsPerSecond: 500 },
    });
  });

  it.each([
    [{ egress: '100 mbit' }, 'limits.egress', 'no space between number and unit'],
    [{ ingress: 0 }, 'limits.ingress', 'from 8kbit to 1tbit'],
    [{ ingress: -5 }, 'limits.ingress', 'got `-5` (number)'],
    [{ egress: '5parsecs' }, 'limits.egress', 'units: bit'],
    [{ egress: { rate: '1mbit', burst: 1 } }, 'limits.egress.burst', 'a size in bytes'],
  ])('refuses traffic limits %j naming %s', (limits, option, message) => {
    let error: unknown;
    try {
      normalizeOptions({ size: 1, limits });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', option });
    expect((error as Error).message).toContain(message);
  });

  it('does not keep a reference to, or inherit from, the caller object', () => {
    const input = Object.assign(Object.create({ size: 99 }), { size: 2 });
    expect(normalizeOptions(input).size).toBe(2);
  });
});
