/**
 * The pyatv 0.16.1 MRP captures (test/fixtures/pyatv-0.16.1, see its README) as decoded
 * frames: each direction's chunks concatenated, cut with our MRP frame codec, and from the end of
 * pair-verify on decrypted with lib/hap's MRP session cipher and the keys in keys.json.
 */
import { decodeTlv8, Tlv8Type } from '../../../../lib/codecs/tlv8';
import { CounterNonceCipher } from '../../../../lib/hap/channel';
import { mrpFrameCodec } from '../../../../lib/protocols/mrp/framing';
import { decodeMrpMessage, MrpMessageType, type MrpDecodedMessage, type MrpMessage } from '../../../../lib/protocols/mrp/messages';
import { readCapture, readKeys, type Direction } from '../../../support/pyatv-captures';

export { readCapture, readKeys, stream, type Chunk, type Direction } from '../../../support/pyatv-captures';

export interface CapturedFrame {
  dir: Direction;
  /** Index among this direction's frames. */
  index: number;
  encrypted: boolean;
  /** The frame body as on the wire (ciphertext + tag when encrypted). */
  wire: Buffer;
  plaintext: Buffer;
  message: MrpDecodedMessage;
}

/** The HAP State item of a CRYPTO_PAIRING message, if it is one. */
export function pairingState(message: MrpMessage): number | undefined {
  if (message.type !== MrpMessageType.CRYPTO_PAIRING_MESSAGE || !message.payload?.pairingData) return undefined;
  return decodeTlv8(message.payload.pairingData).get(Tlv8Type.State)?.[0];
}

/**
 * Every frame of one direction, decoded. Encryption starts after pair-verify: the client
 * encrypts after sending M3, the device after sending M4 (only in captures with session keys).
 */
export function capturedFrames(name: string, dir: Direction): CapturedFrame[] {
  const chunks = readCapture(name);
  const decoder = mrpFrameCodec();
  const wires: Buffer[] = [];
  for (const chunk of chunks.filter((c) => c.dir === dir && c.conn === 1)) decoder.push(chunk.bytes, (frame) => wires.push(frame.payload));
  if (decoder.bufferedBytes !== 0) throw new Error(`${name} ${dir}: ${decoder.bufferedBytes} bytes left after the last frame`);

  const keys = readKeys().session_keys[name];
  let cipher: CounterNonceCipher | undefined;
  let verifying = false;
  const frames: CapturedFrame[] = [];
  for (const [index, wire] of wires.entries()) {
    const encrypted = cipher !== undefined;
    const plaintext = cipher ? cipher.open(wire) : wire;
    const message = decodeMrpMessage(plaintext);
    frames.push({ dir, index, encrypted, wire, plaintext, message });

    const state = pairingState(message);
    if (state !== undefined) {
      // Pair-verify M1/M2 differ from pair-setup M1/M2: no Method item, no Salt item.
      const tlv = decodeTlv8((message.payload as { pairingData: Buffer }).pairingData);
      if ((state === 1 && !tlv.has(Tlv8Type.Method)) || (state === 2 && !tlv.has(Tlv8Type.Salt))) verifying = true;
    }
    const lastPlain = dir === 'c2s' ? 3 : 4;
    if (verifying && state === lastPlain && keys) {
      const write = Buffer.from(keys.client_write_key_client_to_device, 'hex');
      const read = Buffer.from(keys.client_read_key_device_to_client, 'hex');
      // Opening the client's frames needs the device's point of view (it decrypts with the client's write key).
      cipher = new CounterNonceCipher(dir === 'c2s' ? { encryptKey: read, decryptKey: write } : { encryptKey: write, decryptKey: read }, 'zeros-then-counter');
    }
  }
  return frames;
}
