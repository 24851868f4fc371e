import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeNetns, runOk } from '@tapnet/testing';
import { beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from './guest/build.ts';
import {
  parseProbeResults,
  probeDns,
  probeHttp,
  probePing6,
  probeTcp,
  probeUdp,
  scenario,
} from './src/probes.ts';
import { bootGuest, type GuestError } from './src/qemu.ts';
import { serveScenario, startUdpResponder } from './src/responders.ts';

/** A TCP port on 127.0.0.1 nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describeNetns('the test guest', () => {
  let image: GuestImage;
  beforeAll(async () => {
    image = await buildGuest();
  }, 300_000);

  it('boots with no network, reaches its init and powers off cleanly', async () => {
    const run = await bootGuest({ image, name: 'guest-no-network', timeoutMs: 90_000 });
    console.log(`no-network guest: ${(run.durationMs / 1000).toFixed(1)} s (${run.accel})`);
    expect(run.markers.map((m) => `${m.event} ${m.detail ?? ''}`.trim())).toEqual([
      'init reached',
      'poweroff',
    ]);
    expect(run.markers[0]?.fields.net).toBe('none');
    expect(run.markers[1]?.fields.reason).toBe('done');
    expect(run.console).toContain('reboot: Power down');
    expect(run.exitCode).toBe(0);
    expect(run.completed).toBe(true);
  }, 120_000);

  it('kills QEMU and rejects with the console so far when the deadline passes or the run is aborted', async () => {
    const qemuPids = async () => {
      const pids = await readdir('/proc').then((names) => names.filter((n) => /^\d+$/.test(n)));
      const comms = await Promise.all(
        pids.map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')),
      );
      return pids.filter((_, i) => comms[i]?.startsWith('qemu-system'));
    };
    await expect(
      bootGuest({ image, name: 'guest-timeout', accel: 'tcg', timeoutMs: 300 }),
    ).rejects.toMatchObject({
      code: 'ERR_GUEST_TIMEOUT',
      message: expect.stringMatching(/did not power off within 300 ms \(QEMU killed\)/),
    });
    expect(await qemuPids()).toEqual([]);

    const controller = new AbortController();
    const aborted = bootGuest({
      image,
      name: 'guest-aborted',
      accel: 'tcg',
      timeoutMs: 90_000,
      signal: controller.signal,
      onLine: (line) => {
        if (line.includes('TAPNET-GUEST: init reached')) controller.abort(new Error('seen enough'));
      },
    });
    const error = await aborted.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_GUEST_ABORTED' });
    expect((error as GuestError).console).toContain('TAPNET-GUEST: init reached');
    expect(await qemuPids()).toEqual([]);
  }, 120_000);

  it('on a user-mode network: gets a lease, fetches its scenario over guestfwd and posts the probe results', async () => {
    // slirp makes the guest's connections from QEMU's own namespace: it must have no way out.
    expect(await runOk(['ip', '-o', 'link', 'show'])).toMatch(/^1: lo:[^\n]*$/);
    expect(await runOk(['ip', 'route', 'show', 'table', 'all'])).not.toMatch(
      /default|dev (?!lo\b)/,
    );

    const dir = await mkdtemp(join(tmpdir(), 'tapnet-e2e-'));
    const tcp = createServer((socket) => socket.end()).listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    const tcpPort = (tcp.address() as AddressInfo).port;
    const refusedPort = await closedPort();
    await using udp = await startUdpResponder({ host: '127.0.0.1' });
    const script = scenario(
      probeHttp('identity', 'http://169.254.169.254/identity'),
      probeTcp('gw-loopback-listener', '169.254.2.2', tcpPort),
      probeTcp('gw-closed-port', '169.254.2.2', refusedPort),
      probeUdp('gw-udp-responder', '169.254.2.2', udp.port),
      probeDns('taskcluster-name', 'taskcluster'),
      probePing6('ll-all-nodes', 'ff02::1%eth0'),
    );
    await using meta = await serveScenario({ path: join(dir, 'meta.sock') }, script, {
      '/identity': 'guest-user-1',
    });
    try {
      const netdev = `user,id=n0,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:/bin/nc.openbsd -U ${join(dir, 'meta.sock')}`;
      const run = await bootGuest({
        image,
        name: 'guest-user-network',
        mode: 'user',
        netArgs: ['-netdev', netdev, '-device', 'e1000,netdev=n0,mac=52:54:00:12:34:56'],
        timeoutMs: 150_000,
      });
      console.log(`user-network guest: ${(run.durationMs / 1000).toFixed(1)} s (${run.accel})`);
      const events = run.markers.map((m) => `${m.event} ${m.detail ?? ''}`.trim());
      expect(events).toEqual([
        'init reached',
        'nic',
        'lease',
        'dns',
        'scenario fetched',
        'scenario done',
        'result posted',
        'poweroff',
      ]);
      const marker = (event: string) => run.markers.find((m) => m.event === event)?.fields ?? {};
      expect(marker('nic')).toMatchObject({ driver: 'e1000', mac: '52:54:00:12:34:56' });
      // slirp's DHCP on 169.254.0.0/16: its defaults sit at .2.x of the network.
      expect(marker('lease')).toMatchObject({
        ip: '169.254.2.15',
        prefix: '16',
        router: '169.254.2.2',
        dns: '169.254.2.3',
      });
      // slirp answers DNS itself and knows no `taskcluster`: the guest falls back to the IP.
      expect(marker('dns')).toMatchObject({
        taskcluster: 'unresolved',
        fallback: '169.254.169.254',
      });
      expect(run.markers.find((m) => m.detail === 'fetched')?.fields.url).toBe(
        'http://169.254.169.254/scenario',
      );
      expect(run.completed).toBe(true);
      expect(run.exitCode).toBe(0);

      const posted = await meta.result;
      expect(posted.exitCode).toBe(0);
      expect(meta.requests).toEqual(['GET /scenario', 'GET /identity', 'POST /result']);
      // What the guest posted is what it printed.
      expect(posted.output.trimEnd().split('\n')).toEqual(run.output);
      const probes = parseProbeResults(posted.output);
      console.log(
        Object.entries(probes)
          .map(([name, r]) => `  ${name}=${r.verdict} ${JSON.stringify(r.fields)}`)
          .join('\n'),
      );
      expect(probes.identity).toMatchObject({ verdict: 'ok', data: 'guest-user-1' });
      // The slirp gateway address is the host's loopback (as the original's user mode did).
      expect(probes['gw-loopback-listener']?.verdict).toBe('ok');
      expect(probes['gw-closed-port']?.verdict).toBe('refused');
      expect(probes['gw-udp-responder']).toMatchObject({ verdict: 'ok' });
      expect(probes['gw-udp-responder']?.data).toBe(
        `udp-ok name=gw-udp-responder from=127.0.0.1\n`,
      );
      expect(udp.received.map((d) => d.name)).toEqual(['gw-udp-responder']);
      expect(probes['taskcluster-name']?.verdict).not.toBe('ok');
      // slirp does not answer ICMPv6 to all-nodes ("external icmpv6 not supported yet").
      expect(probes['ll-all-nodes']?.verdict).toBe('noreply');
      expect(Object.keys(probes)).toHaveLength(6);
    } finally {
      tcp.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
