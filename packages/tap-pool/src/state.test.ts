import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StateError } from './errors.js';
import { readState } from './state.js';

// Cleanup acts on what a record names, so a record that names anything but our own TAPs and a
// /32 metadata address is refused, never obeyed.
describe('readState', () => {
  const good = {
    version: 1,
    prefix: 'tn',
    pid: 1234,
    createdAt: '2026-01-01T00:00:00.000Z',
    range: '10.231.0.0/16',
    devices: ['tn0', 'tn1'],
    tapsCreated: true,
    configured: true,
    metadataIp: { cidr: '169.254.169.254/32', added: true },
    ipForward: null,
  };
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  const write = (record: unknown) => {
    const dir = mkdtempSync(join(tmpdir(), 'tap-pool-state-'));
    made.push(dir);
    const path = join(dir, 'tn.json');
    writeFileSync(path, JSON.stringify(record));
    return path;
  };

  it('reads a record of our own', () => {
    expect(readState(write(good))).toEqual(good);
    const marked = { ...good, mark: 'tapnet:tn:0123456789abcdef', linkGroup: 7 };
    expect(readState(write(marked))).toEqual(marked);
  });

  it('never reads a record through a symlink', () => {
    const path = write(good);
    const link = join(dirname(path), 'tm.json');
    symlinkSync(path, link);
    expect(() => readState(link)).toThrow(StateError);
  });

  it.each([
    ['a loopback address to delete', { metadataIp: { cidr: '127.0.0.1/8', added: true } }],
    ['a wider metadata prefix', { metadataIp: { cidr: '169.254.169.254/16', added: true } }],
    ['a device that is not ours', { devices: ['tn0', 'eth0'] }],
    ['a device of another prefix', { devices: ['tnx0'] }],
    ['a device name too long', { devices: ['tn0123456789012345'] }],
    ['ip_forward to be set to 0', { ipForward: { prior: '1', value: '0' } }],
    ['ip_forward to be set to a value of its choosing', { ipForward: { prior: '2', value: '1' } }],
    ['a mark of another prefix', { mark: 'tapnet:tx:0123456789abcdef' }],
    ['a mark that is not ours', { mark: 'eth0' }],
    ['a link group that is no number', { linkGroup: 'default' }],
  ])('refuses a record naming %s', (_what, change) => {
    expect(() => readState(write({ ...good, ...change }))).toThrow(StateError);
  });
});
