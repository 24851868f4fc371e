import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkFolderChain,
  describeUnsafeFolder,
  ensureSecureFolder,
  folderProblem,
} from './secure-folder.js';

const us = { uid: 1000, gid: 1000 };
const dir = (mode: number, uid = 1000, gid = 1000) => ({
  isDirectory: () => true,
  isSymbolicLink: () => false,
  mode: 0o040000 | mode,
  uid,
  gid,
});
const link = (uid: number) => ({ ...dir(0o777, uid), isSymbolicLink: () => true });

describe('folderProblem', () => {
  it.each([
    ['ours, private', dir(0o700), true, undefined],
    ['ours, readable by all', dir(0o755), true, undefined],
    ["root's", dir(0o755, 0, 0), true, undefined],
    ['group-writable, our group', dir(0o770), true, undefined],
    ['writable by others', dir(0o777), true, 'it is writable by others (mode 0777)'],
    [
      'sticky and world-writable, as the folder itself',
      dir(0o1777, 0, 0),
      true,
      'it is writable by others (mode 1777)',
    ],
    ['sticky and world-writable, above the folder', dir(0o1777, 0, 0), false, undefined],
    [
      'writable by others, above the folder',
      dir(0o777, 0, 0),
      false,
      'it is writable by others (mode 0777)',
    ],
    [
      'group-writable, another group',
      dir(0o770, 1000, 50),
      true,
      'it is writable by group 50, which is not ours (1000) (mode 0770)',
    ],
    ["another user's", dir(0o700, 1001), true, 'it is owned by uid 1001, not by root or us (1000)'],
    [
      "another user's sticky folder above",
      dir(0o1777, 1001),
      false,
      'it is owned by uid 1001, not by root or us (1000)',
    ],
    ['a symlink of ours', link(1000), false, undefined],
    [
      "another user's symlink",
      link(1001),
      false,
      'it is owned by uid 1001, not by root or us (1000)',
    ],
    ['a file', { ...dir(0o600), isDirectory: () => false }, true, 'it is not a directory'],
  ])('%s', (_name, stats, last, reason) => {
    expect(folderProblem(stats, us, last)).toBe(reason);
  });
});

describe('describeUnsafeFolder', () => {
  it('names the folder asked about, the unsafe one, its owner and why', () => {
    const problem = {
      path: '/srv',
      uid: 1001,
      mode: '0777',
      reason: 'it is writable by others (mode 0777)',
    };
    expect(describeUnsafeFolder('/srv/state', problem, us)).toBe(
      'Expected `/srv/state` and every folder above it to be owned by root or uid 1000 and writable by nobody else, got `/srv`, owned by uid 1001: it is writable by others (mode 0777)',
    );
    expect(
      describeUnsafeFolder(
        '/x',
        { path: '/x', uid: -1, mode: '?', reason: 'it could not be read (EACCES)' },
        us,
      ),
    ).toMatch(/got `\/x`, it could not be read \(EACCES\)$/);
  });
});

// Real folders: the test runs as root, so it can make folders owned by `nobody` or mode 0777.
describe.skipIf(process.geteuid?.() !== 0)('checkFolderChain / ensureSecureFolder on disk', () => {
  const root = { uid: 0, gid: 0 };
  let base: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'tapnet-internal-'));
  });
  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
  });

  it('creates a missing folder 0700 below a sticky /tmp-style parent', () => {
    const sticky = join(base, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const target = join(sticky, 'a', 'b');
    expect(ensureSecureFolder(target, root)).toBeUndefined();
    expect(statSync(target).mode & 0o777).toBe(0o700);
    expect(statSync(join(sticky, 'a')).mode & 0o777).toBe(0o700);
  });

  it('refuses a world-writable folder, naming it, its owner and mode', () => {
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(checkFolderChain(open, root)).toEqual({
      path: open,
      uid: 0,
      mode: '0777',
      reason: 'it is writable by others (mode 0777)',
    });
  });

  it('refuses a folder below a non-sticky writable parent, and creates nothing there', () => {
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const target = join(open, 'state');
    expect(ensureSecureFolder(target, root)?.path).toBe(open);
    expect(() => statSync(target)).toThrow(/ENOENT/);
  });

  it('refuses a folder owned by another user, below a sticky parent', () => {
    const sticky = join(base, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const theirs = join(sticky, 'state');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    expect(ensureSecureFolder(theirs, root)).toMatchObject({ path: theirs, uid: 65534 });
  });

  it('follows a symlink on the way and checks where it leads', () => {
    const open = join(base, 'open');
    mkdirSync(join(open, 'state'), { recursive: true });
    chmodSync(open, 0o777);
    const alias = join(base, 'alias');
    symlinkSync(open, alias);
    expect(checkFolderChain(join(alias, 'state'), root)?.path).toBe(open);
  });

  it('accepts a safe folder reached through a symlink of ours', () => {
    const real = join(base, 'real');
    mkdirSync(join(real, 'state'), { recursive: true, mode: 0o700 });
    const alias = join(base, 'alias');
    symlinkSync(real, alias);
    expect(checkFolderChain(join(alias, 'state'), root)).toBeUndefined();
  });
});
