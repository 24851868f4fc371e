import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareStateDir } from './state-dir.js';

describe('prepareStateDir', () => {
  let base: string;
  let victim: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'dhcp-dns-state-'));
    victim = join(base, 'victim');
    writeFileSync(victim, 'precious');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('creates the folder 0700 and an empty lease file', () => {
    const dir = join(base, 'state', 'tn');
    prepareStateDir(dir, join(dir, 'leases'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'leases'), 'utf8')).toBe('');
  });

  it.skipIf(process.geteuid?.() !== 0)(
    'refuses a folder others can write: ERR_UNSAFE_STATE_DIR naming it, nothing created',
    () => {
      const open = join(base, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      const dir = join(open, 'tn');
      expect(() => prepareStateDir(dir, join(dir, 'leases'))).toThrow(
        expect.objectContaining({
          code: 'ERR_UNSAFE_STATE_DIR',
          message: expect.stringContaining(
            `got \`${open}\`, owned by uid 0: it is writable by others (mode 0777)`,
          ),
        }),
      );
      expect(() => statSync(dir)).toThrow(/ENOENT/);
    },
  );

  it('refuses a symlink planted at the lease file, and writes nothing through it', () => {
    const dir = join(base, 'tn');
    mkdirSync(dir, { mode: 0o700 });
    symlinkSync(victim, join(dir, 'leases'));
    expect(() => prepareStateDir(dir, join(dir, 'leases'))).toThrow(
      expect.objectContaining({ code: 'ERR_UNSAFE_STATE_DIR' }),
    );
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });
});
