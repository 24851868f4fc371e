// The pool's address span as few CIDR blocks as cover it exactly: what dispose() flushes from
// the connection-tracking table in one process per block (at most 32), instead of one per
// network (4096 networks: 4096 conntrack processes, minutes on a loaded machine).

export interface Block {
  network: string;
  netmask: string;
}

function dotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `[first, first + count)` as maximal aligned blocks, lowest first. Pure. */
export function blocksOf(first: number, count: number): Block[] {
  const blocks: Block[] = [];
  let at = first;
  let left = count;
  while (left > 0) {
    // The largest power of two that `at` is aligned to and that fits in what is left.
    let size = at === 0 ? 2 ** 32 : (at & -at) >>> 0 || 2 ** 32;
    while (size > left) size /= 2;
    const prefix = 32 - Math.log2(size);
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    blocks.push({ network: dotted(at), netmask: dotted(mask) });
    at += size;
    left -= size;
  }
  return blocks;
}
