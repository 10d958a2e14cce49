/**
 * The AirPlay 2 data-stream frame, the layer that carries MRP over the remote-control tunnel
 * (tvOS 15+), after the HAP-framed decryption. Pure codec, no I/O; `encodeDataStreamSync`
 * and `dataStreamMessages` wrap MRP messages in, and take them out of, the payload's plist.
 *
 * A frame is a 32-byte big-endian header and a payload (pyatv's
 * protocols/airplay/channels.py, `DataHeader`):
 *   size u32 (the whole frame, header included) ‖ messageType 12 bytes ("sync" or "rply",
 *   zero-padded) ‖ command 4 bytes ("comm" from the sender, "cmnd" from the receiver, zeros
 *   in a rply) ‖ seqno u64 ‖ padding u32 (0) ‖ payload.
 * Every received `sync` is answered with a `rply` of the same seqno; pyatv's rply has no
 * payload, an Apple TV's carries an empty-dict plist. A sync payload is the plist
 * `{params: {data: <bytes>}}` whose data holds one or more MRP ProtocolMessages, each with a
 * varint length prefix (see splitDataStreamMessages for the one exception).
 */
import { decodeBplist, encodeBplist, isBplistDict } from '../../codecs/bplist';
import { decodeVarint, encodeVarint } from '../../codecs/varint';
import { DecodeError, InvalidArgumentError } from '../../errors';
import { ByteQueue } from '../../codecs/byte-queue';
import { MRP_MAX_FRAME_BYTES } from '../mrp/framing';

export const DATA_STREAM_HEADER_BYTES = 32;

/**
 * Largest frame accepted or written: the largest MRP message we accept, plus room for the
 * header, its varint prefix and the plist around it. A larger size means a corrupt stream.
 */
export const DATA_STREAM_MAX_FRAME_BYTES = MRP_MAX_FRAME_BYTES + 64 * 1024;

/** The messageType field: a `sync` wants a `rply` with the same seqno. */
export const DataStreamMessageType = { Sync: 'sync', Reply: 'rply' } as const;

/** The command field as seen so far: `comm` in the sender's syncs, `cmnd` in the receiver's. */
export const DataStreamCommand = { Sender: 'comm', Receiver: 'cmnd' } as const;

const MESSAGE_TYPE_BYTES = 12;
const COMMAND_BYTES = 4;
const MAX_SEQNO = 2n ** 64n - 1n;

export interface DataStreamFrame {
  /** The 12-byte field without its trailing zero bytes: normally 'sync' or 'rply'. */
  messageType: string;
  /** The 4-byte field without trailing zero bytes: 'comm', 'cmnd', or '' (a rply). */
  command: string;
  /**
   * The u64 sequence number. pyatv sends all its syncs with one value picked at random with
   * the upper 32 bits = 1; the receiver's `cmnd` syncs carry random 64-bit values.
   */
  seqno: bigint;
  payload: Buffer;
}

/** What encodeDataStreamFrame takes: the payload may be left out. */
export type DataStreamFrameInit = Omit<DataStreamFrame, 'payload'> & { payload?: Uint8Array };

function writeField(out: Buffer, at: number, width: number, text: string, what: string): void {
  // Printable ASCII only: the decoder strips trailing zero bytes, so a field must not end in one.
  if (text.length > width || !/^[\x21-\x7e]*$/.test(text)) {
    throw new InvalidArgumentError(`a data-stream ${what} is up to ${width} printable ASCII characters, got ${JSON.stringify(text)}`);
  }
  out.write(text, at, 'latin1');
}

function readField(buf: Buffer, at: number, width: number): string {
  let end = at + width;
  while (end > at && buf[end - 1] === 0) end--;
  return buf.toString('latin1', at, end);
}

/** One frame: the 32-byte header (size, messageType, command, seqno, zero padding) and the payload. */
export function encodeDataStreamFrame(frame: DataStreamFrameInit): Buffer {
  const payload = frame.payload ?? Buffer.alloc(0);
  const size = DATA_STREAM_HEADER_BYTES + payload.length;
  if (size > DATA_STREAM_MAX_FRAME_BYTES) {
    throw new InvalidArgumentError(`a data-stream payload of ${payload.length} bytes exceeds the ${DATA_STREAM_MAX_FRAME_BYTES}-byte frame limit`);
  }
  if (typeof frame.seqno !== 'bigint' || frame.seqno < 0n || frame.seqno > MAX_SEQNO) {
    throw new InvalidArgumentError(`a data-stream seqno is a bigint from 0 to 2^64 - 1, got ${String(frame.seqno)}`);
  }
  const out = Buffer.alloc(size);
  out.writeUInt32BE(size, 0);
  writeField(out, 4, MESSAGE_TYPE_BYTES, frame.messageType, 'message type');
  writeField(out, 16, COMMAND_BYTES, frame.command, 'command');
  out.writeBigUInt64BE(frame.seqno, 20);
  // Bytes 28..31: padding, always zero.
  out.set(payload, DATA_STREAM_HEADER_BYTES);
  return out;
}

/** The `rply` that answers a received `sync`: same seqno, zero command, no payload. */
export function encodeDataStreamReply(seqno: bigint): Buffer {
  return encodeDataStreamFrame({ messageType: DataStreamMessageType.Reply, command: '', seqno });
}

/** The size a frame header announces, checked against the bounds. */
function frameSize(header: Buffer, maxFrameBytes: number, offset: number): number {
  const size = header.readUInt32BE(0);
  if (size < DATA_STREAM_HEADER_BYTES) {
    throw new DecodeError(`a data-stream frame announces ${size} bytes, less than its own ${DATA_STREAM_HEADER_BYTES}-byte header`, { offset });
  }
  if (size > maxFrameBytes) {
    throw new DecodeError(`a data-stream frame announces ${size} bytes, more than the ${maxFrameBytes}-byte limit`, { offset });
  }
  return size;
}

function frameFrom(bytes: Buffer): DataStreamFrame {
  return {
    messageType: readField(bytes, 4, MESSAGE_TYPE_BYTES),
    command: readField(bytes, 16, COMMAND_BYTES),
    seqno: bytes.readBigUInt64BE(20),
    // The padding field (28..31) is not checked: its meaning is unknown and pyatv ignores it.
    payload: bytes.subarray(DATA_STREAM_HEADER_BYTES),
  };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Decodes exactly one complete frame (its size field must equal the input's length). */
export function decodeDataStreamFrame(bytes: Uint8Array, maxFrameBytes = DATA_STREAM_MAX_FRAME_BYTES): DataStreamFrame {
  const buf = asBuffer(bytes);
  if (buf.length < DATA_STREAM_HEADER_BYTES) {
    throw new DecodeError(`a data-stream frame is at least ${DATA_STREAM_HEADER_BYTES} bytes, got ${buf.length}`);
  }
  const size = frameSize(buf, maxFrameBytes, 0);
  if (size !== buf.length) throw new DecodeError(`a data-stream frame announces ${size} bytes but ${buf.length} were given`);
  return frameFrom(buf);
}

/**
 * Cuts the decrypted data-stream bytes into frames. Push every chunk as it arrives; each push
 * returns the frames it completed, in order. Pushed chunks are kept by reference until
 * consumed (do not reuse them); a payload is a view into the pushed chunk when its frame
 * arrived in one piece. A size below 32 or above the limit throws a
 * DecodeError as soon as the 4 size bytes are in, before any payload is buffered; the stream
 * cannot be resynchronised after that, so every later push throws the same error.
 */
export class DataStreamFrameDecoder {
  private readonly queue = new ByteQueue();
  private failure: DecodeError | undefined;
  private consumed = 0;

  constructor(private readonly maxFrameBytes = DATA_STREAM_MAX_FRAME_BYTES) {
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < DATA_STREAM_HEADER_BYTES) {
      throw new InvalidArgumentError(`maxFrameBytes must be a whole number of at least ${DATA_STREAM_HEADER_BYTES}, got ${maxFrameBytes}`);
    }
  }

  /** Bytes received but not yet returned as part of a frame (0 at a frame boundary). */
  get pendingBytes(): number {
    return this.queue.length;
  }

  /** The error that stopped this decoder, if one did. */
  get error(): DecodeError | undefined {
    return this.failure;
  }

  push(chunk: Uint8Array): DataStreamFrame[] {
    if (this.failure) throw this.failure;
    this.queue.push(chunk);
    const frames: DataStreamFrame[] = [];
    while (this.queue.length >= 4) {
      let size: number;
      try {
        size = frameSize(this.queue.peek(4), this.maxFrameBytes, this.consumed);
      } catch (err) {
        this.failure = err as DecodeError;
        this.queue.clear();
        throw err;
      }
      if (this.queue.length < size) break;
      frames.push(frameFrom(this.queue.take(size)));
      this.consumed += size;
    }
    return frames;
  }
}

/** A ProtocolMessage's first byte: the key of field 1 (`type`, varint). */
const PROTOCOL_MESSAGE_FIRST_BYTE = 0x08;

/**
 * The MRP ProtocolMessages in a sync's `params.data`: each is normally prefixed with its
 * varint length. One exception has been seen: ConfigureConnectionMessage arrives without a
 * prefix. It is recognisable because a ProtocolMessage starts with 0x08 (field 1, `type`),
 * while 0x08 as a prefix would announce an 8-byte message, shorter than any real one (type
 * plus the uniqueIdentifier UUID is already over 40 bytes); so from a 0x08 at a message
 * boundary the rest of the data is one message (pyatv's `decode_protobufs` reads it the
 * same way). Returns views into `data`. A truncated prefix, or a length that runs past the
 * data, is a DecodeError.
 */
export function splitDataStreamMessages(data: Uint8Array): Buffer[] {
  const buf = asBuffer(data);
  const messages: Buffer[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf[offset] === PROTOCOL_MESSAGE_FIRST_BYTE) {
      messages.push(buf.subarray(offset));
      break;
    }
    const remaining = buf.length - offset;
    let prefix;
    try {
      prefix = decodeVarint(buf, offset, remaining);
    } catch (err) {
      throw new DecodeError(`the MRP message length at offset ${offset} of the data-stream data is malformed or announces more than the ${remaining} bytes left`, {
        offset,
        cause: err,
      });
    }
    if (prefix === undefined) throw new DecodeError(`the data-stream data ends inside an MRP message length at offset ${offset}`, { offset });
    const start = offset + prefix.bytes;
    const end = start + prefix.value;
    if (end > buf.length) {
      throw new DecodeError(`an MRP message at offset ${offset} announces ${prefix.value} bytes but only ${buf.length - start} follow`, { offset });
    }
    messages.push(buf.subarray(start, end));
    offset = end;
  }
  return messages;
}

/** The `params.data` bytes for serialised MRP ProtocolMessages: each with its varint length. */
export function joinDataStreamMessages(messages: readonly Uint8Array[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => [encodeVarint(m.length), m]));
}

/** The `sync` frame carrying serialised MRP ProtocolMessages: payload `{params: {data}}` as a binary plist. */
export function encodeDataStreamSync(messages: readonly Uint8Array[], seqno: bigint, command: string): Buffer {
  const payload = encodeBplist({ params: { data: joinDataStreamMessages(messages) } });
  return encodeDataStreamFrame({ messageType: DataStreamMessageType.Sync, command, seqno, payload });
}

/**
 * The serialised MRP messages a frame carries: those of a payload `{params: {data}}`, none
 * for an empty payload or one without `params.data` (a `rply`'s `{}`; pyatv ignores others
 * too). A payload that is not a binary plist, or data that does not split into messages, is
 * a DecodeError: the stream is not what it should be.
 */
export function dataStreamMessages(frame: DataStreamFrame): Buffer[] {
  if (frame.payload.length === 0) return [];
  const plist = decodeBplist(frame.payload, { maxDepth: 8 });
  if (!isBplistDict(plist)) return [];
  const params = plist['params'];
  if (!isBplistDict(params)) return [];
  const data = params['data'];
  if (!Buffer.isBuffer(data)) return [];
  return splitDataStreamMessages(data);
}
