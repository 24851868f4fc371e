import { describeNetns } from '@tapnet/testing';
import { beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from './guest/build.ts';
import { bootGuest } from './src/qemu.ts';

describeNetns('the test guest', () => {
  let image: GuestImage;
  beforeAll(async () => {
    image = await buildGuest();
  }, 300_000);

  it('boots with no network, reaches its init and powers off cleanly', async () => {
    const run = await bootGuest({ image, name: 'guest-no-network', timeoutMs: 90_000 });
    console.log(`no-network guest: ${(run.durationMs / 1000).toFixed(1)} s (${run.accel})`);
    expect(run.markers.map((m) => `${m.event} ${m.detail ?? ''}`.trim())).toEqual([
      'init reached',
      'poweroff',
    ]);
    expect(run.markers[0]?.fields.net).toBe('none');
    expect(run.markers[1]?.fields.reason).toBe('done');
    expect(run.console).toContain('reboot: Power down');
    expect(run.exitCode).toBe(0);
    expect(run.completed).toBe(true);
  }, 120_000);
});
