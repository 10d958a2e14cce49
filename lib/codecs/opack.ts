/**
 * OPACK, the compact serialisation of Apple's CoreUtils that carries every Companion payload
 * (pairing `{_pd, _pwTy}` dicts, `{_i, _t, _c, _x}` messages) and the `{name}` item inside
 * HAP pair-setup M5: pure functions, no I/O.
 *
 * Bytes (multi-byte numbers little-endian):
 *   01 true · 02 false · 03 ends an endless collection · 04 null · 05 UUID, 16 bytes in order
 *   06 date: float64 seconds since 2001-01-01T00:00:00Z (CFAbsoluteTime)
 *   07 the integer -1 · 08..2F the integers 0..39
 *   30 31 32 33 34: integer in 1 2 4 8 16 bytes · 35 float32 · 36 float64
 *   40..60 UTF-8 string of 0..32 bytes · 61 62 63 64: string, length in 1 2 3 4 bytes
 *   6F string ending at a NUL byte (decoded only)
 *   70..90 data of 0..32 bytes · 91 92 93 94: data, length in 1 2 4 8 bytes
 *   A0..C0 back-reference 0..32 · C1 C2 C3 C4: back-reference, index in 1 2 4 8 bytes
 *   D0..DE array of 0..14 items · DF array of any length, closed by 03
 *   E0..EE dict of 0..14 pairs (key, value, ...) · EF dict closed by 03
 * Collections of 15 or more entries are written in the endless form.
 *
 * Back-references: every object whose encoding is longer than one byte, except arrays and
 * dicts, gets the next index in order of appearance; a later object with the very same
 * bytes is written as a reference to it. That rule reproduces every message pyatv 0.16.1
 * sent, and the decoder counts exactly the same objects, so an index means the same thing
 * on both sides. pyatv's codec does not: its encoder also counts (and references) containers,
 * its decoder counts `""`/`b""` but not containers, so indexes drift after either.
 *
 * Integers are signed two's complement, as Apple writes and reads them: an Apple TV sends
 * `_clFl: 128` as 31 80 00 (too big for a signed byte; the bytes are quoted in pyatv issue
 * #1461), and pyatv's docs give an `_ec` error code of 58822, which is -6714 (CoreUtils'
 * kNotHandledErr) read as unsigned 16 bits. 07 is -1 in pyatv's docs table. pyatv reads and
 * writes 30..33 unsigned, so it writes 128..255 as 30 xx, which Apple reads as negative. The
 * default writes each non-negative integer with its sign bit clear, so both readings agree;
 * `integers: 'unsigned'` reads and writes pyatv's way (to match or read its bytes exactly).
 * Dates: libimobiledevice-glue's opack.c reads and writes 06 as a float64 CFAbsoluteTime;
 * pyatv cannot write dates and reads the 8 bytes as an integer.
 * Length widths: pyatv checked 94 = 8-byte length against macOS (PR #2472), so data lengths
 * are 1/2/4/8 bytes; back-reference indexes too, as pyatv's encoder writes them (its decoder
 * and docs say 3/4 for C3/C4; only reached past 65 536 objects). Strings use 1/2/3/4, as
 * pyatv and Frida write them; not checked against Apple.
 * Not supported (a DecodeError): 9F "endless data", named in pyatv's docs without a layout.
 *
 * Values:
 *   null · boolean · string · Date (kept to the millisecond) · number: an integer when
 *   `Number.isSafeInteger`, any other number is a float64 · bigint for integers beyond 2^53
 *   (decoded only when needed) · Uint8Array/Buffer for data (decoded: Buffer views into the
 *   input) · `OpackFloat` for a float that must stay one (1000.0 is not 1000; every decoded
 *   float is one) · `OpackUuid` · arrays · plain objects for dicts with string keys
 *   (undefined members are skipped) · `Map` for any dict (decoded when a key is not a
 *   string or looks like an array index, which a JS object would reorder), e.g.
 *   `encodeOpack({ _i: '_systemInfo', _t: 2, _c: { _sv: '170.18' }, _x: 1234 })`.
 * A back-reference decodes to the same object as the one it points at.
 *
 * Hostile input: every read is bounds-checked, lengths are checked against the bytes left
 * before anything is sliced, containers nest at most `maxDepth` deep, at most `maxObjects`
 * objects are decoded, references must point at an object already decoded, an endless
 * collection must be closed, strings must be valid UTF-8, nothing may follow the top object.
 * Every failure is a DecodeError with the offset; messages never quote the payload.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { DecodeError, InvalidArgumentError } from '../errors';

/** A float kept as a float: `new OpackFloat(1000)` encodes as 36 + float64, not as the integer 1000. */
export class OpackFloat {
  readonly value: number;
  /** 64 writes 0x36 + float64; 32 writes 0x35 + float32 (the value rounded to float32). */
  readonly width: 32 | 64;

  constructor(value: number, width: 32 | 64 = 64) {
    if (typeof value !== 'number') throw new InvalidArgumentError(`OpackFloat needs a number, got ${typeof value}`);
    if (width !== 32 && width !== 64) throw new InvalidArgumentError(`OpackFloat width is 32 or 64, got ${String(width)}`);
    this.value = width === 32 ? Math.fround(value) : value;
    this.width = width;
  }

  valueOf(): number {
    return this.value;
  }

  toJSON(): number {
    return this.value;
  }

  toString(): string {
    return String(this.value);
  }
}

const UUID_TEXT = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** A UUID, 16 bytes in network order; `toString()` is the lower-case canonical form. */
export class OpackUuid {
  readonly bytes: Buffer;

  /** From `12345678-1234-5678-1234-567812345678` (dashes optional, any case) or 16 bytes (copied). */
  constructor(value: string | Uint8Array) {
    if (typeof value === 'string') {
      if (!UUID_TEXT.test(value)) throw new InvalidArgumentError('a UUID is 32 hex digits, optionally as 8-4-4-4-12');
      this.bytes = Buffer.from(value.replace(/-/g, ''), 'hex');
    } else {
      if (!(value instanceof Uint8Array) || value.length !== 16) throw new InvalidArgumentError('a UUID is 16 bytes');
      this.bytes = Buffer.from(value);
    }
  }

  toString(): string {
    const hex = this.bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  toJSON(): string {
    return this.toString();
  }

  equals(other: OpackUuid): boolean {
    return this.bytes.equals(other.bytes);
  }
}

/** Anything OPACK can carry; see the header for how each JS type maps to bytes. */
export type OpackValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Date
  | OpackUuid
  | OpackFloat
  | readonly OpackValue[]
  | ReadonlyMap<OpackValue, OpackValue>
  | OpackObject;

/**
 * A dict with string keys, as a plain object. Members whose value is undefined are not written.
 * Describe message shapes with `type` aliases: TypeScript lets an `interface` without an index
 * signature be passed where this index signature is expected only through a cast.
 */
export interface OpackObject {
  readonly [key: string]: OpackValue | undefined;
}

/** How 0x30..0x34 integers are read and written: Apple's signed form (default) or pyatv's unsigned one. */
export type OpackIntegers = 'signed' | 'unsigned';

export interface OpackEncodeOptions {
  /** Default 'signed'. 'unsigned' writes 0..2^64-1 in the fewest unsigned bytes, as pyatv does. */
  integers?: OpackIntegers;
  /** Deepest container nesting written (default 32, the decoder's default; at most 1000); deeper is an InvalidArgumentError. */
  maxDepth?: number;
}

export interface OpackDecodeOptions {
  /** Default 'signed'. 'unsigned' reads 0x30..0x34 as unsigned, as pyatv writes them. */
  integers?: OpackIntegers;
  /** Deepest container nesting accepted (default 32, at most 1000). */
  maxDepth?: number;
  /** Most objects (every value, key and reference counts one) accepted (default 1 048 576). */
  maxObjects?: number;
}

/** Nesting both sides accept by default: a Companion message is a handful of levels deep. */
export const OPACK_MAX_DEPTH = 32;
export const OPACK_MAX_OBJECTS = 1 << 20;
/** The highest `maxDepth` allowed: both sides recurse once per level and must stay far from the stack's end. */
const DEPTH_CEILING = 1000;

/** Milliseconds from the Unix epoch to 2001-01-01T00:00:00Z, where CFAbsoluteTime starts. */
const APPLE_EPOCH_MS = 978_307_200_000;
/** JS Dates reach ±8.64e15 ms around 1970. */
const MAX_DATE_MS = 8.64e15;
const MS_NUDGES = [0, -1, 1, -2, 2];
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** What 0x33 holds in each reading (0x34 is never written). */
const SIGNED_RANGE = [-(1n << 63n), (1n << 63n) - 1n] as const;
const UNSIGNED_RANGE = [0n, (1n << 64n) - 1n] as const;

const TAG_TRUE = 0x01;
const TAG_FALSE = 0x02;
const TAG_TERMINATOR = 0x03;
const TAG_NULL = 0x04;
const TAG_UUID = 0x05;
const TAG_DATE = 0x06;
const TAG_MINUS_ONE = 0x07;
const TAG_SMALL_INT = 0x08; // + 0..39
const SMALL_INT_MAX = 39;
const TAG_INT = 0x30; // 0x30..0x34: 1 2 4 8 16 bytes
const TAG_FLOAT32 = 0x35;
const TAG_FLOAT64 = 0x36;
const TAG_STRING = 0x40; // + 0..32 bytes
const TAG_STRING_LONG = 0x61; // 0x61..0x64: length in 1 2 3 4 bytes
const TAG_STRING_NUL = 0x6f;
const TAG_DATA = 0x70; // + 0..32 bytes
const TAG_DATA_LONG = 0x91; // 0x91..0x94: length in 1 2 4 8 bytes
const TAG_REF = 0xa0; // + 0..32
const TAG_REF_LONG = 0xc1; // 0xc1..0xc4: index in 1 2 4 8 bytes
const TAG_ARRAY = 0xd0; // + 0..14
const TAG_ARRAY_ENDLESS = 0xdf;
const TAG_DICT = 0xe0; // + 0..14
const TAG_DICT_ENDLESS = 0xef;
const INLINE_MAX = 32;
const SHORT_STRING = 64;
const COUNTED_MAX = 14;
/** Bytes after 0x30..0x34, 0x61..0x64, and 0x91..0x94 / 0xC1..0xC4, by position in the range. */
const INT_WIDTHS: readonly number[] = [1, 2, 4, 8, 16];
const STRING_LENGTH_WIDTHS: readonly number[] = [1, 2, 3, 4];
const DATA_LENGTH_WIDTHS: readonly number[] = [1, 2, 4, 8];

const hex2 = (byte: number): string => `0x${byte.toString(16).padStart(2, '0')}`;

// ---------------------------------------------------------------------------------------------
// Encoding

/** The fewest bytes that hold `v` as a two's complement integer (1, 2, 4 or 8). */
function signedWidth(v: number | bigint): number {
  if (v >= -0x80 && v <= 0x7f) return 1;
  if (v >= -0x8000 && v <= 0x7fff) return 2;
  return v >= -0x80000000 && v <= 0x7fffffff ? 4 : 8;
}

class OpackWriter {
  private buf = Buffer.allocUnsafe(256);
  private pos = 0;
  /**
   * Encodings longer than one byte already written → their index: strings by their text (a
   * string's bytes follow from it), everything else by its exact bytes as latin1.
   */
  private readonly strings = new Map<string, number>();
  private readonly others = new Map<string, number>();
  private shared = 0;

  constructor(
    private readonly signed: boolean,
    private readonly maxDepth: number,
  ) {}

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** An unsigned `value` little-endian in `width` bytes (1..4 or 8). */
  private uint(value: number, width: number): void {
    this.room(width);
    if (width === 8) this.buf.writeBigUInt64LE(BigInt(value), this.pos);
    else this.buf.writeUIntLE(value, this.pos, width);
    this.pos += width;
  }

  /**
   * Ends a scalar written from `start`: a repeat of an earlier multi-byte encoding becomes a
   * back-reference to it, a new one gets the next index.
   */
  private share(start: number): void {
    if (this.pos - start < 2) return;
    const key = this.buf.toString('latin1', start, this.pos);
    const index = this.others.get(key);
    if (index === undefined) {
      this.others.set(key, this.shared++);
      return;
    }
    this.pos = start;
    this.reference(index);
  }

  private reference(index: number): void {
    this.sized(index, TAG_REF, TAG_REF_LONG, DATA_LENGTH_WIDTHS);
  }

  /**
   * `n` (a length or an index) in the tag when it is at most 32, else as the long form's tag
   * for the fewest of `widths` bytes that hold it, followed by those bytes.
   */
  private sized(n: number, inlineTag: number, longTag: number, widths: readonly number[]): void {
    if (n <= INLINE_MAX) return this.byte(inlineTag + n);
    // JS strings, buffers and tables stay far below 2^32 entries, so the widest form always fits.
    const form = widths.findIndex((width) => n < 2 ** (8 * width));
    this.byte(longTag + form);
    this.uint(n, widths[form]!);
  }

  value(v: OpackValue | undefined, depth: number): void {
    if (v === null) return this.byte(TAG_NULL);
    switch (typeof v) {
      case 'boolean':
        return this.byte(v ? TAG_TRUE : TAG_FALSE);
      case 'number':
        return Number.isSafeInteger(v) ? this.integer(v) : this.float(v, 64);
      case 'bigint':
        return this.integer(v);
      case 'string':
        return this.string(v);
      case 'object':
        break;
      default:
        throw new InvalidArgumentError(`OPACK cannot encode ${typeof v}`);
    }
    if (v instanceof Uint8Array) return this.data(v);
    if (v instanceof OpackFloat) return this.float(v.value, v.width);
    if (v instanceof OpackUuid) return this.fixed(TAG_UUID, 16, (buf, at) => v.bytes.copy(buf, at));
    if (v instanceof Date) return this.date(v);
    if (depth >= this.maxDepth) {
      throw new InvalidArgumentError(`OPACK containers nested deeper than ${this.maxDepth} levels (a cycle?)`);
    }
    if (Array.isArray(v)) return this.array(v as readonly OpackValue[], depth + 1);
    if (v instanceof Map) return this.dict([...(v as ReadonlyMap<OpackValue, OpackValue>)], depth + 1);
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidArgumentError(`OPACK cannot encode a ${(v as object).constructor?.name ?? 'class instance'}`);
    }
    const pairs: [string, OpackValue][] = [];
    for (const key of Object.keys(v)) {
      const member = (v as OpackObject)[key];
      if (member !== undefined) pairs.push([key, member]);
    }
    return this.dict(pairs, depth + 1);
  }

  private integer(v: number | bigint): void {
    if (typeof v === 'bigint' && v >= MIN_SAFE && v <= MAX_SAFE) v = Number(v);
    if (v >= -1 && v <= SMALL_INT_MAX) return this.byte(TAG_SMALL_INT + Number(v));
    const [min, max] = this.signed ? SIGNED_RANGE : UNSIGNED_RANGE;
    if (v < min || v > max) {
      throw new InvalidArgumentError(`${this.signed ? 'signed' : 'unsigned'} OPACK integers are -1 or ${min}..${max}, got ${v}`);
    }
    const width = this.signed ? signedWidth(v) : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffff ? 4 : 8;
    const signed = this.signed;
    this.fixed(TAG_INT + INT_WIDTHS.indexOf(width), width, (buf, at) => {
      if (width === 8) {
        if (signed) buf.writeBigInt64LE(BigInt(v), at);
        else buf.writeBigUInt64LE(BigInt(v), at);
      } else if (signed) {
        buf.writeIntLE(Number(v), at, width);
      } else {
        buf.writeUIntLE(Number(v), at, width);
      }
    });
  }

  private float(v: number, width: 32 | 64): void {
    if (width === 32) this.fixed(TAG_FLOAT32, 4, (buf, at) => buf.writeFloatLE(v, at));
    else this.fixed(TAG_FLOAT64, 8, (buf, at) => buf.writeDoubleLE(v, at));
  }

  /** A scalar of one tag byte and `size` bytes that `fill` writes. */
  private fixed(tag: number, size: number, fill: (buf: Buffer, at: number) => void): void {
    const start = this.pos;
    this.room(1 + size);
    this.buf[start] = tag;
    fill(this.buf, start + 1);
    this.pos = start + 1 + size;
    this.share(start);
  }

  private string(v: string): void {
    const seen = this.strings.get(v);
    if (seen !== undefined) return this.reference(seen);
    const start = this.pos;
    // Short ASCII strings (most keys and identifiers) are copied here: cheaper than a native call.
    let ascii = v.length <= SHORT_STRING;
    for (let i = 0; ascii && i < v.length; i++) ascii = v.charCodeAt(i) < 0x80;
    const length = ascii ? v.length : Buffer.byteLength(v, 'utf8');
    this.sized(length, TAG_STRING, TAG_STRING_LONG, STRING_LENGTH_WIDTHS);
    this.room(length);
    if (ascii) {
      for (let i = 0; i < length; i++) this.buf[this.pos + i] = v.charCodeAt(i);
      this.pos += length;
    } else {
      this.pos += this.buf.write(v, this.pos, length, 'utf8');
    }
    if (this.pos - start > 1) this.strings.set(v, this.shared++);
  }

  private data(v: Uint8Array): void {
    const start = this.pos;
    this.sized(v.length, TAG_DATA, TAG_DATA_LONG, DATA_LENGTH_WIDTHS);
    this.room(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    this.share(start);
  }

  private date(v: Date): void {
    const ms = v.getTime();
    if (!Number.isFinite(ms)) throw new InvalidArgumentError('OPACK cannot encode an invalid Date');
    // Subtracting whole milliseconds first leaves a single rounding step, so decoding gives the same Date back.
    this.fixed(TAG_DATE, 8, (buf, at) => buf.writeDoubleLE((ms - APPLE_EPOCH_MS) / 1000, at));
  }

  private array(items: readonly OpackValue[], depth: number): void {
    const endless = items.length > COUNTED_MAX;
    this.byte(endless ? TAG_ARRAY_ENDLESS : TAG_ARRAY + items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item === undefined) throw new InvalidArgumentError(`OPACK cannot encode undefined (array item ${i})`);
      this.value(item, depth);
    }
    if (endless) this.byte(TAG_TERMINATOR);
  }

  private dict(pairs: readonly (readonly [OpackValue, OpackValue])[], depth: number): void {
    const endless = pairs.length > COUNTED_MAX;
    this.byte(endless ? TAG_DICT_ENDLESS : TAG_DICT + pairs.length);
    for (const [key, value] of pairs) {
      if (key === undefined || value === undefined) throw new InvalidArgumentError('OPACK cannot encode undefined (Map entry)');
      this.value(key, depth);
      this.value(value, depth);
    }
    if (endless) this.byte(TAG_TERMINATOR);
  }
}

function limitOption(value: number | undefined, fallback: number, ceiling: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || value > ceiling) {
    throw new InvalidArgumentError(`OPACK ${name} must be a whole number from 0 to ${ceiling}, got ${value}`);
  }
  return value;
}

function integersOption(value: OpackIntegers | undefined): boolean {
  if (value === undefined || value === 'signed') return true;
  if (value === 'unsigned') return false;
  throw new InvalidArgumentError(`OPACK integers are 'signed' or 'unsigned', got ${String(value)}`);
}

/**
 * Encodes one value. Repeated strings, data, UUIDs, dates and numbers of more than one byte
 * become back-references. Throws InvalidArgumentError for what OPACK cannot carry (undefined,
 * functions, symbols, class instances, integers out of range, invalid Dates, cycles).
 */
export function encodeOpack(value: OpackValue, options: OpackEncodeOptions = {}): Buffer {
  const maxDepth = limitOption(options.maxDepth, OPACK_MAX_DEPTH, DEPTH_CEILING, 'maxDepth');
  const writer = new OpackWriter(integersOption(options.integers), maxDepth);
  if (value === undefined) throw new InvalidArgumentError('OPACK cannot encode undefined');
  writer.value(value, 0);
  return writer.result();
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** JS would reorder such keys in a plain object: `{"1": x, "0": y}` iterates "0" first. */
function isArrayIndexKey(key: string): boolean {
  if (key.length === 0 || key.length > 10) return false;
  const first = key.charCodeAt(0);
  if (first < 0x30 || first > 0x39 || (first === 0x30 && key.length > 1)) return false;
  for (let i = 1; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return Number(key) < 0xffffffff;
}

class OpackReader {
  private pos = 0;
  private objects = 0;
  /** Every decoded object whose encoding took more than one byte, except arrays and dicts. */
  private readonly table: OpackValue[] = [];
  private readonly codes: number[] = [];

  constructor(
    private readonly buf: Buffer,
    private readonly signed: boolean,
    private readonly maxDepth: number,
    private readonly maxObjects: number,
  ) {}

  top(): OpackValue {
    const value = this.value(0);
    if (this.pos !== this.buf.length) {
      throw new DecodeError(`${this.buf.length - this.pos} bytes follow the OPACK value at offset ${this.pos}`, { offset: this.pos });
    }
    return value;
  }

  /** Moves past `n` bytes of the object starting at `start`, or fails naming what was cut. */
  private take(n: number, start: number, what: string): number {
    const at = this.pos;
    if (n > this.buf.length - at) {
      throw new DecodeError(`truncated OPACK ${what} at offset ${start}: needs ${n} more bytes, ${this.buf.length - at} left`, {
        offset: start,
      });
    }
    this.pos = at + n;
    return at;
  }

  /** An unsigned little-endian length or index of `width` bytes, as a number. */
  private count(width: number, start: number, what: string): number {
    const at = this.take(width, start, what);
    if (width <= 6) return this.buf.readUIntLE(at, width);
    const big = this.buf.readBigUInt64LE(at);
    // Anything this large is past the end of any input, so clamping keeps the later checks honest.
    return big > MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(big);
  }

  private value(depth: number): OpackValue {
    const start = this.pos;
    if (start >= this.buf.length) throw new DecodeError(`truncated OPACK data: a value was expected at offset ${start}`, { offset: start });
    if (++this.objects > this.maxObjects) {
      throw new DecodeError(`OPACK data holds more than ${this.maxObjects} objects`, { offset: start });
    }
    const tag = this.buf[start]!;
    this.pos = start + 1;
    let value: OpackValue;

    if (tag >= TAG_SMALL_INT && tag <= TAG_SMALL_INT + SMALL_INT_MAX) return tag - TAG_SMALL_INT;
    if (tag >= TAG_STRING && tag <= TAG_STRING + INLINE_MAX) {
      value = this.text(tag - TAG_STRING, start);
    } else if (tag >= TAG_DATA && tag <= TAG_DATA + INLINE_MAX) {
      const at = this.take(tag - TAG_DATA, start, 'data');
      value = this.buf.subarray(at, this.pos);
    } else if (tag >= TAG_REF && tag <= TAG_REF + INLINE_MAX) {
      return this.reference(tag - TAG_REF, start);
    } else if (tag >= TAG_ARRAY && tag <= TAG_ARRAY_ENDLESS) {
      return this.array(tag === TAG_ARRAY_ENDLESS ? -1 : tag - TAG_ARRAY, start, depth + 1);
    } else if (tag >= TAG_DICT && tag <= TAG_DICT_ENDLESS) {
      return this.dict(tag === TAG_DICT_ENDLESS ? -1 : tag - TAG_DICT, start, depth + 1);
    } else {
      switch (tag) {
        case TAG_TRUE:
          return true;
        case TAG_FALSE:
          return false;
        case TAG_NULL:
          return null;
        case TAG_MINUS_ONE:
          return -1;
        case TAG_TERMINATOR:
          throw new DecodeError(`OPACK terminator 0x03 at offset ${start} where a value was expected`, { offset: start });
        case TAG_UUID:
          value = new OpackUuid(this.buf.subarray(this.take(16, start, 'UUID'), this.pos));
          break;
        case TAG_DATE:
          value = this.date(start);
          break;
        case TAG_INT:
        case TAG_INT + 1:
        case TAG_INT + 2:
        case TAG_INT + 3:
        case TAG_INT + 4:
          value = this.integer(INT_WIDTHS[tag - TAG_INT]!, start);
          break;
        case TAG_FLOAT32:
          value = new OpackFloat(this.buf.readFloatLE(this.take(4, start, 'float32')), 32);
          break;
        case TAG_FLOAT64:
          value = new OpackFloat(this.buf.readDoubleLE(this.take(8, start, 'float64')));
          break;
        case TAG_STRING_LONG:
        case TAG_STRING_LONG + 1:
        case TAG_STRING_LONG + 2:
        case TAG_STRING_LONG + 3:
          value = this.text(this.count(STRING_LENGTH_WIDTHS[tag - TAG_STRING_LONG]!, start, 'string length'), start);
          break;
        case TAG_STRING_NUL: {
          const end = this.buf.indexOf(0, this.pos);
          if (end < 0) throw new DecodeError(`OPACK string at offset ${start} has no terminating NUL byte`, { offset: start });
          value = this.text(end - this.pos, start);
          this.pos++;
          break;
        }
        case TAG_DATA_LONG:
        case TAG_DATA_LONG + 1:
        case TAG_DATA_LONG + 2:
        case TAG_DATA_LONG + 3: {
          const at = this.take(this.count(DATA_LENGTH_WIDTHS[tag - TAG_DATA_LONG]!, start, 'data length'), start, 'data');
          value = this.buf.subarray(at, this.pos);
          break;
        }
        case TAG_REF_LONG:
        case TAG_REF_LONG + 1:
        case TAG_REF_LONG + 2:
        case TAG_REF_LONG + 3:
          return this.reference(this.count(DATA_LENGTH_WIDTHS[tag - TAG_REF_LONG]!, start, 'back-reference'), start);
        default:
          throw new DecodeError(`unknown OPACK type ${hex2(tag)} at offset ${start}`, { offset: start });
      }
    }
    if (this.pos - start > 1) this.table.push(value);
    return value;
  }

  private text(length: number, start: number): string {
    const at = this.take(length, start, 'string');
    if (length <= SHORT_STRING) {
      // Short ASCII strings (most keys and identifiers) are built here: cheaper than a native call.
      const codes = this.codes;
      codes.length = 0;
      for (let i = at; i < this.pos; i++) {
        const c = this.buf[i]!;
        if (c >= 0x80) break;
        codes.push(c);
      }
      if (codes.length === length) return String.fromCharCode.apply(null, codes);
    }
    const bytes = this.buf.subarray(at, this.pos);
    if (isAscii(bytes)) return this.buf.toString('latin1', at, this.pos);
    if (!isUtf8(bytes)) throw new DecodeError(`OPACK string at offset ${start} is not valid UTF-8`, { offset: start });
    return this.buf.toString('utf8', at, this.pos);
  }

  private integer(width: number, start: number): number | bigint {
    const at = this.take(width, start, `${width}-byte integer`);
    if (width <= 4) return this.signed ? this.buf.readIntLE(at, width) : this.buf.readUIntLE(at, width);
    let big: bigint;
    if (width === 8) {
      big = this.signed ? this.buf.readBigInt64LE(at) : this.buf.readBigUInt64LE(at);
    } else {
      big = (this.buf.readBigUInt64LE(at + 8) << 64n) | this.buf.readBigUInt64LE(at);
      if (this.signed) big = BigInt.asIntN(128, big);
    }
    return big >= MIN_SAFE && big <= MAX_SAFE ? Number(big) : big;
  }

  private date(start: number): Date {
    const seconds = this.buf.readDoubleLE(this.take(8, start, 'date'));
    let sinceEpoch = Math.round(seconds * 1000);
    // Prefer the whole millisecond that the encoder turns back into these very bytes.
    for (const nudge of MS_NUDGES) {
      if ((sinceEpoch + nudge) / 1000 === seconds) {
        sinceEpoch += nudge;
        break;
      }
    }
    const ms = sinceEpoch + APPLE_EPOCH_MS;
    if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) {
      throw new DecodeError(`OPACK date at offset ${start} is outside the range of a JS Date`, { offset: start });
    }
    return new Date(ms);
  }

  private reference(index: number, start: number): OpackValue {
    if (index >= this.table.length) {
      throw new DecodeError(`OPACK back-reference at offset ${start} to object ${index}, only ${this.table.length} decoded so far`, {
        offset: start,
      });
    }
    return this.table[index]!;
  }

  private enter(depth: number, start: number): void {
    if (depth > this.maxDepth) throw new DecodeError(`OPACK containers nested deeper than ${this.maxDepth} levels`, { offset: start });
  }

  /** True (and moved past it) when an endless collection's 0x03 is next; fails at the end of input. */
  private closes(count: number, start: number, what: string): boolean {
    if (count >= 0) return false;
    if (this.pos >= this.buf.length) {
      throw new DecodeError(`OPACK endless ${what} opened at offset ${start} is never closed by 0x03`, { offset: start });
    }
    if (this.buf[this.pos] !== TAG_TERMINATOR) return false;
    this.pos++;
    return true;
  }

  private array(count: number, start: number, depth: number): OpackValue[] {
    this.enter(depth, start);
    const items: OpackValue[] = [];
    for (let i = 0; count < 0 || i < count; i++) {
      if (this.closes(count, start, 'array')) break;
      items.push(this.value(depth));
    }
    return items;
  }

  private dict(count: number, start: number, depth: number): OpackValue {
    this.enter(depth, start);
    const object: Record<string, OpackValue> = {};
    let map: Map<OpackValue, OpackValue> | undefined;
    for (let i = 0; count < 0 || i < count; i++) {
      if (this.closes(count, start, 'dict')) break;
      const key = this.value(depth);
      const value = this.value(depth);
      if (map === undefined && (typeof key !== 'string' || isArrayIndexKey(key))) map = new Map(Object.entries(object));
      if (map !== undefined) map.set(key, value);
      // A plain assignment of "__proto__" would replace the prototype instead of adding a member.
      else if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      else object[key as string] = value;
    }
    return map ?? object;
  }
}

/**
 * Decodes exactly one OPACK value filling `input`. Data come back as Buffer views into
 * `input`; a back-reference yields the very object it points at. Throws DecodeError for
 * anything malformed, truncated, too deep, too large, or followed by extra bytes.
 */
export function decodeOpack(input: Uint8Array, options: OpackDecodeOptions = {}): OpackValue {
  if (!(input instanceof Uint8Array)) throw new InvalidArgumentError('OPACK decodes bytes (a Buffer or Uint8Array)');
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const reader = new OpackReader(
    buf,
    integersOption(options.integers),
    limitOption(options.maxDepth, OPACK_MAX_DEPTH, DEPTH_CEILING, 'maxDepth'),
    limitOption(options.maxObjects, OPACK_MAX_OBJECTS, Number.MAX_SAFE_INTEGER, 'maxObjects'),
  );
  return reader.top();
}
