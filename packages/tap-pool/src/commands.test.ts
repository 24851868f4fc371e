import { describe, expect, it } from 'vitest';
import {
  configureScript,
  deviceSysctls,
  failedLines,
  removeScript,
  sysctlPath,
  tapScript,
  unaddressScript,
} from './commands.js';
import { planPool } from './plan.js';

describe('ip -batch scripts', () => {
  const plan = planPool({ size: 2, subnet: '10.9.0.0/16', owner: { uid: 1000, gid: 998 } });

  it('creates persistent TAPs with the owner, each put in the link group right after', () => {
    expect(tapScript(plan)).toBe(
      [
        'tuntap add dev tn0 mode tap user 1000 group 998',
        'link set dev tn0 group 1818996367',
        'tuntap add dev tn1 mode tap user 1000 group 998',
        'link set dev tn1 group 1818996367',
        '',
      ].join('\n'),
    );
    expect(tapScript(planPool({ size: 1, owner: { gid: 5 } }))).toMatch(
      /^tuntap add dev tn0 mode tap group 5\n/,
    );
    expect(tapScript(planPool({ size: 1 }))).toMatch(/^tuntap add dev tn0 mode tap\n/);
  });

  it("marks each TAP with the run's ifalias in the same line that sets its group", () => {
    expect(tapScript(plan, 'tapnet:tn:0123456789abcdef')).toBe(
      [
        'tuntap add dev tn0 mode tap user 1000 group 998',
        'link set dev tn0 group 1818996367 alias tapnet:tn:0123456789abcdef',
        'tuntap add dev tn1 mode tap user 1000 group 998',
        'link set dev tn1 group 1818996367 alias tapnet:tn:0123456789abcdef',
        '',
      ].join('\n'),
    );
  });

  it('adds the gateway with its broadcast, brings links up, and the metadata IP only when asked', () => {
    expect(configureScript(plan, true)).toBe(
      [
        'addr add 10.9.0.1/24 broadcast 10.9.0.255 dev tn0',
        'link set dev tn0 up',
        'addr add 10.9.1.1/24 broadcast 10.9.1.255 dev tn1',
        'link set dev tn1 up',
        'addr add 169.254.169.254/32 dev lo',
        '',
      ].join('\n'),
    );
    expect(configureScript(plan, false)).not.toContain('dev lo');
  });

  it('removes the link group, stray devices, then the metadata IP', () => {
    expect(removeScript({ group: 77, devices: ['tn3'] }, '169.254.169.254/32')).toBe(
      'link del group 77\nlink del dev tn3\naddr del 169.254.169.254/32 dev lo\n',
    );
    expect(removeScript({ devices: ['tn0', 'tn1'] }, undefined)).toBe(
      'link del dev tn0\nlink del dev tn1\n',
    );
  });

  it('is as long as the plan: one line per device and step, nothing per-process', () => {
    const big = planPool({ size: 1000, subnet: '10.64.0.0/14' });
    expect(tapScript(big).split('\n')).toHaveLength(2001);
    expect(configureScript(big, true).split('\n')).toHaveLength(2002);
  });
});

describe('device sysctls', () => {
  it('hardens each device and disables IPv6 unless asked for', () => {
    expect(deviceSysctls(planPool({ size: 1 }))).toEqual([
      { key: 'net.ipv4.conf.tn0.rp_filter', value: '1' },
      { key: 'net.ipv4.conf.tn0.send_redirects', value: '0' },
      { key: 'net.ipv4.conf.tn0.accept_redirects', value: '0' },
      { key: 'net.ipv4.conf.tn0.proxy_arp', value: '0' },
      { key: 'net.ipv4.conf.tn0.arp_ignore', value: '1' },
      { key: 'net.ipv4.conf.tn0.arp_announce', value: '2' },
      { key: 'net.ipv6.conf.tn0.accept_ra', value: '0' },
      { key: 'net.ipv6.conf.tn0.disable_ipv6', value: '1' },
    ]);
    expect(deviceSysctls(planPool({ size: 1, ipv6: true })).slice(6)).toEqual([
      { key: 'net.ipv6.conf.tn0.accept_ra', value: '0' },
      { key: 'net.ipv6.conf.tn0.accept_redirects', value: '0' },
    ]);
  });

  it('maps names to /proc/sys paths', () => {
    expect(sysctlPath('net.ipv4.conf.tn0.rp_filter')).toBe('/proc/sys/net/ipv4/conf/tn0/rp_filter');
    expect(sysctlPath('net.ipv4.ip_forward', '/tmp/fake')).toBe('/tmp/fake/net/ipv4/ip_forward');
  });

  it("deletes each device's address before the devices, and reads which lines failed", () => {
    // The first line loads ip's name-to-index cache; no address is named, so none is read first.
    expect(unaddressScript(['tn0', 'tn1'])).toBe(
      'neigh show dev lo\naddr del dev tn0\naddr del dev tn1\n',
    );
    expect(unaddressScript([])).toBe('');
    expect(
      failedLines('Error: ipv4: Address not found.\nCommand failed -:2\nx\nCommand failed -:7\n'),
    ).toEqual([2, 7]);
    expect(failedLines('')).toEqual([]);
  });
});
