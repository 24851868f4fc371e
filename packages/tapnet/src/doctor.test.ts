import type { BridgeLookup } from '@tapnet/user-network';
import { describe, expect, it } from 'vitest';
import { bridgeCheck, planFix, toolChecks } from './doctor.js';

/** A host whose PATH holds exactly `files` (path → what it resolves to). */
function host(files: Record<string, string>): BridgeLookup {
  return {
    searchPath: '/usr/bin:/bin',
    isExecutable: (path) => path in files,
    realpath: (path) => files[path] ?? path,
  };
}

describe('planFix', () => {
  it.each([
    [
      {
        code: 'ERR_INVALID_OPTION',
        message: 'Expected `size` to be an integer from 1 to 4096, got `5000`',
      },
      'change --size to what the message expects',
    ],
    [
      { code: 'ERR_INVALID_OPTION', message: 'Expected `prefixLength` to be …' },
      'change --prefix-length to what the message expects',
    ],
    [
      { code: 'ERR_INVALID_OPTION', message: 'something else' },
      'change the option to what the message expects',
    ],
    [
      { code: 'ERR_PLAN_CONFLICT', message: 'route 10.231.0.0/24 exists' },
      'choose another --subnet or --prefix, or `tapnet cleanup` leftovers',
    ],
  ])('%j → %s', (error, fix) => {
    expect(planFix(error)).toBe(fix);
  });
});

describe('the metadata bridge check', () => {
  it('does not pass an nc that is not OpenBSD netcat (the bridge needs its -U)', () => {
    const check = bridgeCheck(host({ '/usr/bin/nc': '/usr/bin/nc.traditional' }));
    expect(check).toMatchObject({ name: 'metadata bridge', status: 'warn' });
    expect(check.fix).toContain('netcat-openbsd');
  });

  it.each([
    [{ '/usr/bin/nc': '/bin/nc.openbsd' }, 'nc /usr/bin/nc'],
    [{ '/usr/bin/socat': '/usr/bin/socat' }, 'socat /usr/bin/socat'],
  ])('passes OpenBSD netcat or socat: %j', (files, detail) => {
    expect(bridgeCheck(host(files))).toEqual({ name: 'metadata bridge', status: 'ok', detail });
  });
});

describe('the tool checks', () => {
  const find = (names: string[]) => (name: string) =>
    names.includes(name) ? `/usr/sbin/${name}` : undefined;
  const base = ['ip', 'dnsmasq'];

  it('needs iptables-save (detection runs it) as well as iptables-restore', () => {
    const checks = toolChecks(find([...base, 'iptables-restore']));
    expect(checks.find((c) => c.name === 'iptables-save/iptables-restore')?.status).toBe('warn');
    expect(checks.find((c) => c.name === 'firewall')).toMatchObject({ status: 'fail' });
  });

  it('passes the iptables backend with both tools and ipset', () => {
    const checks = toolChecks(find([...base, 'iptables-save', 'iptables-restore', 'ipset']));
    expect(checks.find((c) => c.name === 'iptables-save/iptables-restore')).toEqual({
      name: 'iptables-save/iptables-restore',
      status: 'ok',
      detail: '/usr/sbin/iptables-save, /usr/sbin/iptables-restore',
    });
    expect(checks.find((c) => c.name === 'firewall')).toBeUndefined();
  });

  it('fails the iptables backend without ipset (its address sets), naming the package', () => {
    const checks = toolChecks(find([...base, 'iptables-save', 'iptables-restore']));
    expect(checks.find((c) => c.name === 'ipset')).toMatchObject({
      status: 'warn',
      fix: 'apt-get install ipset',
    });
    expect(checks.find((c) => c.name === 'firewall')).toMatchObject({ status: 'fail' });
  });

  it('warns without tc (per-VM traffic limits)', () => {
    const checks = toolChecks(find(base));
    expect(checks.find((c) => c.name === 'tc')).toMatchObject({ status: 'warn' });
  });

  it('passes the firewall with nft alone, and fails without ip or dnsmasq', () => {
    const checks = toolChecks(find(['nft']));
    expect(checks.find((c) => c.name === 'firewall')).toBeUndefined();
    expect(checks.find((c) => c.name === 'ip')?.status).toBe('fail');
    expect(checks.find((c) => c.name === 'dnsmasq')?.status).toBe('fail');
  });
});
