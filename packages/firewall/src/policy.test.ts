import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  FirewallApplyError,
  FirewallCommandError,
  FirewallError,
  InvalidPolicyError,
} from './errors.js';
import { poolOptions } from './fixtures.test-helpers.js';
import { compileNft } from './nft.js';
import { buildPolicy, type Policy, type PolicyOptions } from './policy.js';

const net = (i: number, extra: Record<string, unknown> = {}) => ({
  device: `tn${i}`,
  subnet: `10.231.${i}.0/24`,
  gateway: `10.231.${i}.1`,
  ...extra,
});
const base = (extra: Record<string, unknown> = {}) =>
  ({ prefix: 'tn', networks: [net(0), net(1)], ...extra }) as unknown as PolicyOptions;

describe('buildPolicy', () => {
  it('fills defaults in one place and freezes the result', () => {
    const policy = buildPolicy({ prefix: 'tn', networks: [net(0)] });
    expect(policy).toEqual({
      prefix: 'tn',
      networks: [{ device: 'tn0', subnet: '10.231.0.0/24', gateway: '10.231.0.1' }],
      metadataIp: '169.254.169.254',
      metadataPort: 80,
      uplink: null,
      allow: [],
      ipv6: false,
      connections: 8192,
      llmnr: false,
    });
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.networks)).toBe(true);
    expect(Object.isFrozen(policy.networks[0])).toBe(true);
  });

  it('keeps explicit values and normalises allow entries', () => {
    const policy = buildPolicy(
      base({
        metadataIp: '169.254.1.1',
        metadataPort: 8080,
        uplink: 'eth1',
        allow: [{ cidr: '10.8.0.0/16', via: 'wg0' }, { cidr: '192.0.2.0/24' }],
        ipv6: true,
      }),
    );
    expect(policy.allow).toEqual([
      { cidr: '10.8.0.0/16', via: 'wg0' },
      { cidr: '192.0.2.0/24', via: null },
    ]);
    expect(policy).toMatchObject({
      metadataIp: '169.254.1.1',
      metadataPort: 8080,
      uplink: 'eth1',
      ipv6: true,
    });
  });

  it('accepts 1,000 networks', () => {
    expect(buildPolicy(poolOptions(1000)).networks).toHaveLength(1000);
  });

  const cases: [string, Record<string, unknown> | unknown, string, string][] = [
    ['not an object', null, 'options', 'Expected `options` to be an object, got `null` (null)'],
    [
      'unknown option',
      base({ bogus: 1 }),
      'bogus',
      'Unknown option `bogus`; known options: prefix, networks, metadataIp, metadataPort, uplink, allow, ipv6, connections, llmnr',
    ],
    [
      'renamed option',
      base({ uplinkDevice: 'eth0' }),
      'uplinkDevice',
      'Unknown option `uplinkDevice`; it is called `uplink`; known options: prefix, networks, metadataIp, metadataPort, uplink, allow, ipv6, connections, llmnr',
    ],
    [
      'prefix missing',
      { networks: [net(0)] },
      'prefix',
      'Expected `prefix` to be a string of 1 to 12 characters from [a-z0-9_] starting with a letter, got `undefined` (undefined)',
    ],
    [
      'prefix with a dash',
      base({ prefix: 'tn-1' }),
      'prefix',
      'Expected `prefix` to be a string of 1 to 12 characters from [a-z0-9_] starting with a letter, got `"tn-1"` (string)',
    ],
    [
      'prefix too long',
      base({ prefix: 'abcdefghijklm' }),
      'prefix',
      'Expected `prefix` to be a string of 1 to 12 characters from [a-z0-9_] starting with a letter, got `"abcdefghijklm"` (string)',
    ],
    ...[0, -1, 1.5, 2 ** 31, '100', null].map((value): [string, unknown, string, string] => [
      `connections ${String(value)}`,
      base({ connections: value }),
      'connections',
      `Expected \`connections\` to be an integer from 1 to 2147483647, got \`${JSON.stringify(value)}\` (${value === null ? 'null' : typeof value})`,
    ]),
    [
      'metadataIp',
      base({ metadataIp: '169.254.169' }),
      'metadataIp',
      'Expected `metadataIp` to be an IPv4 address, got `"169.254.169"` (string)',
    ],
    [
      'metadataIp leading zero',
      base({ metadataIp: '169.254.169.054' }),
      'metadataIp',
      'Expected `metadataIp` to be an IPv4 address, got `"169.254.169.054"` (string)',
    ],
    [
      'metadataPort 0',
      base({ metadataPort: 0 }),
      'metadataPort',
      'Expected `metadataPort` to be an integer from 1 to 65535, got `0` (number)',
    ],
    [
      'metadataPort float',
      base({ metadataPort: 80.5 }),
      'metadataPort',
      'Expected `metadataPort` to be an integer from 1 to 65535, got `80.5` (number)',
    ],
    [
      'ipv6',
      base({ ipv6: 'yes' }),
      'ipv6',
      'Expected `ipv6` to be a boolean, got `"yes"` (string)',
    ],
    [
      'networks empty',
      base({ networks: [] }),
      'networks',
      'Expected `networks` to be an array of 1 to 4096 networks, got `[]` (array)',
    ],
    [
      'network not an object',
      base({ networks: [5] }),
      'networks[0]',
      'Expected `networks[0]` to be an object with device, subnet and gateway, got `5` (number)',
    ],
    [
      'device too long',
      base({ networks: [net(0, { device: 'abcdefghijklmnop' })] }),
      'networks[0].device',
      'Expected `networks[0].device` to be an interface name of 1 to 15 characters from [A-Za-z0-9_.-], got `"abcdefghijklmnop"` (string)',
    ],
    [
      'device with a quote',
      base({ networks: [net(0, { device: 'a"b' })] }),
      'networks[0].device',
      'Expected `networks[0].device` to be an interface name of 1 to 15 characters from [A-Za-z0-9_.-], got `"a\\"b"` (string)',
    ],
    [
      'device wildcard',
      base({ networks: [net(0, { device: 'tn+' })] }),
      'networks[0].device',
      'Expected `networks[0].device` to be an interface name of 1 to 15 characters from [A-Za-z0-9_.-], got `"tn+"` (string)',
    ],
    [
      'device duplicate',
      base({ networks: [net(0), net(1, { device: 'tn0' })] }),
      'networks[1].device',
      'Expected `networks[1].device` to be a device not already used by `networks[0]`, got `"tn0"` (string)',
    ],
    [
      'subnet host bits',
      base({ networks: [net(0, { subnet: '10.231.0.1/24' })] }),
      'networks[0].subnet',
      'Expected `networks[0].subnet` to be an IPv4 CIDR with no host bits set and a prefix length from 1 to 30, got `"10.231.0.1/24"` (string)',
    ],
    [
      'subnet /31',
      base({ networks: [net(0, { subnet: '10.231.0.0/31' })] }),
      'networks[0].subnet',
      'Expected `networks[0].subnet` to be an IPv4 CIDR with no host bits set and a prefix length from 1 to 30, got `"10.231.0.0/31"` (string)',
    ],
    [
      'subnet loopback',
      base({ networks: [net(0, { subnet: '127.0.0.0/24', gateway: '127.0.0.1' })] }),
      'networks[0].subnet',
      'Expected `networks[0].subnet` to be a subnet outside `127.0.0.0/8`, got `"127.0.0.0/24"` (string)',
    ],
    [
      'subnet multicast',
      base({ networks: [net(0, { subnet: '224.1.0.0/24', gateway: '224.1.0.1' })] }),
      'networks[0].subnet',
      'Expected `networks[0].subnet` to be a subnet outside `224.0.0.0/4`, got `"224.1.0.0/24"` (string)',
    ],
    [
      'subnet holds the metadata IP',
      base({ networks: [net(0, { subnet: '169.254.169.0/24', gateway: '169.254.169.1' })] }),
      'networks[0].subnet',
      'Expected `networks[0].subnet` to be a subnet not containing the metadata IP `169.254.169.254`, got `"169.254.169.0/24"` (string)',
    ],
    [
      'subnets overlap',
      base({ networks: [net(0, { subnet: '10.231.0.0/16' }), net(1)] }),
      'networks[1].subnet',
      'Expected `networks[1].subnet` to be a subnet not overlapping `networks[0].subnet` (10.231.0.0/16), got `"10.231.1.0/24"` (string)',
    ],
    [
      'gateway outside',
      base({ networks: [net(0, { gateway: '10.231.1.1' })] }),
      'networks[0].gateway',
      'Expected `networks[0].gateway` to be an IPv4 address inside `10.231.0.0/24` other than its network and broadcast address, got `"10.231.1.1"` (string)',
    ],
    [
      'gateway = network address',
      base({ networks: [net(0, { gateway: '10.231.0.0' })] }),
      'networks[0].gateway',
      'Expected `networks[0].gateway` to be an IPv4 address inside `10.231.0.0/24` other than its network and broadcast address, got `"10.231.0.0"` (string)',
    ],
    [
      'gateway = broadcast',
      base({ networks: [net(0, { gateway: '10.231.0.255' })] }),
      'networks[0].gateway',
      'Expected `networks[0].gateway` to be an IPv4 address inside `10.231.0.0/24` other than its network and broadcast address, got `"10.231.0.255"` (string)',
    ],
    [
      'uplink bad name',
      base({ uplink: 'eth 0' }),
      'uplink',
      'Expected `uplink` to be an interface name of 1 to 15 characters from [A-Za-z0-9_.-], got `"eth 0"` (string)',
    ],
    [
      'uplink is a TAP',
      base({ uplink: 'tn1' }),
      'uplink',
      'Expected `uplink` to be an interface that is not one of the networks’ devices, got `"tn1"` (string)',
    ],
    [
      'allow not an array',
      base({ allow: 'x' }),
      'allow',
      'Expected `allow` to be an array of { cidr, via? }, got `"x"` (string)',
    ],
    [
      'allow entry',
      base({ allow: [null] }),
      'allow[0]',
      'Expected `allow[0]` to be an object { cidr, via? }, got `null` (null)',
    ],
    [
      'allow cidr',
      base({ allow: [{ cidr: '10.8.0.1/16' }] }),
      'allow[0].cidr',
      'Expected `allow[0].cidr` to be an IPv4 CIDR with no host bits set, got `"10.8.0.1/16"` (string)',
    ],
    [
      'allow via a TAP',
      base({ allow: [{ cidr: '10.8.0.0/16', via: 'tn0' }] }),
      'allow[0].via',
      'Expected `allow[0].via` to be an interface that is not one of the networks’ devices, got `"tn0"` (string)',
    ],
    [
      'allow overlap',
      base({ allow: [{ cidr: '10.8.0.0/16' }, { cidr: '10.8.1.0/24' }] }),
      'allow[1].cidr',
      'Expected `allow[1].cidr` to be a range not overlapping `allow[0].cidr`, got `"10.8.1.0/24"` (string)',
    ],
  ];
  it('checks `allow` overlaps per `via` only (as the README says): across devices they may overlap', () => {
    const policy = buildPolicy(
      base({
        allow: [{ cidr: '10.8.0.0/16' }, { cidr: '10.8.1.0/24', via: 'wg0' }],
      }) as PolicyOptions,
    );
    expect(policy.allow).toEqual([
      { cidr: '10.8.0.0/16', via: null },
      { cidr: '10.8.1.0/24', via: 'wg0' },
    ]);
  });
  it.each(cases)('refuses %s', (_name, options, field, message) => {
    let error: unknown;
    try {
      buildPolicy(options as PolicyOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidPolicyError);
    expect(error).toBeInstanceOf(FirewallError);
    expect(error).toMatchObject({
      code: 'ERR_INVALID_POLICY',
      name: 'InvalidPolicyError',
      field,
      message,
    });
  });

  it('compilers refuse objects that did not come from buildPolicy', () => {
    const fake = { ...buildPolicy(base()) } as Policy;
    expect(() => compileNft(fake)).toThrow(InvalidPolicyError);
  });
});

describe('errors', () => {
  it('have stable codes and names', () => {
    const command = new FirewallCommandError(['nft', '-f', '-'], 1, 'Error: syntax', 'table ...');
    expect(command).toMatchObject({
      code: 'ERR_FIREWALL_COMMAND',
      name: 'FirewallCommandError',
      exitCode: 1,
      stderr: 'Error: syntax',
      input: 'table ...',
    });
    expect(command.message).toBe('`nft -f -` exited with 1: Error: syntax');
    expect(new FirewallApplyError('x', { cause: command })).toMatchObject({
      code: 'ERR_FIREWALL_APPLY',
      cause: command,
    });
    expect(new BackendUnavailableError('x')).toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
      name: 'BackendUnavailableError',
    });
  });

  it('a failed command quotes the start of its stderr; all of it stays on the error', () => {
    const stderr = Array.from({ length: 4096 }, (_, i) => `line ${i}: Error: no such set`).join(
      '\n',
    );
    const command = new FirewallCommandError(['iptables-restore', '-w'], 2, stderr);
    expect(command.message.length).toBeLessThan(500);
    expect(command.message).toMatch(/^`iptables-restore -w` exited with 2: line 0: Error/);
    expect(command.message).toMatch(/more lines in `stderr`\)$/);
    expect(command.stderr).toBe(stderr);
  });

  it('instanceof works by brand (a duplicate install) and tells subclasses apart', async () => {
    // A second install of the package: its errors module evaluated again, other class objects.
    const again = './errors.js?duplicate-install';
    const copy: typeof import('./errors.js') = await import(/* @vite-ignore */ again);
    expect(copy.InvalidPolicyError).not.toBe(InvalidPolicyError);
    const foreign = new copy.InvalidPolicyError('x', 'x');
    expect(foreign).toBeInstanceOf(FirewallError);
    expect(foreign).toBeInstanceOf(InvalidPolicyError);
    expect(foreign).not.toBeInstanceOf(FirewallApplyError);
    expect(new Error('plain')).not.toBeInstanceOf(FirewallError);
    expect(new FirewallApplyError('x')).not.toBeInstanceOf(InvalidPolicyError);
  });
});
