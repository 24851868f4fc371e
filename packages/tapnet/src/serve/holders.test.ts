import { describe, expect, it } from 'vitest';
import { holderGone, parseStartTime, readStartTime } from './holders.js';

// Field 22 (starttime) is 8123456 here; the command name holds spaces and a ')'.
const stat = (comm: string, state = 'S') =>
  `1234 (${comm}) ${state} 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 8123456 10000 200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0`;

describe('parseStartTime', () => {
  it.each([['qemu-system-x86'], ['a) b (c'], [''], ['x y z']])(
    'reads field 22 after the name %j',
    (comm) => {
      expect(parseStartTime(stat(comm))).toBe(8123456);
    },
  );

  it.each([['no parenthesis'], ['1 (x) S 1 2'], ['']])('returns undefined for %j', (text) => {
    expect(parseStartTime(text)).toBeUndefined();
  });

  it('reads this process', () => {
    expect(readStartTime(process.pid)).toEqual(expect.any(Number));
    expect(readStartTime(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('holderGone', () => {
  const alive = (): number | undefined => 100;
  it.each([
    [{}, 0, alive, undefined],
    [{ pid: 5, startTime: 100 }, 0, alive, undefined],
    [{ pid: 5, startTime: 100 }, 0, (): number | undefined => undefined, 'holder-exited'],
    // The pid was reused by a process that started later: not the holder.
    [{ pid: 5, startTime: 100 }, 0, (): number | undefined => 250, 'holder-exited'],
    [{ ttl: 10, expiresAt: 1000 }, 999, alive, undefined],
    [{ ttl: 10, expiresAt: 1000 }, 1000, alive, 'ttl-expired'],
    [{ pid: 5, startTime: 100, ttl: 10, expiresAt: 1000 }, 2000, alive, 'ttl-expired'],
  ] as const)('%j at %d → %s', (holder, now, startTimeOf, gone) => {
    expect(holderGone(holder, now, startTimeOf)).toBe(gone);
  });
});
