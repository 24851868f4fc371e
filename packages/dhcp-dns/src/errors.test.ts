import { describeValue } from '@tapnet/internal';
import { describe, expect, it } from 'vitest';
import {
  DhcpDnsError,
  DnsmasqFailedError,
  DnsmasqStartError,
  InvalidConfigError,
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
