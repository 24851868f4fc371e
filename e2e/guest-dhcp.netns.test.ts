import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeNetns, runOk, waitFor } from '@tapnet/testing';
import { execa } from 'execa';
import { beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from './guest/build.ts';
import {
  parseProbeResults,
  probeDns,
  probeHttp,
  probePing,
  probePing6,
  probeTcp,
  probeUdp,
  scenario,
} from './src/probes.ts';
import { bootGuest } from './src/qemu.ts';
import { serveScenario, startUdpResponder } from './src/responders.ts';

// The dhcp mode of the guest protocol on a hand-made network in the sandbox: a TAP device,
// dnsmasq for DHCP and DNS, and a stand-in metadata server on 169.254.169.254:80. No tapnet
// code is involved; this proves the guest and its probes, not tapnet's isolation.
describeNetns('the test guest on a TAP network (dhcp mode)', () => {
  let image: GuestImage;
  beforeAll(async () => {
    image = await buildGuest();
  }, 300_000);

  it('gets its lease, resolves taskcluster, fetches its scenario by name and posts the probe results', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tapnet-e2e-'));
    await runOk(['ip', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    await runOk(['ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'tap0']);
    await runOk(['ip', 'link', 'set', 'tap0', 'up']);
    await runOk(['ip', 'addr', 'add', '169.254.169.254/32', 'dev', 'lo']);
    const dnsmasq = execa(
      'dnsmasq',
      [
        '--keep-in-foreground',
        '--log-facility=-',
        '--conf-file=/dev/null',
        '--pid-file',
        '--user=root',
        '--no-resolv',
        '--no-hosts',
        '--interface=tap0',
        '--bind-interfaces',
        '--dhcp-range=10.77.0.50,10.77.0.50,255.255.255.0,1h',
        '--dhcp-option=option:router,10.77.0.1',
        '--dhcp-option=option:dns-server,10.77.0.1',
        `--dhcp-leasefile=${join(dir, 'leases')}`,
        '--address=/taskcluster/169.254.169.254',
      ],
      { reject: false, all: true },
    );
    const closed = createServer().listen(0, '10.77.0.1');
    await once(closed, 'listening');
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await using udp = await startUdpResponder({ host: '10.77.0.1' });
    await using meta = await serveScenario(
      { host: '169.254.169.254', port: 80 },
      scenario(
        probeDns('taskcluster', 'taskcluster'),
        probeHttp('identity-by-name', 'http://taskcluster/identity'),
        probePing('gw-ping', '10.77.0.1'),
        probeTcp('gw-closed-port', '10.77.0.1', closedPort),
        probeUdp('gw-udp-responder', '10.77.0.1', udp.port),
        probePing6('ll-all-nodes', 'ff02::1%eth0'),
      ),
      { '/identity': 'guest-dhcp-1' },
    );
    try {
      await waitFor(
        async () => (await runOk(['ss', '-Hlun', 'sport', '=', '67'])).includes(':67'),
        { what: 'dnsmasq listening on the DHCP port', seen: () => String(dnsmasq.all ?? '') },
      );
      const run = await bootGuest({
        image,
        name: 'guest-dhcp-tap',
        mode: 'dhcp',
        netArgs: [
          '-netdev',
          'tap,id=n0,ifname=tap0,script=no,downscript=no',
          '-device',
          'virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:01',
        ],
        timeoutMs: 150_000,
      });
      console.log(`dhcp guest: ${(run.durationMs / 1000).toFixed(1)} s (${run.accel})`);
      const marker = (event: string, detail?: string) =>
        run.markers.find((m) => m.event === event && (detail === undefined || m.detail === detail))
          ?.fields ?? {};
      expect(run.markers.map((m) => `${m.event} ${m.detail ?? ''}`.trim())).toEqual([
        'init reached',
        'nic',
        'lease',
        'dns',
        'scenario fetched',
        'scenario done',
        'result posted',
        'poweroff',
      ]);
      expect(marker('nic')).toMatchObject({ driver: 'virtio_net', mac: '52:54:00:aa:bb:01' });
      expect(marker('lease')).toMatchObject({
        ip: '10.77.0.50',
        prefix: '24',
        router: '10.77.0.1',
        dns: '10.77.0.1',
      });
      expect(marker('dns')).toEqual({ taskcluster: '169.254.169.254' });
      expect(marker('scenario', 'fetched').url).toBe('http://taskcluster/scenario');
      expect(run.completed).toBe(true);

      const posted = await meta.result;
      expect(posted.exitCode).toBe(0);
      expect(meta.requests).toEqual(['GET /scenario', 'GET /identity', 'POST /result']);
      const probes = parseProbeResults(posted.output);
      console.log(
        Object.entries(probes)
          .map(([name, r]) => `  ${name}=${r.verdict} ${JSON.stringify(r.fields)}`)
          .join('\n'),
      );
      expect(probes.taskcluster?.fields.addrs).toBe('169.254.169.254');
      expect(probes['identity-by-name']).toMatchObject({ verdict: 'ok', data: 'guest-dhcp-1' });
      expect(probes['gw-ping']?.verdict).toBe('ok');
      expect(probes['gw-closed-port']?.verdict).toBe('refused');
      expect(probes['gw-udp-responder']?.data).toBe(
        'udp-ok name=gw-udp-responder from=10.77.0.50\n',
      );
      // Nothing filters here, so the sandbox's end of the TAP answers all-nodes.
      const tapLinkLocal = /inet6 (fe80::[0-9a-f:]+)\//.exec(
        await runOk(['ip', '-6', 'addr', 'show', 'dev', 'tap0']),
      )?.[1];
      expect(tapLinkLocal).toBeDefined();
      expect(probes['ll-all-nodes']?.verdict).toBe('ok');
      expect(probes['ll-all-nodes']?.fields.from?.split(',')).toContain(tapLinkLocal);
    } finally {
      dnsmasq.kill('SIGKILL');
      await dnsmasq;
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
