import type { DhcpNetwork } from './options.js';

/** Network i of a test pool: 10.<64+i/256>.<i%256>.0/24, gateway .1, range .2-.254. */
export function testNetwork(i: number, prefix = 'tn'): DhcpNetwork {
  const base = `10.${64 + Math.floor(i / 256)}.${i % 256}`;
  return {
    name: `${prefix}${i}`,
    device: `${prefix}tap${i}`,
    gateway: `${base}.1`,
    netmask: '255.255.255.0',
    rangeStart: `${base}.2`,
    rangeEnd: `${base}.254`,
  };
}

export function testNetworks(count: number, prefix = 'tn'): DhcpNetwork[] {
  return Array.from({ length: count }, (_, i) => testNetwork(i, prefix));
}
