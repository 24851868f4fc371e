import { parseIPv4 } from '@tapnet/internal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DhcpDnsError, InvalidConfigError } from './errors.js';
import { testNetwork, testNetworks } from './fixtures.test-helpers.js';
import { normalizeOptions, normalizeRecords } from './options.js';
import { isDnsName, isLeaseTime, prefixLengthOfNetmask } from './validate.js';

const stateDir = '/run/tapnet/tn';
const net = testNetwork(0);
const withNet = (patch: Record<string, unknown>) => ({
  networks: [{ ...net, ...patch }],
  stateDir,
});

// [description, options, field, message]
const cases: [string, unknown, string, string][] = [
  [
    'options not an object',
    'x',
    'options',
    'Expected `options` to be an object, got `"x"` (string)',
  ],
  [
    'unknown option',
    { networks: [net], stateDir, leasetime: '1h' },
    'leasetime',
    'Expected `leasetime` to be one of `networks`, `stateDir`, `metadataIp`, `metadataNames`, `hostRecords`, `srvRecords`, `upstream`, `leaseTime`, `domain`, `dnsmasqPath`, `restart`, `readyTimeoutMs`, `runner` (unknown option), got `"1h"` (string)',
  ],
  [
    'no networks',
    { networks: [], stateDir },
    'networks',
    'Expected `networks` to be an array of 1 to 4096 networks, got `[]` (array)',
  ],
  [
    'networks not an array',
    { networks: {}, stateDir },
    'networks',
    'Expected `networks` to be an array, got `{}` (object)',
  ],
  [
    'network not an object',
    { networks: [null], stateDir },
    'networks[0]',
    'Expected `networks[0]` to be an object, got `null` (null)',
  ],
  [
    'unknown network field',
    withNet({ mtu: 1500 }),
    'networks[0].mtu',
    'Expected `networks[0].mtu` to be one of `name`, `device`, `gateway`, `netmask`, `rangeStart`, `rangeEnd` (unknown option), got `1500` (number)',
  ],
  [
    'bad name',
    withNet({ name: 'tn 0' }),
    'networks[0].name',
    'Expected `networks[0].name` to be a name of 1 to 32 letters, digits, `_` or `-`, got `"tn 0"` (string)',
  ],
  [
    'duplicate name',
    { networks: [net, { ...testNetwork(1), name: 'tn0' }], stateDir },
    'networks[1].name',
    'Expected `networks[1].name` to be a name no other network has, got `"tn0"` (string)',
  ],
  [
    'long device',
    withNet({ device: 'a234567890123456' }),
    'networks[0].device',
    'Expected `networks[0].device` to be an interface name of 1 to 15 letters, digits, `_`, `.` or `-`, got `"a234567890123456"` (string)',
  ],
  [
    'duplicate device',
    { networks: [net, { ...testNetwork(1), device: 'tntap0' }], stateDir },
    'networks[1].device',
    'Expected `networks[1].device` to be a device no other network has, got `"tntap0"` (string)',
  ],
  [
    'netmask with holes',
    withNet({ netmask: '255.0.255.0' }),
    'networks[0].netmask',
    'Expected `networks[0].netmask` to be an IPv4 netmask from 128.0.0.0 to 255.255.255.252, got `"255.0.255.0"` (string)',
  ],
  [
    'netmask /32',
    withNet({ netmask: '255.255.255.255' }),
    'networks[0].netmask',
    'Expected `networks[0].netmask` to be an IPv4 netmask from 128.0.0.0 to 255.255.255.252, got `"255.255.255.255"` (string)',
  ],
  [
    'gateway not an IP',
    withNet({ gateway: '10.64.0.256' }),
    'networks[0].gateway',
    'Expected `networks[0].gateway` to be an IPv4 address, got `"10.64.0.256"` (string)',
  ],
  [
    'gateway with leading zero',
    withNet({ gateway: '10.64.0.01' }),
    'networks[0].gateway',
    'Expected `networks[0].gateway` to be an IPv4 address, got `"10.64.0.01"` (string)',
  ],
  [
    'gateway is the network address',
    withNet({ gateway: '10.64.0.0' }),
    'networks[0].gateway',
    'Expected `networks[0].gateway` to be a host address in 10.64.0.0/24, got `"10.64.0.0"` (string)',
  ],
  [
    'range start outside',
    withNet({ rangeStart: '10.64.1.2' }),
    'networks[0].rangeStart',
    'Expected `networks[0].rangeStart` to be a host address in 10.64.0.0/24, got `"10.64.1.2"` (string)',
  ],
  [
    'range end broadcast',
    withNet({ rangeEnd: '10.64.0.255' }),
    'networks[0].rangeEnd',
    'Expected `networks[0].rangeEnd` to be a host address in 10.64.0.0/24, got `"10.64.0.255"` (string)',
  ],
  [
    'range reversed',
    withNet({ rangeStart: '10.64.0.100', rangeEnd: '10.64.0.50' }),
    'networks[0].rangeEnd',
    'Expected `networks[0].rangeEnd` to be an address not below rangeStart 10.64.0.100, got `"10.64.0.50"` (string)',
  ],
  [
    'gateway inside range',
    withNet({ gateway: '10.64.0.9' }),
    'networks[0].gateway',
    'Expected `networks[0].gateway` to be an address outside the range 10.64.0.2-10.64.0.254, got `"10.64.0.9"` (string)',
  ],
  [
    'overlapping subnets',
    {
      networks: [
        net,
        { ...testNetwork(1), gateway: '10.64.0.1', rangeStart: '10.64.0.2', rangeEnd: '10.64.0.9' },
      ],
      stateDir,
    },
    'networks[1].gateway',
    'Expected `networks[1].gateway` to be a subnet that does not overlap tn0\'s 10.64.0.0/24, got `"10.64.0.1"` (string)',
  ],
  [
    'relative stateDir',
    { networks: [net], stateDir: 'run/x' },
    'stateDir',
    'Expected `stateDir` to be an absolute path of letters, digits and `_.+@:/-` (no `..`), got `"run/x"` (string)',
  ],
  [
    'stateDir with ..',
    { networks: [net], stateDir: '/run/../etc' },
    'stateDir',
    'Expected `stateDir` to be an absolute path of letters, digits and `_.+@:/-` (no `..`), got `"/run/../etc"` (string)',
  ],
  [
    'metadataIp IPv6',
    { networks: [net], stateDir, metadataIp: '::1' },
    'metadataIp',
    'Expected `metadataIp` to be an IPv4 address, got `"::1"` (string)',
  ],
  [
    'metadataNames not array',
    { networks: [net], stateDir, metadataNames: 'taskcluster' },
    'metadataNames',
    'Expected `metadataNames` to be an array, got `"taskcluster"` (string)',
  ],
  [
    'metadata name with underscore',
    { networks: [net], stateDir, metadataNames: ['task_cluster'] },
    'metadataNames[0]',
    'Expected `metadataNames[0]` to be a DNS name (RFC 1123 labels: letters, digits, inner hyphens), got `"task_cluster"` (string)',
  ],
  [
    'label too long',
    { networks: [net], stateDir, metadataNames: ['a'.repeat(64)] },
    'metadataNames[0]',
    `Expected \`metadataNames[0]\` to be a DNS name (RFC 1123 labels: letters, digits, inner hyphens), got \`"${'a'.repeat(64)}"\` (string)`,
  ],
  [
    'host record without names',
    { networks: [net], stateDir, hostRecords: [{ names: [], ipv4: '10.0.0.1' }] },
    'hostRecords[0].names',
    'Expected `hostRecords[0].names` to be a non-empty array of DNS names, got `[]` (array)',
  ],
  [
    'host record bad name',
    { networks: [net], stateDir, hostRecords: [{ names: ['ok', '-bad'], ipv4: '10.0.0.1' }] },
    'hostRecords[0].names[1]',
    'Expected `hostRecords[0].names[1]` to be a DNS name (RFC 1123 labels: letters, digits, inner hyphens), got `"-bad"` (string)',
  ],
  [
    'host record without address',
    { networks: [net], stateDir, hostRecords: [{ names: ['a'] }] },
    'hostRecords[0].ipv4',
    'Expected `hostRecords[0].ipv4` to be an IPv4 address (or `ipv6` set), got `undefined` (undefined)',
  ],
  [
    'host record bad ipv4',
    { networks: [net], stateDir, hostRecords: [{ names: ['a'], ipv4: '1.2.3' }] },
    'hostRecords[0].ipv4',
    'Expected `hostRecords[0].ipv4` to be an IPv4 address, got `"1.2.3"` (string)',
  ],
  [
    'host record ipv6 with zone',
    { networks: [net], stateDir, hostRecords: [{ names: ['a'], ipv6: 'fe80::1%eth0' }] },
    'hostRecords[0].ipv6',
    'Expected `hostRecords[0].ipv6` to be an IPv6 address, got `"fe80::1%eth0"` (string)',
  ],
  [
    'srv bad service',
    {
      networks: [net],
      stateDir,
      srvRecords: [{ service: '_', protocol: 'tcp', target: 't', port: 1 }],
    },
    'srvRecords[0].service',
    'Expected `srvRecords[0].service` to be an SRV label (`http` or `_http`: letters, digits, inner hyphens), got `"_"` (string)',
  ],
  [
    'srv bad protocol',
    {
      networks: [net],
      stateDir,
      srvRecords: [{ service: 'http', protocol: 't.cp', target: 't', port: 1 }],
    },
    'srvRecords[0].protocol',
    'Expected `srvRecords[0].protocol` to be an SRV label (`http` or `_http`: letters, digits, inner hyphens), got `"t.cp"` (string)',
  ],
  [
    'srv bad target',
    {
      networks: [net],
      stateDir,
      srvRecords: [{ service: 'http', protocol: 'tcp', target: 'a..b', port: 1 }],
    },
    'srvRecords[0].target',
    'Expected `srvRecords[0].target` to be a DNS name (RFC 1123 labels: letters, digits, inner hyphens), got `"a..b"` (string)',
  ],
  [
    'srv port too big',
    {
      networks: [net],
      stateDir,
      srvRecords: [{ service: 'http', protocol: 'tcp', target: 't', port: 65536 }],
    },
    'srvRecords[0].port',
    'Expected `srvRecords[0].port` to be an integer from 0 to 65535, got `65536` (number)',
  ],
  [
    'srv port a string',
    {
      networks: [net],
      stateDir,
      srvRecords: [{ service: 'http', protocol: 'tcp', target: 't', port: '80' }],
    },
    'srvRecords[0].port',
    'Expected `srvRecords[0].port` to be an integer from 0 to 65535, got `"80"` (string)',
  ],
  [
    'srv weight negative',
    {
      networks: [net],
      stateDir,
      srvRecords: [{ service: 'http', protocol: 'tcp', target: 't', port: 1, weight: -1 }],
    },
    'srvRecords[0].weight',
    'Expected `srvRecords[0].weight` to be an integer from 0 to 65535, got `-1` (number)',
  ],
  [
    'srv priority fractional',
    {
      networks: [net],
      stateDir,
      srvRecords: [{ service: 'http', protocol: 'tcp', target: 't', port: 1, priority: 1.5 }],
    },
    'srvRecords[0].priority',
    'Expected `srvRecords[0].priority` to be an integer from 0 to 65535, got `1.5` (number)',
  ],
  [
    'upstream a string',
    { networks: [net], stateDir, upstream: '8.8.8.8' },
    'upstream',
    'Expected `upstream` to be `\'host\'` or an array of IP addresses, got `"8.8.8.8"` (string)',
  ],
  [
    'upstream with port',
    { networks: [net], stateDir, upstream: ['192.0.2.1#53'] },
    'upstream[0]',
    'Expected `upstream[0]` to be an IPv4 or IPv6 address, got `"192.0.2.1#53"` (string)',
  ],
  [
    'lease time too short',
    { networks: [net], stateDir, leaseTime: 60 },
    'leaseTime',
    'Expected `leaseTime` to be seconds (an integer of at least 120), `<n>[smhdw]` of at least 2 minutes, or `infinite`, got `60` (number)',
  ],
  [
    'lease time unit',
    { networks: [net], stateDir, leaseTime: '1y' },
    'leaseTime',
    'Expected `leaseTime` to be seconds (an integer of at least 120), `<n>[smhdw]` of at least 2 minutes, or `infinite`, got `"1y"` (string)',
  ],
  [
    'dnsmasqPath empty',
    { networks: [net], stateDir, dnsmasqPath: '' },
    'dnsmasqPath',
    'Expected `dnsmasqPath` to be a non-empty path or command name, got `""` (string)',
  ],
  [
    'restart unknown',
    { networks: [net], stateDir, restart: { retries: 3 } },
    'restart.retries',
    'Expected `restart.retries` to be one of `maxQuickFailures`, `initialDelayMs`, `maxDelayMs`, `quickFailureWindowMs` (unknown option), got `3` (number)',
  ],
  [
    'restart maxQuickFailures 0',
    { networks: [net], stateDir, restart: { maxQuickFailures: 0 } },
    'restart.maxQuickFailures',
    'Expected `restart.maxQuickFailures` to be an integer from 1 to 1000, got `0` (number)',
  ],
  [
    'restart max below initial',
    { networks: [net], stateDir, restart: { initialDelayMs: 500, maxDelayMs: 100 } },
    'restart.maxDelayMs',
    'Expected `restart.maxDelayMs` to be an integer not below restart.initialDelayMs (500), got `100` (number)',
  ],
  [
    'readyTimeoutMs too small',
    { networks: [net], stateDir, readyTimeoutMs: 5 },
    'readyTimeoutMs',
    'Expected `readyTimeoutMs` to be an integer from 100 to 600000, got `5` (number)',
  ],
];

describe('normalizeOptions', () => {
  it.each(cases)('%s', (_what, options, field, message) => {
    let caught: unknown;
    try {
      normalizeOptions(options);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidConfigError);
    expect(caught).toBeInstanceOf(DhcpDnsError);
    const error = caught as InvalidConfigError;
    expect({
      code: error.code,
      name: error.name,
      field: error.field,
      message: error.message,
    }).toEqual({
      code: 'ERR_INVALID_CONFIG',
      name: 'InvalidConfigError',
      field,
      message,
    });
  });

  it('fills defaults in one place', () => {
    const o = normalizeOptions({ networks: testNetworks(1), stateDir: '/run/tapnet/tn/' });
    expect({
      stateDir: o.stateDir,
      metadataIp: o.metadataIp,
      metadataNames: o.metadataNames,
      upstream: o.upstream,
      leaseTime: o.leaseTime,
      dnsmasqPath: o.dnsmasqPath,
      restart: o.restart,
      readyTimeoutMs: o.readyTimeoutMs,
      configPath: o.configPath,
      leasePath: o.leasePath,
      pidPath: o.pidPath,
    }).toEqual({
      stateDir: '/run/tapnet/tn',
      metadataIp: '169.254.169.254',
      metadataNames: ['taskcluster'],
      upstream: 'host',
      leaseTime: '20m',
      dnsmasqPath: 'dnsmasq',
      restart: {
        maxQuickFailures: 5,
        initialDelayMs: 200,
        maxDelayMs: 10_000,
        quickFailureWindowMs: 10_000,
      },
      readyTimeoutMs: 10_000,
      configPath: '/run/tapnet/tn/dnsmasq.conf',
      leasePath: '/run/tapnet/tn/dnsmasq.leases',
      pidPath: '/run/tapnet/tn/dnsmasq.pid',
    });
  });

  it('does not read inherited properties', () => {
    const proto = { upstream: ['192.0.2.1'] };
    const options = Object.assign(Object.create(proto), { networks: testNetworks(1), stateDir });
    expect(normalizeOptions(options).upstream).toBe('host');
  });

  it('validates reload records with the same rules', () => {
    expect(() =>
      normalizeRecords({ hostRecords: [{ names: ['a\nb'], ipv4: '10.0.0.1' }] }),
    ).toThrow('Expected `hostRecords[0].names[0]` to be a DNS name');
    expect(
      normalizeRecords({
        srvRecords: [{ service: 'HTTP', protocol: 'TCP', target: 'X.example', port: 1 }],
      }).srvRecords,
    ).toEqual([{ name: '_http._tcp', target: 'x.example', port: 1, priority: 0, weight: 0 }]);
  });
});

// fast-check's domains may exceed DNS length limits; those are rightly refused.
const tooLong = (name: string) => name.length > 253 || name.split('.').some((l) => l.length > 63);

describe('validators', () => {
  it('parseIPv4 round-trips every address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        const n = parseIPv4(ip);
        expect(n).toBeDefined();
        expect([n! >>> 24, (n! >>> 16) & 255, (n! >>> 8) & 255, n! & 255].join('.')).toBe(ip);
      }),
    );
  });

  it('isDnsName accepts generated domains and never a name with a config-significant character', () => {
    fc.assert(fc.property(fc.domain(), (name: string) => isDnsName(name) || tooLong(name)));
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom('\n', '\0', '#', ',', ' ', '=', '_', '/'),
        fc.string(),
        (a, c, b) => !isDnsName(`${a}${c}${b}`),
      ),
    );
  });

  it('prefixLengthOfNetmask', () => {
    expect(
      [
        '128.0.0.0',
        '255.255.0.0',
        '255.255.255.252',
        '255.255.255.255',
        '0.0.0.0',
        '255.255.0.255',
      ].map(prefixLengthOfNetmask),
    ).toEqual([1, 16, 30, undefined, undefined, undefined]);
  });

  it('isLeaseTime', () => {
    expect(
      [
        '2m',
        '120',
        '120s',
        '1h',
        '3d',
        '1w',
        'infinite',
        120,
        '119',
        '1m',
        '0',
        '',
        '1.5h',
        'forever',
        -1,
      ].map(isLeaseTime),
    ).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
