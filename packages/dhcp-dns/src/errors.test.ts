import { describeValue } from '@tapnet/internal';
import { describe, expect, it } from 'vitest';
import {
  DhcpDnsError,
  DnsmasqFailedError,
  DnsmasqStartError,
  InvalidConfigError,
  listSome,
  tail,
} from './errors.js';

describe('errors', () => {
  it('have stable codes and names, and subclass the base', () => {
    const errors = [
      new InvalidConfigError('size', 'an integer from 1 to 1000', 0),
      new DnsmasqStartError('dnsmasq exited', {
        argv: ['dnsmasq'],
        exitCode: 1,
        stderr: 'bad option\n',
        config: 'x\n',
      }),
      new DnsmasqFailedError('gave up', 3, new Error('x')),
    ];
    expect(
      errors.map((e) => [e.name, e.code, e instanceof DhcpDnsError, e instanceof Error]),
    ).toEqual([
      ['InvalidConfigError', 'ERR_INVALID_CONFIG', true, true],
      ['DnsmasqStartError', 'ERR_DNSMASQ_START', true, true],
      ['DnsmasqFailedError', 'ERR_DNSMASQ_FAILED', true, true],
    ]);
    expect(errors[0]!.message).toBe(
      'Expected `size` to be an integer from 1 to 1000, got `0` (number)',
    );
    expect(errors[1]!.message).toBe('dnsmasq exited\nbad option');
    expect(errors[1]!.cause).toMatchObject({ stderr: 'bad option\n', config: 'x\n' });
  });

  it('instanceof works across copies of the package (brand via Symbol.for)', () => {
    // What a second install's error looks like: another class, same registered symbols.
    class Foreign extends Error {}
    const foreign = new Foreign('x');
    for (const name of ['', '.InvalidConfigError']) {
      Object.defineProperty(foreign, Symbol.for(`@tapnet/dhcp-dns.error${name}`), { value: true });
    }
    expect(foreign instanceof DhcpDnsError).toBe(true);
    expect(foreign instanceof InvalidConfigError).toBe(true);
    expect(foreign instanceof DnsmasqStartError).toBe(false);
    expect(new Error('x') instanceof DhcpDnsError).toBe(false);
    expect(new InvalidConfigError('a', 'b', 1) instanceof DnsmasqStartError).toBe(false);
  });

  it('describeValue shows control characters', () => {
    expect([
      describeValue('a\nb'),
      describeValue(undefined),
      describeValue(null),
      describeValue([1]),
      describeValue(1.5),
    ]).toEqual([
      '`"a\\nb"` (string)',
      '`undefined` (undefined)',
      '`null` (null)',
      '`[1]` (array)',
      '`1.5` (number)',
    ]);
  });
});

describe('bounded messages', () => {
  it('listSome names the first five and counts the rest', () => {
    const many = Array.from({ length: 4096 }, (_, i) => `10.96.${i >> 4}.${(i & 15) * 16 + 1}`);
    expect(listSome(many)).toBe(
      '10.96.0.1, 10.96.0.17, 10.96.0.33, 10.96.0.49, 10.96.0.65 and 4091 more',
    );
    expect(listSome(['a', 'b'])).toBe('a, b');
    expect(listSome([])).toBe('');
  });

  it('tail keeps the last lines, cut to the last characters', () => {
    expect(tail('a\nb\nc', 2)).toBe('b\nc');
    const long = 'x'.repeat(1000);
    expect(tail(long, 20, 100)).toBe(`…${'x'.repeat(99)}`);
  });

  it("a DnsmasqStartError of 4096 gateways and dnsmasq's 4096 log lines stays short; details keep all", () => {
    const stderr = Array.from(
      { length: 4096 },
      (_, i) =>
        `dnsmasq-dhcp[7]: DHCP, IP range 10.96.${i >> 4}.2 -- 10.96.${i >> 4}.14, lease time 20m`,
    ).join('\n');
    const gateways = Array.from({ length: 4096 }, (_, i) => `10.96.${i >> 4}.1`);
    const details = { argv: ['dnsmasq'], stderr, config: 'interface=x\n'.repeat(4096) };
    const error = new DnsmasqStartError(
      `dnsmasq did not answer DNS on ${listSome(gateways)} within 10000 ms`,
      details,
    );
    expect(error.message.length).toBeLessThan(600);
    expect(error.message).toContain('and 4091 more within 10000 ms');
    expect(error.message).toContain('lease time 20m');
    expect(error.details).toBe(details);
    expect(error.cause).toBe(details);
  });
});
