/**
 * DNS messages as DNS-SD receives them (RFC 1035 §4, RFC 6762): a bounded decoder for
 * untrusted packets, pure, no I/O. We decode everything that arrives from the network here
 * rather than with dns-packet, whose decoder has no bound: a TXT record whose lengths lie
 * makes it read past the end, its offset turns NaN and every following record of a 65535
 * count is decoded again from offset 0, so one 24-byte packet costs a third of a second.
 *
 * The bounds, each checked before the work it guards:
 * - the header's counts must fit the packet (a question takes at least 5 bytes, a record
 *   11), and a packet is at most 9000 bytes (RFC 6762 §17);
 * - every read stays inside the packet, every record's data inside its RDLENGTH, and a TXT
 *   record's strings fill its data exactly;
 * - a name is at most 255 bytes, a compression pointer must point before the label run it
 *   interrupts (so a name cannot loop), and a name follows at most 127 pointers;
 * - at most `MAX_DECODED_QUESTIONS` questions and `MAX_DECODED_RECORDS` records are decoded;
 *   what a packet holds beyond that is ignored (no DNS-SD answer comes near).
 * Anything that fails a check is a `DecodeError`: the caller drops the packet at once.
 */
import { DecodeError } from '../errors';

/** RFC 6762 §17: an mDNS message, headers included, never exceeds 9000 bytes. */
export const DNS_MAX_MESSAGE_BYTES = 9000;
export const DNS_HEADER_BYTES = 12;
/** Root name (1) + type (2) + class (2). */
const MIN_QUESTION_BYTES = 5;
/** Root name (1) + type, class, TTL, RDLENGTH (10). */
const MIN_RECORD_BYTES = 11;
export const MAX_DECODED_QUESTIONS = 64;
export const MAX_DECODED_RECORDS = 256;
/** RFC 1035 §2.3.4: 255 bytes in wire form, so at most 127 labels. */
const MAX_NAME_BYTES = 255;
/** Compression pointers followed per name: one per label is the most a real name needs. */
const MAX_NAME_POINTERS = 127;

/** Top bit of a question's class: the querier asks for a unicast answer (RFC 6762 §5.4). */
const QU_BIT = 0x8000;
/** Top bit of a record's class: cache-flush (RFC 6762 §10.2). */
const FLUSH_BIT = 0x8000;
const RESPONSE_FLAG = 0x8000;

export const DNS_CLASS_IN = 1;
export const DNS_CLASS_ANY = 255;

/** Record type numbers and the names dns-packet gives them (so decoded and encoded agree). */
const TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  12: 'PTR',
  13: 'HINFO',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  41: 'OPT',
  47: 'NSEC',
  255: 'ANY',
};

export function dnsTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `UNKNOWN_${type}`;
}

export interface DnsQuestion {
  name: string;
  /** `PTR`, `SRV`, `ANY`, ... or `UNKNOWN_<n>`. */
  type: string;
  /** The class without the QU bit (1 = IN, 255 = ANY). */
  class: number;
  unicastResponse: boolean;
}

export interface DnsSrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** A resource record: `data` by type (A: dotted quad, PTR: name, SRV, TXT: its strings; raw bytes for every other type). */
export type DnsRecord = DnsRecordBase &
  ({ type: 'A'; data: string } | { type: 'PTR'; data: string } | { type: 'SRV'; data: DnsSrvData } | { type: 'TXT'; data: Buffer[] } | { type: string; data: Buffer });

interface DnsRecordBase {
  name: string;
  /** The class without the cache-flush bit. */
  class: number;
  flush: boolean;
  /** Seconds. */
  ttl: number;
}

export interface DnsMessage {
  id: number;
  /** The flags word as sent (QR, opcode, AA, TC, RD, RA, Z, RCODE). */
  flags: number;
  type: 'query' | 'response';
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** Decodes one DNS message; any violation of the bounds above is a `DecodeError`. */
export function decodeDnsMessage(input: Uint8Array): DnsMessage {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < DNS_HEADER_BYTES) throw new DecodeError(`a DNS message needs a ${DNS_HEADER_BYTES}-byte header, got ${buf.length} bytes`);
  if (buf.length > DNS_MAX_MESSAGE_BYTES) throw new DecodeError(`a ${buf.length}-byte DNS message is larger than mDNS allows (${DNS_MAX_MESSAGE_BYTES})`);
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const qdcount = buf.readUInt16BE(4);
  const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  const needed = qdcount * MIN_QUESTION_BYTES + (counts[0] + counts[1] + counts[2]) * MIN_RECORD_BYTES;
  if (needed > buf.length - DNS_HEADER_BYTES) {
    throw new DecodeError(
      `the DNS header claims ${qdcount} questions and ${counts[0] + counts[1] + counts[2]} records, which need at least ${needed} bytes; ${buf.length - DNS_HEADER_BYTES} follow`,
    );
  }

  const reader = { offset: DNS_HEADER_BYTES };
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < Math.min(qdcount, MAX_DECODED_QUESTIONS); i++) {
    const name = readName(buf, reader);
    need(buf, reader.offset, 4, 'question');
    const type = buf.readUInt16BE(reader.offset);
    const cls = buf.readUInt16BE(reader.offset + 2);
    reader.offset += 4;
    questions.push({ name, type: dnsTypeName(type), class: cls & ~QU_BIT, unicastResponse: (cls & QU_BIT) !== 0 });
  }
  const sections: DnsRecord[][] = [[], [], []];
  // Questions past the cap still have to be stepped over to reach the records.
  let budget = qdcount > MAX_DECODED_QUESTIONS ? 0 : MAX_DECODED_RECORDS;
  for (let s = 0; s < 3 && budget > 0; s++) {
    const n = Math.min(counts[s]!, budget);
    for (let i = 0; i < n; i++) sections[s]!.push(readRecord(buf, reader));
    budget -= n;
  }
  return {
    id,
    flags,
    type: flags & RESPONSE_FLAG ? 'response' : 'query',
    questions,
    answers: sections[0]!,
    authorities: sections[1]!,
    additionals: sections[2]!,
  };
}

function need(buf: Buffer, offset: number, bytes: number, what: string): void {
  if (offset + bytes > buf.length) throw new DecodeError(`DNS ${what} at offset ${offset} runs past the end of the packet`, { offset });
}

/**
 * A (possibly compressed) name at `reader.offset`, which moves past it. `end` bounds the
 * labels read in place (a record's data); a pointer may still lead anywhere earlier.
 */
function readName(buf: Buffer, reader: { offset: number }, end = buf.length): string {
  const labels: string[] = [];
  let at = reader.offset;
  /** Where the label run being read started: a pointer must lead before it. */
  let runStart = at;
  let jumped = false;
  let pointers = 0;
  let length = 1;
  for (;;) {
    if (at >= (jumped ? buf.length : end)) throw new DecodeError(`DNS name at offset ${reader.offset} runs past its end`, { offset: at });
    const len = buf[at]!;
    if (len === 0) {
      if (!jumped) reader.offset = at + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (at + 2 > (jumped ? buf.length : end)) throw new DecodeError(`DNS name pointer at offset ${at} is cut off`, { offset: at });
      const target = buf.readUInt16BE(at) & 0x3fff;
      if (target >= runStart) throw new DecodeError(`DNS name pointer at offset ${at} does not point backwards`, { offset: at });
      if (++pointers > MAX_NAME_POINTERS) throw new DecodeError(`DNS name at offset ${reader.offset} chains more than ${MAX_NAME_POINTERS} pointers`, { offset: at });
      if (!jumped) reader.offset = at + 2;
      jumped = true;
      at = runStart = target;
      continue;
    }
    if (kind !== 0) throw new DecodeError(`DNS label type 0x${kind.toString(16)} at offset ${at} is not supported`, { offset: at });
    length += len + 1;
    if (length > MAX_NAME_BYTES) throw new DecodeError(`DNS name at offset ${reader.offset} is longer than ${MAX_NAME_BYTES} bytes`, { offset: at });
    if (at + 1 + len > (jumped ? buf.length : end)) throw new DecodeError(`DNS label at offset ${at} runs past its end`, { offset: at });
    labels.push(buf.toString('utf8', at + 1, at + 1 + len));
    at += 1 + len;
  }
  return labels.length === 0 ? '.' : labels.join('.');
}

function readRecord(buf: Buffer, reader: { offset: number }): DnsRecord {
  const name = readName(buf, reader);
  need(buf, reader.offset, 10, 'record header');
  const type = buf.readUInt16BE(reader.offset);
  const cls = buf.readUInt16BE(reader.offset + 2);
  const ttl = buf.readUInt32BE(reader.offset + 4);
  const rdlength = buf.readUInt16BE(reader.offset + 8);
  const start = reader.offset + 10;
  need(buf, start, rdlength, `${dnsTypeName(type)} record data`);
  const end = start + rdlength;
  reader.offset = end;
  const base = { name, class: cls & ~FLUSH_BIT, flush: (cls & FLUSH_BIT) !== 0, ttl };
  const whole = (what: string, consumed: number): void => {
    if (consumed !== end) throw new DecodeError(`DNS ${what} record at offset ${start} does not fill its ${rdlength} bytes of data`, { offset: start });
  };
  switch (type) {
    case 1: {
      if (rdlength !== 4) throw new DecodeError(`DNS A record at offset ${start} has ${rdlength} bytes of data, not 4`, { offset: start });
      return { ...base, type: 'A', data: `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}` };
    }
    case 12: {
      const at = { offset: start };
      const data = readName(buf, at, end);
      whole('PTR', at.offset);
      return { ...base, type: 'PTR', data };
    }
    case 33: {
      if (rdlength < 7) throw new DecodeError(`DNS SRV record at offset ${start} is too short`, { offset: start });
      const at = { offset: start + 6 };
      const target = readName(buf, at, end);
      whole('SRV', at.offset);
      return {
        ...base,
        type: 'SRV',
        data: { priority: buf.readUInt16BE(start), weight: buf.readUInt16BE(start + 2), port: buf.readUInt16BE(start + 4), target },
      };
    }
    case 16: {
      const strings: Buffer[] = [];
      let at = start;
      while (at < end) {
        const len = buf[at]!;
        if (at + 1 + len > end) throw new DecodeError(`DNS TXT string at offset ${at} runs past its record`, { offset: at });
        strings.push(buf.subarray(at + 1, at + 1 + len));
        at += 1 + len;
      }
      return { ...base, type: 'TXT', data: strings };
    }
    default:
      return { ...base, type: dnsTypeName(type), data: buf.subarray(start, end) };
  }
}
