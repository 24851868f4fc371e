import { formatIPv4, parseIPv4 } from '@tapnet/internal';

/** DHCP message types (option 53). */
export const DhcpType = Object.freeze({
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
});

const MAGIC = 0x63825363;
const HEADER = 236;

export interface DhcpMessageInput {
  /** 1: request (client to server), 2: reply. */
  op?: 1 | 2;
  type: number;
  xid: number;
  /** Hardware type (1: Ethernet) and address as dnsmasq records it. */
  htype: number;
  chaddr: Buffer;
  ciaddr?: string;
  /** Ask the server to broadcast its reply (the client has no address yet). */
  broadcast?: boolean;
  /** Further options, code → value (53 is set from `type`). */
  options?: ReadonlyMap<number, Buffer>;
}

/** A BOOTP/DHCP message (RFC 2131) as bytes. Pure. */
export function encodeDhcpMessage(m: DhcpMessageInput): Buffer {
  if (m.chaddr.length > 16)
    throw new RangeError(`Expected a hardware address of at most 16 bytes, got ${m.chaddr.length}`);
  const options: Buffer[] = [Buffer.from([53, 1, m.type])];
  for (const [code, value] of m.options ?? []) {
    if (code === 53) continue;
    options.push(Buffer.from([code, value.length]), value);
  }
  options.push(Buffer.from([255]));
  const packet = Buffer.alloc(HEADER + 4);
  packet[0] = m.op ?? 1;
  packet[1] = m.htype;
  packet[2] = m.chaddr.length;
  packet.writeUInt32BE(m.xid >>> 0, 4);
  if (m.broadcast) packet.writeUInt16BE(0x8000, 10);
  packet.writeUInt32BE(parseIPv4(m.ciaddr ?? '0.0.0.0') ?? 0, 12);
  m.chaddr.copy(packet, 28);
  packet.writeUInt32BE(MAGIC, HEADER);
  return Buffer.concat([packet, ...options]);
}

export interface DhcpMessage {
  op: number;
  xid: number;
  htype: number;
  chaddr: Buffer;
  ciaddr: string;
  yiaddr: string;
  type: number | undefined;
  options: Map<number, Buffer>;
}

/** Parses a DHCP message; undefined when it is not one. Pure. */
export function decodeDhcpMessage(packet: Buffer): DhcpMessage | undefined {
  if (packet.length < HEADER + 4 || packet.readUInt32BE(HEADER) !== MAGIC) return undefined;
  const hlen = Math.min(packet[2]!, 16);
  const options = new Map<number, Buffer>();
  let at = HEADER + 4;
  while (at < packet.length) {
    const code = packet[at]!;
    if (code === 255) break;
    if (code === 0) {
      at += 1;
      continue;
    }
    const length = packet[at + 1];
    if (length === undefined || at + 2 + length > packet.length) return undefined;
    const value = packet.subarray(at + 2, at + 2 + length);
    // RFC 3396: an option given more than once is the concatenation of its parts.
    const previous = options.get(code);
    options.set(code, previous ? Buffer.concat([previous, value]) : Buffer.from(value));
    at += 2 + length;
  }
  const type = options.get(53)?.[0];
  return {
    op: packet[0]!,
    xid: packet.readUInt32BE(4),
    htype: packet[1]!,
    chaddr: Buffer.from(packet.subarray(28, 28 + hlen)),
    ciaddr: formatIPv4(packet.readUInt32BE(12)),
    yiaddr: formatIPv4(packet.readUInt32BE(16)),
    type,
    options,
  };
}

/** An IPv4 address as the 4 bytes of a DHCP option value. */
export function ipv4Bytes(ip: string): Buffer {
  const n = parseIPv4(ip);
  if (n === undefined) throw new RangeError(`Expected an IPv4 address, got ${JSON.stringify(ip)}`);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(n);
  return bytes;
}
