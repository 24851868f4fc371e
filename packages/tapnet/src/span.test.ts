import { describe, expect, it } from 'vitest';
import { blocksOf } from './span.js';

const ip = (s: string) => s.split('.').reduce((n, b) => n * 256 + Number(b), 0);

describe('blocksOf', () => {
  it.each([
    // first, count → blocks
    ['10.96.0.0', 4096 * 16, [['10.96.0.0', '255.255.0.0']]],
    ['10.231.0.0', 4 * 256, [['10.231.0.0', '255.255.252.0']]],
    [
      '10.231.0.0',
      3 * 256,
      [
        ['10.231.0.0', '255.255.254.0'],
        ['10.231.2.0', '255.255.255.0'],
      ],
    ],
    ['10.0.0.16', 16, [['10.0.0.16', '255.255.255.240']]],
    [
      '10.0.0.16',
      48,
      [
        ['10.0.0.16', '255.255.255.240'],
        ['10.0.0.32', '255.255.255.224'],
      ],
    ],
  ] as const)('%s + %i addresses', (first, count, expected) => {
    expect(blocksOf(ip(first), count).map((b) => [b.network, b.netmask])).toEqual(expected);
  });

  it('4095 /28 networks take 12 blocks, not 4095', () => {
    const blocks = blocksOf(ip('10.96.0.0'), 4095 * 16);
    expect(blocks).toHaveLength(12);
    expect(blocks.at(-1)).toEqual({ network: '10.96.255.224', netmask: '255.255.255.240' });
  });
});
