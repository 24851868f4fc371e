/**
 * LLMNR (RFC 4795) queries in, answers out: pure parsing and building, no sockets.
 *
 * An LLMNR message has the DNS wire format with a different flags word (QR, OPCODE, C, TC, T).
 * The responder answers only names it owns (a fixed table built from the pool's options); a
 * name a guest sends is never stored or published.
 */

export const LLMNR_PORT = 5355;
export const LLMNR_GROUP = '224.0.0.252';
/** RFC 4795 section 2.8: the default TTL of answers is 30 s. */
export const LLMNR_ANSWER_TTL = 30;

const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_ANY = 255;
const CLASS_IN = 1;
const CLASS_ANY = 255;
const HEADER_LENGTH = 12;
/** A query is one question: a name of at most 255 bytes, type and class. */
const MAX_QUERY_LENGTH = 512;

export interface LlmnrQuestion {
  id: number;
  /** As sent (case kept, for the echo); matched case-insensitively. */
  name: string;
  /** Bytes of the question section, copied into the answer verbatim. */
  question: Buffer;
  type: number;
  class: number;
}

/** Names the responder owns, lower-cased, each with its addresses. */
export interface LlmnrRecords {
  readonly names: ReadonlyMap<
    string,
    { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] }
  >;
}

export interface LlmnrRecordInput {
  names: readonly string[];
  ipv4?: string | undefined;
  ipv6?: string | undefined;
}

/** Builds the owned-name table. Names are case-folded; later entries add addresses. Pure. */
export function buildLlmnrRecords(entries: readonly LlmnrRecordInput[]): LlmnrRecords {
  const names = new Map<string, { ipv4: string[]; ipv6: string[] }>();
  for (const entry of entries) {
    for (const raw of entry.names) {
      const name = raw.replace(/\.$/, '').toLowerCase();
      let record = names.get(name);
      if (!record) {
        record = { ipv4: [], ipv6: [] };
        names.set(name, record);
      }
      if (entry.ipv4 !== undefined && !record.ipv4.includes(entry.ipv4))
        record.ipv4.push(entry.ipv4);
      if (entry.ipv6 !== undefined && !record.ipv6.includes(entry.ipv6))
        record.ipv6.push(entry.ipv6);
    }
  }
  return { names };
}

/**
 * Reads an LLMNR query; `undefined` for anything that is not one well-formed standard query
 * (responses, other opcodes, TC set, not exactly one question, answers or authority records
 * present as RFC 4795 section 2.1.1 requires responders to discard, compression in the
 * question, trailing garbage, oversize). Never throws. Pure.
 */
export function parseLlmnrQuery(buf: Buffer): LlmnrQuestion | undefined {
  if (buf.length < HEADER_LENGTH + 5 || buf.length > MAX_QUERY_LENGTH) return undefined;
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // QR: a response
  if ((flags >> 11) & 0xf) return undefined; // OPCODE other than standard query
  if (flags & 0x0200) return undefined; // TC: we would need TCP for the rest
  if (buf.readUInt16BE(4) !== 1) return undefined;
  if (buf.readUInt16BE(6) !== 0 || buf.readUInt16BE(8) !== 0) return undefined;
  // ARCOUNT may carry an EDNS OPT record; it is read past, not interpreted.
  const labels: string[] = [];
  let at = HEADER_LENGTH;
  let nameBytes = 0;
  for (;;) {
    if (at >= buf.length) return undefined;
    const len = buf.readUInt8(at);
    if (len === 0) break;
    if (len > 63) return undefined; // a compression pointer or a reserved label type
    nameBytes += len + 1;
    if (nameBytes > 254 || at + 1 + len > buf.length) return undefined;
    labels.push(buf.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  if (labels.length === 0 || at + 5 > buf.length) return undefined;
  const type = buf.readUInt16BE(at + 1);
  const klass = buf.readUInt16BE(at + 3);
  const end = at + 5;
  if (buf.readUInt16BE(10) === 0 && end !== buf.length) return undefined;
  return {
    id: buf.readUInt16BE(0),
    name: labels.join('.'),
    question: Buffer.from(buf.subarray(HEADER_LENGTH, end)),
    type,
    class: klass,
  };
}

/** ASCII-only case folding, as DNS compares names (RFC 4343); other bytes must match exactly. */
function foldName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * The answer to `query`, or `undefined` when the responder must stay silent: a name it does
 * not own, or a class other than IN/ANY. A name it owns with no record of the asked type
 * gets an empty NOERROR answer (RFC 4795 section 2.1.1), so the querier stops waiting. Pure.
 */
export function answerLlmnrQuery(query: LlmnrQuestion, records: LlmnrRecords): Buffer | undefined {
  if (query.class !== CLASS_IN && query.class !== CLASS_ANY) return undefined;
  const record = records.names.get(foldName(query.name));
  if (!record) return undefined;
  const rdata: [type: number, data: Buffer][] = [];
  if (query.type === TYPE_A || query.type === TYPE_ANY) {
    for (const ip of record.ipv4) rdata.push([TYPE_A, Buffer.from(ip.split('.').map(Number))]);
  }
  if (query.type === TYPE_AAAA || query.type === TYPE_ANY) {
    for (const ip of record.ipv6) rdata.push([TYPE_AAAA, ipv6Bytes(ip)]);
  }
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(query.id, 0);
  header.writeUInt16BE(0x8000, 2); // QR; OPCODE 0, C/TC/T clear, RCODE 0
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rdata.length, 6);
  const answers = rdata.map(([type, data]) => {
    const rr = Buffer.alloc(12 + data.length);
    rr.writeUInt16BE(0xc000 | HEADER_LENGTH, 0); // the question's name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(LLMNR_ANSWER_TTL, 6);
    rr.writeUInt16BE(data.length, 10);
    data.copy(rr, 12);
    return rr;
  });
  return Buffer.concat([header, query.question, ...answers]);
}

function ipv6Bytes(address: string): Buffer {
  // A dotted IPv4 tail (`::ffff:192.0.2.1`) becomes its two groups.
  const ip = address.replace(
    /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
    (_, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const [head = '', tail] = ip.split('::');
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(g, i * 2);
  return out;
}
