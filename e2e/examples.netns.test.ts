// The programs in examples/ run as a user would run them (a child `node examples/X.ts KERNEL
// INITRD`), each booting the test guest: what they print is what the README promises.
import { resolve } from 'node:path';
import { describeNetns, snapshotNamespace } from '@tapnet/testing';
import { execa } from 'execa';
import { beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from './guest/build.ts';

const examples = resolve(import.meta.dirname, '../examples');
let image: GuestImage;

async function runExample(name: string) {
  const result = await execa(
    process.execPath,
    [resolve(examples, name), image.kernel, image.initrd],
    {
      reject: false,
      all: true,
      timeout: 280_000,
    },
  );
  expect(result.exitCode, result.all).toBe(0);
  return result.stdout.split('\n').filter(Boolean);
}

describeNetns('examples/', () => {
  beforeAll(async () => {
    image = await buildGuest();
  });

  it('worker.ts: two VMs at once, each with only its own secret', {
    timeout: 300_000,
  }, async () => {
    const before = await snapshotNamespace();
    const lines = await runExample('worker.ts');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^job-1 ran on 10\.231\.0\.\d+ \| secret-for-job-1$/);
    expect(lines[1]).toMatch(/^job-2 ran on 10\.231\.1\.\d+ \| secret-for-job-2$/);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('forward.ts: metadata from a central service, told which network asked', {
    timeout: 300_000,
  }, async () => {
    const before = await snapshotNamespace();
    expect(await runExample('forward.ts')).toEqual([
      'job-7 (network tn0): job-7 says hello | debug=1',
    ]);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('user-mode.ts: metadata through a unix socket, restrict=on', {
    timeout: 300_000,
  }, async () => {
    expect(await runExample('user-mode.ts')).toEqual(['user-mode guest | token-for-this-vm']);
  });
});
