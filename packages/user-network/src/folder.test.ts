import { describe, expect, it } from 'vitest';
import { unsafeFolderReason } from './folder.js';

const dir = (mode: number, uid = 1000, gid = 1000) => ({
  isDirectory: () => true,
  mode: 0o040000 | mode,
  uid,
  gid,
});

describe('unsafeFolderReason', () => {
  it.each([
    [dir(0o700), undefined],
    [dir(0o755), undefined],
    [dir(0o770), undefined],
    [dir(0o755, 0, 0), undefined],
    [dir(0o777), 'it is writable by others (mode 0777)'],
    [dir(0o1777, 0, 0), 'it is writable by others (mode 1777)'],
    [dir(0o770, 1000, 50), 'it is writable by group 50, which is not ours (1000) (mode 0770)'],
    [dir(0o700, 1001), 'it is owned by uid 1001, not by root or us (1000)'],
    [{ isDirectory: () => false, mode: 0o100600, uid: 1000, gid: 1000 }, 'it is not a directory'],
  ])('%#', (stats, reason) => {
    expect(unsafeFolderReason(stats, 1000, 1000)).toBe(reason);
  });
});
