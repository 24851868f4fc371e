// examples/systemd/tapnet.service as systemd itself reads it.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';

const unit = resolve(import.meta.dirname, '../examples/systemd/tapnet.service');

describe('examples/systemd/tapnet.service', () => {
  it('passes systemd-analyze verify', async (ctx) => {
    const which = await execa('systemd-analyze', ['--version'], { reject: false });
    if (which.failed) ctx.skip('systemd-analyze is not installed (Debian package systemd)');
    const dir = await mkdtemp(join(tmpdir(), 'tapnet-unit-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    // The unit names /usr/local/bin/tapnet, which a checkout does not install: verify checks
    // that each command exists, so it gets an executable that does.
    const text = (await readFile(unit, 'utf8')).replaceAll('/usr/local/bin/tapnet', '/bin/true');
    await writeFile(join(dir, 'tapnet.service'), text);
    const result = await execa(
      'systemd-analyze',
      ['verify', '--man=no', join(dir, 'tapnet.service')],
      {
        reject: false,
        all: true,
      },
    );
    expect(result.all).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('stops with a signal that disposes and cleans up after a crash', async () => {
    const text = await readFile(unit, 'utf8');
    expect(text).toMatch(/^ExecStart=\/usr\/local\/bin\/tapnet serve /m);
    expect(text).toMatch(/^KillSignal=(SIGTERM|SIGINT|SIGHUP)$/m);
    expect(text).toMatch(/^ExecStopPost=\/usr\/local\/bin\/tapnet cleanup$/m);
  });
});
