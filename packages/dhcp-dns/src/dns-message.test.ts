import { describe, expect, it } from 'vitest';
import { decodeResponse, encodeQuery, RecordType } from './dns-message.js';

describe('DNS messages', () => {
  it('encodes a query byte for byte', () => {
    expect(encodeQuery(0x1234, 'taskcluster', RecordType.A).toString('hex')).toBe(
      '123401000001000000000000' + '0b7461736b636c757374657200' + '00010001',
    );
  });

  it('decodes A, AAAA and SRV answers with name compression', () => {
    const parts = [
      Buffer.from('abcd81800001000300000000', 'hex'),
      Buffer.from('015f0474657374000021' + '0001', 'hex'), // question: _.test SRV IN (offset 12)
      // A: pointer to offset 12, type 1, class 1, ttl 60, len 4, 169.254.169.254
      Buffer.from('c00c00010001 0000003c 0004 a9fea9fe'.replace(/ /g, ''), 'hex'),
      // AAAA fd00::3
      Buffer.from(
        'c00c001c0001 0000003c 0010 fd000000000000000000000000000003'.replace(/ /g, ''),
        'hex',
      ),
      // SRV prio 1 weight 5 port 8080 target web.example
      Buffer.from(
        'c00c00210001 0000003c 0013 0001 0005 1f90 03776562076578616d706c6500'.replace(/ /g, ''),
        'hex',
      ),
    ];
    expect(decodeResponse(Buffer.concat(parts))).toEqual({
      id: 0xabcd,
      rcode: 0,
      answers: [
        { type: 'A', name: '_.test', address: '169.254.169.254', ttl: 60 },
        { type: 'AAAA', name: '_.test', address: 'fd00:0:0:0:0:0:0:3', ttl: 60 },
        {
          type: 'SRV',
          name: '_.test',
          priority: 1,
          weight: 5,
          port: 8080,
          target: 'web.example',
          ttl: 60,
        },
      ],
    });
  });

  it('refuses a query (not a response) and pointer loops', () => {
    expect(() => decodeResponse(encodeQuery(1, 'a', RecordType.A))).toThrow('not a DNS response');
    const loop = Buffer.concat([
      Buffer.from('000181800000000100000000', 'hex'),
      Buffer.from('c00c', 'hex'),
    ]);
    expect(() => decodeResponse(loop)).toThrow(RangeError);
  });
});
