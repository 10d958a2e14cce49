/**
 * Reads the HTTP/1.x responses a DACP server sends on one keep-alive connection, without I/O:
 * bytes in, response heads and body chunks out. A DACP client cannot use the strict message
 * codec of lib/codecs/http.ts (Content-Length bodies only) because it must take what iTunes,
 * Apple TVs and OwnTone send and what node:http used to accept: bodies delimited by
 * Content-Length, chunked (RFC 9112 §7.1), or by the end of the connection (RFC 9112 §6.3),
 * interim 1xx responses skipped, and bare-LF line ends tolerated. Anything else is refused
 * with the reason, and the connection is not usable after it.
 *
 * Bounded: the head may take at most 16 KiB (node:http's limit) and 100 fields, a chunk-size
 * line 128 bytes; bodies are not buffered here (the caller counts and caps them).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** node:http's default bound of a response head. */
export const DACP_MAX_HEAD_BYTES = 16 * 1024;
const MAX_FIELDS = 100;
const MAX_CHUNK_LINE = 128;

export interface DacpResponseHead {
  status: number;
  /** Lower-case names, as node:http gives them (repeated fields joined with ", "; set-cookie a list). */
  headers: IncomingHttpHeaders;
  /** The body length the server announced, when it did (Content-Length). */
  length: number | null;
}

/** What the reader calls as it goes; a throw ends the read (the caller closes the connection). */
export interface DacpResponseEvents {
  head(head: DacpResponseHead): void;
  data(chunk: Buffer): void;
  /** The response is complete; `reusable`: the connection may carry the next request. */
  end(reusable: boolean): void;
}

/** The response does not follow HTTP/1.x (the reason says where). */
export class HttpSyntaxError extends Error {}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?:[ \t].*)?$/;
/** Fields a repeat of which node:http drops instead of joining (its "discard duplicates" set). */
const SINGLE = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

type Body =
  | { kind: 'length'; remaining: number }
  | { kind: 'chunked'; remaining: number; stage: 'size' | 'data' | 'data-end' | 'trailer' }
  | { kind: 'close' };

export class DacpResponseReader {
  private pending: Buffer | null = null;
  private body: Body | null = null;
  private keepAlive = false;
  private done = false;

  constructor(private readonly events: DacpResponseEvents) {}

  /** Whether the response has started arriving (its first byte). */
  get started(): boolean {
    return this.pending !== null || this.body !== null || this.done;
  }

  /** Whether the current response is complete. */
  get complete(): boolean {
    return this.done;
  }

  push(chunk: Buffer): void {
    if (this.done) {
      // More than the answer: the connection is out of step with our requests.
      if (chunk.length > 0) throw new HttpSyntaxError('data after the end of the response');
      return;
    }
    let input = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    while (input.length > 0 && !this.done) {
      input = this.body === null ? this.readHead(input) : this.readBody(input);
    }
    if (this.done && input.length > 0) throw new HttpSyntaxError('data after the end of the response');
  }

  /** The connection ended: completes a body that runs to the end, else the response was cut off. */
  end(): void {
    if (this.done) return;
    if (this.body?.kind === 'close') {
      this.finish(false);
      return;
    }
    throw new HttpSyntaxError(this.started ? 'the answer was cut off' : 'the connection closed without an answer');
  }

  private readHead(input: Buffer): Buffer {
    const headEnd = blankLineEnd(input);
    if (headEnd === null || headEnd > DACP_MAX_HEAD_BYTES) {
      if (headEnd !== null || input.length > DACP_MAX_HEAD_BYTES) throw new HttpSyntaxError(`a response head longer than ${DACP_MAX_HEAD_BYTES} bytes`);
      this.pending = input;
      return input.subarray(input.length);
    }
    const lines = input.toString('latin1', 0, headEnd).split(/\r?\n/);
    const match = STATUS_LINE.exec(lines[0]!);
    if (match === null) throw new HttpSyntaxError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
    const minor = Number(match[1]);
    const status = Number(match[2]);
    const headers: IncomingHttpHeaders = {};
    let fields = 0;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      if (++fields > MAX_FIELDS) throw new HttpSyntaxError(`more than ${MAX_FIELDS} header fields`);
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new HttpSyntaxError(`a malformed header line: ${JSON.stringify(line.slice(0, 40))}`);
      const value = line.slice(colon + 1).trim();
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new HttpSyntaxError(`a control character in the ${name} header`);
      addHeader(headers, name.toLowerCase(), value);
    }
    const rest = input.subarray(headEnd);
    if (status >= 100 && status < 200 && status !== 101) return rest; // interim: the real answer follows
    const connection = String(headers.connection ?? '').toLowerCase();
    this.keepAlive = minor === 1 ? !/(^|,)\s*close\s*(,|$)/.test(connection) : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
    const encoding = headers['transfer-encoding'];
    let length: number | null = null;
    if (status === 204 || status === 304) {
      this.body = { kind: 'length', remaining: 0 };
    } else if (encoding !== undefined) {
      const codings = encoding.toLowerCase().split(',').map((c) => c.trim());
      this.body = codings[codings.length - 1] === 'chunked' ? { kind: 'chunked', remaining: 0, stage: 'size' } : { kind: 'close' };
    } else if (headers['content-length'] !== undefined) {
      const value = headers['content-length'];
      if (!/^\d{1,15}$/.test(value)) throw new HttpSyntaxError(`an invalid Content-Length ${JSON.stringify(value.slice(0, 20))}`);
      length = Number(value);
      this.body = { kind: 'length', remaining: length };
    } else {
      this.body = { kind: 'close' };
    }
    if (this.body.kind === 'close') this.keepAlive = false;
    this.events.head({ status, headers, length });
    if (this.body.kind === 'length' && this.body.remaining === 0) this.finish(this.keepAlive);
    return rest;
  }

  private readBody(input: Buffer): Buffer {
    const body = this.body!;
    if (body.kind === 'close') {
      this.events.data(input);
      return input.subarray(input.length);
    }
    if (body.kind === 'length') {
      const take = Math.min(body.remaining, input.length);
      body.remaining -= take;
      this.events.data(input.subarray(0, take));
      if (body.remaining === 0) this.finish(this.keepAlive);
      return input.subarray(take);
    }
    switch (body.stage) {
      case 'data': {
        const take = Math.min(body.remaining, input.length);
        body.remaining -= take;
        if (take > 0) this.events.data(input.subarray(0, take));
        if (body.remaining === 0) body.stage = 'data-end';
        return input.subarray(take);
      }
      case 'data-end':
      case 'size':
      case 'trailer': {
        const newline = input.indexOf(0x0a);
        if (newline < 0) {
          if (input.length > MAX_CHUNK_LINE) throw new HttpSyntaxError('a chunk line longer than 128 bytes');
          this.pending = input;
          return input.subarray(input.length);
        }
        if (newline > MAX_CHUNK_LINE) throw new HttpSyntaxError('a chunk line longer than 128 bytes');
        const line = input.toString('latin1', 0, newline).replace(/\r$/, '');
        const rest = input.subarray(newline + 1);
        if (body.stage === 'data-end') {
          if (line !== '') throw new HttpSyntaxError('a chunk longer than its size');
          body.stage = 'size';
        } else if (body.stage === 'size') {
          const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
          if (size === null) throw new HttpSyntaxError(`an invalid chunk size ${JSON.stringify(line.slice(0, 20))}`);
          body.remaining = parseInt(size[1]!, 16);
          body.stage = body.remaining === 0 ? 'trailer' : 'data';
        } else if (line === '') {
          this.finish(this.keepAlive);
        }
        return rest;
      }
    }
  }

  private finish(reusable: boolean): void {
    this.done = true;
    this.events.end(reusable);
  }
}

/** Where the head ends: just after its first empty line (CRLF or bare LF); null if not yet. */
function blankLineEnd(input: Buffer): number | null {
  let start = 0;
  for (;;) {
    const newline = input.indexOf(0x0a, start);
    if (newline < 0) return null;
    const length = newline - start - (newline > start && input[newline - 1] === 0x0d ? 1 : 0);
    if (length === 0 && start > 0) return newline + 1;
    start = newline + 1;
  }
}

function addHeader(headers: IncomingHttpHeaders, name: string, value: string): void {
  const existing = headers[name];
  if (existing === undefined) {
    headers[name] = name === 'set-cookie' ? [value] : value;
  } else if (name === 'set-cookie') {
    (existing as string[]).push(value);
  } else if (!SINGLE.has(name)) {
    headers[name] = `${existing as string}, ${value}`;
  }
}
