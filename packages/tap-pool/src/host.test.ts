import { describe, expect, it } from 'vitest';
import { StateError } from './errors.js';
import { parseAddrJson, parseLinkDetails, parseRouteJson, readHostSnapshot } from './host.js';
import type { Runner } from './runner.js';

// Trimmed from real `ip -details -json addr show` output on this machine.
const ADDR = JSON.stringify([
  {
    ifname: 'lo',
    addr_info: [
      { family: 'inet', local: '127.0.0.1', prefixlen: 8 },
      { family: 'inet', local: '169.254.169.254', prefixlen: 32 },
      { family: 'inet6', local: '::1', prefixlen: 128 },
    ],
  },
  {
    ifname: 'tn0',
    group: '4242',
    ifalias: 'tapnet:tn:0123456789abcdef',
    linkinfo: {
      info_kind: 'tun',
      info_data: { type: 'tap', pi: false, persist: true, user: 54321 },
    },
    addr_info: [{ family: 'inet', local: '10.1.0.1', prefixlen: 24 }],
  },
  { ifname: 'tun0', linkinfo: { info_kind: 'tun', info_data: { type: 'tun' } }, addr_info: [] },
  { ifname: 'tn1', linkinfo: { info_kind: 'bridge', info_data: {} } },
]);

const ROUTES = JSON.stringify([
  { dst: 'default', dev: 'eth0' },
  { dst: '10.1.0.0/24', dev: 'tn0', protocol: 'kernel' },
  { type: 'local', dst: '10.1.0.1', dev: 'tn0', table: 'local' },
  { type: 'broadcast', dst: '10.1.0.255', dev: 'tn0', table: 'local' },
  { dst: '192.0.2.7', dev: 'wg0' },
  { type: 'blackhole', dst: '198.51.100.0/24' },
]);

describe('ip -json parsers', () => {
  it('reads devices and IPv4 addresses', () => {
    expect(parseAddrJson(ADDR)).toEqual({
      devices: ['lo', 'tn0', 'tun0', 'tn1'],
      addresses: [
        { dev: 'lo', cidr: '127.0.0.1/8' },
        { dev: 'lo', cidr: '169.254.169.254/32' },
        { dev: 'tn0', cidr: '10.1.0.1/24' },
      ],
    });
  });

  it('reads routes without local/broadcast entries, host routes as /32', () => {
    expect(parseRouteJson(ROUTES)).toEqual([
      { dst: 'default', dev: 'eth0' },
      { dst: '10.1.0.0/24', dev: 'tn0' },
      { dst: '192.0.2.7/32', dev: 'wg0' },
      { dst: '198.51.100.0/24' },
    ]);
  });

  it('tells TAPs from TUNs and other kinds, and reads the ifalias mark', () => {
    expect([...parseLinkDetails(ADDR).values()]).toEqual([
      { name: 'lo', kind: 'unknown', isTap: false, group: 'default', alias: '' },
      {
        name: 'tn0',
        kind: 'tun/tap',
        isTap: true,
        group: '4242',
        alias: 'tapnet:tn:0123456789abcdef',
      },
      { name: 'tun0', kind: 'tun/tun', isTap: false, group: 'default', alias: '' },
      { name: 'tn1', kind: 'bridge', isTap: false, group: 'default', alias: '' },
    ]);
  });

  it('throws StateError on output that is not a JSON array', () => {
    expect(() => parseAddrJson('Error: oops')).toThrow(StateError);
    expect(() => parseRouteJson('{}')).toThrow(/to print a JSON array, got "\{\}"/);
  });

  it('reads a snapshot in two processes', async () => {
    const calls: string[] = [];
    const runner: Runner = async (argv) => {
      calls.push(argv.join(' '));
      return { stdout: argv.includes('route') ? ROUTES : ADDR, stderr: '', exitCode: 0 };
    };
    const snapshot = await readHostSnapshot(runner);
    expect(calls).toEqual(['ip -json addr show', 'ip -json -4 route show table all']);
    expect(snapshot.devices).toContain('tn1');
    expect(snapshot.routes).toHaveLength(4);
  });
});
