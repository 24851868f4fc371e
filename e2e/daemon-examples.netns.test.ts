// The clients of `tapnet serve` in examples/ (curl, Python standard library), each run as a
// user would run it against a real daemon, booting the test guest on the network it acquired.
import { resolve } from 'node:path';
import { describeNetns, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from './guest/build.ts';

const examples = resolve(import.meta.dirname, '../examples');
const bin = resolve(import.meta.dirname, '../packages/tapnet/dist/bin.js');
const socket = '/run/tapnet/api.sock';
let image: GuestImage;
let daemon: ResultPromise;
let log = '';
let before: Awaited<ReturnType<typeof snapshotNamespace>>;

describeNetns('examples/ with tapnet serve', () => {
  beforeAll(async () => {
    image = await buildGuest();
    before = await snapshotNamespace();
    daemon = execa(
      process.execPath,
      [bin, 'serve', '--size', '2', '--uplink', 'none', '--socket', socket, '--log-format', 'json'],
      {
        reject: false,
        stdin: 'ignore',
      },
    );
    daemon.stderr?.on('data', (c: Buffer) => {
      log += c.toString();
    });
    await waitFor(() => log.includes('"event":"serving"'), {
      what: 'the daemon to serve',
      timeout: 90_000,
      seen: () => log,
    });
  }, 600_000);

  afterAll(async () => {
    daemon?.kill('SIGTERM');
    expect((await daemon).exitCode).toBe(0);
    expect(await snapshotNamespace()).toEqual(before);
  }, 180_000);

  it('daemon-curl.sh: a shell worker with curl', { timeout: 300_000 }, async () => {
    const result = await execa(
      'sh',
      [resolve(examples, 'daemon-curl.sh'), image.kernel, image.initrd, socket],
      {
        reject: false,
        all: true,
      },
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      expect.stringMatching(/^acquired tn[01] \(10\.231\.[01]\.0\/24\)$/),
      'scenario done exit=0',
      expect.stringMatching(/^metadata requests answered 2xx: [3-9]$/),
    ]);
    // Released when the script ended: by its trap, with its acquisition's id.
    expect(log).toMatch(
      /"event":"release","at":"[^"]+","network":"tn[01]","id":"[^"]+","reason":"client"/,
    );
  });

  it('daemon-client.py: a Python worker, metadata forwarded to its own server', {
    timeout: 300_000,
  }, async (ctx) => {
    const python = await execa('python3', ['--version'], { reject: false });
    if (python.failed) ctx.skip('python3 is not installed');
    const result = await execa(
      'python3',
      [resolve(examples, 'daemon-client.py'), image.kernel, image.initrd, socket],
      {
        reject: false,
        all: true,
      },
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toMatch(
      /^tn[01]: python worker's VM on 10\.231\.[01]\.\d+ \| secret-for-the-python-job$/,
    );
  });
});
