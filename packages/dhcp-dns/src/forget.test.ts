import { describe, expect, it } from 'vitest';
import { DhcpType, decodeDhcpMessage } from './dhcp-message.js';
import { testNetworks } from './fixtures.test-helpers.js';
import { leaseEntriesOf, releaseMessage, withoutNetwork } from './forget.js';
import { normalizeOptions } from './options.js';

const [net0, net1] = normalizeOptions({ networks: testNetworks(2), stateDir: '/run/t' }).networks;

const FILE = [
  '1795907969 02:00:00:00:00:01 10.64.0.2 * 01:02:00:00:00:00:01',
  '1795907969 06-02:00:00:00:00:03 10.64.0.4 * *',
  '1795907969 00- 10.64.0.5 * 01:aa',
  '0 52:54:00:00:00:09 10.64.1.7 host *',
  'garbage line',
  '1795907969 zz:00 10.64.0.6 * *',
  '',
].join('\n');

describe('leaseEntriesOf', () => {
  it('reads every hardware type and length of one network, skipping what it cannot parse', () => {
    expect(leaseEntriesOf(FILE, net0!)).toEqual([
      { ip: '10.64.0.2', htype: 1, chaddr: Buffer.from('020000000001', 'hex') },
      { ip: '10.64.0.4', htype: 6, chaddr: Buffer.from('020000000003', 'hex') },
      { ip: '10.64.0.5', htype: 0, chaddr: Buffer.alloc(0) },
    ]);
    expect(leaseEntriesOf(FILE, net1!).map((e) => e.ip)).toEqual(['10.64.1.7']);
  });
});

describe('withoutNetwork', () => {
  it('drops exactly the lines of that subnet', () => {
    const kept = withoutNetwork(FILE, net0!);
    expect(leaseEntriesOf(kept, net0!)).toEqual([]);
    expect(kept).toContain('10.64.1.7');
    expect(kept).toContain('garbage line');
  });
});

describe('releaseMessage', () => {
  it('is the DHCPRELEASE the lease holder would send: ciaddr, chaddr, server id, no client id', () => {
    const [entry] = leaseEntriesOf(FILE, net0!);
    const message = decodeDhcpMessage(releaseMessage(entry!, net0!, 0x01020304));
    expect(message).toMatchObject({
      op: 1,
      xid: 0x01020304,
      htype: 1,
      chaddr: Buffer.from('020000000001', 'hex'),
      ciaddr: '10.64.0.2',
      type: DhcpType.RELEASE,
    });
    expect([...message!.options.keys()].sort()).toEqual([53, 54]);
    expect(message!.options.get(54)).toEqual(Buffer.from([10, 64, 0, 1]));
  });
});
