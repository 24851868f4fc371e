import { describe, expect, it } from 'vitest';
import { decodeResponse, encodeQuery } from './dns-message.js';
import { planLlmnr } from './llmnr.js';
import { SubnetIndex, TokenBuckets } from './llmnr-budget.js';
import { answerLlmnrQuery, buildLlmnrRecords, parseLlmnrQuery } from './llmnr-message.js';

const records = buildLlmnrRecords([
  { names: ['taskcluster'], ipv4: '169.254.169.254' },
  { names: ['artifacts', 'Cache.Tapnet.Test'], ipv4: '203.0.113.10', ipv6: '2001:db8::a' },
  { names: ['v6only'], ipv6: '::ffff:192.0.2.1' },
]);

/** An LLMNR query is a DNS query with flags 0 (encodeQuery sets RD, which LLMNR does not use). */
function query(name: string, type: number, klass = 1, id = 0x1234): Buffer {
  const buf = encodeQuery(id, name, type);
  buf.writeUInt16BE(0, 2);
  buf.writeUInt16BE(klass, buf.length - 2);
  return buf;
}

function ask(buf: Buffer) {
  const q = parseLlmnrQuery(buf);
  const answer = q && answerLlmnrQuery(q, records);
  return answer && decodeResponse(answer);
}

describe('LLMNR answers', () => {
  it.each([
    ['A of a metadata name', 'taskcluster', 1, [['A', '169.254.169.254']]],
    ['A, name in other case', 'TaskCluster', 1, [['A', '169.254.169.254']]],
    ['ANY of a metadata name', 'taskcluster', 255, [['A', '169.254.169.254']]],
    ['AAAA of a v4-only name: empty NOERROR', 'taskcluster', 28, []],
    ['A of a host record', 'ARTIFACTS', 1, [['A', '203.0.113.10']]],
    ['AAAA of a host record', 'artifacts', 28, [['AAAA', '2001:db8:0:0:0:0:0:a']]],
    [
      'ANY of a host record',
      'cache.tapnet.test',
      255,
      [
        ['A', '203.0.113.10'],
        ['AAAA', '2001:db8:0:0:0:0:0:a'],
      ],
    ],
    ['AAAA with a dotted tail', 'v6only', 28, [['AAAA', '0:0:0:0:0:ffff:c000:201']]],
    ['MX of an owned name: empty NOERROR', 'taskcluster', 15, []],
  ])('%s', (_, name, type, want) => {
    const response = ask(query(name, type));
    expect(response).toBeDefined();
    expect(response!.id).toBe(0x1234);
    expect(response!.rcode).toBe(0);
    expect(response!.answers.map((a) => [a.type, 'address' in a ? a.address : ''])).toEqual(want);
    for (const a of response!.answers) {
      expect(a.ttl).toBe(30);
      expect(a.name).toBe(name); // the question's name, as the guest spelt it
    }
  });

  it('echoes the question and sets QR with no other flag', () => {
    const q = query('taskcluster', 1, 1, 7);
    const answer = answerLlmnrQuery(parseLlmnrQuery(q)!, records)!;
    expect(answer.readUInt16BE(2)).toBe(0x8000);
    expect(answer.subarray(12, q.length)).toEqual(q.subarray(12));
  });

  it.each([
    ['a name it does not own', query('evil', 1)],
    ['a multi-label name of which only the first label is owned', query('taskcluster.evil', 1)],
    ['a suffix of an owned name', query('tapnet.test', 1)],
    ['class CH', query('taskcluster', 1, 3)],
  ])('stays silent for %s', (_, buf) => {
    expect(ask(buf)).toBeUndefined();
  });

  it('answers the same table whatever the guests asked before (nothing is learnt)', () => {
    for (const name of ['evil', 'guest-1', 'attacker.example']) ask(query(name, 1));
    expect([...records.names.keys()].sort()).toEqual([
      'artifacts',
      'cache.tapnet.test',
      'taskcluster',
      'v6only',
    ]);
    expect(ask(query('guest-1', 1))).toBeUndefined();
  });
});

describe('LLMNR query parsing ignores anything but one well-formed standard query', () => {
  const good = query('taskcluster', 1);
  const withFlags = (flags: number) => {
    const b = Buffer.from(good);
    b.writeUInt16BE(flags, 2);
    return b;
  };
  const withCount = (offset: number, value: number) => {
    const b = Buffer.from(good);
    b.writeUInt16BE(value, offset);
    return b;
  };
  const pointer = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  const longLabel = Buffer.concat([
    good.subarray(0, 12),
    Buffer.from([64]),
    Buffer.alloc(64, 0x61),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  const longName = Buffer.concat([
    good.subarray(0, 12),
    ...new Array(5).fill(Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  it.each([
    ['empty', Buffer.alloc(0)],
    ['a header only', good.subarray(0, 12)],
    ['truncated question', good.subarray(0, good.length - 1)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0])])],
    ['a response (QR)', withFlags(0x8000)],
    ['opcode 1', withFlags(0x0800)],
    ['TC set', withFlags(0x0200)],
    ['two questions', withCount(4, 2)],
    ['no question', withCount(4, 0)],
    ['an answer record', withCount(6, 1)],
    ['an authority record', withCount(8, 1)],
    ['a compression pointer in the question', pointer],
    ['a label over 63 bytes', longLabel],
    ['a name over 255 bytes', longName],
    ['the root name', Buffer.concat([good.subarray(0, 12), Buffer.from([0, 0, 1, 0, 1])])],
    ['oversize', Buffer.concat([good, Buffer.alloc(600)])],
  ])('%s', (_, buf) => {
    expect(parseLlmnrQuery(buf)).toBeUndefined();
  });

  it('never throws on random bytes', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    };
    for (let i = 0; i < 5000; i++) {
      const buf = Buffer.from(Array.from({ length: random() % 80 }, random));
      expect(() => {
        const q = parseLlmnrQuery(buf);
        if (q) answerLlmnrQuery(q, records);
      }).not.toThrow();
    }
  });

  it('accepts the same query with the C or T bit (they do not change the answer)', () => {
    expect(parseLlmnrQuery(withFlags(0x0400))?.name).toBe('taskcluster');
    expect(parseLlmnrQuery(withFlags(0x0100))?.name).toBe('taskcluster');
  });
});

describe('per-network budget', () => {
  it('allows a burst, then the refill rate, per key', () => {
    let now = 0;
    const buckets = new TokenBuckets({ perSecond: 10, burst: 3 }, () => now);
    expect([1, 2, 3, 4].map(() => buckets.take('a'))).toEqual([true, true, true, false]);
    expect(buckets.take('b')).toBe(true); // another network is not affected
    now += 100; // one token back
    expect([buckets.take('a'), buckets.take('a')]).toEqual([true, false]);
    now += 10_000; // capped at the burst
    expect([1, 2, 3, 4].map(() => buckets.take('a'))).toEqual([true, true, true, false]);
  });
});

describe('network of a source address', () => {
  const index = new SubnetIndex([
    { gateway: '10.231.0.1', netmask: '255.255.255.0', value: 'tn0' },
    { gateway: '10.231.1.1', netmask: '255.255.255.0', value: 'tn1' },
    { gateway: '10.232.0.1', netmask: '255.255.0.0', value: 'wide' },
  ]);
  it.each([
    ['10.231.0.7', 'tn0'],
    ['10.231.1.254', 'tn1'],
    ['10.232.9.9', 'wide'],
    ['10.231.2.1', undefined],
    ['192.168.0.1', undefined],
    ['not-an-ip', undefined],
  ])('%s → %s', (source, want) => expect(index.find(source)).toBe(want));
});

describe('planLlmnr validation', () => {
  const network = { name: 'tn0', gateway: '10.231.0.1', netmask: '255.255.255.0' };
  it.each([
    [{ networks: [] }, 'networks'],
    [{ networks: [{ ...network, gateway: '10.231.0' }] }, 'networks[0].gateway'],
    [{ networks: [{ ...network, netmask: '255.0.255.0' }] }, 'networks[0].netmask'],
    [{ networks: [network], metadataNames: ['bad name'] }, 'metadataNames[0]'],
    [{ networks: [network], metadataIp: '::1' }, 'metadataIp'],
    [{ networks: [network], hostRecords: [{ names: ['a'], ipv4: 'x' }] }, 'hostRecords[0].ipv4'],
    [{ networks: [network], rate: { perSecond: 0, burst: 1 } }, 'rate'],
  ])('%j → error on %s', (options, field) => {
    expect(() => planLlmnr(options as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CONFIG', field }),
    );
  });
});
