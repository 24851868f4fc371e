// The world around the matrix's guests, inside the test file's sandbox: the "internet" namespace
// behind the uplink, the host's listeners a guest must not reach, and the controls that show
// each of those listeners is up (so a refusal is the firewall's doing, not a dead listener).
//
// Topology (inside the file's sandbox):
//
//   guest A ── tn0 ┐                       ┌ up0 198.51.100.1/24 ══ veth ══ eth0 198.51.100.2/24
//   guest B ── tn1 ┤ sandbox (the "host") ─┘  default route via .2         "internet" namespace:
//   (free)     tn2 ┘  169.254.169.254 on lo                                lo 203.0.113.10/32
//                    listeners: TCP 0.0.0.0, TCP ::, TCP 127.0.0.1,           + 10.99.0.1, 172.16.9.1,
//                    UDP 0.0.0.0                                               192.168.9.1 (private)
//                                                                          HTTP :80, UDP responder
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { contains, formatIPv4, parseCidr, parseIPv4 } from '@tapnet/internal';
import { createInternet, type Netns, waitFor } from '@tapnet/testing';
import type { UdpResponder } from '../src/responders.ts';

export { UPLINK } from '@tapnet/testing';
export const INTERNET_IP = '203.0.113.10';
export const INTERNET_UDP_PORT = 6969;
export const PRIVATE_TARGETS = {
  'private-10': '10.99.0.1',
  'private-172': '172.16.9.1',
  'private-192': '192.168.9.1',
};
export const METADATA_IP = '169.254.169.254';
export const HOST_RECORD = { names: ['artifacts.tapnet.test'], ipv4: INTERNET_IP };
export const SRV_RECORD = {
  service: 'artifacts',
  protocol: 'tcp',
  domain: 'tapnet.test',
  target: 'artifacts.tapnet.test',
  port: 8080,
};
/** Whether `ip` is an address of `cidr`; false when either does not parse. */
export function inSubnet(ip: string, cidr: string): boolean {
  const range = parseCidr(cidr, { bareAddress: true });
  const address = parseIPv4(ip);
  return range !== undefined && address !== undefined && contains(range, address);
}

/** The address `offset` past the network address of `cidr` (`10.0.1.0/24`, 77 → `10.0.1.77`). */
export function hostInSubnet(cidr: string, offset: number): string {
  const range = parseCidr(cidr, { bareAddress: true });
  if (!range)
    throw new TypeError(`Expected a CIDR such as 10.0.1.0/24, got ${JSON.stringify(cidr)}`);
  return formatIPv4(range.base + offset);
}

/** The EUI-64 IPv6 link-local address a device with this MAC would have. */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => Number.parseInt(x, 16));
  const bytes = [(b[0] ?? 0) ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]].map((x) => x ?? 0);
  const groups = [0, 2, 4, 6].map((i) =>
    (((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16),
  );
  return `fe80::${groups.join(':')}`;
}

/** A TCP listener that records who connected. */
export async function tcpListener(
  host: string,
): Promise<{ server: Server; port: number; peers: string[] }> {
  const peers: string[] = [];
  const server = createServer((socket) => {
    // The controls close at once (RST); a guest's nc may too.
    socket.on('error', () => {});
    peers.push((socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
    socket.end('host-tcp-ok\n');
  });
  server.listen(0, host);
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, peers };
}

/** Connects from the sandbox itself: 'ok' or the error code. The positive control. */
export function tcpControl(host: string, port: number, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, ...(localAddress && { localAddress }), timeout: 5000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('ok');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

/** Sends one TFTP read request from the sandbox and waits for the responder to log it. */
export async function udpControl(
  responder: UdpResponder,
  host: string,
  name: string,
): Promise<string> {
  const socket = createSocket('udp4');
  const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${name}\0octet\0`)]);
  try {
    socket.send(rrq, responder.port, host);
    await waitFor(() => responder.received.some((d) => d.name === name), {
      what: `UDP control ${name} to ${host}:${responder.port}`,
      timeout: 5000,
    });
    return 'ok';
  } catch {
    return 'noreply';
  } finally {
    socket.close();
  }
}

export interface InternetHost {
  ns: Netns;
  log: { proto: string; path?: string; name?: string; from: string }[];
}

export async function startInternet(): Promise<InternetHost> {
  // The sandbox's default route goes there: `detectUplink` picks up0, and private ranges would
  // go there too.
  const ns = await createInternet([INTERNET_IP, ...Object.values(PRIVATE_TARGETS)]);
  const log: InternetHost['log'] = [];
  const child = ns.spawn([
    process.execPath,
    join(import.meta.dirname, 'internet.ts'),
    INTERNET_IP,
    String(INTERNET_UDP_PORT),
  ]);
  let buffered = '';
  let ready = false;
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const entry = JSON.parse(line) as InternetHost['log'][number] & { ready?: boolean };
        if (entry.ready) ready = true;
        else log.push(entry);
      } catch {
        // not ours
      }
    }
  });
  await waitFor(() => ready, {
    what: 'the internet host ready',
    timeout: 20_000,
    seen: () => buffered,
  });
  return { ns, log };
}
