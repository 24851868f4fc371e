import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import type { DnsResponse } from './dns-message.js';
import { queryDnsMany } from './dns-query.js';
import { parseUdpTable } from './listeners.js';
import { expectationOf, isExpected, nextProbe, probeRound } from './readiness.js';
import type { Runner } from './runner.js';

const gateways = (n: number) =>
  Array.from({ length: n }, (_, i) => `10.${64 + (i >> 8)}.${i & 255}.1`);

const answer = (address: string): DnsResponse => ({
  id: 0,
  rcode: 0,
  answers: [{ type: 'A', name: 'taskcluster', address, ttl: 0 }],
});

/** A runner whose dnsmasq serves `served` (DNS and the socket table), counting what it is asked. */
function countingRunner(served: ReadonlySet<string>, withListeners: boolean) {
  const asked = { queries: 0, listenerReads: 0 };
  const runner: Runner = {
    spawn: () => {
      throw new Error('not used');
    },
    async queryDns(server) {
      asked.queries += 1;
      if (!served.has(server)) throw new Error('timeout');
      return answer('169.254.169.254');
    },
    ...(withListeners && {
      async udpListeners() {
        asked.listenerReads += 1;
        return new Set(served);
      },
    }),
  };
  return { runner, asked };
}

describe('readiness', () => {
  it.each([
    { pending: [], answered: false, round: 0, asked: [] },
    { pending: ['a', 'b', 'c'], answered: false, round: 0, asked: ['a'] },
    { pending: ['a', 'b', 'c'], answered: false, round: 1, asked: ['b'] },
    { pending: ['a', 'b', 'c'], answered: false, round: 5, asked: ['c'] },
    { pending: ['a', 'b', 'c'], answered: true, round: 7, asked: ['a', 'b', 'c'] },
  ])('nextProbe($pending, answered $answered, round $round) asks $asked', (c) => {
    expect(nextProbe(c.pending, c.answered, c.round)).toEqual(c.asked);
  });

  it('expects the metadata IP for the first metadata name, any answer without one', () => {
    const expected = expectationOf(['taskcluster', 'other'], '169.254.169.254');
    expect(expected).toEqual({ name: 'taskcluster', address: '169.254.169.254' });
    expect(isExpected(answer('169.254.169.254'), expected)).toBe(true);
    expect(isExpected(answer('10.0.0.1'), expected)).toBe(false);
    expect(isExpected({ id: 0, rcode: 3, answers: [] }, expected)).toBe(false);
    const none = expectationOf([], '169.254.169.254');
    expect(none).toEqual({ name: 'localhost', address: undefined });
    expect(isExpected({ id: 0, rcode: 3, answers: [] }, none)).toBe(true);
  });

  it('at 4096 gateways: one DNS question and one socket-table read once dnsmasq serves', async () => {
    const all = gateways(4096);
    const { runner, asked } = countingRunner(new Set(all), true);
    const pending = new Set(all);
    const progress = { answered: false, round: 0 };
    const expected = expectationOf(['taskcluster'], '169.254.169.254');
    await probeRound(runner, 1234, pending, progress, expected);
    expect(pending.size).toBe(0);
    expect(asked).toEqual({ queries: 1, listenerReads: 1 });
  });

  it('a gateway dnsmasq has not bound stays pending and is asked over DNS, not the rest', async () => {
    const all = gateways(4096);
    const missing = all[2000]!;
    const { runner, asked } = countingRunner(new Set(all.filter((g) => g !== missing)), true);
    const pending = new Set(all);
    const progress = { answered: false, round: 0 };
    const expected = expectationOf(['taskcluster'], '169.254.169.254');
    await probeRound(runner, 1234, pending, progress, expected);
    await probeRound(runner, 1234, pending, progress, expected);
    expect([...pending]).toEqual([missing]);
    expect(asked).toEqual({ queries: 2, listenerReads: 2 });
  });

  it('before dnsmasq serves, one gateway a round, a different one each time', async () => {
    const all = gateways(3);
    const { runner, asked } = countingRunner(new Set(), true);
    const pending = new Set(all);
    const progress = { answered: false, round: 0 };
    const expected = expectationOf(['taskcluster'], '169.254.169.254');
    for (let i = 0; i < 3; i++) await probeRound(runner, 1234, pending, progress, expected);
    expect(pending.size).toBe(3);
    expect(asked).toEqual({ queries: 3, listenerReads: 0 });
  });

  it('without a socket table, every pending gateway is asked once one answered', async () => {
    const all = gateways(50);
    const { runner, asked } = countingRunner(new Set(all), false);
    const pending = new Set(all);
    const progress = { answered: false, round: 0 };
    const expected = expectationOf(['taskcluster'], '169.254.169.254');
    await probeRound(runner, undefined, pending, progress, expected);
    await probeRound(runner, undefined, pending, progress, expected);
    expect(pending.size).toBe(0);
    expect(asked.queries).toBe(50);
  });
});

describe('parseUdpTable', () => {
  const table = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  100: 0100400A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5001 2 0000000000000000 0',
    '  101: 0101400A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5002 2 0000000000000000 0',
    '  102: 0102400A:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5003 2 0000000000000000 0',
    '  103: 0103400A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9999 2 0000000000000000 0',
    'garbage',
  ].join('\n');

  it('keeps the addresses on the port whose socket belongs to the process (little-endian)', () => {
    expect([...parseUdpTable(table, 53, new Set(['5001', '5002', '5003']), true)]).toEqual([
      '10.64.0.1',
      '10.64.1.1',
    ]);
  });

  it('reads the bytes in order on a big-endian host', () => {
    expect([...parseUdpTable(table, 53, new Set(['5001']), false)]).toEqual(['1.0.64.10']);
  });

  it('finds nothing in an empty or unreadable table', () => {
    expect(parseUdpTable('', 53, new Set(['5001'])).size).toBe(0);
  });
});

describe('queryDnsMany', () => {
  it('asks every server from one socket and returns the answers by server', async () => {
    // A DNS server on 127.0.0.1 answering every question with 169.254.169.254.
    const server = createSocket('udp4');
    const seen = new Set<number>();
    server.on('message', (message, from) => {
      seen.add(from.port);
      const reply = Buffer.from(message);
      reply.writeUInt16BE(0x8180, 2);
      reply.writeUInt16BE(1, 6);
      const rr = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 169, 254, 169, 254]);
      server.send(Buffer.concat([reply, rr]), from.port, from.address);
    });
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    try {
      const servers = ['127.0.0.1'];
      const answers = await queryDnsMany(servers, 'taskcluster', 1, {
        port: server.address().port,
        timeoutMs: 2000,
      });
      expect([...answers.keys()]).toEqual(servers);
      expect(answers.get('127.0.0.1')!.answers).toEqual([
        { type: 'A', name: 'taskcluster', address: '169.254.169.254', ttl: 0 },
      ]);
      expect(seen.size).toBe(1);
    } finally {
      server.close();
    }
  });

  it('a server that never answers is missing, after its window', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const answers = await queryDnsMany(['127.0.0.1'], 'taskcluster', 1, {
        port: silent.address().port,
        timeoutMs: 100,
      });
      expect(answers.size).toBe(0);
    } finally {
      silent.close();
    }
  });
});
