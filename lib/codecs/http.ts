/**
 * HTTP/1.x and RTSP/1.0 messages as bytes, with no socket: AirPlay 2 runs pairing as plain
 * HTTP/1.1 on the AirPlay port and then, on the very same connection, switches to HAP-framed
 * ChaCha20-Poly1305 and speaks RTSP/1.0 (SETUP, RECORD, POST /feedback); the receiver also
 * sends RTSP-style requests on the event connection and expects answers. `node:http` cannot
 * run over that cipher, so the channel hands this codec plaintext and sends what it encodes.
 * RTSP/1.0 borrows HTTP/1.1's message syntax (RFC 2326 §4, §6, §7), hence one codec.
 *
 * Decoding is strict where leniency buys ambiguity (RFC 9112 §2.2, §5): lines end in CRLF
 * (a bare CR or LF is refused), no whitespace between a field name and its colon, no
 * obsolete line folding, no control bytes; whitespace after the colon is optional (an Apple
 * TV was quoted sending `Content-Length:0`). Bodies are delimited by Content-Length only:
 * a message without it has an empty body, responses included (pyatv's fake device answers
 * `/pair-pin-start` that way on a kept-alive connection; read-until-close bodies do not occur
 * on these channels), and any Transfer-Encoding is refused. Responses to HEAD are not
 * supported (nothing here sends HEAD). Header names keep their case and order; field values
 * are latin1 strings, so every byte survives a decode/encode round trip.
 */
import { DecodeError, InvalidArgumentError } from '../errors';
import { ByteQueue } from './byte-queue';

/** The protocol versions this codec reads and writes. */
export const HTTP_PROTOCOLS = ['HTTP/1.1', 'HTTP/1.0', 'RTSP/1.0'] as const;
export type HttpProtocol = (typeof HTTP_PROTOCOLS)[number];

/** Default bound of a message's start line plus header fields plus the blank line. */
export const HTTP_MAX_HEADER_BYTES = 16 * 1024;
/** Default bound of the number of header fields (Apple's messages carry fewer than ten). */
export const HTTP_MAX_HEADER_COUNT = 64;
/**
 * Default bound of a body. The bodies on these channels are pairing TLVs and binary plists
 * of a few KiB (an Apple TV's `updateInfo` event is about 1.4 KiB).
 */
export const HTTP_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Reason phrases the encoder fills in when none is given (any other status gets an empty one). */
export const HTTP_REASON_PHRASES: Readonly<Record<number, string>> = Object.freeze({
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  /** RTSP (RFC 2326): the receiver cannot take another stream. */
  453: 'Not Enough Bandwidth',
  454: 'Session Not Found',
  /** AirPlay: missing or invalid pairing on the tunnel. */
  470: 'Connection Authorization Required',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
});

export type HttpHeaderValue = string | number;
export type HttpHeadersInit =
  | HttpHeaders
  | Iterable<readonly [string, HttpHeaderValue]>
  | Readonly<Record<string, HttpHeaderValue>>;

/**
 * Header fields in order, names in their original case, looked up case-insensitively. A
 * plain-object init keeps its insertion order (header names are never integer-like, which is
 * the one case where JavaScript reorders keys).
 */
export class HttpHeaders implements Iterable<[string, string]> {
  private readonly fields: Array<[string, string]> = [];

  constructor(init?: HttpHeadersInit) {
    if (init === undefined) return;
    const pairs: Iterable<readonly [string, HttpHeaderValue]> =
      init instanceof HttpHeaders ? init.fields : Symbol.iterator in init ? (init as Iterable<readonly [string, HttpHeaderValue]>) : Object.entries(init);
    for (const [name, value] of pairs) this.append(name, value);
  }

  /** Number of fields (repeated names count once per field). */
  get size(): number {
    return this.fields.length;
  }

  /** The first field named `name` (any case), or undefined. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    return this.fields.find(([n]) => n.toLowerCase() === key)?.[1];
  }

  /** Every field named `name` (any case), in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.fields.filter(([n]) => n.toLowerCase() === key).map(([, v]) => v);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Adds a field at the end, even if the name is present already. */
  append(name: string, value: HttpHeaderValue): this {
    this.fields.push([name, String(value)]);
    return this;
  }

  /**
   * Sets `name` to one value: the first field of that name is replaced where it stands (taking
   * the new spelling of the name), later ones are removed; a new name goes at the end.
   */
  set(name: string, value: HttpHeaderValue): this {
    const key = name.toLowerCase();
    const at = this.fields.findIndex(([n]) => n.toLowerCase() === key);
    if (at < 0) return this.append(name, value);
    this.fields[at] = [name, String(value)];
    for (let i = this.fields.length - 1; i > at; i--) if (this.fields[i]![0].toLowerCase() === key) this.fields.splice(i, 1);
    return this;
  }

  /** Removes every field named `name`; says whether there was one. */
  delete(name: string): boolean {
    const key = name.toLowerCase();
    const before = this.fields.length;
    for (let i = before - 1; i >= 0; i--) if (this.fields[i]![0].toLowerCase() === key) this.fields.splice(i, 1);
    return this.fields.length !== before;
  }

  /** A copy of the fields as `[name, value]` pairs, in order. */
  entries(): Array<[string, string]> {
    return this.fields.map(([n, v]) => [n, v]);
  }

  [Symbol.iterator](): Iterator<[string, string]> {
    return this.entries()[Symbol.iterator]();
  }

  /** The pairs, so a logged or JSON-serialised message shows its headers. */
  toJSON(): Array<[string, string]> {
    return this.entries();
  }
}

/** A request as decoded: `target` is the request-target (RTSP's Request-URI), as sent. */
export interface HttpRequest {
  kind: 'request';
  method: string;
  target: string;
  protocol: HttpProtocol;
  headers: HttpHeaders;
  body: Buffer;
}

export interface HttpResponse {
  kind: 'response';
  protocol: HttpProtocol;
  status: number;
  reason: string;
  headers: HttpHeaders;
  body: Buffer;
}

export type HttpMessage = HttpRequest | HttpResponse;

/** What `encodeHttpRequest` takes; a decoded `HttpRequest` is one. */
export interface HttpRequestInit {
  method: string;
  target: string;
  protocol: HttpProtocol;
  headers?: HttpHeadersInit;
  body?: Uint8Array;
}

/** What `encodeHttpResponse` takes; a decoded `HttpResponse` is one. */
export interface HttpResponseInit {
  protocol: HttpProtocol;
  status: number;
  /** Defaults to the phrase in HTTP_REASON_PHRASES, else empty. */
  reason?: string;
  headers?: HttpHeadersInit;
  body?: Uint8Array;
}

// RFC 9110 §5.6.2 token; §5.5 field-value characters (VCHAR, obs-text, SP, HTAB).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_TEXT = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_TARGET = /^[\x21-\x7e]+$/;
const STATUS_LINE = /^([A-Z]+\/\d\.\d) (\d{3})(?: (.*))?$/;

function isProtocol(value: string): value is HttpProtocol {
  return (HTTP_PROTOCOLS as readonly string[]).includes(value);
}

/** A start line or field quoted in an error: short, control bytes escaped. */
function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
}

function noBodyStatus(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function headLines(headers: HttpHeaders, bodyLength: number, addEmptyLength: boolean): string[] {
  const lines: string[] = [];
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) throw new InvalidArgumentError(`${quote(name)} is not a valid header name`);
    if (!FIELD_TEXT.test(value)) {
      throw new InvalidArgumentError(`the ${name} header holds a line break, a control character or a character above U+00FF`);
    }
    if (/^[\t ]|[\t ]$/.test(value)) throw new InvalidArgumentError(`the ${name} header value starts or ends with whitespace, which a reader drops`);
    if (name.toLowerCase() === 'transfer-encoding') throw new InvalidArgumentError('Transfer-Encoding is not supported: bodies are sent with a Content-Length');
    lines.push(`${name}: ${value}`);
  }
  const lengths = headers.getAll('Content-Length');
  for (const given of lengths) {
    if (given !== String(bodyLength)) throw new InvalidArgumentError(`Content-Length ${quote(given)} does not match the ${bodyLength}-byte body`);
  }
  if (lengths.length === 0 && (bodyLength > 0 || addEmptyLength)) lines.push(`Content-Length: ${bodyLength}`);
  return lines;
}

function assemble(startLine: string, lines: string[], body: Uint8Array): Buffer {
  const head = Buffer.from(`${[startLine, ...lines].join('\r\n')}\r\n\r\n`, 'latin1');
  return body.length === 0 ? head : Buffer.concat([head, body]);
}

function checkProtocol(protocol: string): void {
  if (!isProtocol(protocol)) throw new InvalidArgumentError(`protocol must be one of ${HTTP_PROTOCOLS.join(', ')}, got ${quote(protocol)}`);
}

/**
 * The bytes of a request: the request line, the headers in the order given, a blank line,
 * the body. `Content-Length` is appended when the body is not empty and none was given (a
 * request without one has no body, so bodiless requests such as RECORD go without it, as
 * pyatv and iOS send them); a given one must match the body. Throws InvalidArgumentError for
 * anything that would not read back as the same message (a line break in a value, a space in
 * the target, a non-token method or header name).
 */
export function encodeHttpRequest(request: HttpRequestInit): Buffer {
  if (!TOKEN.test(request.method)) throw new InvalidArgumentError(`${quote(request.method)} is not a valid request method`);
  if (!REQUEST_TARGET.test(request.target)) throw new InvalidArgumentError(`${quote(request.target)} is not a valid request target (no spaces or control characters)`);
  checkProtocol(request.protocol);
  const body = request.body ?? Buffer.alloc(0);
  const lines = headLines(new HttpHeaders(request.headers), body.length, false);
  return assemble(`${request.method} ${request.target} ${request.protocol}`, lines, body);
}

/**
 * The bytes of a response. `Content-Length` is appended when none was given, `0` included:
 * without it an HTTP/1.1 response body runs to the end of the connection (RFC 9112 §6.3),
 * and Apple's receivers send `Content-Length: 0` on bodiless replies too. Exception: 1xx,
 * 204 and 304, which have no body and no Content-Length.
 */
export function encodeHttpResponse(response: HttpResponseInit): Buffer {
  const { status } = response;
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new InvalidArgumentError(`a status code has three digits, got ${status}`);
  checkProtocol(response.protocol);
  const reason = response.reason ?? HTTP_REASON_PHRASES[status] ?? '';
  if (!FIELD_TEXT.test(reason)) throw new InvalidArgumentError('the reason phrase holds a line break, a control character or a character above U+00FF');
  const body = response.body ?? Buffer.alloc(0);
  const headers = new HttpHeaders(response.headers);
  if (noBodyStatus(status) && (body.length > 0 || headers.has('Content-Length'))) {
    throw new InvalidArgumentError(`a ${status} response has no body and no Content-Length`);
  }
  const lines = headLines(headers, body.length, !noBodyStatus(status));
  return assemble(`${response.protocol} ${status}${reason === '' ? '' : ` ${reason}`}`, lines, body);
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface HttpDecoderLimits {
  /** Bound of the start line + header fields + blank line, CRLFs included (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Bound of the number of header fields (default 64). */
  maxHeaderCount?: number;
  /** Bound of a body (default 8 MiB); a larger Content-Length is refused before any body byte is buffered. */
  maxBodyBytes?: number;
}

type Expect = 'request' | 'response' | 'any';

const CR = 0x0d;
const LF = 0x0a;
const HTAB = 0x09;

function limit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(`${name} must be a positive whole number, got ${value}`);
  return value;
}

/**
 * Cuts a byte stream into HTTP/RTSP messages. Push every chunk as it arrives (any size, any
 * split); each push returns the messages it completed, in order. Make one with
 * `forResponses()` (a control connection: we sent the requests), `forRequests()` (the event
 * connection, or a server) or `forMessages()` (either, told apart by the start line).
 *
 * Memory is bounded by the limits: the header section is refused as soon as it passes
 * `maxHeaderBytes` or `maxHeaderCount`, a Content-Length over `maxBodyBytes` before the body
 * arrives. Malformed input throws a DecodeError (with `offset`, the position in the stream
 * where it was seen, when known); the stream cannot be resynchronised after that, so the
 * decoder drops what it holds and every later push throws the same error: close the
 * connection. Pushed chunks are kept by reference until consumed (do not reuse them), and a
 * body is a view into the pushed chunk when it arrived in one piece.
 */
export class HttpMessageDecoder<M extends HttpMessage = HttpMessage> {
  static forRequests(limits?: HttpDecoderLimits): HttpMessageDecoder<HttpRequest> {
    return new HttpMessageDecoder<HttpRequest>('request', limits);
  }

  static forResponses(limits?: HttpDecoderLimits): HttpMessageDecoder<HttpResponse> {
    return new HttpMessageDecoder<HttpResponse>('response', limits);
  }

  static forMessages(limits?: HttpDecoderLimits): HttpMessageDecoder<HttpMessage> {
    return new HttpMessageDecoder<HttpMessage>('any', limits);
  }

  private readonly expect: Expect;
  private readonly maxHeaderBytes: number;
  private readonly maxHeaderCount: number;
  private readonly maxBodyBytes: number;
  private readonly queue = new ByteQueue();
  private failure: DecodeError | undefined;
  /** Stream position of the first queued byte (for error offsets). */
  private consumed = 0;

  // Header-section scan of the message being read: bytes scanned, whether the last one was
  // CR, bytes in the current line, lines completed.
  private scanned = 0;
  private afterCR = false;
  private lineBytes = 0;
  private lines = 0;
  /** The message whose head is read, waiting for `bodyLength` body bytes. */
  private pending: { message: M; headLength: number; bodyLength: number } | undefined;

  private constructor(expect: Expect, limits: HttpDecoderLimits = {}) {
    this.expect = expect;
    this.maxHeaderBytes = limit(limits.maxHeaderBytes, HTTP_MAX_HEADER_BYTES, 'maxHeaderBytes');
    this.maxHeaderCount = limit(limits.maxHeaderCount, HTTP_MAX_HEADER_COUNT, 'maxHeaderCount');
    this.maxBodyBytes = limit(limits.maxBodyBytes, HTTP_MAX_BODY_BYTES, 'maxBodyBytes');
  }

  /** Bytes received but not yet returned as part of a message (0 at a message boundary). */
  get pendingBytes(): number {
    return this.queue.length + (this.pending?.headLength ?? 0);
  }

  /** The error that stopped this decoder, if one did. */
  get error(): DecodeError | undefined {
    return this.failure;
  }

  push(chunk: Uint8Array): M[] {
    if (this.failure) throw this.failure;
    this.queue.push(chunk);
    const out: M[] = [];
    try {
      for (;;) {
        if (this.pending === undefined) {
          // Everything queued before this chunk was scanned by earlier pushes, and a message
          // completed in this push ends inside this chunk: the unscanned bytes are its tail.
          const unscanned = this.queue.length - this.scanned;
          const headLength = this.scanHead(chunk, chunk.length - unscanned);
          if (headLength === undefined) break;
          const head = this.queue.take(headLength);
          this.pending = { ...this.parseHead(head), headLength };
          this.consumed += headLength;
          this.scanned = 0;
        }
        if (this.queue.length < this.pending.bodyLength) break;
        const { message, bodyLength } = this.pending;
        message.body = this.queue.take(bodyLength);
        this.consumed += bodyLength;
        this.pending = undefined;
        out.push(message);
      }
    } catch (err) {
      this.failure = err instanceof DecodeError ? err : new DecodeError(`undecodable HTTP/RTSP message: ${String(err)}`, { cause: err });
      this.queue.clear();
      this.pending = undefined;
      throw this.failure;
    }
    return out;
  }

  /**
   * Scans `chunk` from `from` for the blank line that ends the header section, checking line
   * endings, control bytes and the limits on the way. Returns the length of the whole head
   * (counted from the first queued byte) once found.
   */
  private scanHead(chunk: Uint8Array, from: number): number | undefined {
    for (let i = from; i < chunk.length; i++) {
      const byte = chunk[i]!;
      const at = this.consumed + this.scanned;
      this.scanned++;
      if (this.scanned > this.maxHeaderBytes) {
        throw new DecodeError(`the header section runs past the ${this.maxHeaderBytes}-byte limit without ending`, { offset: at });
      }
      if (this.afterCR) {
        if (byte !== LF) throw new DecodeError('a CR not followed by LF in the header section', { offset: at });
        this.afterCR = false;
        if (this.lineBytes === 0) {
          if (this.lines === 0) throw new DecodeError('an empty line where a start line was expected', { offset: at });
          const length = this.scanned;
          this.lines = 0;
          return length;
        }
        this.lines++;
        this.lineBytes = 0;
        if (this.lines - 1 > this.maxHeaderCount) {
          throw new DecodeError(`more than ${this.maxHeaderCount} header fields`, { offset: at });
        }
      } else if (byte === CR) {
        this.afterCR = true;
      } else if (byte === LF) {
        throw new DecodeError('a line ends in a bare LF (CRLF required)', { offset: at });
      } else if ((byte < 0x20 && byte !== HTAB) || byte === 0x7f) {
        throw new DecodeError(`control byte 0x${byte.toString(16).padStart(2, '0')} in the header section: not an HTTP/RTSP message`, { offset: at });
      } else {
        this.lineBytes++;
      }
    }
    return undefined;
  }

  private parseHead(head: Buffer): { message: M; bodyLength: number } {
    const offset = this.consumed;
    const lines = head.toString('latin1', 0, head.length - 4).split('\r\n');
    const startLine = lines[0]!;
    const headers = new HttpHeaders();
    for (const line of lines.slice(1)) {
      if (line[0] === ' ' || line[0] === '\t') throw new DecodeError(`folded header line ${quote(line)} (obsolete line folding is refused)`, { offset });
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      if (colon < 0 || !TOKEN.test(name)) throw new DecodeError(`malformed header line ${quote(line)}`, { offset });
      headers.append(name, line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, ''));
    }
    if (headers.has('Transfer-Encoding')) {
      throw new DecodeError(`Transfer-Encoding ${quote(headers.get('Transfer-Encoding')!)} is not supported: only Content-Length bodies`, { offset });
    }
    const isResponse = /^[A-Z]+\/\d/.test(startLine);
    if (isResponse && this.expect === 'request') throw new DecodeError(`expected a request, got the status line ${quote(startLine)}`, { offset });
    if (!isResponse && this.expect === 'response') throw new DecodeError(`expected a response, got ${quote(startLine)}`, { offset });

    const empty = Buffer.alloc(0);
    if (isResponse) {
      const match = STATUS_LINE.exec(startLine);
      if (match === null) throw new DecodeError(`malformed status line ${quote(startLine)}`, { offset });
      const [, protocol, code, reason = ''] = match;
      if (!isProtocol(protocol!)) throw new DecodeError(`unsupported protocol ${quote(protocol!)} (expected ${HTTP_PROTOCOLS.join(', ')})`, { offset });
      const status = Number(code);
      const response: HttpResponse = { kind: 'response', protocol: protocol!, status, reason, headers, body: empty };
      return { message: response as M, bodyLength: noBodyStatus(status) ? 0 : this.contentLength(headers, offset) };
    }
    const parts = startLine.split(' ');
    const [method, target, protocol] = parts;
    if (parts.length !== 3 || !TOKEN.test(method!) || !REQUEST_TARGET.test(target!)) {
      throw new DecodeError(`malformed request line ${quote(startLine)}`, { offset });
    }
    if (!isProtocol(protocol!)) throw new DecodeError(`unsupported protocol ${quote(protocol!)} (expected ${HTTP_PROTOCOLS.join(', ')})`, { offset });
    const request: HttpRequest = { kind: 'request', method: method!, target: target!, protocol: protocol!, headers, body: empty };
    return { message: request as M, bodyLength: this.contentLength(headers, offset) };
  }

  private contentLength(headers: HttpHeaders, offset: number): number {
    const values = headers.getAll('Content-Length');
    if (values.length === 0) return 0;
    const first = values[0]!;
    // Fifteen digits keep the number exact; the limit check below refuses far less anyway.
    if (!/^\d{1,15}$/.test(first) || values.some((v) => v !== first)) {
      throw new DecodeError(`invalid Content-Length ${quote(values.join(', '))}`, { offset });
    }
    const length = Number(first);
    if (length > this.maxBodyBytes) throw new DecodeError(`a body of ${length} bytes exceeds the ${this.maxBodyBytes}-byte limit`, { offset });
    return length;
  }
}

// ---------------------------------------------------------------------------------------------
// AirPlay event channel

/**
 * What iOS puts in `Server` when it answers a receiver's event-channel request (pyatv's
 * protocol documentation quotes `Server: AirTunes/550.10`; 550.10 is also the sourceVersion
 * pyatv announces in its SETUP).
 */
export const RTSP_EVENT_REPLY_SERVER = 'AirTunes/550.10';

/**
 * The answer to a request the receiver sends on the AirPlay event connection (e.g. `POST
 * /command` with an `updateInfo` plist): 200 OK in the request's protocol with its `CSeq`
 * echoed, `Content-Length: 0`, `Audio-Latency: 0` and `Server`, as iOS answers. Without an
 * answer the receiver closes the connection after about 30 s. Encode it with
 * `encodeHttpResponse`.
 */
export function rtspEventReply(request: Pick<HttpRequest, 'protocol' | 'headers'>, server = RTSP_EVENT_REPLY_SERVER): HttpResponse {
  const headers = new HttpHeaders([
    ['Content-Length', '0'],
    ['Audio-Latency', '0'],
    ['Server', server],
  ]);
  const cseq = request.headers.get('CSeq');
  if (cseq !== undefined) headers.append('CSeq', cseq);
  return { kind: 'response', protocol: request.protocol, status: 200, reason: 'OK', headers, body: Buffer.alloc(0) };
}
