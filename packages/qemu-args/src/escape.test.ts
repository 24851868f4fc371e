import { describe, expect, it } from 'vitest';
import {
  escapeOptionValue,
  parseDevice,
  parseNetdev,
  QemuArgSyntaxError,
  quoteSlirpArg,
  splitOptionString,
  splitSlirpCommand,
} from './index.js';

describe('escapeOptionValue / splitOptionString', () => {
  it('doubles commas and splits on single ones', () => {
    expect(escapeOptionValue('a,b,,c')).toBe('a,,b,,,,c');
    expect(splitOptionString('user,id=u,guestfwd=a,,b=c,x=')).toEqual([
      { key: undefined, value: 'user' },
      { key: 'id', value: 'u' },
      { key: 'guestfwd', value: 'a,b=c' },
      { key: 'x', value: '' },
    ]);
  });

  it('rejects stray commas', () => {
    expect(() => splitOptionString('tap,id=a,')).toThrow(QemuArgSyntaxError);
  });
});

describe('quoteSlirpArg', () => {
  it.each([
    ['nc', 'nc'],
    ['-U', '-U'],
    ['/run/x,y.sock', '/run/x,y.sock'],
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ['"', `'"'`],
    ['\\', "'\\'"],
    ['#x', "'#x'"],
    ['$HOME', "'$HOME'"],
    ['tab\there', "'tab\there'"],
    ['é', "'é'"],
  ])('%j → %s', (arg, quoted) => {
    expect(quoteSlirpArg(arg)).toBe(quoted);
    expect(splitSlirpCommand(`x ${quoted}`)).toEqual(['x', arg]);
  });
});

describe('splitSlirpCommand follows g_shell_parse_argv', () => {
  // Cases from GLib's own tests (glib/tests/shell.c) and its documented quirks.
  it.each([
    ['foo bar', ['foo', 'bar']],
    ['foo "bar"', ['foo', 'bar']],
    ["foo 'bar'", ['foo', 'bar']],
    ['foo "\\"bar\\""', ['foo', '"bar"']],
    ['foo "\\a"', ['foo', '\\a']],
    ['  foo   \t bar  ', ['foo', 'bar']],
    ['foo\nbar', ['foo', 'bar']],
    ['foo\\\nbar', ['foobar']],
    ['"foo\\\nbar"', ['foo\nbar']],
    ["'foo\\\nbar'", ['foo\\\nbar']],
    ['foo\\ bar', ['foo bar']],
    ['a"b c"d', ['ab cd']],
    ["'a'\\''b'", ["a'b"]],
    ['foo #comment', ['foo']],
    ['foo#notacomment', ['foo#notacomment']],
    ['#comment\nfoo', ['foo']],
    ['foo\t#not a comment after a tab', ['foo', '#not', 'a', 'comment', 'after', 'a', 'tab']],
    ['"$x `y`"', ['$x `y`']],
    ['"\\$x \\`y\\`"', ['$x `y`']],
    ["''", ['']],
    ['a "" b', ['a', '', 'b']],
  ])('%j', (text, argv) => {
    expect(splitSlirpCommand(text)).toEqual(argv);
  });

  it.each([['"foo'], ["'foo"], ['foo\\'], [''], ['   '], ['foo #']])(
    '%j fails as in GLib',
    (text) => {
      expect(() => splitSlirpCommand(text)).toThrow(QemuArgSyntaxError);
    },
  );
});

describe('parseNetdev / parseDevice', () => {
  it("parses the original's values", () => {
    expect(parseNetdev('tap,id=net0,ifname=tn0,script=no,downscript=no')).toEqual({
      type: 'tap',
      id: 'net0',
      ifname: 'tn0',
    });
    expect(
      parseNetdev(
        'user,id=net0,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:netcat -U /tmp/x/sock',
      ),
    ).toEqual({
      type: 'user',
      id: 'net0',
      net: '169.254.0.0/16',
      guestfwd: [{ server: '169.254.169.254', port: 80, cmd: ['netcat', '-U', '/tmp/x/sock'] }],
    });
  });

  it('parses every field', () => {
    expect(
      parseNetdev(
        "user,id=u,restrict=yes,hostfwd=:127.0.0.1:80-:8080,hostfwd=udp::53-10.0.2.15:53,guestfwd=tcp:10.0.2.100:1-cmd:a 'b,,c',guestfwd=:10.0.2.101:2-unix:/x,,,,y",
      ),
    ).toEqual({
      type: 'user',
      id: 'u',
      restrict: true,
      hostfwd: [
        { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 80, guestPort: 8080 },
        { protocol: 'udp', hostPort: 53, guestAddress: '10.0.2.15', guestPort: 53 },
      ],
      guestfwd: [
        { server: '10.0.2.100', port: 1, cmd: ['a', 'b,c'] },
        { server: '10.0.2.101', port: 2, chardev: 'unix:/x,,y' },
      ],
    });
    expect(parseNetdev('type=stream,id=s,addr.type=unix,addr.path=/a,,b,server=off')).toEqual({
      type: 'stream',
      id: 's',
      path: '/a,b',
      server: false,
    });
    expect(parseNetdev('tap,id=n,ifname=t,vhost=on,queues=2')).toEqual({
      type: 'tap',
      id: 'n',
      ifname: 't',
      vhost: true,
      queues: 2,
    });
    expect(parseDevice('virtio-net-pci,netdev=n,mac=52:54:00:AA:00:01,id=d')).toEqual({
      model: 'virtio-net-pci',
      netdev: 'n',
      mac: '52:54:00:aa:00:01',
      id: 'd',
    });
  });

  it.each([
    ['bridge,id=b', 'type'],
    ['tap,id=n,ifname=t,script=/etc/qemu-ifup', 'script'],
    ['tap,id=n,ifname=t,fd=3', 'fd'],
    ['tap,id=n,id=m,ifname=t', 'id'],
    ['user,id=u,restrict=maybe', 'restrict'],
    ['user,id=u,hostfwd=tcp:80', 'hostfwd[0]'],
    ['user,id=u,hostfwd=tcp::x-:80', 'hostfwd[0].hostPort'],
    ['user,id=u,guestfwd=tcp:10.0.2.100:80-cmd:nc "x', 'cmd'],
    ['stream,id=s,addr.type=inet,addr.path=/x', 'addr.type'],
    ['tap,id=n,ifname', undefined],
  ])('rejects %j', (value, field) => {
    let error: unknown;
    try {
      parseNetdev(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(QemuArgSyntaxError);
    expect(error).toMatchObject({ code: 'ERR_QEMU_ARG_SYNTAX', field });
  });

  it('validates what it parses with the builders’ rules', () => {
    expect(() => parseNetdev('tap,id=n,ifname=abcdefghijklmnop')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_QEMU_ARG', field: 'ifname' }),
    );
    expect(() => parseDevice('e1000,netdev=n,mac=01:00:00:00:00:01')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_QEMU_ARG', field: 'mac' }),
    );
  });
});
