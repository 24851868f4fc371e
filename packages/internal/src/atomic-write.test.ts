import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ensureRegularFileSync,
  temporaryName,
  writeFileAtomic,
  writeFileAtomicSync,
} from './atomic-write.js';

describe('atomic writes never follow a planted symlink', () => {
  let dir: string;
  let victim: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tapnet-write-'));
    victim = join(dir, 'victim');
    writeFileSync(victim, 'precious');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uses a fresh, unpredictable temporary name each time', () => {
    const path = join(dir, 'r.json');
    expect(temporaryName(path)).not.toBe(temporaryName(path));
    expect(temporaryName(path).startsWith(join(dir, '.r.json.'))).toBe(true);
  });

  it('replaces a symlink at the final name instead of writing through it (sync and async)', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    symlinkSync(victim, a);
    symlinkSync(victim, b);
    writeFileAtomicSync(a, 'new a');
    await writeFileAtomic(b, 'new b');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(a).isFile()).toBe(true);
    expect(readFileSync(a, 'utf8')).toBe('new a');
    expect(readFileSync(b, 'utf8')).toBe('new b');
    expect(lstatSync(a).mode & 0o777).toBe(0o600);
  });

  it('exclusive: refuses an existing name, a symlink too, and leaves no temporary file', () => {
    const path = join(dir, 'claim.json');
    symlinkSync(victim, path);
    expect(() => writeFileAtomicSync(path, 'mine', { exclusive: true })).toThrow(/EEXIST/);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readdirSync(dir).sort()).toEqual(['claim.json', 'victim']);
    const fresh = join(dir, 'fresh.json');
    writeFileAtomicSync(fresh, 'mine', { exclusive: true });
    expect(readFileSync(fresh, 'utf8')).toBe('mine');
  });

  it('ensureRegularFileSync creates a missing file, keeps an existing one, refuses a symlink or folder', () => {
    const lease = join(dir, 'leases');
    ensureRegularFileSync(lease);
    expect(lstatSync(lease).isFile()).toBe(true);
    writeFileSync(lease, 'kept');
    ensureRegularFileSync(lease);
    expect(readFileSync(lease, 'utf8')).toBe('kept');
    const planted = join(dir, 'planted');
    symlinkSync(victim, planted);
    expect(() => ensureRegularFileSync(planted)).toThrow(/ELOOP/);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    mkdirSync(join(dir, 'folder'));
    expect(() => ensureRegularFileSync(join(dir, 'folder'))).toThrow(/EISDIR/);
  });
});
