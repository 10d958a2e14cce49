/**
 * MRP stream framing (reference §4.1): each message on the TCP stream is a protobuf varint
 * length followed by that many bytes. After pair-verify the bytes are ChaCha20-Poly1305
 * ciphertext plus tag and the varint counts those; the connection layer en/decrypts (with
 * lib/hap's MRP channel cipher), this module only cuts and joins frames.
 */
import { decodeVarint, encodeVarint, VARINT_MAX_BYTES } from '../../codecs/varint';
import { InvalidArgumentError, ProtocolError } from '../../errors';

/**
 * Largest frame accepted, in either direction: 32 MiB. The biggest legitimate MRP message
 * is artwork we asked for (a SET_STATE carrying artworkData at the size we requested, or
 * an UPDATE_CONTENT_ITEM_ARTWORK push); even a 2048 x 2048 image with no useful
 * compression is 16 MiB. A larger length means a corrupt stream or not MRP at all (wrong
 * port), and refusing it keeps one connection from making us buffer gigabytes.
 */
export const MRP_MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** One frame: varint length + payload. */
export function encodeMrpFrame(payload: Uint8Array): Buffer {
  if (payload.length > MRP_MAX_FRAME_BYTES) {
    throw new InvalidArgumentError(`an MRP message of ${payload.length} bytes exceeds the ${MRP_MAX_FRAME_BYTES}-byte frame limit`);
  }
  return Buffer.concat([encodeVarint(payload.length), payload]);
}

/**
 * Cuts a TCP byte stream into frames. Push every chunk as it arrives; each push returns the
 * frames it completed (none, one or several), in order. A frame is a view into the pushed
 * chunk when it arrived in one piece, otherwise a fresh Buffer.
 *
 * A bad length prefix (over MRP_MAX_FRAME_BYTES, or a malformed varint) throws a
 * ProtocolError before any body is buffered; the stream cannot be resynchronised after
 * that, so every later push throws the same error: close the connection.
 */
export class MrpFrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame being collected, once its prefix has been read. */
  private expected: number | undefined;
  private prefixLength = 0;
  private failure: ProtocolError | undefined;

  constructor(private readonly maxFrameBytes = MRP_MAX_FRAME_BYTES) {}

  /** Bytes received but not yet returned as part of a frame (0 at a frame boundary). */
  get pendingBytes(): number {
    return this.buffered + (this.expected === undefined ? 0 : this.prefixLength);
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.expected === undefined) {
        const head = this.peek(Math.min(this.buffered, VARINT_MAX_BYTES));
        let prefix;
        try {
          prefix = decodeVarint(head, 0, this.maxFrameBytes);
        } catch (err) {
          // decodeVarint refuses either ten bytes of continuation bits or a value over the limit.
          const runaway = head.length === VARINT_MAX_BYTES && head.every((b) => (b & 0x80) !== 0);
          this.failure = new ProtocolError(
            runaway
              ? 'malformed MRP frame length (a varint longer than 10 bytes): the stream is corrupt or this port does not speak MRP'
              : `an MRP frame announced more than the ${this.maxFrameBytes}-byte limit: ` +
                  'the stream is corrupt or this port does not speak MRP',
            { cause: err },
          );
          throw this.failure;
        }
        if (prefix === undefined) break;
        this.skip(prefix.bytes);
        this.prefixLength = prefix.bytes;
        this.expected = prefix.value;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = undefined;
    }
    return frames;
  }

  /** The first `n` buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first === undefined || n === 0) return Buffer.alloc(0);
    if (first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const c of this.chunks) {
      filled += c.copy(out, filled, 0, Math.min(c.length, n - filled));
      if (filled === n) break;
    }
    return out;
  }

  private skip(n: number): void {
    this.take(n);
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const part = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, part);
      filled += part;
      if (part === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(part);
    }
    return out;
  }
}
