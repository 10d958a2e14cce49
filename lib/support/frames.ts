/**
 * How every protocol's byte stream is cut into frames, and sealed or opened on the way: the
 * sans-IO half of the one encrypted framed channel (`channel.ts` adds the socket). A
 * `FrameFormat` knows a header (length, maybe a type); a `FrameSealer` (the HAP session
 * cipher from lib/hap) seals each frame body. The formats we speak:
 *
 *  - `VARINT_FRAMES`  MRP: protobuf varint length ‖ body; sealed bodies carry their tag and
 *                     the length counts it; no AAD.
 *  - `HAP_BLOCKS`     AirPlay 2 control, event and data connections after pair-verify: the
 *                     plaintext byte stream is cut into blocks of at most 1024 bytes, each
 *                     `u16 LE plaintext length ‖ ciphertext ‖ tag`, the two length bytes as AAD.
 *  - `COMPANION_FRAMES` Companion: `type u8 ‖ length u24 BE ‖ body`; the length counts the
 *                     tag, the 4-byte header is the AAD, and an empty body is sent in clear.
 *  - `RAW_BYTES`      no framing at all: each read is one "frame" (plain HTTP before AirPlay
 *                     switches its connection to HAP blocks).
 *
 * A stream that breaks its format (a length over the limit, a frame that does not open)
 * cannot be resynchronised, so the codec stays failed and the connection must close.
 */
import { decodeVarint, encodeVarint, VARINT_MAX_BYTES } from '../codecs/varint';
import { InvalidArgumentError, ProtocolError } from '../errors';
import { ByteQueue } from '../codecs/byte-queue';

/** The session cipher of a channel: lib/hap's `CounterNonceCipher` fits. */
export interface FrameSealer {
  seal(plaintext: Uint8Array, aad?: Uint8Array): Buffer;
  open(sealed: Uint8Array, aad?: Uint8Array): Buffer;
}

/** Bytes a sealed body carries beyond its plaintext (the ChaCha20-Poly1305 tag). */
export const SEAL_OVERHEAD = 16;

export interface FrameHeader {
  /** Bytes of header before the body. */
  headerLength: number;
  /** Bytes of body that follow (sealed bodies: with their tag). */
  bodyLength: number;
  /** The frame type, for formats that carry one (Companion); 0 otherwise. */
  type: number;
}

export interface FrameFormat {
  readonly name: string;
  /** Most header bytes the format needs to see to read a header. */
  readonly maxHeaderLength: number;
  /** Most plaintext bytes one frame carries. */
  readonly maxPlaintext: number;
  /** A longer payload is cut into several frames (a byte stream) instead of being refused. */
  readonly splits: boolean;
  /** The header is authenticated as AAD of the sealed body. */
  readonly headerIsAad: boolean;
  /** An empty body travels in clear even on an encrypted channel (Companion). */
  readonly emptyInClear: boolean;
  /**
   * Reads the header at the start of `head` (at most `maxHeaderLength` bytes of the
   * `available` buffered). Null when more bytes are needed; throws ProtocolError when the
   * header is impossible (longer than `maxBody`, malformed).
   */
  readHeader(head: Buffer, available: number, sealed: boolean, maxBody: number): FrameHeader | null;
  /** The header of a frame of `type` whose body has `bodyLength` bytes and `plainLength` of plaintext. */
  writeHeader(type: number, bodyLength: number, plainLength: number): Buffer;
}

/** MRP over TCP. */
export const VARINT_FRAMES: FrameFormat = {
  name: 'varint-length frames',
  maxHeaderLength: VARINT_MAX_BYTES,
  maxPlaintext: Number.MAX_SAFE_INTEGER,
  splits: false,
  headerIsAad: false,
  emptyInClear: false,
  readHeader(head, _available, _sealed, maxBody) {
    let prefix;
    try {
      prefix = decodeVarint(head, 0, maxBody);
    } catch (err) {
      // decodeVarint refuses either ten bytes of continuation bits or a value over the limit.
      const runaway = head.length === VARINT_MAX_BYTES && head.every((b) => (b & 0x80) !== 0);
      throw new ProtocolError(
        runaway
          ? 'malformed frame length (a varint longer than 10 bytes): the stream is corrupt or this port speaks another protocol'
          : `a frame announced more than the ${maxBody}-byte limit: the stream is corrupt or this port speaks another protocol`,
        { cause: err },
      );
    }
    return prefix === undefined ? null : { headerLength: prefix.bytes, bodyLength: prefix.value, type: 0 };
  },
  writeHeader: (_type, bodyLength) => encodeVarint(bodyLength),
};

/** HAP's largest plaintext block (AirPlay 2 connections). */
export const HAP_BLOCK_MAX_PLAINTEXT = 1024;

/** AirPlay 2 connections after pair-verify. */
export const HAP_BLOCKS: FrameFormat = {
  name: 'HAP blocks',
  maxHeaderLength: 2,
  maxPlaintext: HAP_BLOCK_MAX_PLAINTEXT,
  splits: true,
  headerIsAad: true,
  emptyInClear: false,
  readHeader(head, _available, sealed) {
    if (head.length < 2) return null;
    const length = head.readUInt16LE(0);
    if (length > HAP_BLOCK_MAX_PLAINTEXT) {
      throw new ProtocolError(
        `an encrypted HAP block declares ${length} bytes, more than the ${HAP_BLOCK_MAX_PLAINTEXT} allowed: the stream is not HAP-encrypted or out of step`,
      );
    }
    return { headerLength: 2, bodyLength: length + (sealed ? SEAL_OVERHEAD : 0), type: 0 };
  },
  writeHeader(_type, _bodyLength, plainLength) {
    const header = Buffer.allocUnsafe(2);
    header.writeUInt16LE(plainLength, 0);
    return header;
  },
};

/** Companion frame header: type u8 ‖ length u24 BE. */
export const COMPANION_HEADER_LENGTH = 4;
const U24_MAX = 0xffffff;

export const COMPANION_FRAMES: FrameFormat = {
  name: 'Companion frames',
  maxHeaderLength: COMPANION_HEADER_LENGTH,
  maxPlaintext: U24_MAX - SEAL_OVERHEAD,
  splits: false,
  headerIsAad: true,
  emptyInClear: true,
  readHeader(head, _available, _sealed, maxBody) {
    if (head.length < COMPANION_HEADER_LENGTH) return null;
    const length = head.readUIntBE(1, 3);
    if (length > maxBody) {
      throw new ProtocolError(`a Companion frame announced ${length} bytes, more than the ${maxBody}-byte limit: the stream is corrupt`);
    }
    return { headerLength: COMPANION_HEADER_LENGTH, bodyLength: length, type: head[0]! };
  },
  writeHeader(type, bodyLength) {
    if (!Number.isInteger(type) || type < 0 || type > 255) throw new InvalidArgumentError(`a Companion frame type is one byte, got ${type}`);
    const header = Buffer.allocUnsafe(COMPANION_HEADER_LENGTH);
    header[0] = type;
    header.writeUIntBE(bodyLength, 1, 3);
    return header;
  },
};

/** No framing: every read is handed on as it came (a plain byte stream such as HTTP). */
export const RAW_BYTES: FrameFormat = {
  name: 'raw bytes',
  maxHeaderLength: 0,
  maxPlaintext: Number.MAX_SAFE_INTEGER,
  splits: true,
  headerIsAad: false,
  emptyInClear: false,
  readHeader: (_head, available) => (available > 0 ? { headerLength: 0, bodyLength: available, type: 0 } : null),
  writeHeader: () => Buffer.alloc(0),
};

export interface Frame {
  /** The frame type (Companion); 0 for formats without one. */
  type: number;
  /** The plaintext body. */
  payload: Buffer;
}

export interface FrameCodecOptions {
  /** Largest frame body accepted from the peer (default: 32 MiB). */
  maxFrameBytes?: number;
}

/** Default largest frame body: 32 MiB, room for artwork at 2048 × 2048 with no useful compression. */
export const DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024;

/**
 * Framing plus an optional cipher, for one connection, without I/O. `push` takes received
 * bytes and hands each complete frame to a callback, in order, synchronously: a callback may
 * switch the format or cipher (`switchTo`), and the next frame of the same read is already
 * read the new way (MRP's first encrypted frame may share a TCP segment with pair-verify's
 * last plaintext reply). `encode` seals and frames an outgoing payload.
 */
export class FrameCodec {
  private formatNow: FrameFormat;
  private cipher: FrameSealer | null = null;
  private readonly maxFrameBytes: number;
  private readonly queue = new ByteQueue();
  private header: FrameHeader | null = null;
  private headerBytes: Buffer | null = null;
  private failure: ProtocolError | null = null;
  private halted = false;

  constructor(format: FrameFormat, options: FrameCodecOptions = {}) {
    this.formatNow = format;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  get format(): FrameFormat {
    return this.formatNow;
  }

  get encrypted(): boolean {
    return this.cipher !== null;
  }

  /** Bytes received but not yet handed on as part of a frame (0 at a frame boundary). */
  get bufferedBytes(): number {
    return this.queue.length + (this.header?.headerLength ?? 0);
  }

  /**
   * From the next frame on, reads and writes with `format` and `cipher` (null: in clear).
   * Called between frames (from a frame callback, or when nothing is buffered).
   */
  switchTo(format: FrameFormat, cipher: FrameSealer | null): void {
    if (this.header !== null) throw new InvalidArgumentError('the framing can only change between frames');
    this.formatNow = format;
    this.cipher = cipher;
  }

  /** Stops handing frames from the read under way (the connection is closing). */
  halt(): void {
    this.halted = true;
  }

  /**
   * Takes received bytes and calls `onFrame` for every frame they complete. Throws a
   * ProtocolError when the stream breaks its format or a frame does not open; every later
   * push throws the same error.
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.failure) throw this.failure;
    if (this.halted) return;
    if (chunk.length > 0) this.queue.push(chunk);
    try {
      while (!this.halted) {
        const format = this.formatNow;
        if (this.header === null) {
          const available = this.queue.length;
          const head = this.queue.peek(Math.min(available, format.maxHeaderLength));
          const header = format.readHeader(head, available, this.cipher !== null && !format.emptyInClear, this.maxBody(format));
          if (header === null) break;
          if (header.bodyLength > this.maxBody(format) && format.maxHeaderLength > 0) {
            throw new ProtocolError(`a frame announced ${header.bodyLength} bytes, more than the ${this.maxBody(format)}-byte limit`);
          }
          const headerBytes = this.queue.take(header.headerLength);
          this.headerBytes = format.headerIsAad ? Buffer.from(headerBytes) : null;
          this.header = header;
        }
        const header = this.header;
        if (this.queue.length < header.bodyLength) break;
        const body = this.queue.take(header.bodyLength);
        const aad = this.headerBytes ?? undefined;
        this.header = null;
        this.headerBytes = null;
        const clear = this.cipher === null || (format.emptyInClear && body.length === 0);
        let payload: Buffer;
        try {
          payload = clear ? body : this.cipher!.open(body, format.headerIsAad ? aad : undefined);
        } catch (err) {
          throw err instanceof ProtocolError ? err : new ProtocolError(`a frame could not be opened: ${(err as Error).message}`, { cause: err });
        }
        onFrame({ type: header.type, payload });
      }
    } catch (err) {
      this.failure = err instanceof ProtocolError ? err : new ProtocolError(String(err), { cause: err });
      this.queue.clear();
      throw this.failure;
    }
  }

  /** One outgoing payload as wire bytes (several frames for a splitting format). */
  encode(payload: Uint8Array, type = 0): Buffer {
    const format = this.formatNow;
    const limit = Math.min(format.maxPlaintext, this.maxFrameBytes - (this.cipher ? SEAL_OVERHEAD : 0));
    if (payload.length > limit && !format.splits) {
      throw new InvalidArgumentError(`a message of ${payload.length} bytes exceeds the ${limit}-byte frame limit (${format.name})`);
    }
    if (!format.splits || payload.length <= format.maxPlaintext) return this.frame(payload, type);
    const parts: Buffer[] = [];
    for (let at = 0; at < payload.length; at += format.maxPlaintext) {
      parts.push(this.frame(payload.subarray(at, Math.min(payload.length, at + format.maxPlaintext)), type));
    }
    return Buffer.concat(parts);
  }

  private frame(plain: Uint8Array, type: number): Buffer {
    const format = this.formatNow;
    if (this.cipher === null || (format.emptyInClear && plain.length === 0)) {
      const header = format.writeHeader(type, plain.length, plain.length);
      return header.length === 0 ? Buffer.from(plain) : Buffer.concat([header, plain]);
    }
    const sealedLength = plain.length + SEAL_OVERHEAD;
    const header = format.writeHeader(type, sealedLength, plain.length);
    const sealed = this.cipher.seal(plain, format.headerIsAad ? header : undefined);
    return Buffer.concat([header, sealed]);
  }

  private maxBody(format: FrameFormat): number {
    return Math.min(this.maxFrameBytes, format.maxPlaintext === Number.MAX_SAFE_INTEGER ? this.maxFrameBytes : format.maxPlaintext + SEAL_OVERHEAD);
  }
}
