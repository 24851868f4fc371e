import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, PlanConflictError, TapPoolError } from './errors.js';
import { checkConflicts, type HostSnapshot, planPool } from './plan.js';

const golden = (name: string) =>
  readFileSync(new URL(`./__golden__/${name}`, import.meta.url), 'utf8');

describe('planPool', () => {
  it('plans one network with every default', () => {
    expect(planPool({ size: 1 })).toEqual({
      prefix: 'tn',
      size: 1,
      range: '10.231.0.0/16',
      prefixLength: 24,
      metadataIp: '169.254.169.254',
      ipv6: false,
      stateDir: '/run/tapnet',
      linkGroup: 1818996367,
      networks: [
        {
          index: 0,
          device: 'tn0',
          subnet: '10.231.0.0/24',
          network: '10.231.0.0',
          prefixLength: 24,
          netmask: '255.255.255.0',
          broadcast: '10.231.0.255',
          gateway: '10.231.0.1',
          dhcpRange: { start: '10.231.0.2', end: '10.231.0.254' },
          macSeed: 'tn:0',
        },
      ],
    });
  });

  it('plans three networks from a 192.168 base, owned by a user', () => {
    const plan = planPool({
      size: 3,
      prefix: 'tctap',
      subnet: '192.168.148.0/22',
      owner: { uid: 1000, gid: 1001 },
      stateDir: '/tmp/x',
    });
    expect(
      plan.networks.map((n) => [
        n.device,
        n.subnet,
        n.gateway,
        n.dhcpRange.start,
        n.dhcpRange.end,
        n.broadcast,
      ]),
    ).toEqual([
      [
        'tctap0',
        '192.168.148.0/24',
        '192.168.148.1',
        '192.168.148.2',
        '192.168.148.254',
        '192.168.148.255',
      ],
      [
        'tctap1',
        '192.168.149.0/24',
        '192.168.149.1',
        '192.168.149.2',
        '192.168.149.254',
        '192.168.149.255',
      ],
      [
        'tctap2',
        '192.168.150.0/24',
        '192.168.150.1',
        '192.168.150.2',
        '192.168.150.254',
        '192.168.150.255',
      ],
    ]);
    expect(plan.owner).toEqual({ uid: 1000, gid: 1001 });
    expect(plan.stateDir).toBe('/tmp/x');
  });

  it('plans 250 networks exactly as the golden file', () => {
    const plan = planPool({ size: 250 });
    expect(`${JSON.stringify(plan, null, 2)}\n`).toBe(golden('plan-250.json'));
    expect(plan.networks[249]).toMatchObject({
      device: 'tn249',
      subnet: '10.231.249.0/24',
      gateway: '10.231.249.1',
    });
    expect(plan.networks[128]?.dhcpRange).toEqual({ start: '10.231.128.2', end: '10.231.128.254' });
  });

  it('derives a link group per prefix, clear of the default group and small numbers', () => {
    const groups = ['tn', 'tb', 'tc', 'vm', 'tctap'].map(
      (prefix) => planPool({ size: 1, prefix }).linkGroup,
    );
    expect(new Set(groups).size).toBe(5);
    for (const g of groups) expect(g >= 0x10000 && g < 0x80000000).toBe(true);
  });

  it('packs dense /30 networks: one gateway, one guest address', () => {
    const plan = planPool({ size: 3, subnet: '10.0.0.0/28', prefixLength: 30 });
    expect(
      plan.networks.map((n) => [
        n.subnet,
        n.netmask,
        n.gateway,
        n.dhcpRange.start,
        n.dhcpRange.end,
        n.broadcast,
      ]),
    ).toEqual([
      ['10.0.0.0/30', '255.255.255.252', '10.0.0.1', '10.0.0.2', '10.0.0.2', '10.0.0.3'],
      ['10.0.0.4/30', '255.255.255.252', '10.0.0.5', '10.0.0.6', '10.0.0.6', '10.0.0.7'],
      ['10.0.0.8/30', '255.255.255.252', '10.0.0.9', '10.0.0.10', '10.0.0.10', '10.0.0.11'],
    ]);
  });

  it('plans 1000 and 4096 networks with distinct names and subnets', () => {
    const thousand = planPool({ size: 1000, subnet: '10.64.0.0/14' });
    expect(thousand.networks[999]).toMatchObject({
      device: 'tn999',
      subnet: '10.67.231.0/24',
      gateway: '10.67.231.1',
    });
    expect(new Set(thousand.networks.map((n) => n.subnet)).size).toBe(1000);
    const max = planPool({ size: 4096, prefix: 'vm', subnet: '10.0.0.0/12', prefixLength: 24 });
    expect(max.networks[4095]).toMatchObject({ device: 'vm4095', subnet: '10.15.255.0/24' });
  });

  it('plans networks larger than /24', () => {
    const plan = planPool({ size: 2, subnet: '172.20.0.0/15', prefixLength: 16 });
    expect(plan.networks[1]).toMatchObject({
      subnet: '172.21.0.0/16',
      netmask: '255.255.0.0',
      broadcast: '172.21.255.255',
      dhcpRange: { start: '172.21.0.2', end: '172.21.255.254' },
    });
  });

  const invalid: [string, unknown, RegExp][] = [
    ['no options', undefined, /Expected `options` to be an object, got `undefined` \(undefined\)/],
    ['array options', [], /Expected `options` to be an object/],
    [
      'size 0',
      { size: 0 },
      /^Expected `size` to be an integer from 1 to 4096, got `0` \(number\)$/,
    ],
    ['size 4097', { size: 4097 }, /got `4097` \(number\)/],
    ['size 1.5', { size: 1.5 }, /got `1.5` \(number\)/],
    ['size string', { size: '3' }, /got `"3"` \(string\)/],
    ['size missing', {}, /Expected `size` to be an integer from 1 to 4096, got `undefined`/],
    [
      'prefix uppercase',
      { size: 1, prefix: 'Tn' },
      /Expected `prefix` to be lowercase letters and digits/,
    ],
    ['prefix empty', { size: 1, prefix: '' }, /Expected `prefix`/],
    ['prefix with a dash', { size: 1, prefix: 't-n' }, /Expected `prefix`/],
    ['prefix with a newline', { size: 1, prefix: 'tn\nlink' }, /Expected `prefix`/],
    ['prefix starting with a digit', { size: 1, prefix: '1tn' }, /Expected `prefix`/],
    [
      'device name too long',
      { size: 100, prefix: 'abcdefghijklmn' },
      /device `abcdefghijklmn99` to fit 15 bytes/,
    ],
    [
      'subnet without length',
      { size: 1, subnet: '10.0.0.0' },
      /Expected `subnet` to be an IPv4 network in CIDR notation/,
    ],
    [
      'subnet with host bits',
      { size: 1, subnet: '10.0.0.1/24' },
      /no host bits set.*got `"10.0.0.1\/24"`/,
    ],
    ['subnet IPv6', { size: 1, subnet: 'fd00::/64' }, /Expected `subnet`/],
    ['subnet octal-looking', { size: 1, subnet: '010.0.0.0/8' }, /Expected `subnet`/],
    ['subnet octet > 255', { size: 1, subnet: '10.256.0.0/16' }, /Expected `subnet`/],
    [
      'prefixLength 15',
      { size: 1, prefixLength: 15 },
      /Expected `prefixLength` to be an integer from 16 to 30, got `15`/,
    ],
    ['prefixLength 31', { size: 1, prefixLength: 31 }, /from 16 to 30, got `31`/],
    [
      'prefixLength shorter than subnet',
      { size: 1, subnet: '10.0.0.0/24', prefixLength: 20 },
      /at least the prefix length of `subnet` \(24\), got `20`/,
    ],
    [
      'too many for the range',
      { size: 257 },
      /Expected `size` to be at most 256 \(the \/24 networks in 10.231.0.0\/16\), got `257`/,
    ],
    [
      'metadataIp garbage',
      { size: 1, metadataIp: 'metadata' },
      /Expected `metadataIp` to be a unicast IPv4 address/,
    ],
    ['metadataIp loopback', { size: 1, metadataIp: '127.0.0.1' }, /Expected `metadataIp`/],
    ['metadataIp multicast', { size: 1, metadataIp: '224.0.0.1' }, /Expected `metadataIp`/],
    [
      'ipv6 string',
      { size: 1, ipv6: 'yes' },
      /Expected `ipv6` to be a boolean, got `"yes"` \(string\)/,
    ],
    ['owner number', { size: 1, owner: 1000 }, /Expected `owner` to be an object/],
    [
      'owner.uid negative',
      { size: 1, owner: { uid: -1 } },
      /Expected `owner.uid` to be an integer from 0 to 4294967294, got `-1`/,
    ],
    ['owner.gid huge', { size: 1, owner: { gid: 2 ** 32 } }, /Expected `owner.gid`/],
    ['owner unknown key', { size: 1, owner: { user: 'qemu' } }, /Unknown option `owner.user`/],
    [
      'stateDir relative',
      { size: 1, stateDir: 'run/tapnet' },
      /Expected `stateDir` to be an absolute path/,
    ],
    [
      'renamed option',
      { size: 1, base: '10.0.0.0/16' },
      /^Unknown option `base`; did you mean `subnet`\?$/,
    ],
    ['unknown option', { size: 1, colour: 'red' }, /^Unknown option `colour`$/],
  ];
  it.each(invalid)('refuses %s with InvalidOptionError', (_name, options, message) => {
    let caught: unknown;
    try {
      planPool(options as never);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect(caught).toBeInstanceOf(TapPoolError);
    expect((caught as InvalidOptionError).code).toBe('ERR_INVALID_OPTION');
    expect((caught as Error).message).toMatch(message);
  });

  it('does not read inherited or mutate given options', () => {
    const options = Object.freeze(Object.assign(Object.create({ prefix: 'evil' }), { size: 1 }));
    expect(planPool(options).prefix).toBe('tn');
  });

  it('refuses a plan that contains the metadata IP or loopback', () => {
    expect(() => planPool({ size: 1, subnet: '169.254.169.0/24' })).toThrow(
      '169.254.169.0/24 conflicts with the metadata IP 169.254.169.254',
    );
    expect(() => planPool({ size: 1, subnet: '127.0.0.0/16' })).toThrow(PlanConflictError);
    expect(() => planPool({ size: 1, subnet: '0.0.0.0/16' })).toThrow(/reserved addresses/);
    expect(() => planPool({ size: 1, subnet: '240.0.0.0/16' })).toThrow(/reserved addresses/);
    // The metadata IP outside the planned networks is fine even inside the range.
    expect(
      planPool({ size: 1, subnet: '169.254.0.0/16', metadataIp: '169.254.169.254' }).networks[0]
        ?.subnet,
    ).toBe('169.254.0.0/24');
  });
});

describe('checkConflicts', () => {
  const plan = planPool({ size: 4, subnet: '10.231.0.0/16' });
  const empty: HostSnapshot = {
    devices: ['lo', 'eth0'],
    routes: [],
    addresses: [{ dev: 'lo', cidr: '127.0.0.1/8' }],
  };

  it('passes on a host with nothing in the way (default route, loopback, metadata IP on lo)', () => {
    expect(() =>
      checkConflicts(plan, {
        devices: ['lo', 'eth0', 'tn', 'tn10', 'xtn0'],
        routes: [
          { dst: 'default', dev: 'eth0' },
          { dst: '0.0.0.0/0' },
          { dst: '192.168.1.0/24', dev: 'eth0' },
          { dst: 'fd00::/64' },
        ],
        addresses: [
          { dev: 'lo', cidr: '127.0.0.1/8' },
          { dev: 'lo', cidr: '169.254.169.254/32' },
          { dev: 'eth0', cidr: '192.168.1.5/24' },
          { dev: 'eth0', cidr: '10.232.0.1/24' },
        ],
      }),
    ).not.toThrow();
  });

  const cases: [string, Partial<HostSnapshot>, { network: string; with: string }[]][] = [
    [
      'a device with a planned name',
      { devices: ['lo', 'tn1'] },
      [{ network: 'tn1', with: 'existing device `tn1`' }],
    ],
    [
      'a route inside one network',
      { routes: [{ dst: '10.231.2.128/25', dev: 'wg0' }] },
      [{ network: '10.231.2.0/24', with: 'route 10.231.2.128/25 dev wg0' }],
    ],
    [
      'a host route',
      { routes: [{ dst: '10.231.3.7/32' }] },
      [{ network: '10.231.3.0/24', with: 'route 10.231.3.7/32' }],
    ],
    [
      'a route covering the pool',
      { routes: [{ dst: '10.0.0.0/8', dev: 'vpn0' }] },
      ['10.231.0.0/24', '10.231.1.0/24', '10.231.2.0/24', '10.231.3.0/24'].map((network) => ({
        network,
        with: 'route 10.0.0.0/8 dev vpn0',
      })),
    ],
    [
      'an address in a network',
      { addresses: [{ dev: 'eth1', cidr: '10.231.0.9/24' }] },
      [{ network: '10.231.0.0/24', with: 'address 10.231.0.9/24 on eth1' }],
    ],
    [
      'an address whose network covers two',
      { addresses: [{ dev: 'br0', cidr: '10.231.1.1/23' }] },
      [
        { network: '10.231.0.0/24', with: 'address 10.231.1.1/23 on br0' },
        { network: '10.231.1.0/24', with: 'address 10.231.1.1/23 on br0' },
      ],
    ],
  ];
  it.each(cases)('reports %s', (_name, host, conflicts) => {
    let caught: unknown;
    try {
      checkConflicts(plan, { ...empty, ...host });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PlanConflictError);
    expect((caught as PlanConflictError).code).toBe('ERR_PLAN_CONFLICT');
    expect((caught as PlanConflictError).conflicts).toEqual(conflicts);
  });

  it('reports a hand-edited plan that overlaps itself, the metadata IP or loopback', () => {
    const edited = structuredClone(plan);
    edited.networks[1]!.subnet = '10.231.0.0/24';
    edited.networks[2]!.subnet = '169.254.169.0/24';
    edited.networks[3]!.subnet = '127.0.0.0/24';
    let caught: unknown;
    try {
      checkConflicts(edited, empty);
    } catch (error) {
      caught = error;
    }
    expect((caught as PlanConflictError).conflicts).toEqual([
      { network: '169.254.169.0/24', with: 'the metadata IP 169.254.169.254' },
      { network: '127.0.0.0/24', with: 'loopback 127.0.0.0/8' },
      { network: '10.231.0.0/24', with: 'network 10.231.0.0/24 of the plan' },
      { network: '127.0.0.0/24', with: 'address 127.0.0.1/8 on lo' },
    ]);
  });

  it('checks 1000 networks against many routes quickly enough to be exact and complete', () => {
    const big = planPool({ size: 1000, subnet: '10.64.0.0/14' });
    const routes = Array.from({ length: 1000 }, (_, i) => ({
      dst: `172.16.${i % 256}.${i >> 8}/32`,
    }));
    expect(() => checkConflicts(big, { devices: [], addresses: [], routes })).not.toThrow();
    expect(() =>
      checkConflicts(big, {
        devices: [],
        addresses: [],
        routes: [...routes, { dst: '10.67.231.9/32' }],
      }),
    ).toThrow('10.67.231.0/24 conflicts with route 10.67.231.9/32');
  });
});
