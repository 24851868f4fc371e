/** Just enough of RFC 1035 to ask dnsmasq one question and read its answer. */

export const RecordType = Object.freeze({ A: 1, AAAA: 28, SRV: 33 });

export function encodeQuery(id: number, name: string, type: number): Buffer {
  const labels = name.split('.').filter(Boolean);
  const question = Buffer.alloc(labels.reduce((n, l) => n + 1 + Buffer.byteLength(l), 0) + 5);
  let at = 0;
  for (const label of labels) {
    at = question.writeUInt8(Buffer.byteLength(label), at);
    at += question.write(label, at, 'ascii');
  }
  at = question.writeUInt8(0, at);
  at = question.writeUInt16BE(type, at);
  question.writeUInt16BE(1, at); // class IN
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // recursion desired
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, question]);
}

export type DnsAnswer =
  | { type: 'A'; name: string; address: string; ttl: number }
  | { type: 'AAAA'; name: string; address: string; ttl: number }
  | {
      type: 'SRV';
      name: string;
      priority: number;
      weight: number;
      port: number;
      target: string;
      ttl: number;
    }
  | { type: 'other'; name: string; rrtype: number; ttl: number };

export interface DnsResponse {
  id: number;
  rcode: number;
  answers: DnsAnswer[];
}

function readName(buf: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = start;
  let end = -1;
  for (let hops = 0; hops < 128; hops++) {
    const len = buf.readUInt8(at);
    if (len === 0) {
      if (end < 0) end = at + 1;
      return { name: labels.join('.'), end };
    }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = at + 2;
      at = buf.readUInt16BE(at) & 0x3fff;
      continue;
    }
    labels.push(buf.toString('ascii', at + 1, at + 1 + len));
    at += 1 + len;
  }
  throw new RangeError('DNS name with too many labels or a pointer loop');
}

export function decodeResponse(buf: Buffer): DnsResponse {
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new RangeError('not a DNS response');
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  let at = 12;
  for (let i = 0; i < qdcount; i++) at = readName(buf, at).end + 4;
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < ancount; i++) {
    const { name, end } = readName(buf, at);
    const rrtype = buf.readUInt16BE(end);
    const ttl = buf.readUInt32BE(end + 4);
    const rdlength = buf.readUInt16BE(end + 8);
    const rdata = end + 10;
    if (rdata + rdlength > buf.length) throw new RangeError('truncated DNS answer');
    if (rrtype === RecordType.A && rdlength === 4) {
      answers.push({
        type: 'A',
        name,
        address: [...buf.subarray(rdata, rdata + 4)].join('.'),
        ttl,
      });
    } else if (rrtype === RecordType.AAAA && rdlength === 16) {
      const groups: string[] = [];
      for (let g = 0; g < 8; g++) groups.push(buf.readUInt16BE(rdata + g * 2).toString(16));
      answers.push({ type: 'AAAA', name, address: groups.join(':'), ttl });
    } else if (rrtype === RecordType.SRV) {
      answers.push({
        type: 'SRV',
        name,
        priority: buf.readUInt16BE(rdata),
        weight: buf.readUInt16BE(rdata + 2),
        port: buf.readUInt16BE(rdata + 4),
        target: readName(buf, rdata + 6).name,
        ttl,
      });
    } else {
      answers.push({ type: 'other', name, rrtype, ttl });
    }
    at = rdata + rdlength;
  }
  return { id, rcode: flags & 0xf, answers };
}
