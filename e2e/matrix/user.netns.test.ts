import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeNetns, runOk } from '@tapnet/testing';
import { UserNetwork } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from '../guest/build.ts';
import {
  type ProbeResult,
  parseProbeResults,
  probeDns,
  probeHttp,
  probePing6,
  probeTcp,
  probeUdp,
} from '../src/probes.ts';
import { bootGuest, type GuestRun } from '../src/qemu.ts';
import { startUdpResponder, type UdpResponder } from '../src/responders.ts';
import { GuestSlot, Rendezvous } from './guests.ts';
import { MatrixReport } from './report.ts';
import { tcpListener } from './topology.ts';

// A guest on `UserNetwork` (slirp) per mode, restrict off and on, with the metadata socket in
// a folder whose path has a space and a comma. QEMU runs in the file's sandbox, which has only
// `lo` and no route: whatever slirp connects to on the guest's behalf is in the sandbox.
//
// "Another host address" is 198.51.100.50/32 on the sandbox's `lo` (a local address, no route
// out), where a 0.0.0.0 listener answers; the host's loopback is a 127.0.0.1 listener, which a
// guest can only address through slirp's gateway.
const OTHER_HOST_ADDRESS = '198.51.100.50';
const OUTSIDE = '203.0.113.10';
/** slirp's gateway with net=169.254.0.0/16: QEMU's default 10.0.2.2 moved into that net. */
const SLIRP_GATEWAY = '169.254.2.2';

type Mode = 'off' | 'on';
const PROBES = [
  'meta-identity',
  'gw-loopback-tcp',
  'gw-loopback-udp',
  'other-addr-tcp',
  'other-addr-udp',
  'outside-http',
  'dns-taskcluster',
  'v6-all-nodes',
] as const;

describeNetns('a guest on UserNetwork (slirp), restrict off and on', () => {
  const report = new MatrixReport('user');
  let image: GuestImage;
  let folder: string;
  let lo: Awaited<ReturnType<typeof tcpListener>>;
  let any: Awaited<ReturnType<typeof tcpListener>>;
  let udpLo: UdpResponder;
  let udpAny: UdpResponder;
  const outcomes: Record<
    Mode,
    {
      run?: GuestRun;
      error?: unknown;
      probes: Record<string, ProbeResult>;
      slot?: GuestSlot;
      socket?: string;
      netdev?: string;
    }
  > = { off: { probes: {} }, on: { probes: {} } };

  beforeAll(async () => {
    image = await buildGuest();
    await runOk(['ip', 'addr', 'add', `${OTHER_HOST_ADDRESS}/32`, 'dev', 'lo']);
    lo = await tcpListener('127.0.0.1');
    any = await tcpListener('0.0.0.0');
    udpLo = await startUdpResponder({ host: '127.0.0.1' });
    udpAny = await startUdpResponder({ host: OTHER_HOST_ADDRESS });
    folder = await mkdtemp(join(tmpdir(), 'tapnet user, e2e '));

    await Promise.all(
      (['off', 'on'] as const).map(async (mode) => {
        const outcome = outcomes[mode];
        await using network = await UserNetwork.create(folder, { restrict: mode === 'on' });
        outcome.socket = network.socketPath;
        const slot = new GuestSlot({
          name: `user-${mode}`,
          identity: `user-guest-restrict-${mode}`,
          round: [`user-${mode}`],
          rendezvous: new Rendezvous(60_000),
          // slirp's gateway address; with restrict=on the lease names no router, so it is given
          // here (on-link in 169.254.0.0/16 either way).
          stage2: () => [
            probeHttp('meta-identity', 'http://169.254.169.254/identity'),
            probeTcp('gw-loopback-tcp', SLIRP_GATEWAY, lo.port),
            probeUdp('gw-loopback-udp', SLIRP_GATEWAY, udpLo.port),
            probeTcp('other-addr-tcp', OTHER_HOST_ADDRESS, any.port),
            probeUdp('other-addr-udp', OTHER_HOST_ADDRESS, udpAny.port),
            probeHttp('outside-http', `http://${OUTSIDE}/`),
            probeDns('dns-taskcluster', 'taskcluster'),
            probePing6('v6-all-nodes', 'ff02::1%eth0'),
          ],
        });
        outcome.slot = slot;
        network.setHandler(slot.handler);
        outcome.netdev = network.netdev('n0');
        try {
          outcome.run = await bootGuest({
            image,
            name: `matrix-user-restrict-${mode}`,
            mode: 'user',
            netArgs: ['-netdev', outcome.netdev, '-device', 'e1000,netdev=n0'],
            append: 'tapnet.timeout=300',
            timeoutMs: 400_000,
          });
          const posted = await Promise.race([
            slot.result,
            new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined)),
          ]);
          outcome.probes = parseProbeResults(posted?.output ?? outcome.run.output);
        } catch (error) {
          outcome.error = error;
        }
      }),
    );
  }, 600_000);

  afterAll(async () => {
    try {
      for (const mode of ['off', 'on'] as const) {
        const o = outcomes[mode];
        report.note(
          `restrict ${mode}: ${o.run ? `${(o.run.durationMs / 1000).toFixed(1)} s (${o.run.accel}), log ${o.run.logFile}` : String(o.error)}; netdev ${o.netdev}`,
        );
      }
      const file = await report.write();
      console.log(`${report.render()}(written to ${file})`);
    } finally {
      lo?.server.close();
      any?.server.close();
      await udpLo?.close();
      await udpAny?.close();
      if (folder) await rm(folder, { recursive: true, force: true });
    }
  }, 60_000);

  const need = (mode: Mode) => {
    const o = outcomes[mode];
    if (o.error) throw o.error;
    return o.probes;
  };
  const evidence = (mode: Mode) => () => {
    const o = outcomes[mode];
    const lease = o.run?.markers.find((m) => m.event === 'lease')?.fields ?? {};
    return `lease ip=${lease.ip} router=${lease.router}; ${PROBES.map((n) => `${n}=${o.probes[n]?.verdict ?? 'missing'}`).join(' ')}; udp-lo saw ${JSON.stringify(udpLo.received.filter((d) => d.name.startsWith('gw-')))}; socket ${JSON.stringify(o.socket)}`;
  };

  it('the sandbox QEMU runs in has no route out', async () => {
    await report.check(
      'user: no route out',
      () => 'links: lo only; routes: none but lo',
      async () => {
        expect(await runOk(['ip', '-o', 'link', 'show'])).toMatch(/^1: lo:[^\n]*$/);
        expect(await runOk(['ip', 'route', 'show', 'table', 'all'])).not.toMatch(
          /default|dev (?!lo\b)/,
        );
      },
    );
  });

  it('restrict off: metadata through the socket; the host loopback and other host addresses are reachable', async () => {
    await report.check('user restrict=off', evidence('off'), () => {
      const o = outcomes.off;
      const p = need('off');
      expect(o.socket).toContain(' ');
      expect(o.socket).toContain(',');
      expect(o.run?.completed).toBe(true);
      expect(o.run?.markers.find((m) => m.event === 'lease')?.fields.router).toBe(SLIRP_GATEWAY);
      expect(p['meta-identity']).toMatchObject({ verdict: 'ok', data: 'user-guest-restrict-off' });
      expect(p['gw-loopback-tcp']?.verdict).toBe('ok');
      expect(p['gw-loopback-udp']?.data).toBe('udp-ok name=gw-loopback-udp from=127.0.0.1\n');
      expect(p['other-addr-tcp']?.verdict).toBe('ok');
      expect(p['other-addr-udp']?.verdict).toBe('ok');
      // Nothing outside: the sandbox has no route, so slirp's connect fails.
      expect(p['outside-http']?.verdict).not.toBe('ok');
      expect(p['dns-taskcluster']?.verdict).not.toBe('ok');
      expect(p['v6-all-nodes']?.verdict).toBe('noreply');
      expect(lo.peers).toContain('127.0.0.1');
    });
  });

  it('restrict on: metadata through the socket still works; the host is not reachable', async () => {
    await report.check('user restrict=on', evidence('on'), () => {
      const o = outcomes.on;
      const p = need('on');
      expect(o.run?.completed).toBe(true);
      // Measured: with restrict=on slirp's DHCP offers no router.
      expect(o.run?.markers.find((m) => m.event === 'lease')?.fields.router ?? '').toBe('');
      expect(p['meta-identity']).toMatchObject({ verdict: 'ok', data: 'user-guest-restrict-on' });
      for (const n of [
        'gw-loopback-tcp',
        'gw-loopback-udp',
        'other-addr-tcp',
        'other-addr-udp',
        'outside-http',
        'dns-taskcluster',
      ]) {
        expect(p[n], n).toBeDefined();
        expect(p[n]?.verdict, n).not.toBe('ok');
      }
      // The listeners saw exactly the restrict=off guest's probes, none from the restricted one.
      expect(udpLo.received.map((d) => d.name)).toEqual(['gw-loopback-udp']);
      expect(udpAny.received.map((d) => d.name)).toEqual(['other-addr-udp']);
      expect(lo.peers).toHaveLength(1);
      expect(any.peers).toHaveLength(1);
      expect(p['v6-all-nodes']?.verdict).toBe('noreply');
    });
  });
});
