import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeNetDeviceOptions } from './device.js';
import {
  netDevice,
  parseDevice,
  parseNetdev,
  quoteSlirpArg,
  splitSlirpCommand,
  streamNetdev,
  tapNetdev,
  userNetdev,
} from './index.js';
import {
  normalizeStreamNetdevOptions,
  normalizeTapNetdevOptions,
  normalizeUserNetdevOptions,
} from './netdev.js';

// Text with everything a path can hold and QEMU can carry: the characters that matter to either
// parser are drawn often, the rest is arbitrary unicode (no NUL, CR or LF).
const nasty = fc.constantFrom(
  ' ',
  ',',
  ',,',
  "'",
  '"',
  '\\',
  '#',
  '$',
  '`',
  '\t',
  '-',
  ':',
  '=',
  '/',
  'é',
  '🦀',
  '\u00a0',
);
const safeChar = fc.string({ unit: 'grapheme', maxLength: 3 }).filter((s) => !/[\0\n\r]/.test(s));
const text = fc.array(fc.oneof(nasty, safeChar), { maxLength: 12 }).map((parts) => parts.join(''));
const path = text.map((t) => `/tmp/${t}`).filter((p) => Buffer.byteLength(p) <= 107);
const id = fc.stringMatching(/^[A-Za-z][A-Za-z0-9._-]{0,10}$/);
const octet = fc.integer({ min: 0, max: 255 });
const port = fc.integer({ min: 1, max: 65535 });
const ifname = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 15 })
  .filter((s) => Buffer.byteLength(s) <= 15 && s !== '.' && s !== '..' && !/[/:\s\p{Cc}]/u.test(s));

describe('build → parse round-trips', () => {
  it('quoteSlirpArg survives slirp’s splitting for any argv', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(text, fc.string()).filter((s) => !/[\0\n\r]/.test(s)),
          { minLength: 1 },
        ),
        (argv) => {
          expect(splitSlirpCommand(argv.map((a) => quoteSlirpArg(a)).join(' '))).toEqual(argv);
        },
      ),
    );
  });

  it('tap', () => {
    const options = fc.record(
      { id, ifname, vhost: fc.boolean(), queues: fc.integer({ min: 1, max: 1024 }) },
      { requiredKeys: ['id', 'ifname'] },
    );
    fc.assert(
      fc.property(options, (o) => {
        expect(parseNetdev(tapNetdev(o))).toEqual({ type: 'tap', ...normalizeTapNetdevOptions(o) });
      }),
    );
  });

  it('user, with commands and chardevs whose paths hold spaces, commas, quotes and unicode', () => {
    // A /16 keeps host (x.y.0.2) and DNS (x.y.0.3) away from forwards at x.y.1.n.
    const options = fc
      .tuple(
        octet,
        octet,
        fc.boolean(),
        fc.array(fc.tuple(octet, port, fc.boolean(), fc.array(text), text), { maxLength: 3 }),
      )
      .chain(([a, b, restrict, fwds]) =>
        fc.record(
          {
            id,
            net: fc.constant(`${a}.${b}.0.0/16`),
            host: fc.constant(`${a}.${b}.0.2`),
            dhcpstart: fc.constant(`${a}.${b}.0.15`),
            restrict: fc.constant(restrict),
            hostfwd: fc.array(
              fc.record(
                {
                  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
                  hostAddress: fc.constant('127.0.0.1'),
                  hostPort: fc.integer({ min: 0, max: 65535 }),
                  guestAddress: fc.constant(`${a}.${b}.0.15`),
                  guestPort: port,
                },
                { requiredKeys: ['hostPort', 'guestPort'] },
              ),
              { maxLength: 2 },
            ),
            guestfwd: fc.constant(
              fwds.map(([c, p, useCmd, args, file], i) =>
                useCmd
                  ? { server: `${a}.${b}.1.${c}`, port: p, cmd: ['nc', ...args, `/tmp/${file}`] }
                  : {
                      server: `${a}.${b}.3.${i}`, // clear of slirp's .2.2 host and .2.3 DNS
                      port: 10000 + i,
                      chardev: `unix:/tmp/${file.replaceAll(',', ',,')}`,
                    },
              ),
            ),
          },
          { requiredKeys: ['id', 'net', 'guestfwd'] },
        ),
      )
      .filter(
        (o) => new Set(o.guestfwd.map((g) => `${g.server}:${g.port}`)).size === o.guestfwd.length,
      );
    fc.assert(
      fc.property(options, (o) => {
        expect(parseNetdev(userNetdev(o))).toEqual({
          type: 'user',
          ...normalizeUserNetdevOptions(o),
        });
      }),
    );
  });

  it('stream', () => {
    fc.assert(
      fc.property(
        fc.record({ id, path, server: fc.boolean() }, { requiredKeys: ['id', 'path'] }),
        (o) => {
          expect(parseNetdev(streamNetdev(o))).toEqual({
            type: 'stream',
            ...normalizeStreamNetdevOptions(o),
          });
        },
      ),
    );
  });

  it('device', () => {
    const mac = fc
      .uint8Array({ minLength: 6, maxLength: 6 })
      .map((b) =>
        [...b]
          .map((x, i) => (i === 0 ? (x & 0xfe) | 0x02 : x).toString(16).padStart(2, '0'))
          .join(':'),
      );
    const options = fc.record(
      { model: fc.constantFrom('virtio-net-pci' as const, 'e1000' as const), netdev: id, mac, id },
      { requiredKeys: ['model', 'netdev'] },
    );
    fc.assert(
      fc.property(options, (o) => {
        expect(parseDevice(netDevice(o))).toEqual(normalizeNetDeviceOptions(o));
      }),
    );
  });
});
