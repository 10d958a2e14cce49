/**
 * The typed JSON notation of the recorded OPACK vectors (test/fixtures/README.md, "Typed JSON
 * values") to and from OPACK values: JSON alone cannot tell an int from a float, bytes from
 * text, or keep non-string dict keys, so those travel as one-key `$` tags.
 */
import { readFileSync } from 'node:fs';
import { OpackFloat, OpackUuid, type OpackObject, type OpackValue } from '../../lib/codecs/opack';
import { fixture } from './paths';

export type TypedJson = null | boolean | number | string | TypedJson[] | { [key: string]: TypedJson };

const SPECIAL_FLOATS: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };
const INDEX_LIKE = /^(0|[1-9][0-9]*)$/;

function floatFromJson(x: TypedJson): number {
  if (typeof x === 'number') return x;
  if (typeof x === 'string' && x in SPECIAL_FLOATS) return SPECIAL_FLOATS[x]!;
  throw new Error(`not a typed-JSON float: ${JSON.stringify(x)}`);
}

function floatToJson(x: number): TypedJson {
  return Number.isFinite(x) ? x : String(x);
}

/** `{"$date": "2001-01-01T00:00:00[.ffffff]Z"}` keeps microseconds; a JS Date keeps milliseconds. */
function dateFromJson(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`not a typed-JSON date: ${text}`);
  return date;
}

function dateToJson(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

export function fromTypedJson(json: TypedJson): OpackValue {
  if (json === null || typeof json === 'boolean' || typeof json === 'string') return json;
  if (typeof json === 'number') {
    if (!Number.isSafeInteger(json)) throw new Error(`typed JSON writes floats as {"$float64": x}, got bare ${json}`);
    return json;
  }
  if (Array.isArray(json)) return json.map(fromTypedJson);
  const keys = Object.keys(json);
  if (keys.length === 1 && keys[0]!.startsWith('$')) {
    const tag = keys[0]!;
    const x = json[tag]!;
    switch (tag) {
      case '$int':
        return BigInt(x as string);
      case '$float64':
        return new OpackFloat(floatFromJson(x));
      case '$float32':
        return new OpackFloat(floatFromJson(x), 32);
      case '$bytes':
        return Buffer.from(x as string, 'hex');
      case '$uuid':
        return new OpackUuid(x as string);
      case '$date':
        return dateFromJson(x as string);
      case '$dict':
        return new Map((x as [TypedJson, TypedJson][]).map(([k, v]) => [fromTypedJson(k), fromTypedJson(v)] as const));
      default:
        throw new Error(`typed-JSON tag ${tag} has no OPACK value`);
    }
  }
  return Object.fromEntries(keys.map((k) => [k, fromTypedJson(json[k]!)])) as OpackObject;
}

export function toTypedJson(value: OpackValue): TypedJson {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') {
    const safe = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
    return safe ? Number(value) : { $int: value.toString() };
  }
  if (value instanceof OpackFloat) return { [value.width === 32 ? '$float32' : '$float64']: floatToJson(value.value) };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex') };
  if (value instanceof OpackUuid) return { $uuid: value.toString() };
  if (value instanceof Date) return { $date: dateToJson(value) };
  if (Array.isArray(value)) return value.map(toTypedJson);
  const entries: [OpackValue, OpackValue][] =
    value instanceof Map
      ? [...(value as ReadonlyMap<OpackValue, OpackValue>)]
      : Object.entries(value as OpackObject).map(([k, v]) => [k, v!]);
  const asObject = entries.every(([k]) => typeof k === 'string' && !k.startsWith('$') && !INDEX_LIKE.test(k));
  if (asObject) return Object.fromEntries(entries.map(([k, v]) => [k as string, toTypedJson(v)]));
  return { $dict: entries.map(([k, v]) => [toTypedJson(k), toTypedJson(v)]) };
}

export interface OpackVector {
  name: string;
  value: TypedJson;
  hex: string;
  mode: 'pack' | 'unpack';
  note?: string;
}

/** A line of opack-pyatv-quirks.jsonl: what pyatv 0.16.1 did with a value or with bytes. */
export interface OpackQuirk {
  name: string;
  value?: TypedJson;
  hex?: string;
  pack?: string;
  pack_error?: string;
  unpack?: TypedJson;
  unpack_error?: string;
  note: string;
}

function readJsonLines<T>(name: string): T[] {
  return readFileSync(fixture('pyatv-0.16.1', name), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

export const readOpackVectors = (): OpackVector[] => readJsonLines<OpackVector>('opack-vectors.jsonl');
export const readOpackQuirks = (): OpackQuirk[] => readJsonLines<OpackQuirk>('opack-pyatv-quirks.jsonl');
