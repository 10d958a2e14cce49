/**
 * The ChaCha20-Poly1305 session cipher that follows pair-verify. It counts messages per
 * direction from 0 and advances a counter only when a message was sealed or opened, so a
 * failed open can be reported without shifting later nonces. A message that does not
 * authenticate is a `ProtocolError` ("decryption failed — wrong keys or corrupted data"),
 * never a crash. No I/O and no framing here: the shared channel (lib/support/frames.ts)
 * frames, and hands each frame body (with its AAD, where the format has one) to `seal`/`open`.
 */
import { InvalidArgumentError } from '../errors';
import { CHACHA20_POLY1305_NONCE_LENGTH, chacha20Poly1305Open, chacha20Poly1305Seal } from './keys';
import type { HapCipherKeys } from './pair-verify';

/**
 * Where the message counter sits in the 12-byte nonce: MRP and AirPlay's HAP blocks put it
 * after 4 zero bytes (`00000000 ‖ u64 LE`, pyatv's `Chacha20Cipher8byteNonce`); Companion puts
 * it first (`u64 LE ‖ 00000000`, a 96-bit little-endian counter).
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

/** A pair of per-direction counters over one nonce layout: the session cipher of every HAP protocol. */
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
