import { existsSync } from 'node:fs';
import { describeNetns, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa } from 'execa';
import { beforeAll, expect, it, vi } from 'vitest';
import { bin } from './cli-test-support.js';

/** Starts a tapnet command with piped output; `said()` is everything it wrote so far. */
function start(args: string[]) {
  const child = execa(process.execPath, [bin, ...args], { reject: false, stdin: 'ignore' });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  return { child, said: () => output };
}

/** Until the pool's TAPs exist: the command is inside Pool.create or past it. */
async function waitForDevice(name: string, said: () => string) {
  await waitFor(() => existsSync(`/sys/class/net/${name}`), {
    what: `${name} to appear`,
    timeout: 30_000,
    seen: said,
  });
}

// Each test starts pools (and daemons) of its own: generous on a loaded 2-core CI machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

describeNetns('stop signals (SIGHUP as SIGINT/SIGTERM)', () => {
  beforeAll(() => {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (pnpm build)`);
  });

  it('up disposes on a hang-up whose terminal is gone (its output pipes closed), leaving nothing behind', async () => {
    const before = await snapshotNamespace();
    const { child, said } = start(['up', '--size', '2', '--prefix', 'th', '--uplink', 'none']);
    await waitFor(() => said().includes('Ctrl-C to dispose'), {
      what: 'up to print its table',
      timeout: 30_000,
      seen: said,
    });
    // A closed terminal: the reader is gone, so every later write fails (EPIPE) …
    child.stdout?.destroy();
    child.stderr?.destroy();
    // … and the hang-up arrives.
    child.kill('SIGHUP');
    const result = await child;
    expect(result.signal).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(existsSync('/run/tapnet/th.json')).toBe(false);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it.each([
    ['up', ['up', '--size', '1', '--prefix', 'ti', '--uplink', 'none'], 'ti0'],
    [
      'serve',
      [
        'serve',
        '--size',
        '1',
        '--prefix',
        'tv',
        '--uplink',
        'none',
        '--socket',
        '/run/tapnet/sighup.sock',
      ],
      'tv0',
    ],
  ])(
    '%s disposes on a SIGHUP that arrives while the pool is being made',
    async (_name, args, device) => {
      const before = await snapshotNamespace();
      const { child, said } = start(args);
      await waitForDevice(device, said);
      child.kill('SIGHUP');
      const result = await child;
      expect(result.signal, said()).toBeUndefined();
      expect(await snapshotNamespace()).toEqual(before);
    },
  );

  it('serve disposes on SIGHUP once serving, and removes its socket', async () => {
    const before = await snapshotNamespace();
    const socket = '/run/tapnet/serve-hup.sock';
    const { child, said } = start([
      'serve',
      '--size',
      '2',
      '--prefix',
      'tw',
      '--uplink',
      'none',
      '--socket',
      socket,
    ]);
    await waitFor(() => said().includes(' serving '), {
      what: 'serve to start',
      timeout: 30_000,
      seen: said,
    });
    expect(existsSync(socket)).toBe(true);
    child.kill('SIGHUP');
    const result = await child;
    expect(result.exitCode, said()).toBe(0);
    expect(said()).toMatch(/ stopping signal=SIGHUP/);
    expect(said()).toMatch(/ stopped prefix=tw/);
    expect(existsSync(socket)).toBe(false);
    expect(await snapshotNamespace()).toEqual(before);
  });
});
