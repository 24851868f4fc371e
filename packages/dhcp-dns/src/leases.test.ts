import { describe, expect, it } from 'vitest';
import { testNetworks } from './fixtures.test-helpers.js';
import { currentLeases, diffLeases, type Lease, parseLeaseFile } from './leases.js';
import { normalizeOptions } from './options.js';

const { networks } = normalizeOptions({ networks: testNetworks(3), stateDir: '/run/t' });
const at = (s: number) => new Date(s * 1000);

describe('parseLeaseFile', () => {
  it('reads dnsmasq lease lines and maps each address to its network', () => {
    const text = [
      '1795829359 52:54:00:12:00:0A 10.64.0.12 * 01:52:54:00:12:00:0a',
      '1795829360 52:54:00:12:00:0b 10.64.2.200 guest-b *',
      '0 52:54:00:12:00:0c 10.64.1.7 * *',
      '1795829361 52:54:00:12:00:0d 192.168.1.5 * *', // not one of ours
      'duid 00:01:00:01:2c:aa:bb:cc', // DHCPv6 server DUID line
      '1795829362 52:54:00:12:00:0e 2001:db8::5 * *', // IPv6 lease
      '1795829363 not-a-mac 10.64.0.13 * *',
      '17958293', // half-written
      '',
    ].join('\n');
    expect(parseLeaseFile(text, networks)).toEqual([
      { network: 'tn0', mac: '52:54:00:12:00:0a', ip: '10.64.0.12', expiresAt: at(1795829359) },
      {
        network: 'tn2',
        mac: '52:54:00:12:00:0b',
        ip: '10.64.2.200',
        hostname: 'guest-b',
        expiresAt: at(1795829360),
      },
      { network: 'tn1', mac: '52:54:00:12:00:0c', ip: '10.64.1.7', expiresAt: new Date(8.64e15) },
    ]);
  });

  it('an empty file has no leases', () => {
    expect(parseLeaseFile('', networks)).toEqual([]);
  });
});

describe('diffLeases', () => {
  const lease = (mac: string, ip: string, expiry: number): Lease => ({
    network: 'tn0',
    mac,
    ip,
    expiresAt: at(expiry),
  });
  const a = lease('52:54:00:00:00:01', '10.64.0.2', 1000);
  const b = lease('52:54:00:00:00:02', '10.64.0.3', 2000);
  const c = lease('52:54:00:00:00:03', '10.64.0.4', 3000);

  it('finds new, renewed, released and expired leases', () => {
    const before = currentLeases([a, b, c], at(500));
    const renewedB = { ...b, expiresAt: at(2500) };
    const d = lease('52:54:00:00:00:04', '10.64.0.5', 4000);
    // a expired (gone at 1500), c released (gone before its expiry), b renewed, d new.
    expect(diffLeases(before, [renewedB, d], at(1500))).toEqual({
      added: [renewedB, d],
      released: [c],
      expired: [a],
    });
  });

  it('a lease still in the file after its expiry counts as expired', () => {
    expect(diffLeases(currentLeases([a], at(500)), [a], at(1000))).toEqual({
      added: [],
      released: [],
      expired: [a],
    });
  });

  it('the same reading twice changes nothing', () => {
    expect(diffLeases(currentLeases([a, b], at(500)), [a, b], at(600))).toEqual({
      added: [],
      released: [],
      expired: [],
    });
  });
});
