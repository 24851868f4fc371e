import { describe, expect, it } from 'vitest';
import { buildDnsmasqConfig, MAX_LEASES } from './config.js';
import { InvalidConfigError } from './errors.js';
import { testNetwork, testNetworks } from './fixtures.test-helpers.js';
import type { DnsmasqOptions } from './options.js';

const stateDir = '/run/tapnet/tn';

describe('buildDnsmasqConfig', () => {
  it('renders one network with defaults', async () => {
    await expect(buildDnsmasqConfig({ networks: testNetworks(1), stateDir })).toMatchFileSnapshot(
      './__golden__/one-network.conf',
    );
  });

  it('renders three networks with records, explicit upstreams and lease time', async () => {
    const config = buildDnsmasqConfig({
      networks: testNetworks(3),
      stateDir,
      metadataIp: '169.254.169.254',
      metadataNames: ['taskcluster', 'metadata.internal'],
      hostRecords: [
        { names: ['db.example', 'Database.Example'], ipv4: '10.1.2.3', ipv6: 'fd00::3' },
        { names: ['v6only.example'], ipv6: '2001:db8::1' },
      ],
      srvRecords: [
        {
          service: 'http',
          protocol: 'tcp',
          domain: 'example',
          target: 'web.example',
          port: 8080,
          priority: 1,
          weight: 5,
        },
        { service: '_ldap', protocol: '_udp', target: 'ldap.example', port: 389 },
      ],
      upstream: ['192.0.2.53', '2001:db8::53'],
      leaseTime: '1h',
    });
    await expect(config).toMatchFileSnapshot('./__golden__/three-networks.conf');
  });

  it('renders 250 networks with local names only', async () => {
    const config = buildDnsmasqConfig({
      networks: testNetworks(250),
      stateDir,
      upstream: [],
      leaseTime: 600,
    });
    expect(config.split('\n').filter((l) => l.startsWith('interface=')).length).toBe(250);
    await expect(config).toMatchFileSnapshot('./__golden__/250-networks.conf');
  });

  it('is a pure function of its input', () => {
    const options: DnsmasqOptions = { networks: testNetworks(2), stateDir };
    expect(buildDnsmasqConfig(options)).toBe(buildDnsmasqConfig(structuredClone(options)));
  });

  it('lists the safety options once each', () => {
    const lines = buildDnsmasqConfig({ networks: testNetworks(1), stateDir }).split('\n');
    for (const option of [
      'no-hosts',
      'except-interface=lo',
      'dhcp-ignore-names',
      'domain-needed',
      'bogus-priv',
      'bind-dynamic',
    ]) {
      expect(lines.filter((l) => l === option)).toEqual([option]);
    }
  });
});

describe('range binding and lease limit', () => {
  it('ties every range and option to its own TAP: tag:<device> first on each line', () => {
    const networks = testNetworks(3);
    const lines = buildDnsmasqConfig({ networks, stateDir }).split('\n');
    const dhcp = lines.filter((l) => /^dhcp-(range|option)=/.test(l));
    expect(dhcp).toHaveLength(15);
    for (const n of networks) {
      expect(
        dhcp.filter((l) => l.includes(`,set:${n.name},`) || l.includes(`,tag:${n.name},`)),
      ).toEqual([
        `dhcp-range=tag:${n.device},set:${n.name},${n.rangeStart},${n.rangeEnd},${n.netmask},20m`,
        `dhcp-option=tag:${n.device},tag:${n.name},option:router,${n.gateway}`,
        `dhcp-option=tag:${n.device},tag:${n.name},option:dns-server,${n.gateway}`,
        `dhcp-option=tag:${n.device},tag:${n.name},option:domain-name,tapnet.internal`,
        `dhcp-option=tag:${n.device},tag:${n.name},option:domain-search,tapnet.internal`,
      ]);
    }
    // No range without the device tag, and nothing that hands out addresses to BOOTP clients
    // (whose `file` field dnsmasq turns into a tag) or relays.
    expect(
      dhcp.filter(
        (l) =>
          !/^dhcp-(range|option)=tag:[a-z]+tap[0-9]+,tag:|^dhcp-range=tag:[a-z]+tap[0-9]+,set:/.test(
            l,
          ),
      ),
    ).toEqual([]);
    expect(lines.filter((l) => /bootp|relay|tag-if|dhcp-host|dhcp-match/.test(l))).toEqual([]);
  });

  const leaseMaxOf = (config: string) => Number(/^dhcp-lease-max=([0-9]+)$/m.exec(config)?.[1]);

  it('dhcp-lease-max is the sum of all range sizes', () => {
    expect(leaseMaxOf(buildDnsmasqConfig({ networks: testNetworks(1), stateDir }))).toBe(253);
    expect(leaseMaxOf(buildDnsmasqConfig({ networks: testNetworks(250), stateDir }))).toBe(
      250 * 253,
    );
    const small = { ...testNetwork(0), rangeStart: '10.64.0.10', rangeEnd: '10.64.0.10' };
    expect(leaseMaxOf(buildDnsmasqConfig({ networks: [small, testNetwork(1)], stateDir }))).toBe(
      1 + 253,
    );
    expect(leaseMaxOf(buildDnsmasqConfig({ networks: testNetworks(4096), stateDir }))).toBe(
      4096 * 253,
    );
  });

  it(`dhcp-lease-max stays at most ${MAX_LEASES}`, () => {
    const big = (i: number) => ({
      name: `big${i}`,
      device: `bigtap${i}`,
      gateway: `${10 + i}.0.0.1`,
      netmask: '255.0.0.0',
      rangeStart: `${10 + i}.0.0.2`,
      rangeEnd: `${10 + i}.255.255.254`,
    });
    expect(leaseMaxOf(buildDnsmasqConfig({ networks: [big(0), big(1)], stateDir }))).toBe(
      MAX_LEASES,
    );
  });
});

describe('injection', () => {
  const smuggled = ['\n', '\r', '\0', '#', ',', ' ', '\t', '"', "'", '\\', '=', '/', '\u2028'];
  const base = (): DnsmasqOptions => ({ networks: [testNetwork(0)], stateDir });
  const at = (fieldPath: string, value: string): DnsmasqOptions => {
    const o = base() as unknown as Record<string, unknown>;
    const set: Record<string, (o: Record<string, unknown>) => void> = {
      'networks[0].name': () => {
        o.networks = [{ ...testNetwork(0), name: value }];
      },
      'networks[0].device': () => {
        o.networks = [{ ...testNetwork(0), device: value }];
      },
      'networks[0].gateway': () => {
        o.networks = [{ ...testNetwork(0), gateway: value }];
      },
      metadataNames: () => {
        o.metadataNames = [value];
      },
      metadataIp: () => {
        o.metadataIp = value;
      },
      'hostRecords.names': () => {
        o.hostRecords = [{ names: [value], ipv4: '10.0.0.1' }];
      },
      'hostRecords.ipv6': () => {
        o.hostRecords = [{ names: ['a'], ipv6: value }];
      },
      'srvRecords.target': () => {
        o.srvRecords = [{ service: 'http', protocol: 'tcp', target: value, port: 80 }];
      },
      'srvRecords.service': () => {
        o.srvRecords = [{ service: value, protocol: 'tcp', target: 't', port: 80 }];
      },
      'srvRecords.domain': () => {
        o.srvRecords = [{ service: 'http', protocol: 'tcp', domain: value, target: 't', port: 80 }];
      },
      upstream: () => {
        o.upstream = [value];
      },
      leaseTime: () => {
        o.leaseTime = value;
      },
      stateDir: () => {
        o.stateDir = value;
      },
    };
    set[fieldPath]!(o);
    return o as unknown as DnsmasqOptions;
  };
  const fields = [
    ['networks[0].name', 'tn0'],
    ['networks[0].device', 'tntap0'],
    ['networks[0].gateway', '10.64.0.1'],
    ['metadataNames', 'taskcluster'],
    ['metadataIp', '169.254.169.254'],
    ['hostRecords.names', 'db.example'],
    ['hostRecords.ipv6', 'fd00::1'],
    ['srvRecords.target', 'web.example'],
    ['srvRecords.service', 'http'],
    ['srvRecords.domain', 'example'],
    ['upstream', '192.0.2.1'],
    ['leaseTime', '20m'],
    ['stateDir', '/run/tapnet/tn'],
  ] as const;

  const cases = fields.flatMap(([field, good]) =>
    smuggled
      // `/` belongs in a path; `=` and `/` are harmless elsewhere too but refused by the grammar.
      .filter((c) => !(field === 'stateDir' && c === '/'))
      .flatMap((c) => [
        [field, `${good}${c}`],
        [field, `${good}${c}no-resolv`],
      ]),
  );

  it.each(cases)('refuses %s = %j', (field, value) => {
    expect(() => buildDnsmasqConfig(at(field, value))).toThrow(InvalidConfigError);
  });

  it.each(fields)('accepts a plain %s (%s)', (field, good) => {
    expect(() => buildDnsmasqConfig(at(field, good))).not.toThrow();
  });

  it('a newline in a name cannot add a config line', () => {
    const attack = 'taskcluster\ndhcp-script=/tmp/evil';
    let caught: unknown;
    let config: string | undefined;
    try {
      config = buildDnsmasqConfig({
        networks: [testNetwork(0)],
        stateDir,
        metadataNames: [attack],
      });
    } catch (error) {
      caught = error;
    }
    expect(config).toBeUndefined();
    expect(caught).toBeInstanceOf(InvalidConfigError);
    expect((caught as InvalidConfigError).field).toBe('metadataNames[0]');
    expect((caught as InvalidConfigError).value).toBe(attack);
    expect((caught as InvalidConfigError).message).toBe(
      'Expected `metadataNames[0]` to be a DNS name (RFC 1123 labels: letters, digits, inner hyphens), got `"taskcluster\\ndhcp-script=/tmp/evil"` (string)',
    );
  });

  it('every value in a config line comes from one option: each line is one known option', () => {
    const config = buildDnsmasqConfig({
      networks: testNetworks(3),
      stateDir,
      hostRecords: [{ names: ['a.example'], ipv4: '10.1.1.1' }],
      srvRecords: [{ service: 'x', protocol: 'tcp', target: 'a.example', port: 1 }],
      upstream: ['192.0.2.1'],
    });
    const known = new Set([
      'bind-dynamic',
      'except-interface',
      'no-hosts',
      'domain-needed',
      'bogus-priv',
      'strict-order',
      'dhcp-no-override',
      'dhcp-authoritative',
      'dhcp-ignore-names',
      'no-ping',
      'no-ident',
      'local',
      'dhcp-lease-max',
      'dhcp-leasefile',
      'pid-file',
      'no-resolv',
      'server',
      'interface',
      'dhcp-range',
      'dhcp-option',
      'host-record',
      'srv-host',
    ]);
    const lines = config.trimEnd().split('\n');
    for (const line of lines) expect(known.has(line.split('=')[0]!)).toBe(true);
    expect(config).not.toMatch(/[#"'\\\0\r\t ]/);
  });
});

describe('DNS domain and search list (issue 17)', () => {
  const base = { networks: testNetworks(1), stateDir: '/run/tapnet/tn' };

  it('defaults to tapnet.internal: options 15 and 119 on each range, names answered under it, the domain kept local', () => {
    const config = buildDnsmasqConfig({
      ...base,
      hostRecords: [{ names: ['db', 'db.example'], ipv4: '10.1.2.3' }],
    });
    expect(config).toContain('local=/tapnet.internal/\n');
    expect(config).toContain('dhcp-option=tag:tntap0,tag:tn0,option:domain-name,tapnet.internal\n');
    expect(config).toContain(
      'dhcp-option=tag:tntap0,tag:tn0,option:domain-search,tapnet.internal\n',
    );
    expect(config).toContain(
      'host-record=taskcluster,taskcluster.tapnet.internal,169.254.169.254\n',
    );
    // Single-label names get the second spelling; a name with a dot is asked as it is.
    expect(config).toContain('host-record=db,db.tapnet.internal,db.example,10.1.2.3\n');
  });

  it('takes another domain, lower-cased, and `null` turns it all off', () => {
    expect(buildDnsmasqConfig({ ...base, domain: 'CI.Example.internal' })).toContain(
      'local=/ci.example.internal/\n',
    );
    const none = buildDnsmasqConfig({ ...base, domain: null });
    expect(none).not.toMatch(/local=|domain-name|domain-search/);
    expect(none).toContain('host-record=taskcluster,169.254.169.254\n');
  });

  it.each([
    'tapnet.internal\ndhcp-script=/tmp/x',
    'a..b',
    '-bad.internal',
    'tapnet.internal.',
    '',
    42,
    'x/y',
  ])('refuses %j as a domain', (domain) => {
    expect(() => buildDnsmasqConfig({ ...base, domain: domain as string })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CONFIG', field: 'domain' }),
    );
  });
});

describe('no-ident (issue 11)', () => {
  it('is always on: no version.bind or id.server answers', () => {
    expect(buildDnsmasqConfig({ networks: testNetworks(1), stateDir: '/run/t' })).toContain(
      '\nno-ident\n',
    );
  });
});
