/**
 * TLV8, the type-length-value format of HAP pairing (pyatv: auth/hap_srp.py): pure functions, no I/O.
 *
 * Each item is a 1-byte type, a 1-byte length and that many value bytes. A value longer than
 * 255 bytes travels as consecutive items of the same type (every fragment but the last holds
 * 255 bytes) and is joined again on read. The type and error tables below are the only copy
 * in the project; pairing code imports them.
 */
import { DecodeError, InvalidArgumentError, ProtocolError } from '../errors';

/** TLV item types used by HAP pair-setup / pair-verify (0x11 and 0x13 are Apple additions). */
export const Tlv8Type = {
  Method: 0x00,
  Identifier: 0x01,
  Salt: 0x02,
  PublicKey: 0x03,
  Proof: 0x04,
  EncryptedData: 0x05,
  /** Called SeqNo by pyatv: the pairing step M1..M6. */
  State: 0x06,
  Error: 0x07,
  BackOff: 0x08,
  Certificate: 0x09,
  Signature: 0x0a,
  Permissions: 0x0b,
  FragmentData: 0x0c,
  FragmentLast: 0x0d,
  /** Apple: an OPACK `{name}` dict naming the controller (AirPlay / Companion pair-setup M5). */
  Name: 0x11,
  /** Apple: pairing flags, see `HapPairingFlag`. */
  Flags: 0x13,
} as const;
export type Tlv8TypeName = keyof typeof Tlv8Type;

/** Values of the Error item (`Tlv8Type.Error`) a device answers with. */
export const Tlv8ErrorCode = {
  Unknown: 1,
  Authentication: 2,
  BackOff: 3,
  MaxPeers: 4,
  MaxTries: 5,
  Unavailable: 6,
  Busy: 7,
} as const;
export type Tlv8ErrorName = keyof typeof Tlv8ErrorCode;

/** Values of the Method item. */
export const HapMethod = {
  PairSetup: 0,
  PairSetupWithAuth: 1,
  PairVerify: 2,
  AddPairing: 3,
  RemovePairing: 4,
  ListPairings: 5,
} as const;

/** Bits of the Flags item. */
export const HapPairingFlag = {
  /** Transient pair-setup: M1..M4 only, session keys come straight from the SRP key. */
  Transient: 0x10,
} as const;

const typeNames = new Map<number, string>(Object.entries(Tlv8Type).map(([name, type]) => [type, name]));
const errorNames = new Map<number, string>(Object.entries(Tlv8ErrorCode).map(([name, code]) => [code, name]));

/** A readable name for a TLV type, e.g. `PublicKey` or `0x42`. */
export function tlv8TypeName(type: number): string {
  return typeNames.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** A readable name for a TLV error code, e.g. `Authentication` or `code 9`. */
export function tlv8ErrorName(code: number): string {
  return errorNames.get(code) ?? `code ${code}`;
}

/** A decoded TLV8 message: type → value, in the order the types first appeared. */
export type Tlv8Map = Map<number, Buffer>;

/** One item of a TLV8 sequence, its fragments already joined. */
export interface Tlv8Item {
  type: number;
  value: Buffer;
}

/** A value to encode: bytes, or an unsigned integer written little-endian in as few bytes as it needs. */
export type Tlv8Value = Uint8Array | number;
export type Tlv8Input = ReadonlyMap<number, Tlv8Value> | ReadonlyArray<readonly [number, Tlv8Value]>;

const MAX_FRAGMENT = 255;

function valueBytes(type: number, value: Tlv8Value): Buffer {
  if (typeof value !== 'number') return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new InvalidArgumentError(`TLV8 ${tlv8TypeName(type)}: integer values must be 0..2^32-1, got ${value}`);
  }
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.push(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return Buffer.from(bytes);
}

/**
 * Encodes items in the given order. Long values are split into 255-byte fragments; an empty
 * value is written as a zero-length item (HAP uses that as a separator).
 */
export function encodeTlv8(input: Tlv8Input): Buffer {
  const entries = input instanceof Map ? [...input.entries()] : (input as ReadonlyArray<readonly [number, Tlv8Value]>);
  const parts: Buffer[] = [];
  for (const [type, value] of entries) {
    if (!Number.isInteger(type) || type < 0 || type > 255) {
      throw new InvalidArgumentError(`TLV8 types are 0..255, got ${type}`);
    }
    const bytes = valueBytes(type, value);
    let offset = 0;
    do {
      const size = Math.min(MAX_FRAGMENT, bytes.length - offset);
      parts.push(Buffer.from([type, size]), bytes.subarray(offset, offset + size));
      offset += size;
    } while (offset < bytes.length);
  }
  return Buffer.concat(parts);
}

/**
 * Decodes a TLV8 sequence into items, joining consecutive same-type fragments. Values of
 * single-fragment items are views into the input. A header or value running past the end of
 * the input is a `DecodeError`.
 */
export function decodeTlv8Items(input: Uint8Array): Tlv8Item[] {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const items: { type: number; parts: Buffer[] }[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < 2) {
      throw new DecodeError(`truncated TLV8 data at offset ${offset}: an item header needs 2 bytes, 1 left`, { offset });
    }
    const type = buf[offset]!;
    const length = buf[offset + 1]!;
    if (length > buf.length - offset - 2) {
      throw new DecodeError(
        `truncated TLV8 item ${tlv8TypeName(type)} at offset ${offset}: declares ${length} bytes, ${buf.length - offset - 2} remain`,
        { offset },
      );
    }
    const value = buf.subarray(offset + 2, offset + 2 + length);
    const last = items[items.length - 1];
    if (last !== undefined && last.type === type) last.parts.push(value);
    else items.push({ type, parts: [value] });
    offset += 2 + length;
  }
  return items.map(({ type, parts }) => ({ type, value: parts.length === 1 ? parts[0]! : Buffer.concat(parts) }));
}

/**
 * Decodes a TLV8 message into a map. A type that appears twice with other items between
 * (not fragments of one value) is a `DecodeError`: no pairing message does that, and keeping
 * either copy would hide a malformed message. Use `decodeTlv8Items` for separator lists.
 */
export function decodeTlv8(input: Uint8Array): Tlv8Map {
  const map: Tlv8Map = new Map();
  for (const { type, value } of decodeTlv8Items(input)) {
    if (map.has(type)) throw new DecodeError(`TLV8 item ${tlv8TypeName(type)} appears twice`);
    map.set(type, value);
  }
  return map;
}

/** The value of `type`, or a `DecodeError` naming the missing item and the message it belongs to. */
export function tlv8Require(map: Tlv8Map, type: number, where: string): Buffer {
  const value = map.get(type);
  if (value === undefined) throw new DecodeError(`${where} lacks the ${tlv8TypeName(type)} item`);
  return value;
}

/** An item read as a little-endian unsigned integer (1..4 bytes), or undefined when absent. */
export function tlv8Uint(map: Tlv8Map, type: number): number | undefined {
  const value = map.get(type);
  if (value === undefined) return undefined;
  if (value.length === 0 || value.length > 4) {
    throw new DecodeError(`TLV8 item ${tlv8TypeName(type)} should be a 1..4 byte integer, has ${value.length} bytes`);
  }
  return value.readUIntLE(0, value.length);
}

/**
 * A pairing message from the other side, decoded; anything that is not TLV8 is a
 * ProtocolError naming the message (`where`, e.g. "pair-setup M2").
 */
export function decodeTlv8Message(message: Uint8Array, where: string): Tlv8Map {
  try {
    return decodeTlv8(message);
  } catch (err) {
    throw new ProtocolError(`${where} is not valid TLV8: ${(err as Error).message}`, { cause: err });
  }
}

/** The pairing step (State item) of a message, or undefined. */
export function tlv8State(map: Tlv8Map): number | undefined {
  return tlv8Uint(map, Tlv8Type.State);
}

/** Throws a ProtocolError unless the message is at pairing step `expected`. */
export function expectTlv8State(map: Tlv8Map, expected: number, where: string): void {
  const state = tlv8State(map);
  if (state !== expected) throw new ProtocolError(`${where}: expected pairing state ${expected}, got ${state ?? 'none'}`);
}

/**
 * A one-line summary for debug logs: numbers for Method, State, Error and BackOff, only byte
 * counts for everything else, so keys and proofs never reach a log.
 */
export function describeTlv8(map: Tlv8Map): string {
  const parts: string[] = [];
  for (const [type, value] of map) {
    const name = tlv8TypeName(type);
    const small = value.length >= 1 && value.length <= 4;
    if (small && (type === Tlv8Type.Method || type === Tlv8Type.State || type === Tlv8Type.Flags)) {
      parts.push(`${name}=${value.readUIntLE(0, value.length)}`);
    } else if (small && type === Tlv8Type.Error) {
      parts.push(`${name}=${tlv8ErrorName(value.readUIntLE(0, value.length))}`);
    } else if (small && type === Tlv8Type.BackOff) {
      parts.push(`${name}=${value.readUIntLE(0, value.length)}s`);
    } else {
      parts.push(`${name}=${value.length}B`);
    }
  }
  return parts.join(', ');
}
