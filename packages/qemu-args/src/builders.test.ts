import { describe, expect, it } from 'vitest';
import {
  InvalidQemuArgError,
  macFromSeed,
  netDevice,
  QemuArgsError,
  streamNetdev,
  tapNetdev,
  unixChardev,
  userNetdev,
} from './index.js';

type Builder = (o: never) => string;
const cases: [string, Builder, unknown, string][] = [
  [
    'tap, the original shape',
    tapNetdev,
    { id: 'net0', ifname: 'tn0' },
    'tap,id=net0,ifname=tn0,script=no,downscript=no',
  ],
  [
    'tap with vhost and queues',
    tapNetdev,
    { id: 'net0', ifname: 'tn0', vhost: true, queues: 4 },
    'tap,id=net0,ifname=tn0,script=no,downscript=no,vhost=on,queues=4',
  ],
  [
    'tap, a 15-byte unicode ifname',
    tapNetdev,
    { id: 'a', ifname: 'abcdefghijklmé' },
    'tap,id=a,ifname=abcdefghijklmé,script=no,downscript=no',
  ],
  [
    'tap with vhost off',
    tapNetdev,
    { id: 'n.1_a-b', ifname: 'tap,x', vhost: false },
    'tap,id=n.1_a-b,ifname=tap,,x,script=no,downscript=no,vhost=off',
  ],
  ['user, minimal', userNetdev, { id: 'u0' }, 'user,id=u0'],
  [
    'user, the metadata shape with a path that has a space and commas',
    userNetdev,
    {
      id: 'net0',
      net: '169.254.0.0/16',
      restrict: true,
      guestfwd: [{ server: '169.254.169.254', port: 80, cmd: ['nc', '-U', '/tmp/a b,,c/sock'] }],
    },
    "user,id=net0,net=169.254.0.0/16,restrict=on,guestfwd=tcp:169.254.169.254:80-cmd:nc -U '/tmp/a b,,,,c/sock'",
  ],
  [
    'user, every option',
    userNetdev,
    {
      id: 'net0',
      net: '10.1.0.0/24',
      host: '10.1.0.1',
      dhcpstart: '10.1.0.50',
      dns: '10.1.0.53',
      restrict: false,
      hostfwd: [
        { hostPort: 2222, guestPort: 22 },
        {
          protocol: 'udp',
          hostAddress: '127.0.0.1',
          hostPort: 0,
          guestAddress: '10.1.0.50',
          guestPort: 53,
        },
      ],
      guestfwd: [
        { server: '10.1.0.100', port: 80, cmd: ['socat', '-', "UNIX-CONNECT:/run/it's here"] },
        { server: '10.1.0.101', port: 4321, chardev: unixChardev('/run/x,y.sock') },
      ],
    },
    'user,id=net0,net=10.1.0.0/24,host=10.1.0.1,dhcpstart=10.1.0.50,dns=10.1.0.53,restrict=off,' +
      'hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:0-10.1.0.50:53,' +
      "guestfwd=tcp:10.1.0.100:80-cmd:socat - 'UNIX-CONNECT:/run/it'\\''s here'," +
      'guestfwd=tcp:10.1.0.101:4321-unix:/run/x,,,,y.sock',
  ],
  [
    'user, an empty argument',
    userNetdev,
    { id: 'u', guestfwd: [{ server: '10.0.2.100', port: 1, cmd: ['echo', ''] }] },
    "user,id=u,guestfwd=tcp:10.0.2.100:1-cmd:echo ''",
  ],
  [
    'stream client',
    streamNetdev,
    { id: 's0', path: '/run/passt.sock' },
    'stream,id=s0,addr.type=unix,addr.path=/run/passt.sock',
  ],
  [
    'stream server, comma path',
    streamNetdev,
    { id: 's0', path: '/run/a b,c', server: true },
    'stream,id=s0,server=on,addr.type=unix,addr.path=/run/a b,,c',
  ],
  [
    'virtio NIC',
    netDevice,
    { model: 'virtio-net-pci', netdev: 'net0' },
    'virtio-net-pci,netdev=net0',
  ],
  [
    'e1000 NIC with MAC and id',
    netDevice,
    { model: 'e1000', netdev: 'net0', mac: '52:54:00:AB:cd:01', id: 'nic0' },
    'e1000,netdev=net0,mac=52:54:00:ab:cd:01,id=nic0',
  ],
];

describe('builders', () => {
  it.each(cases)('%s', (_name, build, options, expected) => {
    expect(build(options as never)).toBe(expected);
  });
});

const net = '169.254.0.0/16';
const fwd = { server: '169.254.169.254', port: 80, cmd: ['nc'] };
const errors: [string, Builder, unknown, string][] = [
  ['not an object', tapNetdev, null, 'options'],
  ['unknown option', tapNetdev, { id: 'a', ifname: 'b', script: 'x' }, 'script'],
  ['id missing', tapNetdev, { ifname: 'tn0' }, 'id'],
  ['id starting with a digit', tapNetdev, { id: '0net', ifname: 'tn0' }, 'id'],
  ['id with a comma', tapNetdev, { id: 'a,b', ifname: 'tn0' }, 'id'],
  ['id with a space', userNetdev, { id: 'a b' }, 'id'],
  ['ifname of 16 bytes', tapNetdev, { id: 'a', ifname: 'abcdefghijklmnop' }, 'ifname'],
  [
    'ifname of 14 characters but 16 bytes',
    tapNetdev,
    { id: 'a', ifname: 'abcdefghijklmné' },
    'ifname',
  ],
  ['ifname with a slash', tapNetdev, { id: 'a', ifname: 'tn/0' }, 'ifname'],
  ['ifname with a colon', tapNetdev, { id: 'a', ifname: 'tn:0' }, 'ifname'],
  ['ifname with a space', tapNetdev, { id: 'a', ifname: 'tn 0' }, 'ifname'],
  ['ifname with a newline', tapNetdev, { id: 'a', ifname: 'tn\n' }, 'ifname'],
  ['ifname dot-dot', tapNetdev, { id: 'a', ifname: '..' }, 'ifname'],
  ['ifname empty', tapNetdev, { id: 'a', ifname: '' }, 'ifname'],
  ['vhost not boolean', tapNetdev, { id: 'a', ifname: 'b', vhost: 'on' }, 'vhost'],
  ['queues 0', tapNetdev, { id: 'a', ifname: 'b', queues: 0 }, 'queues'],
  ['queues fractional', tapNetdev, { id: 'a', ifname: 'b', queues: 1.5 }, 'queues'],
  ['net without prefix', userNetdev, { id: 'u', net: '10.0.0.0' }, 'net'],
  ['net with host bits', userNetdev, { id: 'u', net: '10.0.0.1/24' }, 'net'],
  ['net prefix 3', userNetdev, { id: 'u', net: '0.0.0.0/3' }, 'net'],
  ['net octet 256', userNetdev, { id: 'u', net: '10.256.0.0/16' }, 'net'],
  ['host octal-looking', userNetdev, { id: 'u', host: '10.0.2.02' }, 'host'],
  ['host outside net', userNetdev, { id: 'u', net, host: '10.0.2.2' }, 'host'],
  ['dns outside the default net', userNetdev, { id: 'u', dns: '10.0.3.3' }, 'dns'],
  ['dhcpstart not an address', userNetdev, { id: 'u', dhcpstart: 'x' }, 'dhcpstart'],
  ['restrict not boolean', userNetdev, { id: 'u', restrict: 1 }, 'restrict'],
  ['hostfwd not an array', userNetdev, { id: 'u', hostfwd: {} }, 'hostfwd'],
  [
    'hostfwd bad protocol',
    userNetdev,
    { id: 'u', hostfwd: [{ protocol: 'sctp', hostPort: 1, guestPort: 1 }] },
    'hostfwd[0].protocol',
  ],
  [
    'hostfwd host port 65536',
    userNetdev,
    { id: 'u', hostfwd: [{ hostPort: 65536, guestPort: 1 }] },
    'hostfwd[0].hostPort',
  ],
  [
    'hostfwd guest port 0',
    userNetdev,
    { id: 'u', hostfwd: [{ hostPort: 1, guestPort: 0 }] },
    'hostfwd[0].guestPort',
  ],
  [
    'hostfwd bad address',
    userNetdev,
    { id: 'u', hostfwd: [{ hostAddress: '::1', hostPort: 1, guestPort: 1 }] },
    'hostfwd[0].hostAddress',
  ],
  [
    'guestfwd neither cmd nor chardev',
    userNetdev,
    { id: 'u', net, guestfwd: [{ server: '169.254.169.254', port: 80 }] },
    'guestfwd[0]',
  ],
  [
    'guestfwd both',
    userNetdev,
    { id: 'u', net, guestfwd: [{ ...fwd, chardev: 'unix:/x' }] },
    'guestfwd[0]',
  ],
  [
    'guestfwd port 0',
    userNetdev,
    { id: 'u', net, guestfwd: [{ ...fwd, port: 0 }] },
    'guestfwd[0].port',
  ],
  ['guestfwd server outside net', userNetdev, { id: 'u', guestfwd: [fwd] }, 'guestfwd[0].server'],
  [
    'guestfwd on the host address',
    userNetdev,
    { id: 'u', guestfwd: [{ ...fwd, server: '10.0.2.2' }] },
    'guestfwd[0].server',
  ],
  [
    'guestfwd on the DNS address',
    userNetdev,
    { id: 'u', net, dns: '169.254.0.9', guestfwd: [{ ...fwd, server: '169.254.0.9' }] },
    'guestfwd[0].server',
  ],
  ['guestfwd twice', userNetdev, { id: 'u', net, guestfwd: [fwd, fwd] }, 'guestfwd[1]'],
  [
    'two chardev forwards on one port',
    userNetdev,
    {
      id: 'u',
      net,
      guestfwd: [
        { server: '169.254.0.7', port: 80, chardev: 'unix:/a' },
        { server: '169.254.0.8', port: 80, chardev: 'unix:/b' },
      ],
    },
    'guestfwd[1].port',
  ],
  [
    'guestfwd cmd empty',
    userNetdev,
    { id: 'u', net, guestfwd: [{ ...fwd, cmd: [] }] },
    'guestfwd[0].cmd',
  ],
  [
    'guestfwd cmd empty program',
    userNetdev,
    { id: 'u', net, guestfwd: [{ ...fwd, cmd: [''] }] },
    'guestfwd[0].cmd[0]',
  ],
  [
    'guestfwd cmd with newline',
    userNetdev,
    { id: 'u', net, guestfwd: [{ ...fwd, cmd: ['nc', '-U', 'a\nb'] }] },
    'guestfwd[0].cmd[2]',
  ],
  [
    'guestfwd cmd with NUL',
    userNetdev,
    { id: 'u', net, guestfwd: [{ ...fwd, cmd: ['nc', 'a\0'] }] },
    'guestfwd[0].cmd[1]',
  ],
  [
    'guestfwd cmd not a string',
    userNetdev,
    { id: 'u', net, guestfwd: [{ ...fwd, cmd: ['nc', 1] }] },
    'guestfwd[0].cmd[1]',
  ],
  [
    'guestfwd chardev that is a cmd',
    userNetdev,
    { id: 'u', net, guestfwd: [{ server: '169.254.0.7', port: 1, chardev: 'cmd:nc' }] },
    'guestfwd[0].chardev',
  ],
  [
    'guestfwd chardev with CR',
    userNetdev,
    { id: 'u', net, guestfwd: [{ server: '169.254.0.7', port: 1, chardev: 'unix:/a\r' }] },
    'guestfwd[0].chardev',
  ],
  ['stream path empty', streamNetdev, { id: 's', path: '' }, 'path'],
  ['stream path of 108 bytes', streamNetdev, { id: 's', path: `/${'a'.repeat(107)}` }, 'path'],
  ['stream path with NUL', streamNetdev, { id: 's', path: '/a\0' }, 'path'],
  ['stream server not boolean', streamNetdev, { id: 's', path: '/a', server: 'on' }, 'server'],
  ['device unknown model', netDevice, { model: 'rtl8139', netdev: 'n' }, 'model'],
  ['device bad netdev id', netDevice, { model: 'e1000', netdev: '-n' }, 'netdev'],
  ['device bad id', netDevice, { model: 'e1000', netdev: 'n', id: 'nic 0' }, 'id'],
  ['multicast MAC', netDevice, { model: 'e1000', netdev: 'n', mac: '01:00:5e:00:00:01' }, 'mac'],
  ['zero MAC', netDevice, { model: 'e1000', netdev: 'n', mac: '00:00:00:00:00:00' }, 'mac'],
  ['MAC with dashes', netDevice, { model: 'e1000', netdev: 'n', mac: '52-54-00-00-00-01' }, 'mac'],
  ['unixChardev path with newline', ((p: string) => unixChardev(p)) as Builder, '/a\nb', 'path'],
];

describe('validation', () => {
  it.each(errors)('%s', (_name, build, options, field) => {
    let error: unknown;
    try {
      build(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidQemuArgError);
    expect(error).toBeInstanceOf(QemuArgsError);
    expect(error).toMatchObject({
      name: 'InvalidQemuArgError',
      code: 'ERR_INVALID_QEMU_ARG',
      field,
    });
    expect((error as Error).message).toMatch(/^Expected `/);
  });

  it('says what it expected and what it got', () => {
    expect(() => tapNetdev({ id: 'a', ifname: 'b', queues: 0 })).toThrow(
      'Expected `queues` to be an integer from 1 to 1024, got `0` (number)',
    );
    expect(() => tapNetdev({ id: 'a', ifname: 'tn\n' })).toThrow('got `"tn\\n"` (string)');
  });

  it('recognises errors by brand, as from a duplicate install', async () => {
    // A second install of this package: its errors module evaluated again, other class objects.
    const again = './errors.js?duplicate-install';
    const copy: typeof import('./errors.js') = await import(/* @vite-ignore */ again);
    expect(copy.InvalidQemuArgError).not.toBe(InvalidQemuArgError);
    const foreign = new copy.InvalidQemuArgError('x', 'f');
    expect(foreign instanceof QemuArgsError).toBe(true);
    expect(foreign instanceof InvalidQemuArgError).toBe(true);
    expect(new Error('x') instanceof QemuArgsError).toBe(false);
  });
});

describe('macFromSeed', () => {
  it('is deterministic, lower-case, unicast and locally administered', () => {
    expect(macFromSeed('vm-1')).toBe(macFromSeed('vm-1'));
    expect(macFromSeed('vm-1')).not.toBe(macFromSeed('vm-2'));
    for (const seed of ['', 'vm-1', 'é🦀', 'x'.repeat(1000)]) {
      const mac = macFromSeed(seed);
      expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(Number.parseInt(mac.slice(0, 2), 16) & 0b11).toBe(0b10);
      expect(netDevice({ model: 'e1000', netdev: 'n', mac })).toBe(`e1000,netdev=n,mac=${mac}`);
    }
  });

  it('is pinned, so MACs stay stable across releases', () => {
    expect(macFromSeed('vm-1')).toBe('b2:0e:a1:6e:05:98');
  });
});

describe("userNetdev refuses guestfwd on slirp's own host and DNS addresses", () => {
  const forward = (net: string, server: string) => () =>
    userNetdev({ id: 'u0', net, guestfwd: [{ server, port: 80, cmd: ['nc', '-U', '/s'] }] });

  it.each([
    ['10.0.2.0/24', '10.0.2.2'],
    ['10.0.2.0/24', '10.0.2.3'],
    // slirp keeps the template's host bits: in a /16 the host is .2.2 and the DNS .2.3.
    ['169.254.0.0/16', '169.254.2.2'],
    ['169.254.0.0/16', '169.254.2.3'],
  ])('in %s, %s is slirp’s and refused', (net, server) => {
    expect(forward(net, server)).toThrow(InvalidQemuArgError);
  });

  it.each([
    ['169.254.0.0/16', '169.254.0.2'],
    ['169.254.0.0/16', '169.254.169.254'],
  ])('in %s, %s is free', (net, server) => {
    expect(forward(net, server)()).toContain(`guestfwd=tcp:${server}:80-cmd:`);
  });
});
