/**
 * XML property lists, the subset AirPlay receivers send: `GET /playback-info` answers with
 * `text/x-apple-plist+xml` (the AirPlay protocol notes of the openairplay project; pyatv reads
 * it with plistlib, which takes both forms). Pure functions, no I/O; values in the same model
 * as the binary codec (bplist.ts): dict → plain object, array, string, integer → number (bigint
 * beyond 2^53), real → number, true/false, date → Date, data → Buffer.
 *
 * The decoder is a small tokenizer, not a general XML parser: an XML declaration, a DOCTYPE
 * and comments are skipped; elements, entity and character references are read; anything
 * else (processing instructions inside, CDATA, unknown elements, attributes other than the
 * `version` of `<plist>`) is a DecodeError. Hostile input is bounded: the input size, the
 * nesting depth and the number of values are capped, and every step consumes input.
 */
import { DecodeError, InvalidArgumentError } from '../errors';
import { decodeBplist, type BplistDict, type BplistValue } from './bplist';

export const XML_PLIST_MAX_BYTES = 1024 * 1024;
export const XML_PLIST_MAX_DEPTH = 32;
export const XML_PLIST_MAX_VALUES = 100_000;

const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescape(text: string, at: number): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!(code >= 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) throw new DecodeError(`invalid character reference ${whole}`, { offset: at });
      return String.fromCodePoint(code);
    }
    const value = ENTITIES[ref];
    if (value === undefined) throw new DecodeError(`unknown entity ${whole}`, { offset: at });
    return value;
  });
}

interface Tag {
  kind: 'open' | 'close' | 'empty';
  name: string;
  at: number;
}

class Reader {
  private at = 0;
  private values = 0;

  constructor(private readonly text: string) {}

  /** Skips whitespace, comments, the XML declaration and a DOCTYPE. */
  private skipMisc(): void {
    for (;;) {
      const before = this.at;
      while (this.at < this.text.length && /\s/.test(this.text[this.at]!)) this.at++;
      for (const [open, close] of [
        ['<!--', '-->'],
        ['<?xml', '?>'],
        ['<!DOCTYPE', '>'],
      ] as const) {
        if (this.text.startsWith(open, this.at)) {
          const end = this.text.indexOf(close, this.at + open.length);
          if (end < 0) throw new DecodeError(`unterminated ${open}`, { offset: this.at });
          this.at = end + close.length;
        }
      }
      if (this.at === before) return;
    }
  }

  private tag(): Tag {
    this.skipMisc();
    const at = this.at;
    const m = /^<(\/?)([A-Za-z]+)((?:\s+[A-Za-z]+="[^"<>]*")*)\s*(\/?)>/.exec(this.text.slice(at, at + 256));
    if (m === null) throw new DecodeError('expected a plist element', { offset: at });
    const [whole, slash, name, attributes, selfClose] = m;
    if (attributes && name !== 'plist') throw new DecodeError(`attributes on <${name}>`, { offset: at });
    if (slash && (attributes || selfClose)) throw new DecodeError(`malformed closing tag </${name}>`, { offset: at });
    this.at += whole!.length;
    return { kind: slash ? 'close' : selfClose ? 'empty' : 'open', name: name!, at };
  }

  /** The character data up to `</name>`, unescaped; the closing tag is consumed. */
  private textUntil(name: string, at: number): string {
    const close = `</${name}>`;
    const end = this.text.indexOf(close, this.at);
    if (end < 0) throw new DecodeError(`<${name}> is not closed`, { offset: at });
    const raw = this.text.slice(this.at, end);
    if (raw.includes('<')) throw new DecodeError(`markup inside <${name}>`, { offset: at });
    this.at = end + close.length;
    return unescape(raw, at);
  }

  private expectClose(name: string): void {
    const tag = this.tag();
    if (tag.kind !== 'close' || tag.name !== name) throw new DecodeError(`expected </${name}>`, { offset: tag.at });
  }

  document(): BplistValue {
    const plist = this.tag();
    if (plist.name !== 'plist' || plist.kind !== 'open') throw new DecodeError('not an XML plist (no <plist>)', { offset: plist.at });
    const value = this.value(this.tag(), 1);
    this.expectClose('plist');
    this.skipMisc();
    if (this.at !== this.text.length) throw new DecodeError('data after </plist>', { offset: this.at });
    return value;
  }

  private value(tag: Tag, depth: number): BplistValue {
    if (depth > XML_PLIST_MAX_DEPTH) throw new DecodeError(`nested deeper than ${XML_PLIST_MAX_DEPTH}`, { offset: tag.at });
    if (++this.values > XML_PLIST_MAX_VALUES) throw new DecodeError(`more than ${XML_PLIST_MAX_VALUES} values`, { offset: tag.at });
    if (tag.kind === 'close') throw new DecodeError(`unexpected </${tag.name}>`, { offset: tag.at });
    const empty = tag.kind === 'empty';
    switch (tag.name) {
      case 'true':
      case 'false':
        if (!empty) this.expectClose(tag.name);
        return tag.name === 'true';
      case 'string':
        return empty ? '' : this.textUntil('string', tag.at);
      case 'integer': {
        const text = empty ? '' : this.textUntil('integer', tag.at).trim();
        if (!/^[+-]?\d{1,20}$/.test(text)) throw new DecodeError('an <integer> that is not a whole number', { offset: tag.at });
        const big = BigInt(text);
        if (big < -(2n ** 63n) || big > 2n ** 64n - 1n) throw new DecodeError('an <integer> out of the 64-bit range', { offset: tag.at });
        return Number.isSafeInteger(Number(big)) ? Number(big) : big;
      }
      case 'real': {
        const text = empty ? '' : this.textUntil('real', tag.at).trim();
        const special: Record<string, number> = { nan: NaN, inf: Infinity, '+inf': Infinity, '-inf': -Infinity };
        const n = special[text.toLowerCase()] ?? (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : undefined);
        if (n === undefined) throw new DecodeError('a <real> that is not a number', { offset: tag.at });
        return n;
      }
      case 'date': {
        const text = empty ? '' : this.textUntil('date', tag.at).trim();
        const date = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(text) ? new Date(text) : null;
        if (date === null || Number.isNaN(date.getTime())) throw new DecodeError('a <date> not in ISO 8601 UTC form', { offset: tag.at });
        return date;
      }
      case 'data': {
        const text = empty ? '' : this.textUntil('data', tag.at).replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new DecodeError('<data> that is not base64', { offset: tag.at });
        return Buffer.from(text, 'base64');
      }
      case 'array': {
        const items: BplistValue[] = [];
        if (empty) return items;
        for (;;) {
          const next = this.tag();
          if (next.kind === 'close' && next.name === 'array') return items;
          items.push(this.value(next, depth + 1));
        }
      }
      case 'dict': {
        const dict: BplistDict = {};
        if (empty) return dict;
        for (;;) {
          const key = this.tag();
          if (key.kind === 'close' && key.name === 'dict') return dict;
          if (key.name !== 'key') throw new DecodeError(`expected <key> in <dict>, got <${key.name}>`, { offset: key.at });
          const name = key.kind === 'empty' ? '' : this.textUntil('key', key.at);
          dict[name] = this.value(this.tag(), depth + 1);
        }
      }
      default:
        throw new DecodeError(`unsupported plist element <${tag.name}>`, { offset: tag.at });
    }
  }
}

/** Decodes an XML plist (UTF-8). Anything malformed or over the bounds is a DecodeError. */
export function decodeXmlPlist(input: Uint8Array): BplistValue {
  if (input.length > XML_PLIST_MAX_BYTES) throw new DecodeError(`an XML plist of ${input.length} bytes exceeds the ${XML_PLIST_MAX_BYTES}-byte limit`);
  return new Reader(Buffer.from(input.buffer, input.byteOffset, input.length).toString('utf8')).document();
}

function escape(text: string): string {
  return text.replace(/[<>&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&amp;'));
}

function element(value: BplistValue | undefined, indent: string, depth: number): string {
  if (depth > XML_PLIST_MAX_DEPTH) throw new InvalidArgumentError(`a plist nested deeper than ${XML_PLIST_MAX_DEPTH}`);
  if (value === null || value === undefined) throw new InvalidArgumentError('an XML plist has no null');
  if (typeof value === 'boolean') return `${indent}<${value}/>`;
  if (typeof value === 'bigint') return `${indent}<integer>${value}</integer>`;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? `${indent}<integer>${value}</integer>` : `${indent}<real>${value}</real>`;
  if (typeof value === 'string') return `${indent}<string>${escape(value)}</string>`;
  if (Buffer.isBuffer(value)) return `${indent}<data>${value.toString('base64')}</data>`;
  if (value instanceof Date) return `${indent}<date>${value.toISOString().replace(/\.\d{3}Z$/, 'Z')}</date>`;
  if (Array.isArray(value)) {
    return [`${indent}<array>`, ...value.map((v) => element(v, `${indent}\t`, depth + 1)), `${indent}</array>`].join('\n');
  }
  if (typeof value === 'object' && !(value instanceof Map) && !(value instanceof Set) && value.constructor === Object) {
    const lines = [`${indent}<dict>`];
    for (const [k, v] of Object.entries(value as BplistDict)) {
      if (v === undefined) continue;
      lines.push(`${indent}\t<key>${escape(k)}</key>`, element(v, `${indent}\t`, depth + 1));
    }
    lines.push(`${indent}</dict>`);
    return lines.join('\n');
  }
  throw new InvalidArgumentError('an XML plist holds dicts, arrays, strings, numbers, booleans, dates and data');
}

/** An XML plist (UTF-8), as Apple writes them (a real is written as a number with a point or exponent when it has one). */
export function encodeXmlPlist(value: BplistValue): Buffer {
  const body = element(value, '', 0);
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n${body}\n</plist>\n`,
    'utf8',
  );
}

/** A plist body in either form: binary (`bplist00`) or XML. */
export function decodePlistBody(input: Uint8Array): BplistValue {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.length);
  return buf.subarray(0, 8).toString('latin1') === 'bplist00' ? decodeBplist(buf, { maxDepth: XML_PLIST_MAX_DEPTH }) : decodeXmlPlist(buf);
}
