import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from './errors.js';
import { isDnsmasqFor, stopStaleDnsmasq } from './stale.js';

describe('isDnsmasqFor', () => {
  const conf = '/run/tapnet/tn/dnsmasq.conf';
  it.each([
    [`/usr/sbin/dnsmasq\0--keep-in-foreground\0--log-facility=-\0--conf-file=${conf}\0`, true],
    [`dnsmasq\0--conf-file=${conf}\0`, true],
    [`dnsmasq\0--conf-file=${conf}.other\0`, false],
    [`/usr/sbin/dnsmasq\0--conf-file=/etc/dnsmasq.conf\0`, false],
    [`/usr/bin/sleep\0--conf-file=${conf}\0`, false],
    ['', false],
  ])('%j → %s', (cmdline, expected) => {
    expect(isDnsmasqFor(cmdline, conf)).toBe(expected);
  });
});

describe('stopStaleDnsmasq', () => {
  it('refuses an unsafe state folder before reading anything', async () => {
    await expect(stopStaleDnsmasq('relative/dir')).rejects.toBeInstanceOf(InvalidConfigError);
  });

  it('is false when there is no pid file', async () => {
    expect(await stopStaleDnsmasq('/nonexistent/tapnet-state')).toBe(false);
  });
});
