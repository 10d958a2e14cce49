/**
 * The protobuf wire format (https://protobuf.dev/programming-guides/encoding/) for the MRP
 * schema, straight to and from the plain objects the library uses: absent fields absent
 * (proto2 presence), repeated fields only when non-empty, 64-bit integers as numbers, bytes as
 * Buffers (views into the input), enum values as numbers (also ones the schema does not list).
 *
 * The schema is the JSON descriptor protobufjs writes at build time (proto.build.mjs); a plan
 * per message type (field number → name, kind, wire type) is made of it here, on first use,
 * without protobufjs at run time: loading protobufjs and its reflection of the schema took
 * ~45 ms of the first connection. protobufjs' runtime codec also built Message instances
 * whose prototypes carry defaults, so every decode needed a second pass (toObject) and a
 * third (unknown enum values) to reach this shape, and every encode a check, a copy
 * (fromObject) and a linked list of write operations. Here each message is one pass: decode
 * reads straight into plain objects; encode checks and sizes the message, then writes it into
 * one buffer. The bytes written are those protobufjs writes (fields in number order), and an
 * encode refuses what protobufjs' verify() refuses, in its words (`volume: number expected`).
 *
 * Decoding is bounded: no read leaves the input (a length that runs past its end, a varint
 * longer than 10 bytes or cut off), nesting is limited to 100 levels (as protoc and
 * protobufjs), field number 0 and wire types 6 and 7 are refused, and a known field that
 * arrives with another wire type than its declared one is an error naming it. Unknown fields
 * (groups included) are skipped. Problems are thrown as `WireError` (reader-level: the
 * caller wraps them) or `DecodeError` (schema-level, already explained).
 */
import { DecodeError } from '../../errors';

/** Nesting deeper than this is refused (protoc's default recursion limit). */
export const PROTOBUF_MAX_DEPTH = 100;

/** A reader-level problem (truncation, a bad tag): the caller says which message it was. */
export class WireError extends Error {}

/** A value that does not fit its field (`path: what expected`); nothing was written. */
export class PayloadError extends Error {}

const enum Kind {
  Int32,
  Uint32,
  Sint32,
  Int64,
  Uint64,
  Sint64,
  Bool,
  Enum,
  Fixed32,
  Sfixed32,
  Fixed64,
  Sfixed64,
  Float,
  Double,
  String,
  Bytes,
  Message,
}

const SCALAR_KINDS: Readonly<Record<string, Kind>> = {
  int32: Kind.Int32,
  uint32: Kind.Uint32,
  sint32: Kind.Sint32,
  int64: Kind.Int64,
  uint64: Kind.Uint64,
  sint64: Kind.Sint64,
  bool: Kind.Bool,
  fixed32: Kind.Fixed32,
  sfixed32: Kind.Sfixed32,
  fixed64: Kind.Fixed64,
  sfixed64: Kind.Sfixed64,
  float: Kind.Float,
  double: Kind.Double,
  string: Kind.String,
  bytes: Kind.Bytes,
};

function wireTypeOf(kind: Kind): number {
  switch (kind) {
    case Kind.Fixed64:
    case Kind.Sfixed64:
    case Kind.Double:
      return 1;
    case Kind.Fixed32:
    case Kind.Sfixed32:
    case Kind.Float:
      return 5;
    case Kind.String:
    case Kind.Bytes:
    case Kind.Message:
      return 2;
    default:
      return 0;
  }
}

interface FieldPlan {
  /** The property in our objects (an extension's plain name, without its package). */
  readonly key: string;
  readonly id: number;
  /** How errors name it: `Type.field`, or an extension's plain name. */
  readonly label: string;
  readonly kind: Kind;
  readonly wire: number;
  readonly repeated: boolean;
  /** Numeric kinds may also arrive packed (wire type 2), whatever the schema says. */
  readonly packable: boolean;
  /** Written packed (the schema asks for it). */
  readonly packed: boolean;
  /** The field's key (number and wire type) as written, a varint. */
  readonly tag: number;
  /** For messages: the nested plan (filled once every plan exists; types may nest themselves). */
  message: MessagePlan | null;
  /** For enums: the values the schema lists (only those are sent). */
  values: ReadonlySet<number> | null;
}

export interface MessagePlan {
  readonly name: string;
  /** Field number → field. */
  readonly byId: (FieldPlan | undefined)[];
  /** Property → field (messages carry a few of their many fields: encoding looks up those). */
  readonly byKey: Map<string, FieldPlan>;
}

/** The parts of protobufjs' JSON descriptor (`Root#toJSON`) that describe messages and enums. */
export interface ProtoJson {
  nested?: Record<string, ProtoJson>;
  fields?: Record<string, { type: string; id: number; rule?: string; keyType?: string; options?: { packed?: boolean } }>;
  values?: Record<string, number>;
  /** An extension field declared in this scope: the message it extends, its type and number. */
  extend?: string;
  type?: string;
  id?: number;
  rule?: string;
}

interface Declared {
  fullName: string;
  json: ProtoJson;
  /** The scope its type references are resolved in (its parent for an extension). */
  scope: string;
}

/**
 * The plan of message type `root` (a full name such as `mrp.ProtocolMessage`) and of every
 * type it reaches, from a JSON descriptor. Type references resolve as in .proto files: from
 * the referencing scope outwards. Extensions of a message become fields named by their plain
 * name (`.mrp.setStateMessage` → `setStateMessage`).
 */
export function schemaPlan(json: ProtoJson, root: string): MessagePlan {
  const types = new Map<string, Declared>();
  const extensions: Declared[] = [];
  const walk = (node: ProtoJson, scope: string): void => {
    for (const [name, child] of Object.entries(node.nested ?? {})) {
      const fullName = scope === '' ? name : `${scope}.${name}`;
      if (child.extend !== undefined) extensions.push({ fullName, json: child, scope });
      else types.set(fullName, { fullName, json: child, scope: fullName });
      walk(child, fullName);
    }
  };
  walk(json, '');
  const resolve = (ref: string, scope: string): Declared => {
    if (ref.startsWith('.')) {
      const found = types.get(ref.slice(1));
      if (found) return found;
    } else {
      for (let at = scope; ; at = at.includes('.') ? at.slice(0, at.lastIndexOf('.')) : '') {
        const found = types.get(at === '' ? ref : `${at}.${ref}`);
        if (found) return found;
        if (at === '') break;
      }
    }
    throw new Error(`protobuf schema: no type ${ref} (referenced in ${scope})`);
  };
  const plans = new Map<string, MessagePlan>();
  const planOf = (declared: Declared): MessagePlan => {
    const known = plans.get(declared.fullName);
    if (known) return known;
    const plan: MessagePlan = { name: declared.fullName.slice(declared.fullName.lastIndexOf('.') + 1), byId: [], byKey: new Map() };
    plans.set(declared.fullName, plan);
    const add = (key: string, label: string, field: { type: string; id: number; rule?: string; keyType?: string; options?: { packed?: boolean } }, scope: string): void => {
      if (field.keyType !== undefined) throw new Error(`protobuf schema: map fields are not supported (${declared.fullName}.${key})`);
      let kind = SCALAR_KINDS[field.type];
      let nested: Declared | null = null;
      let values: ReadonlySet<number> | null = null;
      if (kind === undefined) {
        nested = resolve(field.type, scope);
        if (nested.json.values !== undefined) {
          kind = Kind.Enum;
          values = new Set(Object.values(nested.json.values));
          nested = null;
        } else {
          kind = Kind.Message;
        }
      }
      const wire = wireTypeOf(kind);
      const repeated = field.rule === 'repeated';
      const packable = repeated && wire !== 2;
      const packed = packable && field.options?.packed === true;
      const fieldPlan: FieldPlan = { key, id: field.id, label, kind, wire, repeated, packable, packed, tag: field.id * 8 + (packed ? 2 : wire), message: null, values };
      plan.byId[field.id] = fieldPlan;
      plan.byKey.set(key, fieldPlan);
      if (nested !== null) fieldPlan.message = planOf(nested);
    };
    for (const [name, field] of Object.entries(declared.json.fields ?? {})) add(name, `${plan.name}.${name}`, field, declared.fullName);
    for (const extension of extensions) {
      if (resolve(extension.json.extend!, extension.scope) !== declared) continue;
      // Named as protobufjs names it on the extended type, less the package: `setStateMessage`.
      const key = extension.fullName.slice(extension.fullName.indexOf('.') + 1);
      add(key, key, { type: extension.json.type!, id: extension.json.id!, ...(extension.json.rule !== undefined && { rule: extension.json.rule }) }, extension.scope);
    }
    return plan;
  };
  return planOf(resolve(`.${root}`, ''));
}

// ---------------------------------------------------------------------------------------
// Decoding

/** The read position, and the high 32 bits of the last varint read. */
interface Reader {
  buf: Buffer;
  pos: number;
  hi: number;
}

function outOfRange(): WireError {
  return new WireError('index out of range');
}

/** Reads a varint; returns its low 32 bits (unsigned) and leaves the high ones in `r.hi`. */
function varint(r: Reader, end: number): number {
  const buf = r.buf;
  let pos = r.pos;
  let lo = 0;
  let hi = 0;
  let byte: number;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw outOfRange();
    byte = buf[pos++]!;
    lo |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      r.pos = pos;
      r.hi = 0;
      return lo >>> 0;
    }
  }
  // Byte 5 carries 4 bits of the low word and 3 of the high one.
  if (pos >= end) throw outOfRange();
  byte = buf[pos++]!;
  lo |= (byte & 0x0f) << 28;
  hi = (byte & 0x7f) >> 4;
  if (byte >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (shift > 31) throw new WireError('invalid varint encoding');
      if (pos >= end) throw outOfRange();
      byte = buf[pos++]!;
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
  }
  r.pos = pos;
  r.hi = hi >>> 0;
  return lo >>> 0;
}

/** A 64-bit two's complement value (lo, hi) as a number, signed or not (exact up to 2^53). */
function longToNumber(lo: number, hi: number, unsigned: boolean): number {
  if (!unsigned && hi >>> 31) {
    let negLo = (~lo + 1) >>> 0;
    let negHi = ~hi >>> 0;
    if (negLo === 0) negHi = (negHi + 1) >>> 0;
    return -(negLo + negHi * 4294967296);
  }
  return lo + hi * 4294967296;
}

/** A field's key: at most 5 bytes and 32 bits, as protobufjs reads it. */
function tag(r: Reader, end: number): number {
  const start = r.pos;
  const value = varint(r, end);
  if (r.hi !== 0 || r.pos - start > 5) throw new WireError('invalid tag encoding');
  return value;
}

/** A length-delimited field's length, checked against what is left. */
function length(r: Reader, end: number): number {
  const n = varint(r, end);
  if (r.hi !== 0 || n > end - r.pos) throw new WireError(`index out of range: ${r.pos} + ${r.hi !== 0 ? 'a 64-bit length' : n} > ${end}`);
  return n;
}

function skip(r: Reader, end: number, wire: number, depth: number, field: number): void {
  if (depth > PROTOBUF_MAX_DEPTH) throw new WireError('max depth exceeded');
  switch (wire) {
    case 0:
      varint(r, end);
      return;
    case 1:
      if (end - r.pos < 8) throw outOfRange();
      r.pos += 8;
      return;
    case 2: {
      const n = length(r, end);
      r.pos += n;
      return;
    }
    case 3:
      for (;;) {
        const key = tag(r, end);
        const nested = key >>> 3;
        const nestedWire = key & 7;
        if (nested === 0) throw new WireError('illegal tag: field number 0');
        if (nestedWire === 4) {
          if (nested !== field) throw new WireError('invalid end group tag');
          return;
        }
        skip(r, end, nestedWire, depth + 1, nested);
      }
    case 5:
      if (end - r.pos < 4) throw outOfRange();
      r.pos += 4;
      return;
    default:
      throw new WireError(`invalid wire type ${wire} at offset ${r.pos}`);
  }
}

/** One value of a non-message field whose wire type was checked. */
function scalar(r: Reader, end: number, kind: Kind): unknown {
  const buf = r.buf;
  switch (kind) {
    case Kind.Int32:
    case Kind.Enum:
      return varint(r, end) | 0;
    case Kind.Uint32:
      return varint(r, end);
    case Kind.Sint32: {
      const n = varint(r, end);
      return (n >>> 1) ^ -(n & 1);
    }
    case Kind.Int64:
      return longToNumber(varint(r, end), r.hi, false);
    case Kind.Uint64:
      return longToNumber(varint(r, end), r.hi, true);
    case Kind.Sint64: {
      const lo = varint(r, end);
      const hi = r.hi;
      const mask = -(lo & 1);
      return longToNumber((((lo >>> 1) | (hi << 31)) ^ mask) >>> 0, ((hi >>> 1) ^ mask) >>> 0, false);
    }
    case Kind.Bool:
      // protobufjs reads the low 32 bits; so do we.
      return varint(r, end) !== 0;
    case Kind.Fixed32:
    case Kind.Sfixed32:
    case Kind.Float: {
      if (end - r.pos < 4) throw outOfRange();
      const at = r.pos;
      r.pos += 4;
      return kind === Kind.Float ? buf.readFloatLE(at) : kind === Kind.Fixed32 ? buf.readUInt32LE(at) : buf.readInt32LE(at);
    }
    case Kind.Fixed64:
    case Kind.Sfixed64:
    case Kind.Double: {
      if (end - r.pos < 8) throw outOfRange();
      const at = r.pos;
      r.pos += 8;
      if (kind === Kind.Double) return buf.readDoubleLE(at);
      return longToNumber(buf.readUInt32LE(at), buf.readUInt32LE(at + 4), kind === Kind.Fixed64);
    }
    case Kind.String: {
      const n = length(r, end);
      const at = r.pos;
      r.pos += n;
      return buf.toString('utf8', at, at + n);
    }
    case Kind.Bytes: {
      const n = length(r, end);
      const at = r.pos;
      r.pos += n;
      return buf.subarray(at, at + n);
    }
    default:
      throw new Error('protobuf: a message is not a scalar');
  }
}

function append(target: Record<string, unknown>, key: string, value: unknown): void {
  const list = target[key] as unknown[] | undefined;
  if (list === undefined) target[key] = [value];
  else list.push(value);
}

/**
 * Reads the fields of one message from `r.pos` to `end` into `target` (a message field seen
 * twice is merged, as protobuf says; for a scalar the last value wins).
 */
function readFields(r: Reader, end: number, plan: MessagePlan, depth: number, target: Record<string, unknown>): Record<string, unknown> {
  if (depth > PROTOBUF_MAX_DEPTH) throw new WireError('max depth exceeded');
  while (r.pos < end) {
    const key = tag(r, end);
    const id = key >>> 3;
    const wire = key & 7;
    if (id === 0) throw new WireError('illegal tag: field number 0');
    const field = plan.byId[id];
    if (field === undefined) {
      skip(r, end, wire, depth, id);
      continue;
    }
    if (wire !== field.wire) {
      if (wire > 5) throw new WireError(`invalid wire type ${wire} at offset ${r.pos}`);
      if (wire === 2 && field.packable) {
        const n = length(r, end);
        const stop = r.pos + n;
        while (r.pos < stop) append(target, field.key, scalar(r, stop, field.kind));
        continue;
      }
      throw new DecodeError(`malformed MRP message: ${field.label} (field ${id}) arrived with wire type ${wire}, expected ${field.wire}`);
    }
    let value: unknown;
    if (field.kind === Kind.Message) {
      const n = length(r, end);
      const stop = r.pos + n;
      const existing = field.repeated ? undefined : (target[field.key] as Record<string, unknown> | undefined);
      value = readFields(r, stop, field.message!, depth + 1, existing ?? {});
    } else {
      value = scalar(r, end, field.kind);
    }
    if (field.repeated) append(target, field.key, value);
    else target[field.key] = value;
  }
  return target;
}

/** The fields of a message of `plan` in `buf`, as a plain object. */
export function decodeProtobuf(buf: Buffer, plan: MessagePlan): Record<string, unknown> {
  return readFields({ buf, pos: 0, hi: 0 }, buf.length, plan, 0, {});
}

// ---------------------------------------------------------------------------------------
// Encoding

function isInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && Math.floor(value) === value;
}

function isString(value: unknown): boolean {
  return typeof value === 'string' || value instanceof String;
}

/**
 * What a scalar field's value should be, when it is not (protobufjs' verify() words and
 * rules: any integer for 32-bit fields, a number or a Long for 64-bit ones, array-likes or
 * base64 text for bytes, a listed number for enums); null when it fits.
 */
function expected(field: FieldPlan, value: unknown): string | null {
  switch (field.kind) {
    case Kind.Enum:
      return typeof value === 'number' && field.values!.has(value) ? null : 'enum value';
    case Kind.Int32:
    case Kind.Uint32:
    case Kind.Sint32:
    case Kind.Fixed32:
    case Kind.Sfixed32:
      return isInteger(value) ? null : 'integer';
    case Kind.Int64:
    case Kind.Uint64:
    case Kind.Sint64:
    case Kind.Fixed64:
    case Kind.Sfixed64: {
      const long = value as { low?: unknown; high?: unknown } | null;
      return isInteger(value) || (long !== null && typeof long === 'object' && isInteger(long.low) && isInteger(long.high)) ? null : 'integer|Long';
    }
    case Kind.Float:
    case Kind.Double:
      return typeof value === 'number' ? null : 'number';
    case Kind.Bool:
      return typeof value === 'boolean' ? null : 'boolean';
    case Kind.String:
      return isString(value) ? null : 'string';
    case Kind.Bytes:
      return (value !== null && typeof value === 'object' && typeof (value as { length?: unknown }).length === 'number') || isString(value) ? null : 'buffer';
    case Kind.Message:
      return null;
  }
}

function refuse(field: FieldPlan, what: string): PayloadError {
  return new PayloadError(`${field.key}: ${what}${field.repeated && what !== 'array' ? '[]' : ''} expected`);
}

type Plain = Record<string, unknown>;

/** Bytes of a varint of the unsigned 32-bit `n`. */
function varintSize32(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

const TWO_63 = 2 ** 63;

/**
 * A 64-bit value as (lo, hi): from a number or a Long-like `{low, high}` (as verify allows).
 * Numbers beyond the signed 64-bit range saturate, as protobufjs' conversion makes them.
 */
function longBits(value: unknown): [number, number] {
  if (typeof value === 'object' && value !== null) {
    const long = value as { low: number; high: number };
    return [long.low >>> 0, long.high >>> 0];
  }
  let n = value as number;
  if (n === 0 || Number.isNaN(n)) return [0, 0];
  if (n <= -TWO_63) return [0, 0x80000000];
  if (n + 1 >= TWO_63) return [0xffffffff, 0x7fffffff];
  const negative = n < 0;
  if (negative) n = -n;
  let lo = n >>> 0;
  let hi = ((n - lo) / 4294967296) >>> 0;
  if (negative) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 4294967295) {
      lo = 0;
      if (++hi > 4294967295) hi = 0;
    }
  }
  return [lo, hi];
}

function varintSize64(lo: number, hi: number): number {
  if (hi === 0) return varintSize32(lo);
  // 4 bytes hold 28 bits of lo; the rest of lo plus hi in 7-bit groups.
  const bits = 32 + (32 - Math.clz32(hi));
  return Math.ceil(bits / 7);
}

/** Strings up to this long are measured and, when ASCII, copied in JavaScript. */
const SHORT_STRING = 64;

/** UTF-8 length of `text` (lone surrogates count 3 bytes, as their replacement character). */
function utf8Length(text: string): number {
  if (text.length <= SHORT_STRING) {
    let ascii = true;
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return text.length;
  }
  return Buffer.byteLength(text, 'utf8');
}

function bytesOf(value: unknown): Uint8Array {
  return typeof value === 'string' ? Buffer.from(value, 'base64') : (value as Uint8Array);
}

/** The 64-bit value a field of `kind` puts on the wire as a varint (zigzag for sint). */
function wireLong(kind: Kind, value: unknown): [number, number] {
  const [lo, hi] = longBits(value);
  if (kind !== Kind.Sint64) return [lo, hi];
  const mask = hi >> 31;
  return [((lo << 1) ^ mask) >>> 0, (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0];
}

/**
 * What the size pass leaves for the write pass, in the order the write pass needs it, in two
 * arrays reused by every encode (an encode runs start to end without yielding):
 *  - `entries`: per message, in pre-order, the number of its fields to write, then each
 *    field and its value, in field number order;
 *  - `lengths`: the byte length of each string, nested message and packed list.
 */
const entries: unknown[] = [];
const lengths: number[] = [];
/** How much of each is in use (they are never shrunk: growing them again would cost more). */
let entriesUsed = 0;
let lengthsUsed = 0;

/** Size of one value's bytes (without its key). */
function valueSize(field: FieldPlan, value: unknown, depth: number): number {
  switch (field.kind) {
    case Kind.Int32:
    case Kind.Enum: {
      // protobufjs takes an int32 modulo 2^32 (verify lets any integer through).
      const n = (value as number) | 0;
      return n < 0 ? 10 : varintSize32(n);
    }
    case Kind.Uint32:
      return varintSize32((value as number) >>> 0);
    case Kind.Sint32: {
      const n = value as number;
      return varintSize32(((n << 1) ^ (n >> 31)) >>> 0);
    }
    case Kind.Int64:
    case Kind.Uint64:
    case Kind.Sint64: {
      const [lo, hi] = wireLong(field.kind, value);
      return varintSize64(lo, hi);
    }
    case Kind.Bool:
      return 1;
    case Kind.Fixed32:
    case Kind.Sfixed32:
    case Kind.Float:
      return 4;
    case Kind.Fixed64:
    case Kind.Sfixed64:
    case Kind.Double:
      return 8;
    case Kind.String: {
      const n = utf8Length(String(value));
      lengths[lengthsUsed++] = n;
      return varintSize32(n) + n;
    }
    case Kind.Bytes: {
      const n = bytesOf(value).length;
      return varintSize32(n) + n;
    }
    case Kind.Message: {
      const at = lengthsUsed++;
      let n: number;
      try {
        n = messageSize(value as Plain, field.message!, depth + 1);
      } catch (err) {
        throw err instanceof PayloadError ? new PayloadError(`${field.key}.${err.message}`) : err;
      }
      lengths[at] = n;
      return varintSize32(n) + n;
    }
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Records the fields of `message` to write, with their values, in field number order (as
 * protobufjs writes them) and returns their number. A message sets few of its type's
 * fields: its own keys are what is looked at.
 */
function recordFields(message: Plain, plan: MessagePlan): number {
  const first = entriesUsed;
  let count = 0;
  for (const key in message) {
    if (!hasOwn.call(message, key)) continue;
    const field = plan.byKey.get(key);
    if (field === undefined) continue;
    const value = message[key];
    if (value == null) continue;
    if (field.repeated) {
      if (!Array.isArray(value)) throw refuse(field, 'array');
      if (value.length === 0) continue;
      if (field.kind !== Kind.Message) {
        for (const item of value) {
          const what = expected(field, item);
          if (what !== null) throw refuse(field, what);
        }
      }
    } else if (field.kind !== Kind.Message) {
      const what = expected(field, value);
      if (what !== null) throw refuse(field, what);
    }
    let at = entriesUsed;
    entries[entriesUsed++] = field;
    entries[entriesUsed++] = value;
    while (at > first && (entries[at - 2] as FieldPlan).id > field.id) {
      entries[at] = entries[at - 2];
      entries[at + 1] = entries[at - 1];
      entries[at - 2] = field;
      entries[at - 1] = value;
      at -= 2;
    }
    count++;
  }
  return count;
}

function messageSize(message: Plain, plan: MessagePlan, depth: number): number {
  if (depth > PROTOBUF_MAX_DEPTH) throw new WireError('max depth exceeded');
  if (typeof message !== 'object' || message === null) throw new PayloadError('object expected');
  const countAt = entriesUsed++;
  const count = recordFields(message, plan);
  entries[countAt] = count;
  let size = 0;
  for (let i = countAt + 1, end = countAt + 1 + 2 * count; i < end; i += 2) {
    const field = entries[i] as FieldPlan;
    const value = entries[i + 1];
    if (!field.repeated) {
      size += varintSize32(field.tag) + valueSize(field, value, depth);
      continue;
    }
    const list = value as unknown[];
    if (field.packed) {
      const at = lengthsUsed++;
      let body = 0;
      for (const item of list) body += valueSize(field, item, depth);
      lengths[at] = body;
      size += varintSize32(field.tag) + varintSize32(body) + body;
    } else {
      for (const item of list) size += varintSize32(field.tag) + valueSize(field, item, depth);
    }
  }
  return size;
}

/** The write position, the next message's entries and the next recorded length. */
interface Writer {
  buf: Buffer;
  pos: number;
  nextEntries: number;
  nextLength: number;
}

function writeVarint32(w: Writer, n: number): void {
  const buf = w.buf;
  let pos = w.pos;
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  w.pos = pos;
}

function writeVarint64(w: Writer, lo: number, hi: number): void {
  const buf = w.buf;
  let pos = w.pos;
  while (hi !== 0) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  buf[pos++] = lo;
  w.pos = pos;
}

function writeValue(w: Writer, field: FieldPlan, value: unknown, depth: number): void {
  const buf = w.buf;
  switch (field.kind) {
    case Kind.Int32:
    case Kind.Enum: {
      const n = (value as number) | 0;
      // A negative int32 goes out sign-extended to 64 bits: ten bytes.
      if (n < 0) writeVarint64(w, n >>> 0, 0xffffffff);
      else writeVarint32(w, n);
      return;
    }
    case Kind.Uint32:
      writeVarint32(w, (value as number) >>> 0);
      return;
    case Kind.Sint32: {
      const n = value as number;
      writeVarint32(w, ((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case Kind.Int64:
    case Kind.Uint64:
    case Kind.Sint64: {
      const [lo, hi] = wireLong(field.kind, value);
      writeVarint64(w, lo, hi);
      return;
    }
    case Kind.Bool:
      buf[w.pos++] = value ? 1 : 0;
      return;
    case Kind.Fixed32:
      buf.writeUInt32LE((value as number) >>> 0, w.pos);
      w.pos += 4;
      return;
    case Kind.Sfixed32:
      buf.writeInt32LE((value as number) | 0, w.pos);
      w.pos += 4;
      return;
    case Kind.Float:
      buf.writeFloatLE(value as number, w.pos);
      w.pos += 4;
      return;
    case Kind.Fixed64:
    case Kind.Sfixed64: {
      const [lo, hi] = longBits(value);
      buf.writeUInt32LE(lo, w.pos);
      buf.writeUInt32LE(hi, w.pos + 4);
      w.pos += 8;
      return;
    }
    case Kind.Double:
      buf.writeDoubleLE(value as number, w.pos);
      w.pos += 8;
      return;
    case Kind.String: {
      const text = String(value);
      const n = lengths[w.nextLength++]!;
      writeVarint32(w, n);
      if (n === text.length && n <= SHORT_STRING) {
        // ASCII (one byte per character): copied here, cheaper than a call into C++.
        for (let i = 0, at = w.pos; i < n; i++) buf[at + i] = text.charCodeAt(i);
      } else if (n > 0) {
        buf.write(text, w.pos, n, 'utf8');
      }
      w.pos += n;
      return;
    }
    case Kind.Bytes: {
      const bytes = bytesOf(value);
      writeVarint32(w, bytes.length);
      buf.set(bytes, w.pos);
      w.pos += bytes.length;
      return;
    }
    case Kind.Message:
      writeVarint32(w, lengths[w.nextLength++]!);
      writeMessage(w, depth + 1);
      return;
  }
}

function writeMessage(w: Writer, depth: number): void {
  const countAt = w.nextEntries;
  const end = countAt + 1 + 2 * (entries[countAt] as number);
  // Messages nested in this one recorded their entries after all of this one's.
  w.nextEntries = end;
  for (let i = countAt + 1; i < end; i += 2) {
    const field = entries[i] as FieldPlan;
    const value = entries[i + 1];
    if (!field.repeated) {
      writeVarint32(w, field.tag);
      writeValue(w, field, value, depth);
      continue;
    }
    const list = value as unknown[];
    if (field.packed) {
      writeVarint32(w, field.tag);
      writeVarint32(w, lengths[w.nextLength++]!);
      for (const item of list) writeValue(w, field, item, depth);
    } else {
      for (const item of list) {
        writeVarint32(w, field.tag);
        writeValue(w, field, item, depth);
      }
    }
  }
}

/**
 * The bytes of `message`, a plain object of `plan`'s shape. A value that does not fit its
 * field is a PayloadError naming it; nothing else is thrown for any input but a nesting
 * deeper than PROTOBUF_MAX_DEPTH (WireError).
 */
export function encodeProtobuf(message: Plain, plan: MessagePlan): Buffer {
  entriesUsed = 0;
  lengthsUsed = 0;
  try {
    const size = messageSize(message, plan, 0);
    const w: Writer = { buf: Buffer.allocUnsafe(size), pos: 0, nextEntries: 0, nextLength: 0 };
    writeMessage(w, 0);
    if (w.pos !== size) throw new Error(`protobuf: wrote ${w.pos} bytes of ${size}`);
    return w.buf;
  } finally {
    // Let go of the values (a payload may hold large buffers).
    entries.fill(undefined, 0, entriesUsed);
  }
}
