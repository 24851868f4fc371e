import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import {
  parseProbeResults,
  parseProbes,
  probeDns,
  probeHttp,
  probePing,
  probePing6,
  probeSh,
  probeTcp,
  probeUdp,
  scenario,
  shQuote,
} from './probes.ts';

describe('probe lines', () => {
  it.each([
    [probeTcp('meta', '169.254.169.254', 80), "probe_tcp meta '169.254.169.254' '80'"],
    [probeUdp('u1', '10.0.0.1', 5353), "probe_udp u1 '10.0.0.1' '5353'"],
    [probePing('gw', '10.0.0.1'), "probe_ping gw '10.0.0.1'"],
    [probePing6('all', 'ff02::1%eth0'), "probe_ping6 all 'ff02::1' 'eth0'"],
    [probePing6('ll', 'fe80::1'), "probe_ping6 ll 'fe80::1' 'eth0'"],
    [probeHttp('h', "http://x/it's"), `probe_http h 'http://x/it'\\''s'`],
    [probeDns('tc', 'taskcluster'), "probe_dns tc 'taskcluster' ''"],
    [
      probeDns('srv', '_http._tcp.x', { server: '10.0.0.1', type: 'srv' }),
      "probe_dns srv '_http._tcp.x' '10.0.0.1' 'srv'",
    ],
  ])('%s', (line, expected) => {
    expect(line).toBe(expected);
  });

  it.each(['', 'a b', 'x;reboot', 'a'.repeat(65)])('rejects the probe name %j', (name) => {
    expect(() => probeTcp(name, 'h', 1)).toThrow(/Expected a probe name/);
  });

  it('rejects arguments sh cannot carry on one line', () => {
    expect(() => shQuote('a\nb')).toThrow(/without NUL or newline/);
  });

  it('is valid busybox sh', async () => {
    const text = scenario(probeTcp('a', 'h', 1), probeDns('b', 'n', { type: 'srv' }), 'echo done');
    const result = await execa('busybox', ['sh', '-n'], { input: text, reject: false });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('runs under busybox sh and parses back (probe_sh: no network involved)', async () => {
    const text = scenario(probeSh('hello', "echo 'hi there'"), probeSh('fails', 'echo no; exit 3'));
    const { stdout } = await execa('busybox', ['sh', '-s'], { input: text });
    expect(parseProbeResults(stdout)).toEqual({
      hello: {
        verdict: 'ok',
        fields: { data: Buffer.from('hi there\n').toString('base64') },
        data: 'hi there\n',
      },
      fails: {
        verdict: 'exit-3',
        fields: { data: Buffer.from('no\n').toString('base64') },
        data: 'no\n',
      },
    });
  });
});

describe('parseProbes', () => {
  it('reads verdicts and fields, ignores other lines, decodes data', () => {
    const output = [
      'some noise',
      'PROBE tcp-meta=ok',
      'PROBE tcp-other=refused',
      '  PROBE dns=ok addrs=169.254.169.254 data=TmFtZTogdGFza2NsdXN0ZXI=',
      'PROBE ll=ok from=fe80::1,fe80::2',
      'not a PROBE x=ok',
      'PROBE spaced name=ok',
    ].join('\n');
    expect(parseProbes(output)).toEqual({
      'tcp-meta': 'ok',
      'tcp-other': 'refused',
      dns: 'ok',
      ll: 'ok',
    });
    const results = parseProbeResults(output);
    expect(results.dns).toEqual({
      verdict: 'ok',
      fields: { addrs: '169.254.169.254', data: 'TmFtZTogdGFza2NsdXN0ZXI=' },
      data: 'Name: taskcluster',
    });
    expect(results.ll?.fields.from).toBe('fe80::1,fe80::2');
  });

  it('accepts the console form (lines without the TAPNET-OUT prefix)', () => {
    expect(parseProbes(['PROBE a=timeout', 'PROBE b=noreply'])).toEqual({
      a: 'timeout',
      b: 'noreply',
    });
  });
});
