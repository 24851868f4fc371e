import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isExecutableFile, which } from './which.js';

describe('which', () => {
  const executables = new Set(['/a/tool', '/b/tool', '/b/other', '/usr/sbin/ip']);
  const isExecutable = (path: string) => executables.has(path);

  it.each([
    ['the first match on the path', 'tool', '/a:/b', [], '/a/tool'],
    ['a later folder', 'other', '/a:/b', [], '/b/other'],
    ['the extra folders after the path', 'ip', '/a:/b', ['/usr/sbin'], '/usr/sbin/ip'],
    ['nothing when absent', 'nope', '/a:/b', ['/usr/sbin'], undefined],
    ['nothing from relative entries', 'tool', 'a:.::b', [], undefined],
    ['nothing for a name with a slash', 'a/tool', '/', [], undefined],
    ['nothing for an empty name', '', '/a', [], undefined],
  ])('finds %s', (_, name, searchPath, also, expected) => {
    expect(which(name, { searchPath, also, isExecutable })).toBe(expected);
  });

  const dir = mkdtempSync(join(tmpdir(), 'kit-which-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes only executable regular files on the real file system', () => {
    writeFileSync(join(dir, 'run'), '#!/bin/sh\n');
    chmodSync(join(dir, 'run'), 0o755);
    writeFileSync(join(dir, 'plain'), '');
    mkdirSync(join(dir, 'folder'), { mode: 0o755 });
    expect([
      isExecutableFile(join(dir, 'run')),
      isExecutableFile(join(dir, 'plain')),
      isExecutableFile(join(dir, 'folder')),
      isExecutableFile(join(dir, 'missing')),
    ]).toEqual([true, false, false, false]);
    expect(which('run', { searchPath: dir })).toBe(join(dir, 'run'));
    expect(which('folder', { searchPath: dir })).toBeUndefined();
  });
});
