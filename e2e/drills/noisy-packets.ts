// The few DNS and DHCP messages the noisy-neighbour drill sends, built and read by value (no
// sockets here): an A query, a canned A answer (the stand-in upstream's), and the DHCP client's
// DISCOVER / REQUEST with the reply's type, offered address and server.

/** A DNS query for `name` (type A, class IN, recursion desired) with transaction id `id`. */
export function dnsQuery(id: number, name: string): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  const labels = name
    .split('.')
    .filter(Boolean)
    .flatMap((label) => [Buffer.from([label.length]), Buffer.from(label, 'ascii')]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

export interface DnsReply {
  id: number;
  rcode: number;
  answers: number;
}

/** Id, rcode and answer count of a DNS reply; undefined for anything too short to be one. */
export function readDnsReply(message: Buffer): DnsReply | undefined {
  if (message.length < 12 || (message.readUInt8(2) & 0x80) === 0) return undefined;
  return {
    id: message.readUInt16BE(0),
    rcode: message.readUInt16BE(2) & 0xf,
    answers: message.readUInt16BE(6),
  };
}

/** The answer an upstream gives `query`: the question echoed, one A record `address`, TTL 0. */
export function dnsAnswer(query: Buffer, address: string): Buffer {
  const rdata = Buffer.from(address.split('.').map(Number));
  const answer = Buffer.concat([
    Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]), // name → question, A, IN, TTL 0
    rdata,
  ]);
  const reply = Buffer.concat([query, answer]);
  reply.writeUInt16BE(0x8180, 2); // response, RD, RA, rcode 0
  reply.writeUInt16BE(1, 6); // ANCOUNT
  return reply;
}

export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, ACK: 5, NAK: 6 } as const;

export interface DhcpRequestFields {
  type: number;
  xid: number;
  /** `aa:bb:cc:dd:ee:ff` */
  mac: string;
  /** Option 50, for a REQUEST. */
  requestedIp?: string;
  /** Option 54, for a REQUEST. */
  serverId?: string;
}

const ipBytes = (ip: string) => Buffer.from(ip.split('.').map(Number));
const ipText = (b: Buffer, at: number) => [0, 1, 2, 3].map((i) => b[at + i]).join('.');

/**
 * A client's BOOTREQUEST with the broadcast flag set: a client without an address asks the
 * server to broadcast its answer, which is how the reply reaches a client whose MAC (`chaddr`)
 * is not its interface's.
 */
export function dhcpRequest(fields: DhcpRequestFields): Buffer {
  const fixed = Buffer.alloc(240);
  fixed.writeUInt8(1, 0); // BOOTREQUEST
  fixed.writeUInt8(1, 1); // Ethernet
  fixed.writeUInt8(6, 2); // MAC length
  fixed.writeUInt32BE(fields.xid >>> 0, 4);
  fixed.writeUInt16BE(0x8000, 10); // broadcast
  Buffer.from(fields.mac.split(':').map((h) => Number.parseInt(h, 16))).copy(fixed, 28);
  fixed.writeUInt32BE(0x63825363, 236); // magic cookie
  const options: number[] = [53, 1, fields.type];
  if (fields.requestedIp) options.push(50, 4, ...ipBytes(fields.requestedIp));
  if (fields.serverId) options.push(54, 4, ...ipBytes(fields.serverId));
  options.push(55, 3, 1, 3, 6, 255); // ask for mask, router, DNS; end
  const packet = Buffer.concat([fixed, Buffer.from(options)]);
  // BOOTP's minimum message size; some servers drop shorter ones.
  return packet.length >= 300 ? packet : Buffer.concat([packet, Buffer.alloc(300 - packet.length)]);
}

export interface DhcpReply {
  type: number;
  xid: number;
  mac: string;
  yiaddr: string;
  serverId?: string;
}

/** Type, transaction, client MAC, offered address and server of a BOOTREPLY; else undefined. */
export function readDhcpReply(message: Buffer): DhcpReply | undefined {
  if (message.length < 240 || message[0] !== 2 || message.readUInt32BE(236) !== 0x63825363)
    return undefined;
  let type: number | undefined;
  let serverId: string | undefined;
  for (let at = 240; at < message.length; ) {
    const code = message[at] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      at++;
      continue;
    }
    const length = message[at + 1] ?? 0;
    if (code === 53) type = message[at + 2];
    if (code === 54 && length === 4) serverId = ipText(message, at + 2);
    at += 2 + length;
  }
  if (type === undefined) return undefined;
  const mac = [...message.subarray(28, 34)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return {
    type,
    xid: message.readUInt32BE(4),
    mac,
    yiaddr: ipText(message, 16),
    ...(serverId ? { serverId } : {}),
  };
}

/** A random locally administered unicast MAC (what a starvation tool makes up per request). */
export function randomMac(random: () => number = Math.random): string {
  const bytes = Array.from({ length: 6 }, () => Math.floor(random() * 256));
  bytes[0] = ((bytes[0] ?? 0) & 0xfc) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? Number.NaN;
}
