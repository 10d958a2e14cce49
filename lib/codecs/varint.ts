/**
 * Protobuf base-128 varints: 7-bit groups, least significant first, the high bit of each
 * byte set while more follow. MRP prefixes every frame with one (pyatv: protocols/mrp/connection.py).
 *
 * Values are JS numbers, so anything beyond 2^53 - 1 is refused rather than rounded. A
 * protobuf varint is at most 10 bytes; a longer run of continuation bits is a DecodeError,
 * as is a value above the caller's `max` — detected as soon as the bytes read so far prove
 * it, so a stream decoder never waits for (or allocates) a body it will refuse anyway.
 */
import { DecodeError, InvalidArgumentError } from '../errors';

/** The longest varint protobuf allows (a 64-bit value). */
export const VARINT_MAX_BYTES = 10;

export interface VarintRead {
  value: number;
  /** How many bytes the varint took. */
  bytes: number;
}

/** Bytes needed to encode `value`. */
export function varintLength(value: number): number {
  checkEncodable(value);
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

function checkEncodable(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`a varint holds a whole number from 0 to 2^53 - 1, got ${value}`);
  }
}

export function encodeVarint(value: number): Buffer {
  const out = Buffer.allocUnsafe(varintLength(value));
  writeVarint(value, out, 0);
  return out;
}

/** Writes `value` at `offset`; returns the offset after it. `buf` must have room (see varintLength). */
export function writeVarint(value: number, buf: Uint8Array, offset: number): number {
  checkEncodable(value);
  // Division instead of >>> because bitwise operators truncate to 32 bits.
  while (value >= 0x80) {
    buf[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[offset++] = value;
  return offset;
}

/**
 * Reads the varint at `offset`. Returns `undefined` when the input ends before the varint
 * does (a stream decoder then waits for more bytes). Throws a DecodeError for more than ten
 * bytes, a value beyond 2^53 - 1, or a value above `max`.
 */
export function decodeVarint(buf: Uint8Array, offset = 0, max = Number.MAX_SAFE_INTEGER): VarintRead | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < VARINT_MAX_BYTES; i++) {
    const at = offset + i;
    if (at >= buf.length) return undefined;
    const byte = buf[at]!;
    value += (byte & 0x7f) * scale;
    if (value > max) {
      throw new DecodeError(
        max === Number.MAX_SAFE_INTEGER
          ? `varint at offset ${offset} exceeds 2^53 - 1`
          : `varint at offset ${offset} is at least ${value}, more than the allowed ${max}`,
        { offset },
      );
    }
    if ((byte & 0x80) === 0) return { value, bytes: i + 1 };
    scale *= 0x80;
  }
  throw new DecodeError(`varint at offset ${offset} runs past ${VARINT_MAX_BYTES} bytes`, { offset });
}
