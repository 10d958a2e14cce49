/**
 * Binary property lists (`bplist00`): pure functions, no I/O. AirPlay 2 sends them as RTSP and
 * HTTP bodies (SETUP and its replies, /feedback, /command) and inside data-stream frames
 * (`{params: {data: <bytes>}}`); Companion's keyboard messages carry NSKeyedArchiver archives
 * in them; DMAP's `ceSD` tag holds one.
 *
 * Layout: "bplist00", the objects, a table of each object's offset, then a 32-byte trailer
 * (6 unused bytes, offset width, reference width, then 8-byte object count, top object and
 * offset-table position; all big-endian). A container holds references (indices into the
 * offset table), so a writer may point several places at one object.
 *
 * JavaScript values, both ways:
 * - bool ↔ boolean; null (0x00) ↔ null; string ↔ string (ASCII or UTF-16BE on the wire);
 *   data ↔ Buffer (decoded data are views into the input, never copies, as in the DMAP codec);
 *   array ↔ Array; set (0xC_) ↔ Set; UID (0x8_, NSKeyedArchiver's object index) ↔ BplistUid.
 * - dict ↔ plain object, or Map; keys are always strings. An object loses the order of keys
 *   that look like array indices ("0", "12": JavaScript lists those first); a Map keeps it.
 * - int ↔ number while |n| <= 2^53 - 1, bigint beyond (the wire holds -2^63 .. 2^64 - 1).
 * - real ↔ number. A number that is a safe integer encodes as an int; wrap it to force a real
 *   (`new BplistReal(1)` writes 1.0). Fractions, -0, NaN, ±Infinity and numbers beyond 2^53
 *   are reals by themselves. Use bigint for a large int.
 * - date ↔ Date, to the millisecond (the wire's double of seconds since 2001-01-01Z is rounded).
 * What this model cannot hold is a DecodeError: a non-string dict key, a date beyond what a
 * Date holds, a 16-byte int outside -2^63 .. 2^64 - 1, a UID above 2^53 - 1, a non-ASCII byte
 * in an ASCII string. An object referenced twice decodes to one JavaScript value used twice.
 * `decodeBplist(buf)` gives plain values. `{ lossless: true }` returns every real as a
 * BplistReal (a float32 one with bits 32) and every dict as a Map, so encoding the result
 * again keeps the types, the key order and float widths.
 *
 * The encoder writes what Python's `plistlib.dumps(value, fmt=FMT_BINARY)` writes, byte for
 * byte (pyatv builds every AirPlay plist with it): objects in depth-first order, a dict first,
 * then its keys, then its values, keys sorted by code point unless `sortKeys: false`; each
 * distinct scalar (by type and value) written once and referenced again, containers and UIDs
 * shared only when they are the same object; ints in the fewest of 1/2/4/8 bytes, negatives in
 * 8, 2^63 and above in 16; every real as a double; reference and offset widths of 1/2/4/8 bytes
 * from the object count and the offset-table position. One deliberate difference: plistlib
 * shares 0.0 and -0.0 (equal in Python) and so writes -0.0 as 0.0; we keep the sign.
 *
 * Apple's own writer keeps keys in insertion order, so the decoder assumes no order. Hostile
 * input is bounded: the trailer must describe an offset table inside the file, every object
 * must start and end inside the object area, every count is checked against the bytes left
 * before anything is allocated, a reference back to an object being read (a cycle) is refused,
 * and nesting depth, values produced and string/data bytes produced are capped (a shared object
 * counts each time it is referenced, so a small file cannot expand into a huge tree). Every
 * failure is a DecodeError.
 */
import { DecodeError, InvalidArgumentError } from '../errors';

/** A real number, or a number that must be written as a real even when it is whole. */
export class BplistReal {
  readonly value: number;
  /** 64 (a double, what plistlib always writes) or 32 (a float: the format has both). */
  readonly bits: 32 | 64;

  constructor(value: number, bits: 32 | 64 = 64) {
    if (typeof value !== 'number') throw new InvalidArgumentError('a BplistReal holds a number');
    if (bits !== 32 && bits !== 64) throw new InvalidArgumentError('a BplistReal has 32 or 64 bits');
    this.value = value;
    this.bits = bits;
  }

  valueOf(): number {
    return this.value;
  }
}

/** A plist UID: NSKeyedArchiver's reference to an entry of its `$objects` array. */
export class BplistUid {
  readonly value: number;

  constructor(value: number) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`a plist UID is a whole number from 0 to 2^53 - 1, got ${value}`);
    }
    this.value = value;
  }

  valueOf(): number {
    return this.value;
  }
}

export type BplistScalar = null | boolean | number | bigint | string | Buffer | Date | BplistReal | BplistUid;
/** What the decoder returns. */
export type BplistValue = BplistScalar | BplistValue[] | Set<BplistValue> | Map<string, BplistValue> | BplistDict;
export interface BplistDict {
  [key: string]: BplistValue;
}
/** What the encoder takes: any BplistValue, any Uint8Array as data, and dict entries whose value is undefined (skipped, as JSON does). */
export type BplistInput =
  | BplistScalar
  | Uint8Array
  | readonly BplistInput[]
  | ReadonlySet<BplistInput>
  | ReadonlyMap<string, BplistInput>
  | { readonly [key: string]: BplistInput | undefined };

export interface BplistDecodeOptions {
  /** Reals as BplistReal and dicts as Map, so re-encoding keeps types and key order (default false). */
  lossless?: boolean;
  /** Deepest nesting accepted (default 128). */
  maxDepth?: number;
  /** Values produced, a shared object counted at every reference (default 1,000,000). */
  maxObjects?: number;
  /** String and data bytes produced, counted the same way (default 64 MiB). */
  maxBytes?: number;
}

export interface BplistEncodeOptions {
  /** Dict keys in code-point order, as plistlib writes by default (true); false keeps insertion order. */
  sortKeys?: boolean;
  /** Deepest nesting accepted (default 128); deeper input is an InvalidArgumentError. */
  maxDepth?: number;
}

export const BPLIST_DEFAULT_MAX_DEPTH = 128;
export const BPLIST_DEFAULT_MAX_OBJECTS = 1_000_000;
export const BPLIST_DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

const MAGIC = 'bplist00';
const HEADER_LENGTH = 8;
const TRAILER_LENGTH = 32;
/** Header, one 1-byte object, a 1-byte offset table and the trailer. */
const MIN_LENGTH = HEADER_LENGTH + 1 + 1 + TRAILER_LENGTH;
/** 2001-01-01T00:00:00Z, the epoch of plist dates, in Unix milliseconds. */
const PLIST_EPOCH_MS = Date.UTC(2001, 0, 1);
/** The largest Unix time in milliseconds a Date can hold, either side of 1970. */
const MAX_DATE_MS = 8.64e15;
const TWO_32 = 2 ** 32;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** An int as the value model holds it: a number while it is safe, a bigint beyond. */
function plistInt(value: bigint): number | bigint {
  return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

/** Object markers: the high nibble is the type, the low nibble a size or a count (15: an int object follows with the count). */
const Marker = {
  Null: 0x00,
  False: 0x08,
  True: 0x09,
  Int: 0x10,
  Real: 0x20,
  Float32: 0x22,
  Float64: 0x23,
  Date: 0x33,
  Data: 0x40,
  Ascii: 0x50,
  Utf16: 0x60,
  Uid: 0x80,
  Array: 0xa0,
  Set: 0xc0,
  Dict: 0xd0,
} as const;

/** True when `value` is a dict as decoded without `lossless` (a plain object). */
export function isBplistDict(value: BplistValue | undefined): value is BplistDict {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------------------------------
// Decoding

/** The bytes from `at` as an unsigned integer; above 2^53 only approximately, which callers only compare with small bounds. */
function readUnsigned(buf: Buffer, at: number, size: number): number {
  switch (size) {
    case 1:
      return buf[at]!;
    case 2:
      return buf.readUInt16BE(at);
    case 4:
      return buf.readUInt32BE(at);
    case 8:
      return buf.readUInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);
    default:
      return size <= 6 ? buf.readUIntBE(at, size) : buf.readUIntBE(at, size - 4) * TWO_32 + buf.readUInt32BE(at + size - 4);
  }
}

class BplistReader {
  private readonly values: BplistValue[];
  /**
   * Per object, the values and the bytes it expands to, charged again at each later reference;
   * the first is 0 while the object is unread and -1 while it is being read (an ancestor).
   */
  private readonly weights: Float64Array;
  private objects = 0;
  private bytes = 0;
  private depth = 0;
  /** The read position inside the object being parsed. */
  private at = 0;
  private readonly lossless: boolean;
  private readonly maxDepth: number;
  private readonly maxObjects: number;
  private readonly maxBytes: number;

  constructor(
    private readonly buf: Buffer,
    private readonly offsetSize: number,
    private readonly refSize: number,
    private readonly count: number,
    /** Where the offset table starts: the end of the object area. */
    private readonly tableOffset: number,
    options: BplistDecodeOptions,
  ) {
    this.values = new Array<BplistValue>(count);
    this.weights = new Float64Array(count * 2);
    this.lossless = options.lossless === true;
    this.maxDepth = options.maxDepth ?? BPLIST_DEFAULT_MAX_DEPTH;
    this.maxObjects = options.maxObjects ?? BPLIST_DEFAULT_MAX_OBJECTS;
    this.maxBytes = options.maxBytes ?? BPLIST_DEFAULT_MAX_BYTES;
  }

  read(ref: number): BplistValue {
    const weight = this.weights[ref * 2]!;
    if (weight > 0) {
      this.charge(weight, this.weights[ref * 2 + 1]!);
      return this.values[ref]!;
    }
    if (weight < 0) throw new DecodeError(`binary plist object ${ref} contains itself (a reference cycle)`);
    if (this.depth >= this.maxDepth) throw new DecodeError(`binary plist nested deeper than ${this.maxDepth} levels`);
    this.depth++;
    this.weights[ref * 2] = -1;
    const objects = this.objects;
    const bytes = this.bytes;
    const value = this.parse(ref);
    this.values[ref] = value;
    this.weights[ref * 2] = this.objects - objects;
    this.weights[ref * 2 + 1] = this.bytes - bytes;
    this.depth--;
    return value;
  }

  private charge(objects: number, bytes: number): void {
    this.objects += objects;
    this.bytes += bytes;
    if (this.objects > this.maxObjects) throw new DecodeError(`binary plist expands to more than ${this.maxObjects} values`);
    if (this.bytes > this.maxBytes) throw new DecodeError(`binary plist expands to more than ${this.maxBytes} bytes of strings and data`);
  }

  /** Fails unless `length` more bytes of the current object lie inside the object area. */
  private need(length: number, start: number): void {
    if (length > this.tableOffset - this.at) {
      throw new DecodeError(`binary plist object at offset ${start} runs into the offset table`, { offset: start });
    }
  }

  private parse(ref: number): BplistValue {
    const buf = this.buf;
    const start = readUnsigned(buf, this.tableOffset + ref * this.offsetSize, this.offsetSize);
    if (start < HEADER_LENGTH || start >= this.tableOffset) {
      throw new DecodeError(`binary plist object ${ref} lies outside the object area`);
    }
    const marker = buf[start]!;
    const low = marker & 0x0f;
    this.at = start + 1;
    switch (marker & 0xf0) {
      case 0x00:
        this.charge(1, 0);
        if (marker === Marker.Null) return null;
        if (marker === Marker.False) return false;
        if (marker === Marker.True) return true;
        break;
      case Marker.Int:
        if (low > 4) break;
        this.charge(1, 0);
        return this.readInt(1 << low, start);
      case Marker.Real: {
        if (marker !== Marker.Float32 && marker !== Marker.Float64) break;
        const bits = marker === Marker.Float32 ? 32 : 64;
        this.need(bits / 8, start);
        this.charge(1, 0);
        const value = bits === 32 ? buf.readFloatBE(this.at) : buf.readDoubleBE(this.at);
        return this.lossless ? new BplistReal(value, bits) : value;
      }
      case 0x30: {
        if (marker !== Marker.Date) break;
        this.need(8, start);
        this.charge(1, 0);
        const ms = Math.round(buf.readDoubleBE(this.at) * 1000) + PLIST_EPOCH_MS;
        if (!(Math.abs(ms) <= MAX_DATE_MS)) throw new DecodeError(`binary plist date at offset ${start} is out of range`, { offset: start });
        return new Date(ms);
      }
      case Marker.Data: {
        const length = this.readCount(low, start);
        this.need(length, start);
        this.charge(1, length);
        return buf.subarray(this.at, this.at + length);
      }
      case Marker.Ascii: {
        const length = this.readCount(low, start);
        this.need(length, start);
        this.charge(1, length);
        const end = this.at + length;
        let text = '';
        for (let i = this.at; i < end; i++) {
          const byte = buf[i]!;
          if (byte > 0x7f) throw new DecodeError(`binary plist ASCII string at offset ${start} holds a non-ASCII byte`, { offset: start });
          if (length <= 32) text += String.fromCharCode(byte);
        }
        return length <= 32 ? text : buf.toString('latin1', this.at, end);
      }
      case Marker.Utf16: {
        const units = this.readCount(low, start);
        this.need(units * 2, start);
        this.charge(1, units * 2);
        return readUtf16Be(buf, this.at, units);
      }
      case Marker.Uid: {
        const size = low + 1;
        if (size > 8) break;
        this.need(size, start);
        this.charge(1, 0);
        if (size > 6 && buf.readUIntBE(this.at, size - 4) >= 0x200000) {
          throw new DecodeError(`binary plist UID at offset ${start} is beyond 2^53 - 1`, { offset: start });
        }
        return new BplistUid(readUnsigned(buf, this.at, size));
      }
      case Marker.Array:
      case Marker.Set: {
        const length = this.readCount(low, start);
        this.need(length * this.refSize, start);
        this.charge(1, 0);
        const refsAt = this.at;
        const items = new Array<BplistValue>(length);
        for (let i = 0; i < length; i++) items[i] = this.read(this.ref(refsAt + i * this.refSize));
        return (marker & 0xf0) === Marker.Set ? new Set(items) : items;
      }
      case Marker.Dict: {
        const length = this.readCount(low, start);
        this.need(length * this.refSize * 2, start);
        this.charge(1, 0);
        const keysAt = this.at;
        const valuesAt = keysAt + length * this.refSize;
        const map = this.lossless ? new Map<string, BplistValue>() : undefined;
        const object: BplistDict = {};
        for (let i = 0; i < length; i++) {
          const key = this.read(this.ref(keysAt + i * this.refSize));
          if (typeof key !== 'string') throw new DecodeError(`binary plist dict at offset ${start} has a key that is not a string`, { offset: start });
          const value = this.read(this.ref(valuesAt + i * this.refSize));
          if (map) map.set(key, value);
          else if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
          else object[key] = value;
        }
        return map ?? object;
      }
    }
    throw new DecodeError(`binary plist object at offset ${start} has an unknown marker 0x${marker.toString(16).padStart(2, '0')}`, {
      offset: start,
    });
  }

  private ref(at: number): number {
    const ref = readUnsigned(this.buf, at, this.refSize);
    if (ref >= this.count) throw new DecodeError(`binary plist reference ${ref} is beyond its ${this.count} objects`, { offset: at });
    return ref;
  }

  /** An int of `size` bytes at the read position: unsigned below 8 bytes, two's complement at 8 and 16. */
  private readInt(size: number, start: number): number | bigint {
    this.need(size, start);
    const buf = this.buf;
    const at = this.at;
    switch (size) {
      case 8: {
        const high = buf.readInt32BE(at);
        const value = high * TWO_32 + buf.readUInt32BE(at + 4);
        return Number.isSafeInteger(value) ? value : buf.readBigInt64BE(at);
      }
      case 16: {
        const value = (buf.readBigInt64BE(at) << 64n) | buf.readBigUInt64BE(at + 8);
        if (value < INT64_MIN || value > UINT64_MAX) {
          throw new DecodeError(`binary plist int at offset ${start} is beyond the 64-bit range`, { offset: start });
        }
        return plistInt(value);
      }
      default:
        return readUnsigned(buf, at, size);
    }
  }

  /** The count in a marker's low nibble, or (nibble 15) the int object after it; leaves the read position after it. */
  private readCount(low: number, start: number): number {
    if (low !== 0x0f) return low;
    this.need(1, start);
    const marker = this.buf[this.at]!;
    if ((marker & 0xf0) !== Marker.Int || (marker & 0x0f) > 3) {
      throw new DecodeError(`binary plist object at offset ${start} has a malformed length`, { offset: start });
    }
    this.at++;
    const count = this.readInt(1 << (marker & 0x0f), start);
    this.at += 1 << (marker & 0x0f);
    if (count < 0) throw new DecodeError(`binary plist object at offset ${start} has a negative length`, { offset: start });
    // Callers check every count against the bytes left, which a bigint count always exceeds.
    return typeof count === 'number' ? count : Number.MAX_SAFE_INTEGER;
  }
}

function readUtf16Be(buf: Buffer, at: number, units: number): string {
  if (units <= 32) {
    let text = '';
    for (let i = 0; i < units; i++) text += String.fromCharCode(buf.readUInt16BE(at + i * 2));
    return text;
  }
  const copy = Buffer.from(buf.subarray(at, at + units * 2));
  return copy.swap16().toString('utf16le');
}

/**
 * Decodes a binary plist. Throws DecodeError on anything malformed, hostile or beyond the
 * limits in `options`; see the file header for the JavaScript types of the result.
 */
export function decodeBplist(input: Uint8Array, options: BplistDecodeOptions = {}): BplistValue {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < MIN_LENGTH) throw new DecodeError(`a binary plist has at least ${MIN_LENGTH} bytes, got ${buf.length}`);
  if (buf.toString('latin1', 0, HEADER_LENGTH) !== MAGIC) throw new DecodeError('not a binary plist (no bplist00 header)', { offset: 0 });
  const trailer = buf.length - TRAILER_LENGTH;
  const offsetSize = buf[trailer + 6]!;
  const refSize = buf[trailer + 7]!;
  const count = readUnsigned(buf, trailer + 8, 8);
  const top = readUnsigned(buf, trailer + 16, 8);
  const tableOffset = readUnsigned(buf, trailer + 24, 8);
  if (offsetSize < 1 || offsetSize > 8) throw new DecodeError(`binary plist offset width ${offsetSize} is not 1..8 bytes`, { offset: trailer + 6 });
  if (refSize < 1 || refSize > 8) throw new DecodeError(`binary plist reference width ${refSize} is not 1..8 bytes`, { offset: trailer + 7 });
  if (count < 1) throw new DecodeError('binary plist holds no objects', { offset: trailer + 8 });
  if (top >= count) throw new DecodeError(`binary plist top object ${top} is beyond its ${count} objects`, { offset: trailer + 16 });
  if (tableOffset <= HEADER_LENGTH || tableOffset > trailer) {
    throw new DecodeError(`binary plist offset table at ${tableOffset} lies outside the file`, { offset: trailer + 24 });
  }
  if (count > (trailer - tableOffset) / offsetSize) {
    throw new DecodeError(`binary plist offset table of ${count} entries does not fit before the trailer`, { offset: trailer + 8 });
  }
  return new BplistReader(buf, offsetSize, refSize, count, tableOffset, options).read(top);
}

// ---------------------------------------------------------------------------------------
// Encoding

const Kind = {
  Null: 0,
  False: 1,
  True: 2,
  Int: 3,
  Real64: 4,
  Real32: 5,
  Date: 6,
  Data: 7,
  Ascii: 8,
  Utf16: 9,
  Uid: 10,
  Array: 11,
  Set: 12,
  Dict: 13,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface FlatObject {
  kind: Kind;
  /** Int: number or bigint; reals, dates (seconds since 2001) and UIDs: number; strings: string; data: bytes. */
  value?: number | bigint | string | Uint8Array;
  /** Containers: the children's references (a dict's keys, then its values). */
  refs?: number[];
}

const ASCII = /^[\x00-\x7f]*$/;

/** Sorts as Python compares str: by code point. UTF-16 order differs only where a surrogate meets U+E000..U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** 1, 2, 4 or 8: the bytes plistlib uses for a reference to `n` objects or an offset up to `n`. */
function widthFor(n: number): number {
  return n < 0x100 ? 1 : n < 0x10000 ? 2 : n < TWO_32 ? 4 : 8;
}

/** Bytes of an int object holding `n` (n >= 0 here). */
function intLength(n: number | bigint): number {
  if (n < 0) return 9;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < TWO_32) return 5;
  return typeof n === 'bigint' && n >= 2n ** 63n ? 17 : 9;
}

/** Bytes of a marker carrying `count` (plus the int object after it from 15 on). */
function countLength(count: number): number {
  return count < 15 ? 1 : 1 + intLength(count);
}

function writeUnsigned(out: Buffer, at: number, value: number, size: number): void {
  switch (size) {
    case 1:
      out[at] = value;
      return;
    case 2:
      out[at] = value >>> 8;
      out[at + 1] = value & 0xff;
      return;
    case 4:
      out.writeUInt32BE(value, at);
      return;
    case 8:
      out.writeUInt32BE(Math.floor(value / TWO_32), at);
      out.writeUInt32BE(value % TWO_32, at + 4);
      return;
    default:
      out.writeUIntBE(value, at, size);
  }
}

/** Shares equal scalars the way plistlib keys them: by type and value (tables made on first use). */
class ScalarTable<K> {
  private table: Map<K, number> | undefined;

  get(key: K): number | undefined {
    return this.table?.get(key);
  }

  set(key: K, ref: number): number {
    (this.table ??= new Map()).set(key, ref);
    return ref;
  }
}

class BplistWriter {
  readonly objects: FlatObject[] = [];
  private readonly ints = new ScalarTable<number | bigint>();
  /** Reals by bits and value; -0 has its own entry, as Map keys do not tell it from 0. */
  private readonly reals = new ScalarTable<string | number>();
  private readonly dates = new ScalarTable<number>();
  private readonly strings = new ScalarTable<string>();
  private readonly datas = new ScalarTable<string>();
  /** Containers and UIDs: shared only when they are the same object, as plistlib keys them by id(). */
  private readonly identities = new Map<object, number>();
  private singletons: [number, number, number] = [-1, -1, -1];
  private readonly sortKeys: boolean;
  private readonly maxDepth: number;

  constructor(options: BplistEncodeOptions) {
    this.sortKeys = options.sortKeys ?? true;
    this.maxDepth = options.maxDepth ?? BPLIST_DEFAULT_MAX_DEPTH;
  }

  private add(object: FlatObject): number {
    this.objects.push(object);
    return this.objects.length - 1;
  }

  private singleton(kind: typeof Kind.Null | typeof Kind.False | typeof Kind.True): number {
    if (this.singletons[kind] < 0) this.singletons[kind] = this.add({ kind });
    return this.singletons[kind];
  }

  private real(value: number, bits: 32 | 64): number {
    const stored = bits === 32 ? Math.fround(value) : value;
    // plistlib merges -0.0 into 0.0 (equal in Python) and so loses the sign; we keep it.
    const key = Object.is(stored, -0) ? `-0/${bits}` : bits === 32 ? `${stored}/32` : stored;
    return this.reals.get(key) ?? this.reals.set(key, this.add({ kind: bits === 32 ? Kind.Real32 : Kind.Real64, value: stored }));
  }

  private int(value: number | bigint): number {
    if (typeof value === 'bigint') {
      if (value < INT64_MIN || value > UINT64_MAX) throw new InvalidArgumentError('a plist int lies between -2^63 and 2^64 - 1');
      value = plistInt(value);
    }
    return this.ints.get(value) ?? this.ints.set(value, this.add({ kind: Kind.Int, value }));
  }

  flatten(value: BplistInput, depth: number): number {
    if (value === null) return this.singleton(Kind.Null);
    switch (typeof value) {
      case 'boolean':
        return this.singleton(value ? Kind.True : Kind.False);
      case 'number':
        return Number.isSafeInteger(value) && !Object.is(value, -0) ? this.int(value) : this.real(value, 64);
      case 'bigint':
        return this.int(value);
      case 'string':
        return this.strings.get(value) ?? this.strings.set(value, this.add({ kind: ASCII.test(value) ? Kind.Ascii : Kind.Utf16, value }));
      case 'object':
        break;
      default:
        throw new InvalidArgumentError(`a binary plist cannot hold ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}`);
    }
    if (value instanceof Uint8Array) {
      const key = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
      return this.datas.get(key) ?? this.datas.set(key, this.add({ kind: Kind.Data, value }));
    }
    if (value instanceof BplistReal) return this.real(value.value, value.bits);
    if (value instanceof Date) {
      const ms = value.getTime();
      if (Number.isNaN(ms)) throw new InvalidArgumentError('a binary plist cannot hold an invalid Date');
      return this.dates.get(ms) ?? this.dates.set(ms, this.add({ kind: Kind.Date, value: (ms - PLIST_EPOCH_MS) / 1000 }));
    }
    const known = this.identities.get(value);
    if (known !== undefined) {
      const object = this.objects[known]!;
      // A container gets its references once all its children are flattened: until then it is an ancestor.
      if (object.kind !== Kind.Uid && object.refs === undefined) throw new InvalidArgumentError('a binary plist cannot hold a value that contains itself');
      return known;
    }
    if (value instanceof BplistUid) {
      const ref = this.add({ kind: Kind.Uid, value: value.value });
      this.identities.set(value, ref);
      return ref;
    }
    if (depth >= this.maxDepth) throw new InvalidArgumentError(`binary plist value nested deeper than ${this.maxDepth} levels`);

    const refs: number[] = [];
    let object: FlatObject;
    if (Array.isArray(value) || value instanceof Set) {
      object = { kind: value instanceof Set ? Kind.Set : Kind.Array };
      this.identities.set(value, this.add(object));
      for (const child of value as Iterable<BplistInput>) refs.push(this.flatten(child, depth + 1));
    } else {
      const entries = dictEntries(value);
      if (this.sortKeys) entries.sort((a, b) => compareCodePoints(a[0], b[0]));
      object = { kind: Kind.Dict };
      this.identities.set(value, this.add(object));
      for (const entry of entries) refs.push(this.flatten(entry[0], depth + 1));
      for (const entry of entries) refs.push(this.flatten(entry[1], depth + 1));
    }
    object.refs = refs;
    return this.identities.get(value)!;
  }
}

/** A dict's entries, undefined values left out; fails on anything that is not a dict. */
function dictEntries(value: object): [string, BplistInput][] {
  const entries: [string, BplistInput][] = [];
  if (value instanceof Map) {
    for (const [key, item] of value as ReadonlyMap<unknown, BplistInput | undefined>) {
      if (typeof key !== 'string') throw new InvalidArgumentError('binary plist dict keys are strings');
      if (item !== undefined) entries.push([key, item]);
    }
    return entries;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    throw new InvalidArgumentError(`a binary plist cannot hold a ${typeof name === 'string' && name ? name : 'non-plain object'}`);
  }
  const dict = value as { readonly [key: string]: BplistInput | undefined };
  for (const key of Object.keys(dict)) {
    const item = dict[key];
    if (item !== undefined) entries.push([key, item]);
  }
  return entries;
}

function objectLength(object: FlatObject, refSize: number): number {
  switch (object.kind) {
    case Kind.Null:
    case Kind.False:
    case Kind.True:
      return 1;
    case Kind.Int:
      return intLength(object.value as number | bigint);
    case Kind.Real64:
    case Kind.Date:
      return 9;
    case Kind.Real32:
      return 5;
    case Kind.Data: {
      const length = (object.value as Uint8Array).length;
      return countLength(length) + length;
    }
    case Kind.Ascii: {
      const length = (object.value as string).length;
      return countLength(length) + length;
    }
    case Kind.Utf16: {
      const units = (object.value as string).length;
      return countLength(units) + units * 2;
    }
    case Kind.Uid:
      return 1 + widthFor(object.value as number);
    case Kind.Array:
    case Kind.Set:
    case Kind.Dict: {
      const refs = object.refs!.length;
      return countLength(object.kind === Kind.Dict ? refs / 2 : refs) + refs * refSize;
    }
  }
}

/** Writes an int object (plistlib's widths); returns the position after it. */
function writeInt(out: Buffer, at: number, value: number | bigint): number {
  if (typeof value === 'bigint') {
    if (value >= 2n ** 63n) {
      out[at] = Marker.Int | 4;
      out.fill(0, at + 1, at + 9);
      out.writeBigUInt64BE(value, at + 9);
      return at + 17;
    }
    out[at] = Marker.Int | 3;
    out.writeBigInt64BE(value, at + 1);
    return at + 9;
  }
  if (value < 0 || value >= TWO_32) {
    out[at] = Marker.Int | 3;
    const high = Math.floor(value / TWO_32);
    out.writeInt32BE(high, at + 1);
    out.writeUInt32BE(value - high * TWO_32, at + 5);
    return at + 9;
  }
  const size = widthFor(value);
  out[at] = Marker.Int | (size === 1 ? 0 : size === 2 ? 1 : 2);
  out.writeUIntBE(value, at + 1, size);
  return at + 1 + size;
}

function writeCount(out: Buffer, at: number, marker: number, count: number): number {
  if (count < 15) {
    out[at] = marker | count;
    return at + 1;
  }
  out[at] = marker | 0x0f;
  return writeInt(out, at + 1, count);
}

function writeObject(out: Buffer, at: number, object: FlatObject, refSize: number): void {
  switch (object.kind) {
    case Kind.Null:
      out[at] = Marker.Null;
      return;
    case Kind.False:
      out[at] = Marker.False;
      return;
    case Kind.True:
      out[at] = Marker.True;
      return;
    case Kind.Int:
      writeInt(out, at, object.value as number | bigint);
      return;
    case Kind.Real64:
      out[at] = Marker.Float64;
      out.writeDoubleBE(object.value as number, at + 1);
      return;
    case Kind.Real32:
      out[at] = Marker.Float32;
      out.writeFloatBE(object.value as number, at + 1);
      return;
    case Kind.Date:
      out[at] = Marker.Date;
      out.writeDoubleBE(object.value as number, at + 1);
      return;
    case Kind.Data: {
      const bytes = object.value as Uint8Array;
      out.set(bytes, writeCount(out, at, Marker.Data, bytes.length));
      return;
    }
    case Kind.Ascii: {
      const text = object.value as string;
      const p = writeCount(out, at, Marker.Ascii, text.length);
      if (text.length > 32) out.write(text, p, 'latin1');
      else for (let i = 0; i < text.length; i++) out[p + i] = text.charCodeAt(i);
      return;
    }
    case Kind.Utf16: {
      const text = object.value as string;
      let p = writeCount(out, at, Marker.Utf16, text.length);
      for (let i = 0; i < text.length; i++, p += 2) {
        const unit = text.charCodeAt(i);
        out[p] = unit >>> 8;
        out[p + 1] = unit & 0xff;
      }
      return;
    }
    case Kind.Uid: {
      const value = object.value as number;
      const size = widthFor(value);
      out[at] = Marker.Uid | (size - 1);
      writeUnsigned(out, at + 1, value, size);
      return;
    }
    case Kind.Array:
    case Kind.Set:
    case Kind.Dict: {
      const refs = object.refs!;
      const marker = object.kind === Kind.Array ? Marker.Array : object.kind === Kind.Set ? Marker.Set : Marker.Dict;
      let p = writeCount(out, at, marker, object.kind === Kind.Dict ? refs.length / 2 : refs.length);
      for (const ref of refs) {
        writeUnsigned(out, p, ref, refSize);
        p += refSize;
      }
      return;
    }
  }
}

/**
 * Encodes a value as a binary plist, byte for byte as plistlib would. Throws
 * InvalidArgumentError for what a plist cannot hold (undefined outside a dict, functions,
 * symbols, class instances, ints beyond -2^63 .. 2^64 - 1, non-string keys, cycles).
 */
export function encodeBplist(value: BplistInput, options: BplistEncodeOptions = {}): Buffer {
  const writer = new BplistWriter(options);
  const top = writer.flatten(value, 0);
  const objects = writer.objects;
  const refSize = widthFor(objects.length);
  const offsets = new Array<number>(objects.length);
  let at = HEADER_LENGTH;
  for (let i = 0; i < objects.length; i++) {
    offsets[i] = at;
    at += objectLength(objects[i]!, refSize);
  }
  const tableOffset = at;
  const offsetSize = widthFor(tableOffset);
  const trailer = tableOffset + objects.length * offsetSize;
  const out = Buffer.allocUnsafe(trailer + TRAILER_LENGTH);
  out.write(MAGIC, 0, 'latin1');
  for (let i = 0; i < objects.length; i++) writeObject(out, offsets[i]!, objects[i]!, refSize);
  for (let i = 0; i < objects.length; i++) writeUnsigned(out, tableOffset + i * offsetSize, offsets[i]!, offsetSize);
  out.fill(0, trailer, trailer + 6);
  out[trailer + 6] = offsetSize;
  out[trailer + 7] = refSize;
  writeUnsigned(out, trailer + 8, objects.length, 8);
  writeUnsigned(out, trailer + 16, top, 8);
  writeUnsigned(out, trailer + 24, tableOffset, 8);
  return out;
}
