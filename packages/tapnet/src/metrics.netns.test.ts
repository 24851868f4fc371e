import { createTapPeer, describeNetns } from '@tapnet/testing';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { expect, it, vi } from 'vitest';
import { Pool } from './pool.js';

// Each test starts pools (and daemons) of its own: generous on a loaded 2-core CI machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

describeNetns('pool.metrics() for embedders', () => {
  it('registers in the embedder’s registry, labels by network name only, and unregisters on close()', async () => {
    await using pool = await Pool.create({ size: 2, prefix: 'tm', uplink: null });
    const registry = new Registry();
    const metrics = pool.metrics({ registry });
    const network = pool.network();
    network.setHandler(() => new Response('ok'));
    await using peer = await createTapPeer({
      tap: network.name,
      subnet: network.subnet,
      gateway: network.gateway,
      mac: network.mac,
    });
    // Many distinct paths and two statuses from the guest; a request from the host (no network).
    for (let i = 0; i < 20; i++) expect((await peer.get(`/item/${i}`)).status).toBe(200);
    expect((await peer.get('/latest/../x')).status).not.toBe(200);
    const host = await request('http://169.254.169.254/');
    await host.body.dump();

    const text = await registry.metrics();
    const requests = text
      .split('\n')
      .filter((l) => l.startsWith('tapnet_metadata_requests_total{'));
    // One series per (network, status): no path, no guest address in any label.
    expect(requests).toEqual(
      expect.arrayContaining([
        `tapnet_metadata_requests_total{network="${network.name}",status="200"} 20`,
      ]),
    );
    expect(
      requests.every((l) =>
        /^tapnet_metadata_requests_total\{network="(tm0|none)",status="\d+"\} \d+$/.test(l),
      ),
    ).toBe(true);
    expect(requests.length).toBeLessThanOrEqual(3);
    expect(text).not.toContain(peer.address);
    expect(text).toMatch(/^tapnet_networks\{state="in_use"\} 1$/m);
    expect(text).toMatch(
      new RegExp(
        `^tapnet_metadata_request_duration_seconds_count\\{network="${network.name}"\\} 2[01]$`,
        'm',
      ),
    );

    // No limits in this pool: no traffic series (the kernel counts nothing to report).
    expect(text).not.toMatch(/^tapnet_limited_bytes_total\{/m);

    // DNS from the guest: dnsmasq's locally answered queries rise (its SIGUSR1 statistics),
    // in two series only, whatever names the guest asks for.
    const localAnswers = (t: string) =>
      Number(/^tapnet_dns_queries_total\{answer="local"\} (\d+)$/m.exec(t)?.[1]);
    const before = localAnswers(text);
    expect(before).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 3; i++) {
      const dns = await peer.ns.run(['busybox', 'nslookup', 'taskcluster', network.gateway]);
      expect(dns.stdout).toMatch(/Address:\s+169\.254\.169\.254/);
    }
    const afterDns = await registry.metrics();
    expect(localAnswers(afterDns)).toBeGreaterThanOrEqual(before + 3);
    expect(afterDns.match(/^tapnet_dns_queries_total\{/gm)).toHaveLength(2);
    expect(afterDns).toMatch(/^tapnet_dns_cache_size \d+$/m);
    expect(afterDns).toMatch(/^tapnet_dns_cache_insertions_total \d+$/m);

    metrics.close();
    expect(await registry.getMetricsAsJSON()).toEqual([]);
    // Closed: another set can be registered in the same registry.
    pool.metrics({ registry }).close();
  });

  it('counts a limited network’s bytes and drops by direction, and nothing for an unlimited one', async () => {
    await using pool = await Pool.create({
      size: 2,
      prefix: 'tq',
      uplink: null,
      limits: { ingress: '8mbit' },
    });
    const registry = new Registry();
    const metrics = pool.metrics({ registry });
    const limited = pool.network();
    const free = pool.network({ limits: { ingress: null } });
    limited.setHandler(() => new Response('x'.repeat(20_000)));
    await using peer = await createTapPeer({
      tap: limited.name,
      subnet: limited.subnet,
      gateway: limited.gateway,
      mac: limited.mac,
    });
    for (let i = 0; i < 5; i++) expect((await peer.get('/')).status).toBe(200);
    const text = await registry.metrics();
    const bytes = Number(
      new RegExp(
        `^tapnet_limited_bytes_total\\{network="${limited.name}",direction="ingress"\\} (\\d+)$`,
        'm',
      ).exec(text)?.[1],
    );
    // Five answers of 20 kB went to the VM through its ingress shaper.
    expect(bytes).toBeGreaterThanOrEqual(100_000);
    expect(text).toMatch(
      new RegExp(
        `^tapnet_limited_drops_total\\{network="${limited.name}",direction="ingress"\\} \\d+$`,
        'm',
      ),
    );
    expect(text).not.toContain(`network="${free.name}",direction=`);
    metrics.close();
  });
});
