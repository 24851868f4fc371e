// Stage two of a matrix guest's scenario: the probe lines it runs once every guest of its round
// has its address (guests.ts holds the rendezvous). Pure: the same target, address and peers
// give the same lines, so the matrix's coverage is readable and tested by value here, apart
// from booting anything.
import { probeDns, probeHttp, probePing, probePing6, probeTcp, probeUdp } from '../src/probes.ts';
import { GUEST_TCP_PORT, selfTcpProbe } from './guests.ts';
import {
  HOST_RECORD,
  hostInSubnet,
  INTERNET_IP,
  INTERNET_UDP_PORT,
  METADATA_IP,
  PRIVATE_TARGETS,
  SRV_RECORD,
  UPLINK,
} from './topology.ts';

/** What one guest probes besides the fixed internet and private targets of topology.ts. */
export interface StageTwoTarget {
  /** The gateway of the guest's own network. */
  gateway: string;
  /** The other network's gateway, and its subnet (the spoofed source comes from it). */
  otherGateway: string;
  otherSubnet: string;
  /** The host's IPv6 link-local address on the guest's TAP. */
  hostLinkLocal: string;
  /** The host's listeners: TCP on 0.0.0.0, on :: and on 127.0.0.1, UDP on 0.0.0.0. */
  ports: { tcp4: number; tcp6: number; tcpLo: number; udp4: number };
}

/**
 * The probe lines for a guest at `self` whose round's other guests are `peers` (name →
 * address): what must work (DNS, its metadata, the internet) and what must be refused.
 */
export function stageTwoProbes(
  target: StageTwoTarget,
  self: string,
  peers: ReadonlyMap<string, string>,
): string[] {
  const { gateway, otherGateway, ports } = target;
  const spoof = hostInSubnet(target.otherSubnet, 77);
  const lines = [
    probeDns('dns-taskcluster', 'taskcluster'),
    probeDns('dns-host-record', HOST_RECORD.names[0] ?? ''),
    probeDns('dns-srv', `_${SRV_RECORD.service}._${SRV_RECORD.protocol}.${SRV_RECORD.domain}`, {
      type: 'srv',
    }),
    probeHttp('meta-identity', `http://${METADATA_IP}/identity`),
    probeHttp('meta-identity-by-name', 'http://taskcluster/identity'),
    selfTcpProbe(self),
    probeHttp('internet-http', `http://${INTERNET_IP}/probe/internet-http`),
    probeUdp('internet-udp', INTERNET_IP, INTERNET_UDP_PORT),
    probePing('internet-ping', INTERNET_IP),
  ];
  for (const [, peer] of peers) {
    lines.push(
      probePing('peer-ping', peer),
      probeTcp('peer-tcp', peer, GUEST_TCP_PORT),
      probeUdp('peer-udp', peer, INTERNET_UDP_PORT),
    );
  }
  lines.push(
    probePing('other-gw-ping', otherGateway),
    probeDns('other-gw-dns', 'taskcluster', { server: otherGateway }),
    probeTcp('other-gw-dns-tcp', otherGateway, 53),
    probeTcp('other-gw-listener-tcp', otherGateway, ports.tcp4),
    probeUdp('other-gw-listener-udp', otherGateway, ports.udp4),
    probePing('gw-ping', gateway),
    probeTcp('gw-listener-tcp', gateway, ports.tcp4),
    probeUdp('gw-listener-udp', gateway, ports.udp4),
    probeTcp('gw-v6listener-tcp', gateway, ports.tcp6),
    probeTcp('meta-ip-other-port-tcp', METADATA_IP, ports.tcp4),
    probeUdp('meta-ip-other-port-udp', METADATA_IP, ports.udp4),
    probeTcp('uplink-addr-tcp', UPLINK.host, ports.tcp4),
    probeUdp('uplink-addr-udp', UPLINK.host, ports.udp4),
    ...Object.entries(PRIVATE_TARGETS).map(([name, ip]) =>
      probeHttp(name, `http://${ip}/probe/${name}`),
    ),
    probePing6('v6-all-nodes', 'ff02::1%eth0'),
    probeTcp('v6-host-listener', `${target.hostLinkLocal}%eth0`, ports.tcp6),
    // A source address from the other network's subnet, routed to the metadata IP.
    `ip addr add ${spoof}/32 dev eth0 && ip route add ${METADATA_IP}/32 via ${gateway} dev eth0 src ${spoof} && probe_http spoof-meta 'http://${METADATA_IP}/spoof'`,
    `ip route del ${METADATA_IP}/32 2>/dev/null; ip addr del ${spoof}/32 dev eth0 2>/dev/null`,
    // 127.0.0.1 sent out of eth0 towards the gateway (the guest's own loopback routes removed for the probe).
    'sysctl -w net.ipv4.conf.all.route_localnet=1 >/dev/null; sysctl -w net.ipv4.conf.eth0.route_localnet=1 >/dev/null',
    'ip route del local 127.0.0.1 dev lo table local 2>/dev/null; ip route del local 127.0.0.0/8 dev lo table local 2>/dev/null',
    `ip route add 127.0.0.1/32 via ${gateway} dev eth0 && probe_tcp loopback-via-gw 127.0.0.1 ${ports.tcpLo}`,
    `ip route del 127.0.0.1/32 via ${gateway} dev eth0 2>/dev/null; ip route add local 127.0.0.0/8 dev lo table local; ip route add local 127.0.0.1 dev lo table local 2>/dev/null`,
  );
  return lines;
}

/**
 * The reuse round's guest (C, on the network A released): its metadata must be its own handler's
 * (A's path `/a-only` is gone), and its network must work.
 */
export function reuseProbes(self: string): string[] {
  return [
    probeHttp('meta-identity', `http://${METADATA_IP}/identity`),
    probeHttp('meta-identity-by-name', 'http://taskcluster/identity'),
    probeHttp('a-only', `http://${METADATA_IP}/a-only`),
    selfTcpProbe(self),
    probeHttp('internet-http', `http://${INTERNET_IP}/probe/internet-http-C`),
  ];
}
