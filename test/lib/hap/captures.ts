/**
 * Reads the pyatv 0.16.1 captures (test/fixtures/pyatv-0.16.1, see its README) and digs the
 * HAP pairing TLVs out of each transport with the least parsing that works: a protobuf field
 * walk for MRP, the `_pd` bytes of Companion's OPACK dicts, HTTP bodies for AirPlay. The real
 * MRP/Companion/AirPlay codecs belong to other modules; these helpers only serve the tests.
 */
import { decodeTlv8, Tlv8Type } from '../../../lib/codecs/tlv8';
import { stream, type Chunk, type Direction } from '../../support/pyatv-captures';

export { readCapture, readKeys, stream, type Chunk, type Direction, type KeysJson } from '../../support/pyatv-captures';

/** The fake device's fixed long-term key seed (32 × 0xAA), also its SRP b and X25519 key. */
export const FAKE_DEVICE_SEED = Buffer.alloc(32, 0xaa);
export const FAKE_DEVICE_ID = '5D797FD3-3538-427E-A47B-A32FC6CF3A6A';

export function readVarint(buf: Buffer, offset: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let at = offset;
  for (;;) {
    if (at >= buf.length) throw new Error(`truncated varint at ${offset}`);
    const byte = buf[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: at };
    shift += 7;
  }
}

/** Splits a varint-length-prefixed stream (MRP framing) into message bodies. */
export function splitVarintFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const { value, next } = readVarint(buf, offset);
    out.push(buf.subarray(next, next + value));
    offset = next + value;
  }
  return out;
}

export interface ProtoField {
  field: number;
  wire: number;
  /** Varint value, or the bytes of a length-delimited field. */
  value: number | Buffer;
}

/** A flat walk over one protobuf message's fields (no nesting, no schema). */
export function protoFields(buf: Buffer): ProtoField[] {
  const fields: ProtoField[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const key = readVarint(buf, offset);
    const field = Math.floor(key.value / 8);
    const wire = key.value % 8;
    offset = key.next;
    if (wire === 0) {
      const v = readVarint(buf, offset);
      fields.push({ field, wire, value: v.value });
      offset = v.next;
    } else if (wire === 2) {
      const len = readVarint(buf, offset);
      fields.push({ field, wire, value: buf.subarray(len.next, len.next + len.value) });
      offset = len.next + len.value;
    } else if (wire === 5) {
      fields.push({ field, wire, value: buf.subarray(offset, offset + 4) });
      offset += 4;
    } else if (wire === 1) {
      fields.push({ field, wire, value: buf.subarray(offset, offset + 8) });
      offset += 8;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return fields;
}

/** ProtocolMessage field holding the CryptoPairingMessage extension (pyatv: protocols/mrp/messages.py). */
const CRYPTO_PAIRING_EXTENSION = 39;

/** The pairingData (CryptoPairingMessage field 1) of an MRP ProtocolMessage, if it is one. */
export function mrpPairingData(message: Buffer): Buffer | undefined {
  const ext = protoFields(message).find((f) => f.field === CRYPTO_PAIRING_EXTENSION && f.wire === 2);
  if (!ext) return undefined;
  const data = protoFields(ext.value as Buffer).find((f) => f.field === 1 && f.wire === 2);
  return data?.value as Buffer | undefined;
}

/**
 * An MRP connection split into its plaintext part (pairing TLVs) and the encrypted frames
 * after pair-verify. Encryption starts after our verify M3 (c2s) and the device's verify M4
 * (s2c), recognised by their TLVs: State 3 without a Proof, State 4 without a Proof.
 */
export function mrpConnection(chunks: Chunk[], conn = 1): Record<Direction, { pairing: Buffer[]; encrypted: Buffer[] }> {
  const split = (dir: Direction) => {
    const pairing: Buffer[] = [];
    const encrypted: Buffer[] = [];
    const lastPlainState = dir === 'c2s' ? 3 : 4;
    for (const frame of splitVarintFrames(stream(chunks, dir, conn))) {
      if (encrypted.length > 0 || (pairing.length > 0 && isVerifyEnd(pairing[pairing.length - 1]!, lastPlainState))) {
        encrypted.push(frame);
        continue;
      }
      const data = mrpPairingData(frame);
      if (data) pairing.push(data);
    }
    return { pairing, encrypted };
  };
  return { c2s: split('c2s'), s2c: split('s2c') };
}

function isVerifyEnd(tlv: Buffer, state: number): boolean {
  const map = decodeTlv8(tlv);
  return map.get(Tlv8Type.State)?.[0] === state && !map.has(Tlv8Type.Proof) && !map.has(Tlv8Type.Salt);
}

/** Every pairing TLV of an MRP capture connection, per direction, in order. */
export function mrpPairingTlvs(chunks: Chunk[], conn = 1): { c2s: Buffer[]; s2c: Buffer[] } {
  const c = mrpConnection(chunks, conn);
  return { c2s: c.c2s.pairing, s2c: c.s2c.pairing };
}

export interface CompanionFrame {
  type: number;
  header: Buffer;
  body: Buffer;
}

export function splitCompanionFrames(buf: Buffer): CompanionFrame[] {
  const frames: CompanionFrame[] = [];
  let offset = 0;
  while (offset + 4 <= buf.length) {
    const length = buf.readUIntBE(offset + 1, 3);
    frames.push({ type: buf[offset]!, header: buf.subarray(offset, offset + 4), body: buf.subarray(offset + 4, offset + 4 + length) });
    offset += 4 + length;
  }
  return frames;
}

/** The `_pd` bytes of a Companion OPACK pairing dict (string key 0x43 "_pd", then a bytes object). */
export function companionPairingData(opack: Buffer): Buffer | undefined {
  const key = opack.indexOf(Buffer.from([0x43, 0x5f, 0x70, 0x64]));
  if (key < 0) return undefined;
  const at = key + 4;
  const tag = opack[at]!;
  if (tag >= 0x70 && tag <= 0x90) return opack.subarray(at + 1, at + 1 + tag - 0x70);
  if (tag === 0x91) return opack.subarray(at + 2, at + 2 + opack[at + 1]!);
  if (tag === 0x92) return opack.subarray(at + 3, at + 3 + opack.readUInt16LE(at + 1));
  throw new Error(`unexpected OPACK tag 0x${tag.toString(16)} for _pd`);
}

/** Pairing TLVs of a Companion connection: frame types 3..6 are PS_Start/PS_Next/PV_Start/PV_Next. */
export function companionPairingTlvs(chunks: Chunk[], conn = 1): { c2s: Buffer[]; s2c: Buffer[] } {
  const pick = (dir: Direction) =>
    splitCompanionFrames(stream(chunks, dir, conn))
      .filter((f) => f.type >= 3 && f.type <= 6)
      .map((f) => companionPairingData(f.body))
      .filter((d): d is Buffer => d !== undefined);
  return { c2s: pick('c2s'), s2c: pick('s2c') };
}

export interface HttpMessage {
  startLine: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits an HTTP/1.1 byte stream into messages (Content-Length bodies only). */
export function splitHttp(buf: Buffer): HttpMessage[] {
  const out: HttpMessage[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const end = buf.indexOf('\r\n\r\n', offset, 'latin1');
    if (end < 0) throw new Error('truncated HTTP head');
    const lines = buf.toString('latin1', offset, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? '0');
    out.push({ startLine: lines[0]!, headers, body: buf.subarray(end + 4, end + 4 + length) });
    offset = end + 4 + length;
  }
  return out;
}
