import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeVarint } from '../../../../lib/codecs/varint';
import { ProtocolError, InvalidArgumentError } from '../../../../lib/errors';
import { encodeMrpFrame, mrpFrameCodec, MRP_MAX_FRAME_BYTES } from '../../../../lib/protocols/mrp/framing';
import type { FrameCodec } from '../../../../lib/support/frames';
import { readCapture, stream } from './capture';

const hex = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));

/** The MRP frame decoder as the transports use it: the shared codec with varint framing. */
class MrpFrameDecoder {
  private readonly codec: FrameCodec;
  constructor(max?: number) {
    this.codec = mrpFrameCodec(max);
  }
  get pendingBytes(): number {
    return this.codec.bufferedBytes;
  }
  push(chunk: Uint8Array): Buffer[] {
    const frames: Buffer[] = [];
    this.codec.push(chunk, (f) => frames.push(f.payload));
    return frames;
  }
}

describe('MRP framing', () => {
  it('prefixes the payload with its varint length', () => {
    assert.equal(encodeMrpFrame(Buffer.from('0a0b0c', 'hex')).toString('hex'), '030a0b0c');
    assert.equal(encodeMrpFrame(Buffer.alloc(0)).toString('hex'), '00');
    const big = encodeMrpFrame(Buffer.alloc(300, 7));
    assert.equal(big.subarray(0, 2).toString('hex'), 'ac02');
    assert.equal(big.length, 302);
  });

  it('refuses to encode a payload over the frame limit', () => {
    assert.throws(() => encodeMrpFrame(Buffer.alloc(MRP_MAX_FRAME_BYTES + 1)), InvalidArgumentError);
  });

  it('returns several frames pushed in one chunk, and empty frames', () => {
    const frames = [Buffer.from('01', 'hex'), Buffer.alloc(0), Buffer.alloc(200, 0x42), Buffer.from('beef', 'hex')];
    const decoder = new MrpFrameDecoder();
    assert.deepEqual(hex(decoder.push(Buffer.concat(frames.map(encodeMrpFrame)))), hex(frames));
    assert.equal(decoder.pendingBytes, 0);
    // A plain Uint8Array (not a Buffer) works as well, on both sides.
    const plain = new Uint8Array(encodeMrpFrame(new Uint8Array([1, 2, 3])));
    assert.deepEqual(hex(decoder.push(plain)), ['010203']);
  });

  it('cuts a captured pyatv stream identically at every split point and byte by byte', () => {
    const bytes = stream(readCapture('mrp-pair.jsonl'), 'c2s');
    const whole = new MrpFrameDecoder().push(bytes);
    assert.equal(whole.length, 6, 'DEVICE_INFO + pair-setup M1, M3, M5 + pair-verify M1, M3');
    assert.equal(Buffer.concat(whole.map(encodeMrpFrame)).toString('hex'), bytes.toString('hex'));
    for (let at = 0; at <= bytes.length; at++) {
      const decoder = new MrpFrameDecoder();
      const got = [...decoder.push(bytes.subarray(0, at)), ...decoder.push(bytes.subarray(at))];
      assert.deepEqual(hex(got), hex(whole), `split at ${at}`);
      assert.equal(decoder.pendingBytes, 0);
    }
    const decoder = new MrpFrameDecoder();
    const got: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) {
      got.push(...decoder.push(bytes.subarray(i, i + 1)));
      assert.equal(decoder.pendingBytes + got.reduce((n, f) => n + f.length + encodeVarint(f.length).length, 0), i + 1);
    }
    assert.deepEqual(hex(got), hex(whole));
  });

  it('splits a multi-byte length prefix across chunks', () => {
    const frame = encodeMrpFrame(Buffer.alloc(20000, 1));
    const decoder = new MrpFrameDecoder();
    assert.deepEqual(decoder.push(frame.subarray(0, 1)), []);
    assert.deepEqual(decoder.push(frame.subarray(1, 2)), []);
    assert.deepEqual(decoder.push(frame.subarray(2, 10000)), []);
    const [body] = decoder.push(frame.subarray(10000));
    assert.equal(body?.length, 20000);
  });

  it('refuses an oversized length before buffering the body, then stays failed', () => {
    const decoder = new MrpFrameDecoder();
    const prefix = encodeVarint(MRP_MAX_FRAME_BYTES + 1);
    let first: unknown;
    assert.throws(
      () => decoder.push(prefix),
      (err: unknown) => {
        first = err;
        return err instanceof ProtocolError && /limit/.test(err.message);
      },
    );
    assert.throws(() => decoder.push(Buffer.from('00', 'hex')), (err: unknown) => err === first);
  });

  it('refuses an oversized length from its first bytes, without waiting for the rest', () => {
    // 0xffffffff... announces at least 2^28 after four bytes, far over the limit.
    assert.throws(() => new MrpFrameDecoder().push(Buffer.from('ffffffff', 'hex')), ProtocolError);
    assert.deepEqual(new MrpFrameDecoder().push(encodeVarint(MRP_MAX_FRAME_BYTES).subarray(0, 3)), []);
  });

  it('refuses a length varint longer than ten bytes', () => {
    assert.throws(
      () => new MrpFrameDecoder().push(Buffer.alloc(10, 0x80)),
      (err: unknown) => err instanceof ProtocolError && /longer than 10 bytes/.test(err.message),
    );
  });

  it('honours a smaller limit given to the constructor', () => {
    const decoder = new MrpFrameDecoder(16);
    assert.equal(decoder.push(encodeMrpFrame(Buffer.alloc(16))).length, 1);
    assert.throws(() => decoder.push(encodeVarint(17)), ProtocolError);
  });
});
