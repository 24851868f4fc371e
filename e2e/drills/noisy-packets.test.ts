import { describe, expect, it } from 'vitest';
import {
  DHCP,
  dhcpRequest,
  dnsAnswer,
  dnsQuery,
  percentile,
  randomMac,
  readDhcpReply,
  readDnsReply,
} from './noisy-packets.ts';

describe('noisy-neighbour packets', () => {
  it('a DNS query is read back as no reply; its canned answer has the id, rcode 0, one A record', () => {
    const query = dnsQuery(0x1234, 'q1.flood.example');
    expect(query.subarray(12).toString('latin1')).toBe(
      '\x02q1\x05flood\x07example\x00\x00\x01\x00\x01',
    );
    expect(readDnsReply(query)).toBeUndefined(); // QR bit clear
    const answer = dnsAnswer(query, '192.0.2.1');
    expect(readDnsReply(answer)).toEqual({ id: 0x1234, rcode: 0, answers: 1 });
    expect([...answer.subarray(-4)]).toEqual([192, 0, 2, 1]);
    expect(readDnsReply(Buffer.alloc(5))).toBeUndefined();
  });

  it('a DHCP REQUEST carries the MAC, broadcast flag and options 53/50/54', () => {
    const packet = dhcpRequest({
      type: DHCP.REQUEST,
      xid: 0xdeadbeef,
      mac: '02:00:00:aa:bb:cc',
      requestedIp: '10.231.1.23',
      serverId: '10.231.1.1',
    });
    expect(packet.length).toBe(300);
    expect(packet.readUInt32BE(4)).toBe(0xdeadbeef);
    expect(packet.readUInt16BE(10)).toBe(0x8000);
    expect([...packet.subarray(28, 34)]).toEqual([2, 0, 0, 0xaa, 0xbb, 0xcc]);
    expect([...packet.subarray(240, 255)]).toEqual([
      53, 1, 3, 50, 4, 10, 231, 1, 23, 54, 4, 10, 231, 1, 1,
    ]);
  });

  it("reads a server's reply: type, xid, MAC, offered address, server; refuses a request", () => {
    const reply = dhcpRequest({ type: DHCP.DISCOVER, xid: 7, mac: '02:00:00:00:00:01' });
    reply[0] = 2; // BOOTREPLY
    Buffer.from([10, 231, 2, 50]).copy(reply, 16);
    Buffer.from([53, 1, DHCP.OFFER, 54, 4, 10, 231, 2, 1, 255]).copy(reply, 240);
    expect(readDhcpReply(reply)).toEqual({
      type: DHCP.OFFER,
      xid: 7,
      mac: '02:00:00:00:00:01',
      yiaddr: '10.231.2.50',
      serverId: '10.231.2.1',
    });
    expect(readDhcpReply(dhcpRequest({ type: 1, xid: 1, mac: '02:00:00:00:00:01' }))).toBe(
      undefined,
    );
  });

  it('random MACs are unicast and locally administered', () => {
    for (const value of [0, 0.5, 0.999]) {
      const first = Number.parseInt(randomMac(() => value).slice(0, 2), 16);
      expect(first & 0x03).toBe(0x02);
    }
  });

  it('percentile is nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([], 50)).toBeNaN();
  });
});
