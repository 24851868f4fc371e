// The issue-7 matrix against the facade (`Pool` from 'tapnet') for one firewall backend, with
// real guests. `nft.netns.test.ts` and `iptables.netns.test.ts` each call
// `defineBackendMatrix`, so the runner gives each backend its own sandbox. The world around the
// guests is topology.ts; what each guest probes, stage-two.ts.
import { readFile } from 'node:fs/promises';
import { describeNetns, runOk } from '@tapnet/testing';
import { type Network, Pool } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildGuest, type GuestImage } from '../guest/build.ts';
import type { ProbeResult } from '../src/probes.ts';
import { startUdpResponder, type UdpResponder } from '../src/responders.ts';
import { GuestSlot, parseSnmp, Rendezvous } from './guests.ts';
import { MatrixReport } from './report.ts';
import { GUEST_TIMEOUT_MS, type GuestOutcome, runGuest } from './run-guest.ts';
import { reuseProbes, stageTwoProbes } from './stage-two.ts';
import {
  HOST_RECORD,
  type InternetHost,
  inSubnet,
  linkLocalOf,
  METADATA_IP,
  PRIVATE_TARGETS,
  SRV_RECORD,
  startInternet,
  tcpControl,
  tcpListener,
  UPLINK,
  udpControl,
} from './topology.ts';

function verdicts(probes: Record<string, ProbeResult>, names: readonly string[]): string {
  return names.map((n) => `${n}=${probes[n]?.verdict ?? 'missing'}`).join(' ');
}

/** Registers the whole matrix for one firewall backend in the calling test file. */
export function defineBackendMatrix(backend: 'nft' | 'iptables'): void {
  describeNetns(`the e2e matrix with firewall: '${backend}'`, () => {
    const report = new MatrixReport(backend);
    let image: GuestImage;
    let internet: InternetHost;
    let pool: Pool;
    let tcp4: Awaited<ReturnType<typeof tcpListener>>;
    let tcp6: Awaited<ReturnType<typeof tcpListener>>;
    let tcpLo: Awaited<ReturnType<typeof tcpListener>>;
    let udp4: UdpResponder;
    let a: GuestOutcome;
    let b: GuestOutcome;
    let third: Network;
    const rendezvous = new Rendezvous(300_000);
    const controls: Record<string, string> = {};
    const ipv6Facts: Record<string, string> = {};
    const need = (o: GuestOutcome): Record<string, ProbeResult> => {
      if (o.error) throw o.error;
      return o.probes;
    };

    beforeAll(async () => {
      image = await buildGuest();
      internet = await startInternet();
      pool = await Pool.create({
        size: 3,
        firewall: backend,
        hostRecords: [HOST_RECORD],
        srvRecords: [SRV_RECORD],
        upstreamDns: [],
      });
      tcp4 = await tcpListener('0.0.0.0');
      tcp6 = await tcpListener('::');
      tcpLo = await tcpListener('127.0.0.1');
      udp4 = await startUdpResponder({ host: '0.0.0.0' });

      const netA = pool.network();
      const netB = pool.network();
      third = pool.network(); // held, so the reuse round gets A's network back
      const tapFacts = async (n: Network) => {
        const mac = (await readFile(`/sys/class/net/${n.name}/address`, 'utf8')).trim();
        const disabled = (
          await readFile(`/proc/sys/net/ipv6/conf/${n.name}/disable_ipv6`, 'utf8')
        ).trim();
        const addrs = await runOk(['ip', '-6', '-o', 'addr', 'show', 'dev', n.name]);
        ipv6Facts[n.name] =
          `disable_ipv6=${disabled} v6-addresses=${addrs.trim() === '' ? 'none' : addrs.trim().split('\n').length}`;
        return linkLocalOf(mac);
      };
      const hostLinkLocal: Record<string, string> = {
        [netA.name]: await tapFacts(netA),
        [netB.name]: await tapFacts(netB),
      };

      // Positive controls from the sandbox itself: every listener a guest is refused is up.
      for (const [label, host] of [
        ['gw', netA.gateway],
        ['other-gw', netB.gateway],
        ['meta-ip', METADATA_IP],
        ['uplink-addr', UPLINK.host],
      ] as const) {
        controls[`tcp4 ${label}`] = await tcpControl(host, tcp4.port);
        controls[`udp ${label}`] = await udpControl(udp4, host, `control-${label}`);
      }
      controls['tcp6 ::1'] = await tcpControl('::1', tcp6.port);
      controls['tcp6 gw(v4-mapped)'] = await tcpControl(netA.gateway, tcp6.port);
      controls['tcp lo'] = await tcpControl('127.0.0.1', tcpLo.port);
      for (const [name, ip] of Object.entries(PRIVATE_TARGETS))
        controls[`http ${name}`] = await tcpControl(ip, 80);

      const stage2 = (net: Network, other: Network) => (self: string, peers: Map<string, string>) =>
        stageTwoProbes(
          {
            gateway: net.gateway,
            otherGateway: other.gateway,
            otherSubnet: other.subnet,
            hostLinkLocal: hostLinkLocal[net.name] ?? '',
            ports: { tcp4: tcp4.port, tcp6: tcp6.port, tcpLo: tcpLo.port, udp4: udp4.port },
          },
          self,
          peers,
        );
      const slotA = new GuestSlot({
        name: 'A',
        identity: `guest-A-${backend}-${netA.name}`,
        round: ['A', 'B'],
        rendezvous,
        stage2: stage2(netA, netB),
        extra: { '/a-only': 'only A’s handler knows this' },
      });
      const slotB = new GuestSlot({
        name: 'B',
        identity: `guest-B-${backend}-${netB.name}`,
        round: ['A', 'B'],
        rendezvous,
        stage2: stage2(netB, netA),
      });
      [a, b] = await Promise.all([
        runGuest(image, `matrix-${backend}-A`, netA, slotA),
        runGuest(image, `matrix-${backend}-B`, netB, slotB),
      ]);
      for (const g of [a, b]) {
        const took = g.run
          ? `${(g.run.durationMs / 1000).toFixed(1)} s (${g.run.accel})`
          : `failed: ${String(g.error)}`;
        report.note(
          `guest ${g.slot.name} on ${g.network.name}: ${took}, log ${g.run?.logFile ?? '-'}`,
        );
      }
    }, 900_000);

    afterAll(async () => {
      try {
        for (const [tap, facts] of Object.entries(ipv6Facts)) report.note(`${tap}: ${facts}`);
        report.note(
          `sandbox controls: ${Object.entries(controls)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`,
        );
        const file = await report.write();
        console.log(`${report.render()}(written to ${file})`);
      } finally {
        for (const s of [tcp4, tcp6, tcpLo]) s?.server.close();
        await udp4?.close();
        await pool?.dispose();
        await internet?.ns.delete();
      }
    }, 120_000);

    it('the pool forwards through the uplink the test made', async () => {
      const status = await pool.status();
      await report.check(
        'setup: uplink and controls',
        () =>
          `uplink=${status.uplink} forwarding=${status.forwarding} firewall.present=${status.firewall.present} controls=${Object.values(controls).join(',')}`,
        () => {
          expect(status.uplink).toBe(UPLINK.device);
          expect(status.forwarding).toBe(true);
          expect(status.firewall.present).toBe(true);
          for (const [k, v] of Object.entries(controls)) expect(`${k}=${v}`).toBe(`${k}=ok`);
        },
      );
    });

    it('DHCP: each guest leases in its own subnet, router and DNS = its gateway', async () => {
      const facts: string[] = [];
      await report.check(
        'dhcp lease',
        () => facts.join('; '),
        () => {
          for (const g of [a, b]) {
            if (g.error) throw g.error;
            const lease = g.run?.markers.find((m) => m.event === 'lease')?.fields ?? {};
            facts.push(
              `${g.slot.name}: ip=${lease.ip} router=${lease.router} dns=${lease.dns} subnet=${g.network.subnet} network.lease=${g.network.lease?.ip}`,
            );
            expect(inSubnet(lease.ip ?? '', g.network.subnet)).toBe(true);
            expect(lease.router).toBe(g.network.gateway);
            expect(lease.dns).toBe(g.network.gateway);
            expect(g.network.lease?.ip).toBe(lease.ip);
            expect(g.network.lease?.mac).toBe(g.network.mac);
          }
          expect(a.network.subnet).not.toBe(b.network.subnet);
        },
      );
    });

    it('DNS: taskcluster → metadata IP; the operator host and SRV records resolve', async () => {
      await report.check(
        'dns names and records',
        () =>
          [a, b]
            .map(
              (g) =>
                `${g.slot.name}: tc=${g.probes['dns-taskcluster']?.fields.addrs} host=${g.probes['dns-host-record']?.fields.addrs} srv=${JSON.stringify(g.probes['dns-srv']?.data?.trim())}`,
            )
            .join('; '),
        () => {
          for (const g of [a, b]) {
            const p = need(g);
            expect(g.run?.markers.find((m) => m.event === 'dns')?.fields.taskcluster).toBe(
              METADATA_IP,
            );
            expect(p['dns-taskcluster']?.fields.addrs).toBe(METADATA_IP);
            expect(p['dns-host-record']?.fields.addrs).toBe(HOST_RECORD.ipv4);
            expect(p['dns-srv']?.verdict).toBe('ok');
            expect(p['dns-srv']?.data).toContain(String(SRV_RECORD.port));
            expect(p['dns-srv']?.data).toContain(SRV_RECORD.target);
          }
        },
      );
    });

    it('metadata: two guests at once, each sees only its own handler', async () => {
      await report.check(
        'own metadata',
        () =>
          [a, b]
            .map(
              (g) =>
                `${g.slot.name}: identity=${JSON.stringify(g.probes['meta-identity']?.data)} by-name=${JSON.stringify(g.probes['meta-identity-by-name']?.data)} calls-from=${[...new Set(g.slot.calls.map((c) => c.from))].join(',')}`,
            )
            .join('; '),
        () => {
          expect(a.slot.identity).not.toBe(b.slot.identity);
          for (const g of [a, b]) {
            const p = need(g);
            expect(p['meta-identity']).toMatchObject({ verdict: 'ok', data: g.slot.identity });
            expect(p['meta-identity-by-name']).toMatchObject({
              verdict: 'ok',
              data: g.slot.identity,
            });
            expect(g.posted?.exitCode).toBe(0);
            // Every call this handler got came from its own guest's subnet, on its own network.
            expect(g.slot.calls.length).toBeGreaterThan(0);
            for (const call of g.slot.calls) {
              expect(inSubnet(call.from, g.network.subnet)).toBe(true);
              expect(call.network).toBe(g.network.name);
            }
          }
        },
      );
    });

    it('refused: guest → other guest (ICMP, TCP, UDP)', async () => {
      const snmpDelta = (g: GuestOutcome, key: string) =>
        (parseSnmp(g.probes['snmp-after']?.data ?? '')[key] ?? Number.NaN) -
        (parseSnmp(g.probes['snmp-before']?.data ?? '')[key] ?? Number.NaN);
      await report.check(
        'refused: other guest',
        () =>
          [a, b]
            .map(
              (g) =>
                `${g.slot.name}: ${verdicts(g.probes, ['peer-ping', 'peer-tcp', 'peer-udp', 'self-tcp'])} listener-hits=${g.probes['tcp-hits']?.data?.trim()} ΔInEchos=${snmpDelta(g, 'Icmp.InEchos')} ΔUdpNoPorts=${snmpDelta(g, 'Udp.NoPorts')}`,
            )
            .join('; '),
        () => {
          for (const g of [a, b]) {
            const p = need(g);
            for (const n of ['peer-ping', 'peer-tcp', 'peer-udp']) {
              expect(p[n], n).toBeDefined();
              expect(p[n]?.verdict, n).not.toBe('ok');
            }
            // The listener the peer was refused was up: the guest reached it through its own address.
            expect(p['self-tcp']?.verdict).toBe('ok');
            // Only that own connection reached it, and no peer echo request or datagram arrived.
            expect(p['tcp-hits']?.data?.trim()).toBe('1');
            expect(snmpDelta(g, 'Icmp.InEchos')).toBe(0);
            expect(snmpDelta(g, 'Udp.NoPorts')).toBe(0);
          }
        },
      );
    });

    it("refused: guest → the other network's gateway, and its metadata with a spoofed source", async () => {
      const names = [
        'other-gw-ping',
        'other-gw-dns',
        'other-gw-dns-tcp',
        'other-gw-listener-tcp',
        'other-gw-listener-udp',
        'spoof-meta',
      ];
      await report.check(
        "refused: other network's gateway and metadata",
        () =>
          [a, b]
            .map(
              (g) =>
                `${g.slot.name}: ${verdicts(g.probes, names)} /spoof-calls=${[a, b].flatMap((x) => x.slot.calls).filter((c) => c.path === '/spoof').length}`,
            )
            .join('; '),
        () => {
          for (const g of [a, b]) {
            const p = need(g);
            for (const n of names) {
              expect(p[n], n).toBeDefined();
              expect(p[n]?.verdict, n).not.toBe('ok');
            }
          }
          // Neither network's handler ever saw the spoofed request.
          expect([...a.slot.calls, ...b.slot.calls].filter((c) => c.path === '/spoof')).toEqual([]);
          const guestNames = new Set(names);
          expect(udp4.received.filter((d) => guestNames.has(d.name))).toEqual([]);
        },
      );
    });

    it("refused: guest → the host's other addresses and ports (TCP, UDP), its :: and 127.0.0.1 listeners", async () => {
      const names = [
        'gw-ping',
        'gw-listener-tcp',
        'gw-listener-udp',
        'gw-v6listener-tcp',
        'meta-ip-other-port-tcp',
        'meta-ip-other-port-udp',
        'uplink-addr-tcp',
        'uplink-addr-udp',
        'loopback-via-gw',
      ];
      const guestIps = () => new Set([a, b].map((g) => g.network.lease?.ip).filter(Boolean));
      await report.check(
        'refused: host listeners',
        () =>
          `${[a, b].map((g) => `${g.slot.name}: ${verdicts(g.probes, names)}`).join('; ')}; listener peers tcp4=${tcp4.peers.join(',')} tcp6=${tcp6.peers.join(',')} lo=${tcpLo.peers.join(',')} udp=${udp4.received.map((d) => d.from).join(',')}`,
        () => {
          for (const g of [a, b]) {
            const p = need(g);
            for (const n of names) {
              expect(p[n], n).toBeDefined();
              expect(p[n]?.verdict, n).not.toBe('ok');
            }
          }
          const ips = guestIps();
          for (const from of [
            ...tcp4.peers,
            ...tcp6.peers,
            ...tcpLo.peers,
            ...udp4.received.map((d) => d.from),
          ])
            expect(ips.has(from), `listener reached from ${from}`).toBe(false);
        },
      );
    });

    it('refused: guest → private ranges beyond the uplink', async () => {
      const names = Object.keys(PRIVATE_TARGETS);
      await report.check(
        'refused: private ranges',
        () =>
          `${[a, b].map((g) => `${g.slot.name}: ${verdicts(g.probes, names)}`).join('; ')}; internet saw ${internet.log.filter((e) => e.path?.startsWith('/probe/private')).length} private probe requests`,
        () => {
          for (const g of [a, b]) {
            const p = need(g);
            for (const n of names) {
              expect(p[n], n).toBeDefined();
              expect(p[n]?.verdict, n).not.toBe('ok');
            }
          }
          expect(internet.log.filter((e) => e.path?.startsWith('/probe/private'))).toEqual([]);
        },
      );
    });

    it('refused: IPv6 link-local to the host (ping6 all-nodes, TCP to the :: listener)', async () => {
      await report.check(
        'refused: ipv6 link-local',
        () =>
          `${[a, b].map((g) => `${g.slot.name}: ${verdicts(g.probes, ['v6-all-nodes', 'v6-host-listener'])}`).join('; ')}; ${Object.entries(
            ipv6Facts,
          )
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        () => {
          for (const g of [a, b]) {
            const p = need(g);
            expect(p['v6-all-nodes']?.verdict).toBe('noreply');
            expect(p['v6-host-listener']).toBeDefined();
            expect(p['v6-host-listener']?.verdict).not.toBe('ok');
          }
          expect(tcp6.peers.filter((from) => from.startsWith('fe80'))).toEqual([]);
        },
      );
    });

    it('allowed: the internet host through NAT, which sees the uplink address', async () => {
      await report.check(
        'allowed: internet via NAT',
        () =>
          `${[a, b].map((g) => `${g.slot.name}: ${verdicts(g.probes, ['internet-http', 'internet-udp', 'internet-ping'])} said=${JSON.stringify(g.probes['internet-http']?.data)}`).join('; ')}; internet log: ${internet.log.map((e) => `${e.proto} ${e.path ?? e.name} from ${e.from}`).join(', ')}`,
        () => {
          for (const g of [a, b]) {
            const p = need(g);
            expect(p['internet-http']).toMatchObject({
              verdict: 'ok',
              data: `internet-ok from=${UPLINK.host} path=/probe/internet-http`,
            });
            expect(p['internet-udp']).toMatchObject({ verdict: 'ok' });
            expect(p['internet-udp']?.data).toBe(`udp-ok name=internet-udp from=${UPLINK.host}\n`);
            expect(p['internet-ping']?.verdict).toBe('ok');
          }
          const fromGuests = internet.log.filter(
            (e) => e.path === '/probe/internet-http' || e.name === 'internet-udp',
          );
          expect(fromGuests.map((e) => e.from)).toEqual(fromGuests.map(() => UPLINK.host));
          // One HTTP request per guest; UDP at least one each (tftp may retry a slow reply).
          expect(fromGuests.filter((e) => e.proto === 'http')).toHaveLength(2);
          expect(fromGuests.filter((e) => e.proto === 'udp').length).toBeGreaterThanOrEqual(2);
        },
      );
    });

    it(
      'reuse: a released network serves a new guest with the new handler only',
      async () => {
        const oldCalls = a.slot.calls.length;
        const oldName = a.network.name;
        a.network.release();
        const netC = pool.network();
        const slotC = new GuestSlot({
          name: 'C',
          identity: `guest-C-${backend}-${netC.name}`,
          round: ['C'],
          rendezvous: new Rendezvous(60_000),
          stage2: reuseProbes,
        });
        const c = await runGuest(image, `matrix-${backend}-C-reuse`, netC, slotC);
        report.note(
          `guest C on ${netC.name}: ${c.run ? `${(c.run.durationMs / 1000).toFixed(1)} s` : String(c.error)}`,
        );
        await report.check(
          'reuse: new guest, new handler',
          () =>
            `network ${oldName}→${netC.name}; C: ${verdicts(c.probes, ['meta-identity', 'a-only', 'internet-http'])} identity=${JSON.stringify(c.probes['meta-identity']?.data)}; old handler calls ${oldCalls}→${a.slot.calls.length}; C lease=${c.network.lease?.ip}`,
          () => {
            expect(netC.name).toBe(oldName);
            const p = need(c);
            expect(p['meta-identity']).toMatchObject({ verdict: 'ok', data: slotC.identity });
            expect(p['meta-identity-by-name']).toMatchObject({
              verdict: 'ok',
              data: slotC.identity,
            });
            expect(p['a-only']?.verdict).toBe('http-404');
            expect(p['internet-http']?.verdict).toBe('ok');
            expect(c.posted?.exitCode).toBe(0);
            expect(a.slot.calls.length).toBe(oldCalls);
            const lease = c.run?.markers.find((m) => m.event === 'lease')?.fields ?? {};
            expect(netC.lease?.ip).toBe(lease.ip);
            for (const call of slotC.calls) expect(inSubnet(call.from, netC.subnet)).toBe(true);
          },
        );
        third.release();
      },
      GUEST_TIMEOUT_MS + 60_000,
    );
  });
}
