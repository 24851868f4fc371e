import { describe, expect, it } from 'vitest';
import { guestCmdline, parseMarker, qemuArgv } from './qemu.ts';

describe('parseMarker', () => {
  it.each([
    [
      'TAPNET-GUEST: init reached net=none kernel=6.1.0-56-amd64',
      { event: 'init', detail: 'reached', fields: { net: 'none', kernel: '6.1.0-56-amd64' } },
    ],
    [
      '[    2.1] TAPNET-GUEST: poweroff reason=done',
      { event: 'poweroff', fields: { reason: 'done' } },
    ],
    [
      "TAPNET-GUEST: error scenario-fetch url=http://taskcluster/scenario reason=wget: bad address 'taskcluster' ",
      {
        event: 'error',
        detail: 'scenario-fetch',
        fields: { url: 'http://taskcluster/scenario', reason: "wget: bad address 'taskcluster'" },
      },
    ],
    [
      'TAPNET-GUEST: lease ip=10.0.0.2 prefix=24 router=10.0.0.1 dns=10.0.0.1 domain= server=10.0.0.1',
      {
        event: 'lease',
        fields: {
          ip: '10.0.0.2',
          prefix: '24',
          router: '10.0.0.1',
          dns: '10.0.0.1',
          domain: '',
          server: '10.0.0.1',
        },
      },
    ],
  ])('%s', (line, expected) => {
    expect(parseMarker(line)).toMatchObject(expected);
  });

  it('ignores other console lines', () => {
    expect(parseMarker('[    3.07] reboot: Power down')).toBeUndefined();
  });
});

describe('qemuArgv', () => {
  const image = { kernel: '/k', initrd: '/i', version: 'v' };

  it('boots without a NIC when given no network arguments', () => {
    const argv = qemuArgv({ image, netArgs: [], mode: 'none', accel: 'tcg' });
    expect(argv.join(' ')).toBe(
      '-nodefaults -no-user-config -display none -no-reboot -accel tcg -m 256 -chardev stdio,id=console,signal=off -serial chardev:console -nic none -kernel /k -initrd /i -append console=ttyS0 quiet panic=-1 no_timer_check tapnet.net=none',
    );
  });

  it('passes network arguments through as separate argv entries', () => {
    const argv = qemuArgv({
      image,
      netArgs: ['-netdev', 'user,id=n0', '-device', 'e1000,netdev=n0'],
      mode: 'user',
      accel: 'kvm',
      append: 'tapnet.timeout=30',
    });
    expect(argv).toContain('user,id=n0');
    expect(argv).not.toContain('-nic');
    expect(argv.at(-1)).toBe(
      'console=ttyS0 quiet panic=-1 no_timer_check tapnet.net=user tapnet.timeout=30',
    );
  });

  it('makes the kernel command line', () => {
    expect(guestCmdline('dhcp')).toBe(
      'console=ttyS0 quiet panic=-1 no_timer_check tapnet.net=dhcp',
    );
  });
});
