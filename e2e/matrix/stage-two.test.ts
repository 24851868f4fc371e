import { describe, expect, it } from 'vitest';
import { probeHttp, probePing, probePing6, probeTcp, probeUdp } from '../src/probes.ts';
import { GUEST_TCP_PORT } from './guests.ts';
import { reuseProbes, type StageTwoTarget, stageTwoProbes } from './stage-two.ts';
import { INTERNET_IP, METADATA_IP, PRIVATE_TARGETS, UPLINK } from './topology.ts';

const target: StageTwoTarget = {
  gateway: '10.0.0.1',
  otherGateway: '10.0.1.1',
  otherSubnet: '10.0.1.0/24',
  hostLinkLocal: 'fe80::2:ff:fe00:1',
  ports: { tcp4: 4001, tcp6: 4002, tcpLo: 4003, udp4: 4004 },
};
const peers = new Map([['B', '10.0.1.50']]);

/** The probe's name in a probe line (`probe_tcp 'name' …`), or undefined for a plain sh line. */
const nameOf = (line: string) => /^probe_\w+ '?([\w-]+)'?/.exec(line)?.[1];

describe('stage two of a matrix guest', () => {
  const lines = stageTwoProbes(target, '10.0.0.50', peers);

  it('probes every peer of the round over ICMP, TCP to its listener and UDP', () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        probePing('peer-ping', '10.0.1.50'),
        probeTcp('peer-tcp', '10.0.1.50', GUEST_TCP_PORT),
        probeUdp('peer-udp', '10.0.1.50', 6969),
      ]),
    );
  });

  it('has no peer probes in a round of one', () => {
    const alone = stageTwoProbes(target, '10.0.0.50', new Map());
    expect(alone.map(nameOf).filter((n) => n?.startsWith('peer-'))).toEqual([]);
    expect(alone.length).toBe(lines.length - 3);
  });

  it("aims at the other network's gateway and the host's listeners on the given ports", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        probeTcp('other-gw-listener-tcp', '10.0.1.1', 4001),
        probeUdp('other-gw-listener-udp', '10.0.1.1', 4004),
        probeTcp('gw-v6listener-tcp', '10.0.0.1', 4002),
        probeTcp('meta-ip-other-port-tcp', METADATA_IP, 4001),
        probeTcp('uplink-addr-tcp', UPLINK.host, 4001),
        probePing6('v6-all-nodes', 'ff02::1%eth0'),
        probeTcp('v6-host-listener', 'fe80::2:ff:fe00:1%eth0', 4002),
      ]),
    );
  });

  it('fetches every private target over HTTP', () => {
    for (const [name, ip] of Object.entries(PRIVATE_TARGETS))
      expect(lines).toContain(probeHttp(name, `http://${ip}/probe/${name}`));
  });

  it("spoofs a source from the other network's subnet towards the metadata IP, then undoes it", () => {
    expect(lines).toContain(
      `ip addr add 10.0.1.77/32 dev eth0 && ip route add ${METADATA_IP}/32 via 10.0.0.1 dev eth0 src 10.0.1.77 && probe_http spoof-meta 'http://${METADATA_IP}/spoof'`,
    );
    expect(lines).toContain(
      `ip route del ${METADATA_IP}/32 2>/dev/null; ip addr del 10.0.1.77/32 dev eth0 2>/dev/null`,
    );
  });

  it('sends 127.0.0.1 to the gateway at the loopback listener, and puts the local routes back last', () => {
    expect(lines).toContain(
      'ip route add 127.0.0.1/32 via 10.0.0.1 dev eth0 && probe_tcp loopback-via-gw 127.0.0.1 4003',
    );
    expect(lines.at(-1)).toBe(
      'ip route del 127.0.0.1/32 via 10.0.0.1 dev eth0 2>/dev/null; ip route add local 127.0.0.0/8 dev lo table local; ip route add local 127.0.0.1 dev lo table local 2>/dev/null',
    );
  });

  it('names each probe once', () => {
    // 30 probe lines with one peer; spoof-meta and loopback-via-gw run inside sh lines.
    const names = lines.map(nameOf).filter((n) => n !== undefined);
    expect(names).toHaveLength(30);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('the reuse guest', () => {
  it("asks for A's path, which the new handler must not know, and the internet", () => {
    expect(reuseProbes('10.0.0.60')).toEqual([
      probeHttp('meta-identity', `http://${METADATA_IP}/identity`),
      probeHttp('meta-identity-by-name', 'http://taskcluster/identity'),
      probeHttp('a-only', `http://${METADATA_IP}/a-only`),
      probeTcp('self-tcp', '10.0.0.60', GUEST_TCP_PORT),
      probeHttp('internet-http', `http://${INTERNET_IP}/probe/internet-http-C`),
    ]);
  });
});
