import { describe, expect, it } from 'vitest';
import { parseDnsStats } from './dns-stats.js';

// What dnsmasq 2.90 logs on SIGUSR1 under --keep-in-foreground --log-facility=- (captured).
const block = (n: {
  size: number;
  evicted: number;
  inserted: number;
  fwd: number;
  local: number;
}) =>
  [
    'dnsmasq[4]: time 1795921207',
    `dnsmasq[4]: cache size ${n.size}, ${n.evicted}/${n.inserted} cache insertions re-used unexpired cache entries.`,
    `dnsmasq[4]: queries forwarded ${n.fwd}, queries answered locally ${n.local}`,
    'dnsmasq[4]: queries for authoritative zones 0',
    'dnsmasq[4]: DNSSEC per-query subqueries HWM 0',
    'dnsmasq[4]: pool memory in use 0, max 48, allocated 2400',
    'dnsmasq[4]: child processes for TCP requests: in use 0, highest since last SIGUSR1 0, max allowed 20.',
    'dnsmasq[4]: server 10.9.0.77#53: queries sent 0, retried 0, failed 0, nxdomain replies 0, avg. latency 0ms',
  ].join('\n');

describe('parseDnsStats', () => {
  it('reads the counters of the last complete block, among other log lines', () => {
    const text = [
      'dnsmasq[4]: started, version 2.90 cachesize 150',
      block({ size: 150, evicted: 0, inserted: 0, fwd: 0, local: 4 }),
      'dnsmasq-dhcp[4]: DHCPACK(tq0) 10.0.0.2 52:54:00:00:00:01',
      block({ size: 150, evicted: 3, inserted: 41, fwd: 7, local: 1234 }),
      '',
    ].join('\n');
    expect(parseDnsStats(text)).toEqual({
      cacheSize: 150,
      evictions: 3,
      insertions: 41,
      forwarded: 7,
      answeredLocally: 1234,
      authoritative: 0,
    });
  });

  it('waits for the end of the last line (output arrives in chunks)', () => {
    const whole = block({ size: 150, evicted: 0, inserted: 2, fwd: 1, local: 9 });
    const cut = whole.slice(0, whole.indexOf('zones 0') + 'zones 0'.length);
    expect(parseDnsStats(cut)).toBeUndefined();
    expect(parseDnsStats(`${cut}\n`)).toMatchObject({ authoritative: 0, answeredLocally: 9 });
  });

  it('finds nothing in output without a block, or with one cut short', () => {
    expect(parseDnsStats('')).toBeUndefined();
    expect(parseDnsStats('dnsmasq[4]: started, version 2.90 cachesize 150\n')).toBeUndefined();
    // The buffer kept only the end of a block: no cache line before the queries line.
    expect(
      parseDnsStats(
        'dnsmasq[4]: queries forwarded 1, queries answered locally 2\ndnsmasq[4]: queries for authoritative zones 0\n',
      ),
    ).toBeUndefined();
  });
});
