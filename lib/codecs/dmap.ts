/**
 * DMAP (DAAP/DACP) tag-length-value codec: pure functions, no I/O.
 *
 * Wire format: 4-byte ASCII tag code, 4-byte big-endian length, then the value. Containers
 * hold further TLVs; the tag table (`dmap-tags.ts`) says which tags are containers and what
 * type the others are. Unknown tags are kept as raw bytes, never dropped, never thrown on.
 * A length that runs past its buffer is a `DecodeError` naming the tag and offset; values
 * are views into the input, so a hostile length can never cause a large allocation.
 */
import { DecodeError, InvalidArgumentError } from '../errors';
import { dmapTag, type DmapType } from './dmap-tags';

export type DmapScalar = number | bigint | boolean | string | Date | Buffer;
export type DmapValue = DmapScalar | DmapNode[];

export interface DmapNode {
  tag: string;
  type: DmapType;
  value: DmapValue;
  /** Byte width of an integer as received (kept so re-encoding reproduces the input). */
  width?: number;
}

export interface DmapDecodeOptions {
  /** Deepest container nesting accepted (default 32); deeper input is a DecodeError. */
  maxDepth?: number;
}

const HEADER = 8;

/**
 * UTF-8 text as TextDecoder reads it (invalid sequences become U+FFFD, a leading byte-order
 * mark is dropped), without the copy a view for TextDecoder would need.
 */
function utf8(buf: Buffer, start: number, end: number): string {
  if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
  return buf.toString('utf8', start, end);
}

function readUnsigned(buf: Buffer): number | bigint {
  if (buf.length === 0) return 0;
  if (buf.length <= 6) return buf.readUIntBE(0, buf.length);
  let n = 0n;
  for (const byte of buf) n = (n << 8n) | BigInt(byte);
  return n;
}

function readSigned(buf: Buffer): number | bigint {
  if (buf.length === 0) return 0;
  if (buf.length <= 6) return buf.readIntBE(0, buf.length);
  return BigInt.asIntN(buf.length * 8, readUnsigned(buf) as bigint);
}

function decodeScalar(type: Exclude<DmapType, 'container'>, buf: Buffer, start: number, end: number): DmapScalar {
  const length = end - start;
  switch (type) {
    case 'uint':
      if (length === 0) return 0;
      return length <= 6 ? buf.readUIntBE(start, length) : readUnsigned(buf.subarray(start, end));
    case 'int':
      if (length === 0) return 0;
      return length <= 6 ? buf.readIntBE(start, length) : readSigned(buf.subarray(start, end));
    case 'bool':
      for (let i = start; i < end; i++) if (buf[i] !== 0) return true;
      return false;
    case 'string':
      return utf8(buf, start, end);
    case 'date':
      return new Date(Number(length === 0 ? 0 : length <= 6 ? buf.readUIntBE(start, length) : readUnsigned(buf.subarray(start, end))) * 1000);
    case 'version':
      return length === 4 ? `${buf.readUInt16BE(start)}.${buf[start + 2]}.${buf[start + 3]}` : [...buf.subarray(start, end)].join('.');
    case 'raw':
      return buf.subarray(start, end);
  }
}

/** True when `buf[start, end)` is exactly a sequence of well-formed TLVs with printable tag codes. */
function isTlvSequence(buf: Buffer, start: number, end: number): boolean {
  let offset = start;
  while (offset < end) {
    if (end - offset < HEADER) return false;
    for (let i = 0; i < 4; i++) {
      const c = buf[offset + i]!;
      if (c < 0x20 || c > 0x7e) return false;
    }
    const length = buf.readUInt32BE(offset + 4);
    if (length > end - offset - HEADER) return false;
    offset += HEADER + length;
  }
  return end > start;
}

/** A tag code read off the wire, with what the tag table says of it. */
interface TagInfo {
  readonly tag: string;
  readonly type: DmapType;
  readonly textFallback: boolean;
}

/**
 * Tag codes seen so far, by their four bytes as a number: a body repeats a few dozen codes,
 * and looking one up this way costs no string. Bounded (a hostile body may bring any code).
 */
const tagInfos = new Map<number, TagInfo>();
const MAX_CACHED_TAGS = 4096;

function tagAt(buf: Buffer, offset: number): TagInfo {
  const code = buf.readUInt32BE(offset);
  let info = tagInfos.get(code);
  if (info === undefined) {
    const tag = buf.toString('latin1', offset, offset + 4);
    const spec = dmapTag(tag);
    info = { tag, type: spec?.type ?? 'raw', textFallback: spec?.textFallback === true };
    if (tagInfos.size < MAX_CACHED_TAGS) tagInfos.set(code, info);
  }
  return info;
}

/** The TLVs of `buf[start, end)`; offsets in errors are positions in `buf` (the whole input). */
function decodeAt(buf: Buffer, start: number, end: number, depth: number, maxDepth: number): DmapNode[] {
  if (depth > maxDepth) {
    throw new DecodeError(`DMAP containers nested deeper than ${maxDepth} levels`, { offset: start });
  }
  const nodes: DmapNode[] = [];
  let at = start;
  while (at < end) {
    const remaining = end - at;
    if (remaining < HEADER) {
      throw new DecodeError(`truncated DMAP data at offset ${at}: a tag header needs 8 bytes, ${remaining} left`, { offset: at });
    }
    const { tag, type, textFallback } = tagAt(buf, at);
    const length = buf.readUInt32BE(at + 4);
    if (length > remaining - HEADER) {
      throw new DecodeError(
        `DMAP tag '${tag}' at offset ${at} declares ${length} bytes but only ${remaining - HEADER} remain`,
        { offset: at },
      );
    }
    const valueStart = at + HEADER;
    const valueEnd = valueStart + length;
    if (type === 'container' && !(textFallback && !isTlvSequence(buf, valueStart, valueEnd))) {
      nodes.push({ tag, type, value: decodeAt(buf, valueStart, valueEnd, depth + 1, maxDepth) });
    } else if (type === 'container') {
      nodes.push({ tag, type: 'string', value: utf8(buf, valueStart, valueEnd) });
    } else if (type === 'uint' || type === 'int') {
      nodes.push({ tag, type, value: decodeScalar(type, buf, valueStart, valueEnd), width: length });
    } else {
      nodes.push({ tag, type, value: decodeScalar(type, buf, valueStart, valueEnd) });
    }
    at = valueEnd;
  }
  return nodes;
}

/** Decodes a DMAP body into its tag tree. Throws `DecodeError` on malformed input. */
export function decodeDmap(input: Uint8Array, options: DmapDecodeOptions = {}): DmapNode[] {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return decodeAt(buf, 0, buf.length, 0, options.maxDepth ?? 32);
}

// ---------------------------------------------------------------------------------------
// Encoding

export type DmapEncodable = DmapScalar | readonly (Buffer | DmapNode)[];

/** The tag's 8-byte header followed by `body`, in one buffer. */
function withHeader(tag: string, body: Buffer): Buffer {
  if (tag.length !== 4 || Buffer.byteLength(tag, 'latin1') !== 4) {
    throw new InvalidArgumentError(`a DMAP tag code has 4 characters, got ${JSON.stringify(tag)}`);
  }
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.write(tag, 0, 'latin1');
  out.writeUInt32BE(body.length, 4);
  body.copy(out, HEADER);
  return out;
}

function inferType(value: DmapEncodable): DmapType {
  if (Array.isArray(value)) return 'container';
  if (Buffer.isBuffer(value)) return 'raw';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (value instanceof Date) return 'date';
  return 'uint';
}

function encodeInteger(tag: string, value: unknown, width: number, signed: boolean): Buffer {
  if (typeof value !== 'number' && typeof value !== 'bigint' && typeof value !== 'boolean') {
    throw new InvalidArgumentError(`DMAP tag '${tag}' needs a number, got ${typeof value}`);
  }
  if (typeof value !== 'bigint' && width <= 6) {
    // Up to 48 bits every integer is exact as a number: no BigInt needed.
    const n = typeof value === 'boolean' ? Number(value) : Math.trunc(value);
    if (Number.isFinite(n)) {
      const bits = width * 8;
      const min = signed ? -(2 ** (bits - 1)) : 0;
      const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
      if (n < min || n > max) {
        throw new InvalidArgumentError(`value ${BigInt(n)} does not fit DMAP tag '${tag}' (${width} bytes${signed ? ', signed' : ''})`);
      }
      const out = Buffer.allocUnsafe(width);
      if (n < 0) out.writeIntBE(n, 0, width);
      else out.writeUIntBE(n, 0, width);
      return out;
    }
  }
  const big = BigInt(typeof value === 'boolean' ? Number(value) : typeof value === 'number' ? Math.trunc(value) : value);
  const bits = BigInt(width * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (big < min || big > max) {
    throw new InvalidArgumentError(`value ${big} does not fit DMAP tag '${tag}' (${width} bytes${signed ? ', signed' : ''})`);
  }
  const out = Buffer.alloc(width);
  let v = BigInt.asUintN(width * 8, big);
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function encodeValue(tag: string, type: DmapType, value: DmapEncodable, width: number | undefined): Buffer {
  switch (type) {
    case 'container': {
      if (!Array.isArray(value)) throw new InvalidArgumentError(`DMAP container '${tag}' needs a list of children`);
      return Buffer.concat(value.map((child) => (Buffer.isBuffer(child) ? child : encodeNode(child as DmapNode))));
    }
    case 'uint':
    case 'int':
      return encodeInteger(tag, value, width ?? 4, type === 'int');
    case 'bool':
      return Buffer.from([value ? 1 : 0]);
    case 'string':
      if (typeof value !== 'string') throw new InvalidArgumentError(`DMAP tag '${tag}' needs a string`);
      return Buffer.from(value, 'utf8');
    case 'date': {
      const seconds = value instanceof Date ? Math.floor(value.getTime() / 1000) : value;
      return encodeInteger(tag, seconds, 4, false);
    }
    case 'version': {
      const parts = String(value).split('.').map(Number);
      const out = Buffer.alloc(4);
      out.writeUInt16BE((parts[0] ?? 0) & 0xffff, 0);
      out[2] = (parts[1] ?? 0) & 0xff;
      out[3] = (parts[2] ?? 0) & 0xff;
      return out;
    }
    case 'raw':
      if (!Buffer.isBuffer(value)) throw new InvalidArgumentError(`DMAP tag '${tag}' needs raw bytes (a Buffer)`);
      return value;
  }
}

/**
 * Encodes one tag. The value's type comes from the tag table (integers take the table's
 * width unless `width` is given); tags the table does not know are typed from the value.
 * A container's value is a list of already-encoded children or nodes.
 */
export function encodeTag(tag: string, value: DmapEncodable, width?: 1 | 2 | 4 | 8): Buffer {
  const spec = dmapTag(tag);
  const type = spec?.type ?? inferType(value);
  const body = encodeValue(tag, type === 'container' && !Array.isArray(value) && spec?.textFallback ? 'string' : type, value, width ?? spec?.size);
  return withHeader(tag, body);
}

/** Encodes a decoded node (or a tree of them) back to bytes. */
export function encodeNode(node: DmapNode): Buffer {
  const width = node.width ?? dmapTag(node.tag)?.size;
  const body = encodeValue(node.tag, node.type, node.value as DmapEncodable, width);
  return withHeader(node.tag, body);
}

export function encodeDmap(nodes: readonly DmapNode[]): Buffer {
  return Buffer.concat(nodes.map(encodeNode));
}

// ---------------------------------------------------------------------------------------
// Reading decoded trees

/** The first node at a path of tag codes, e.g. `findDmap(nodes, 'cmst', 'caps')`. */
export function findDmap(nodes: readonly DmapNode[], ...path: string[]): DmapNode | undefined {
  let level: readonly DmapNode[] = nodes;
  let found: DmapNode | undefined;
  for (const tag of path) {
    found = level.find((n) => n.tag === tag);
    if (!found) return undefined;
    level = Array.isArray(found.value) ? found.value : [];
  }
  return found;
}

/** Every node with the last tag of the path, under the first match of the preceding tags. */
export function findAllDmap(nodes: readonly DmapNode[], ...path: string[]): DmapNode[] {
  const parentPath = path.slice(0, -1);
  const last = path[path.length - 1];
  const parent = parentPath.length === 0 ? nodes : findDmap(nodes, ...parentPath)?.value;
  return Array.isArray(parent) ? parent.filter((n) => n.tag === last) : [];
}

/** A number at a path (bigints converted when safe), or undefined. */
export function dmapNumber(nodes: readonly DmapNode[], ...path: string[]): number | undefined {
  const v = findDmap(nodes, ...path)?.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

export function dmapString(nodes: readonly DmapNode[], ...path: string[]): string | undefined {
  const v = findDmap(nodes, ...path)?.value;
  return typeof v === 'string' ? v : undefined;
}

export function dmapBool(nodes: readonly DmapNode[], ...path: string[]): boolean | undefined {
  const v = findDmap(nodes, ...path)?.value;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return undefined;
}

export type DmapObject = { [tag: string]: DmapObjectValue };
export type DmapObjectValue = DmapScalar | DmapObject | DmapObjectValue[];

/**
 * A plain-object view of a tree: `{ cmst: { mstt: 200, cmsr: 25 } }`. A tag that occurs more
 * than once in one container becomes an array (use `findAllDmap` when a list may hold one).
 */
export function dmapToObject(nodes: readonly DmapNode[]): DmapObject {
  const out: DmapObject = {};
  for (const node of nodes) {
    const value: DmapObjectValue = Array.isArray(node.value) ? dmapToObject(node.value) : (node.value as DmapScalar);
    if (!Object.prototype.hasOwnProperty.call(out, node.tag)) out[node.tag] = value;
    else {
      const existing = out[node.tag]!;
      out[node.tag] = Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
  }
  return out;
}
