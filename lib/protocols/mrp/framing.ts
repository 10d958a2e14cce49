/**
 * MRP stream framing: each message on the TCP stream is a protobuf varint length followed by
 * that many bytes; after pair-verify the bytes are ChaCha20-Poly1305 ciphertext plus tag and
 * the varint counts those. The cutting, joining and sealing is the shared channel's
 * (lib/support/frames.ts, `VARINT_FRAMES`); this module holds MRP's limit.
 */
import { FrameCodec, VARINT_FRAMES } from '../../support/frames';

/**
 * Largest frame accepted, in either direction: 32 MiB. The biggest legitimate MRP message
 * is artwork we asked for (a SET_STATE carrying artworkData at the size we requested, or
 * an UPDATE_CONTENT_ITEM_ARTWORK push); even a 2048 x 2048 image with no useful
 * compression is 16 MiB. A larger length means a corrupt stream or not MRP at all (wrong
 * port), and refusing it keeps one connection from making us buffer gigabytes.
 */
export const MRP_MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** A codec for an MRP byte stream (plain until a cipher is switched on). */
export function mrpFrameCodec(maxFrameBytes = MRP_MAX_FRAME_BYTES): FrameCodec {
  return new FrameCodec(VARINT_FRAMES, { maxFrameBytes });
}

const plain = mrpFrameCodec();

/** One plaintext frame: varint length + payload. */
export function encodeMrpFrame(payload: Uint8Array): Buffer {
  return plain.encode(payload);
}
