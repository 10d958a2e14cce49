/**
 * The ChaCha20-Poly1305 session ciphers that follow pair-verify, one per wire layout
 * (reference §4.1, §5.1 step 3, §5.2). All count messages per direction from 0 and advance a
 * counter only when a message was sealed or opened, so a failed open can be reported without
 * shifting later nonces. A message that does not authenticate is a `ProtocolError`
 * ("decryption failed — wrong keys or corrupted data"), never a crash. No I/O here: the
 * transports hand bytes in and out.
 */
import { InvalidArgumentError, ProtocolError } from '../errors';
import {
  CHACHA20_POLY1305_NONCE_LENGTH,
  CHACHA20_POLY1305_TAG_LENGTH,
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
} from './keys';
import type { HapCipherKeys } from './pair-verify';

/**
 * Where the message counter sits in the 12-byte nonce: MRP and HAP framing put it after
 * 4 zero bytes (`00000000 ‖ u64 LE`); Companion puts it first (`u64 LE ‖ 00000000`, i.e. a
 * 96-bit little-endian counter).
 */
export type HapNonceLayout = 'zeros-then-counter' | 'counter-then-zeros';

function nonceFor(counter: number, layout: HapNonceLayout): Buffer {
  const nonce = Buffer.alloc(CHACHA20_POLY1305_NONCE_LENGTH);
  const at = layout === 'zeros-then-counter' ? 4 : 0;
  nonce.writeUInt32LE(counter % 0x100000000, at);
  nonce.writeUInt32LE(Math.floor(counter / 0x100000000), at + 4);
  return nonce;
}

function checkKeys(keys: HapCipherKeys): void {
  if (keys.encryptKey.length !== 32 || keys.decryptKey.length !== 32) {
    throw new InvalidArgumentError('session keys must be 32 bytes each (from deriveChannelKeys)');
  }
}

/** A pair of per-direction counters over one nonce layout; the building block of the ciphers below. */
export class CounterNonceCipher {
  private readonly keys: HapCipherKeys;
  private readonly layout: HapNonceLayout;
  private sent = 0;
  private received = 0;

  constructor(keys: HapCipherKeys, layout: HapNonceLayout) {
    checkKeys(keys);
    this.keys = { encryptKey: Buffer.from(keys.encryptKey), decryptKey: Buffer.from(keys.decryptKey) };
    this.layout = layout;
  }

  /** Messages sealed so far (the next outgoing nonce's counter). */
  get sentCount(): number {
    return this.sent;
  }

  /** Messages opened so far (the next incoming nonce's counter). */
  get receivedCount(): number {
    return this.received;
  }

  seal(plaintext: Uint8Array, aad?: Uint8Array): Buffer {
    const sealed = chacha20Poly1305Seal(this.keys.encryptKey, nonceFor(this.sent, this.layout), plaintext, aad);
    this.sent++;
    return sealed;
  }

  open(sealed: Uint8Array, aad?: Uint8Array): Buffer {
    const plain = chacha20Poly1305Open(this.keys.decryptKey, nonceFor(this.received, this.layout), sealed, aad);
    this.received++;
    return plain;
  }
}

/**
 * MRP over direct TCP: each varint-framed message body is sealed whole, no AAD, nonce =
 * 4 zero bytes ‖ u64 LE counter. The transport keeps the varint framing.
 */
export class MrpSessionCipher {
  private readonly cipher: CounterNonceCipher;

  constructor(keys: HapCipherKeys) {
    this.cipher = new CounterNonceCipher(keys, 'zeros-then-counter');
  }

  encrypt(message: Uint8Array): Buffer {
    return this.cipher.seal(message);
  }

  decrypt(sealed: Uint8Array): Buffer {
    return this.cipher.open(sealed);
  }
}

/** HAP's largest plaintext block per frame. */
export const HAP_FRAME_MAX_PLAINTEXT = 1024;
const HAP_LENGTH_BYTES = 2;

/**
 * HAP framing (AirPlay 2 control, event and data connections): the byte stream is cut into
 * blocks of at most 1024 bytes, each sent as `u16 LE length ‖ ciphertext ‖ tag` with the two
 * length bytes as AAD. `decrypt` is a streaming decoder: feed it TCP reads of any size and it
 * returns the plaintext of every frame completed so far, keeping at most one partial frame.
 * After a bad frame the stream cannot resynchronise, so it stays failed.
 */
export class HapFramedCipher {
  private readonly cipher: CounterNonceCipher;
  private pending: Buffer = Buffer.alloc(0);
  private failure: ProtocolError | undefined;

  constructor(keys: HapCipherKeys) {
    this.cipher = new CounterNonceCipher(keys, 'zeros-then-counter');
  }

  /** Bytes received but not yet a complete frame. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  /** Seals `data` as one or more frames. Empty input produces nothing. */
  encrypt(data: Uint8Array): Buffer {
    const parts: Buffer[] = [];
    for (let offset = 0; offset < data.length; offset += HAP_FRAME_MAX_PLAINTEXT) {
      const block = data.subarray(offset, Math.min(data.length, offset + HAP_FRAME_MAX_PLAINTEXT));
      const length = Buffer.alloc(HAP_LENGTH_BYTES);
      length.writeUInt16LE(block.length, 0);
      parts.push(length, this.cipher.seal(block, length));
    }
    return Buffer.concat(parts);
  }

  /** Takes received bytes; returns the plaintext of the frames they completed (maybe empty). */
  decrypt(chunk: Uint8Array): Buffer {
    if (this.failure) throw new ProtocolError(`the encrypted stream is unusable after an earlier error: ${this.failure.message}`);
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let offset = 0;
    try {
      while (this.pending.length - offset >= HAP_LENGTH_BYTES) {
        const length = this.pending.readUInt16LE(offset);
        if (length > HAP_FRAME_MAX_PLAINTEXT) {
          throw new ProtocolError(
            `an encrypted HAP frame declares ${length} bytes, more than the ${HAP_FRAME_MAX_PLAINTEXT} allowed: the stream is not HAP-encrypted or out of step`,
            { offset },
          );
        }
        const end = offset + HAP_LENGTH_BYTES + length + CHACHA20_POLY1305_TAG_LENGTH;
        if (this.pending.length < end) break;
        const aad = this.pending.subarray(offset, offset + HAP_LENGTH_BYTES);
        out.push(this.cipher.open(this.pending.subarray(offset + HAP_LENGTH_BYTES, end), aad));
        offset = end;
      }
    } catch (err) {
      this.failure = err instanceof ProtocolError ? err : new ProtocolError(String(err));
      this.pending = Buffer.alloc(0);
      throw this.failure;
    }
    this.pending = this.pending.subarray(offset);
    // Keep only the partial frame, not the whole chunk it arrived in.
    if (offset > 0 && this.pending.length > 0) this.pending = Buffer.from(this.pending);
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

/** Companion frame header: type u8 ‖ length u24 BE (the length counts the 16-byte tag). */
export const COMPANION_HEADER_LENGTH = 4;
const COMPANION_MAX_LENGTH = 0xffffff;

/**
 * Companion's session cipher: nonce = 96-bit little-endian counter, AAD = the frame's 4-byte
 * header whose length already includes the tag. Frames with an empty payload are sent and
 * received in clear and do not advance the counters.
 */
export class CompanionSessionCipher {
  private readonly cipher: CounterNonceCipher;

  constructor(keys: HapCipherKeys) {
    this.cipher = new CounterNonceCipher(keys, 'counter-then-zeros');
  }

  /** A complete frame (header ‖ sealed payload) of `frameType` carrying `payload`. */
  encryptFrame(frameType: number, payload: Uint8Array): Buffer {
    if (!Number.isInteger(frameType) || frameType < 0 || frameType > 255) {
      throw new InvalidArgumentError(`a Companion frame type is one byte, got ${frameType}`);
    }
    const sealedLength = payload.length === 0 ? 0 : payload.length + CHACHA20_POLY1305_TAG_LENGTH;
    if (sealedLength > COMPANION_MAX_LENGTH) throw new InvalidArgumentError(`a Companion payload of ${payload.length} bytes does not fit a frame`);
    const header = Buffer.alloc(COMPANION_HEADER_LENGTH);
    header[0] = frameType;
    header.writeUIntBE(sealedLength, 1, 3);
    if (payload.length === 0) return header;
    return Buffer.concat([header, this.cipher.seal(payload, header)]);
  }

  /** The plaintext of a received frame, given its 4-byte header and the body the header announced. */
  decryptFrame(header: Uint8Array, body: Uint8Array): Buffer {
    if (header.length !== COMPANION_HEADER_LENGTH) {
      throw new InvalidArgumentError(`a Companion frame header is ${COMPANION_HEADER_LENGTH} bytes, got ${header.length}`);
    }
    const declared = Buffer.from(header.buffer, header.byteOffset, header.byteLength).readUIntBE(1, 3);
    if (declared !== body.length) {
      throw new ProtocolError(`a Companion frame header announces ${declared} bytes but ${body.length} were given`);
    }
    if (body.length === 0) return Buffer.alloc(0);
    return this.cipher.open(body, header);
  }
}
