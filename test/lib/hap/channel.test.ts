import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../lib/errors';
import { CounterNonceCipher } from '../../../lib/hap/channel';
import { chacha20Poly1305Open, chacha20Poly1305Seal, randomKeyBytes } from '../../../lib/hap/keys';
import type { HapCipherKeys } from '../../../lib/hap/pair-verify';
import { COMPANION_FRAMES, FrameCodec, HAP_BLOCKS, type FrameFormat } from '../../../lib/support/frames';
import { mrpConnection, protoFields, readCapture, readKeys, splitCompanionFrames, stream } from './captures';

/** MRP seals each frame body whole with this layout (the varint framing is the channel's). */
class MrpSessionCipher {
  private readonly cipher: CounterNonceCipher;
  constructor(keys: HapCipherKeys) {
    this.cipher = new CounterNonceCipher(keys, 'zeros-then-counter');
  }
  encrypt(plain: Buffer): Buffer {
    return this.cipher.seal(plain);
  }
  decrypt(sealed: Buffer): Buffer {
    return this.cipher.open(sealed);
  }
}

/** An encrypted FrameCodec of `format`, as one end of the shared channel uses it. */
function sealedCodec(format: FrameFormat, keys: HapCipherKeys, layout: 'zeros-then-counter' | 'counter-then-zeros'): FrameCodec {
  const codec = new FrameCodec(format);
  codec.switchTo(format, new CounterNonceCipher(keys, layout));
  return codec;
}

/** AirPlay's HAP blocks: a byte stream in, sealed blocks out, and back. */
class HapFramedCipher {
  private readonly codec: FrameCodec;
  constructor(keys: HapCipherKeys) {
    this.codec = sealedCodec(HAP_BLOCKS, keys, 'zeros-then-counter');
  }
  get bufferedBytes(): number {
    return this.codec.bufferedBytes;
  }
  encrypt(data: Buffer): Buffer {
    return this.codec.encode(data);
  }
  decrypt(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    this.codec.push(chunk, (f) => out.push(f.payload));
    return Buffer.concat(out);
  }
}

/** Companion frames: type + u24 length, header as AAD. */
class CompanionSessionCipher {
  private readonly codec: FrameCodec;
  constructor(keys: HapCipherKeys) {
    this.codec = sealedCodec(COMPANION_FRAMES, keys, 'counter-then-zeros');
  }
  encryptFrame(type: number, payload: Buffer): Buffer {
    return this.codec.encode(payload, type);
  }
  /** The payloads of the frames completed by these bytes. */
  decrypt(bytes: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.codec.push(bytes, (f) => out.push(f.payload));
    return out;
  }
  decryptFrame(header: Buffer, body: Buffer): Buffer {
    const [payload] = this.decrypt(Buffer.concat([header, body]));
    if (!payload) throw new Error('the frame is incomplete');
    return payload;
  }
  get bufferedBytes(): number {
    return this.codec.bufferedBytes;
  }
}

const k1 = randomKeyBytes(32);
const k2 = randomKeyBytes(32);
const controller: HapCipherKeys = { encryptKey: k1, decryptKey: k2 };
const accessory: HapCipherKeys = { encryptKey: k2, decryptKey: k1 };
const decryptFailed = (err: unknown) => err instanceof ProtocolError && /decryption failed — wrong keys or corrupted data/.test(err.message);

function nonce(hex: string): Buffer {
  return Buffer.from(hex.replace(/\s/g, ''), 'hex');
}

describe('HAP session ciphers', () => {
  describe('MRP layout: 4 zero bytes + u64 LE counter, no AAD', () => {
    it('uses nonce 00000000 ‖ counter LE, one counter per direction', () => {
      const a = new MrpSessionCipher(controller);
      const b = new MrpSessionCipher(accessory);
      const first = a.encrypt(Buffer.from('one'));
      const second = a.encrypt(Buffer.from('two'));
      assert.equal(chacha20Poly1305Open(k1, nonce('00000000 0000000000000000'), first).toString(), 'one');
      assert.equal(chacha20Poly1305Open(k1, nonce('00000000 0100000000000000'), second).toString(), 'two');
      assert.equal(b.decrypt(first).toString(), 'one');
      assert.equal(b.decrypt(second).toString(), 'two');
      // the other direction starts at 0 on its own
      const reply = b.encrypt(Buffer.from('three'));
      assert.equal(chacha20Poly1305Open(k2, nonce('00000000 0000000000000000'), reply).toString(), 'three');
      assert.equal(a.decrypt(reply).toString(), 'three');
    });

    it('equals a hand-built seal with nonce zero for the first message', () => {
      const sealed = new MrpSessionCipher(controller).encrypt(Buffer.from('x'));
      assert.ok(sealed.equals(chacha20Poly1305Seal(k1, Buffer.alloc(12), Buffer.from('x'))));
    });

    it('refuses a tampered tag with a ProtocolError and keeps its counter', () => {
      const a = new MrpSessionCipher(controller);
      const b = new MrpSessionCipher(accessory);
      const sealed = a.encrypt(Buffer.from('hello'));
      const bad = Buffer.from(sealed);
      bad[bad.length - 1]! ^= 0x80;
      assert.throws(() => b.decrypt(bad), decryptFailed);
      assert.equal(b.decrypt(sealed).toString(), 'hello');
      assert.throws(() => new MrpSessionCipher(accessory).decrypt(Buffer.alloc(3)), decryptFailed);
    });
  });

  describe('HAP framing (AirPlay): ≤1024-byte blocks, 2-byte LE length as AAD', () => {
    const plaintext = Buffer.from(Array.from({ length: 2600 }, (_, i) => (i * 7) & 0xff));

    it('cuts 2600 bytes into 1024 + 1024 + 552 with the length as AAD and 4-zero-prefixed nonces', () => {
      const wire = new HapFramedCipher(controller).encrypt(plaintext);
      assert.equal(wire.length, 3 * (2 + 16) + 2600);
      const lengths = [wire.readUInt16LE(0), wire.readUInt16LE(1042), wire.readUInt16LE(2084)];
      assert.deepEqual(lengths, [1024, 1024, 552]);
      const third = chacha20Poly1305Open(k1, nonce('00000000 0200000000000000'), wire.subarray(2086), wire.subarray(2084, 2086));
      assert.ok(third.equals(plaintext.subarray(2048)));
    });

    it('decodes any split of the stream: byte by byte, odd chunks, and everything merged', () => {
      const sender = new HapFramedCipher(controller);
      const wire = Buffer.concat([sender.encrypt(plaintext), sender.encrypt(Buffer.from('tail'))]);
      const splits: number[][] = [[1], [3, 1000, 17], [wire.length]];
      for (const sizes of splits) {
        const receiver = new HapFramedCipher(accessory);
        const out: Buffer[] = [];
        let offset = 0;
        for (let i = 0; offset < wire.length; i++) {
          const size = sizes[i % sizes.length]!;
          out.push(receiver.decrypt(wire.subarray(offset, offset + size)));
          offset += size;
          assert.ok(receiver.bufferedBytes <= 2 + 1024 + 16, 'buffers at most one frame');
        }
        assert.ok(Buffer.concat(out).equals(Buffer.concat([plaintext, Buffer.from('tail')])), `split ${sizes.join(',')}`);
        assert.equal(receiver.bufferedBytes, 0);
      }
    });

    it('returns nothing until a frame is complete', () => {
      const wire = new HapFramedCipher(controller).encrypt(Buffer.from('abc'));
      const receiver = new HapFramedCipher(accessory);
      assert.equal(receiver.decrypt(wire.subarray(0, 5)).length, 0);
      assert.equal(receiver.bufferedBytes, 5);
      assert.equal(receiver.decrypt(wire.subarray(5)).toString(), 'abc');
    });

    it('rejects an oversized length and garbage with a ProtocolError, then stays failed', () => {
      const receiver = new HapFramedCipher(accessory);
      let first: unknown;
      assert.throws(
        () => receiver.decrypt(Buffer.from('GET / HTTP/1.1\r\n')),
        (err: unknown) => {
          first = err;
          return err instanceof ProtocolError && /more than the 1024 allowed/.test(err.message);
        },
      );
      assert.throws(() => receiver.decrypt(new HapFramedCipher(controller).encrypt(Buffer.from('ok'))), (err: unknown) => err === first);
    });

    it('rejects a tampered length (AAD) or tag', () => {
      const wire = new HapFramedCipher(controller).encrypt(Buffer.from('some data'));
      const badTag = Buffer.from(wire);
      badTag[badTag.length - 2]! ^= 1;
      assert.throws(() => new HapFramedCipher(accessory).decrypt(badTag), decryptFailed);
      // a frame sealed with the wrong counter/key does not decrypt either
      assert.throws(() => new HapFramedCipher(controller).decrypt(wire), decryptFailed);
    });
  });

  describe('Companion layout: 96-bit LE counter, AAD = 4-byte frame header', () => {
    it('seals with the header (length including the tag) as AAD and the counter first in the nonce', () => {
      const a = new CompanionSessionCipher(controller);
      a.encryptFrame(0x08, Buffer.from('first'));
      const frame = a.encryptFrame(0x08, Buffer.from('second'));
      assert.equal(frame.subarray(0, 4).toString('hex'), '08000016');
      const plain = chacha20Poly1305Open(k1, nonce('0100000000000000 00000000'), frame.subarray(4), frame.subarray(0, 4));
      assert.equal(plain.toString(), 'second');
    });

    it('round-trips, leaves empty payloads in clear without using a nonce, and refuses tampering', () => {
      const a = new CompanionSessionCipher(controller);
      const b = new CompanionSessionCipher(accessory);
      const empty = a.encryptFrame(0x01, Buffer.alloc(0));
      assert.equal(empty.toString('hex'), '01000000');
      assert.equal(b.decryptFrame(empty.subarray(0, 4), empty.subarray(4)).length, 0);
      const frame = a.encryptFrame(0x08, Buffer.from('payload'));
      const header = Buffer.from(frame.subarray(0, 4));
      assert.equal(b.decryptFrame(header, frame.subarray(4)).toString(), 'payload');
      const next = a.encryptFrame(0x08, Buffer.from('more'));
      const wrongType = Buffer.from(next.subarray(0, 4));
      wrongType[0] = 0x07;
      // The same frame with another type in its header (the AAD), at the right counter: refused.
      const tampered = new CompanionSessionCipher(accessory);
      assert.equal(tampered.decryptFrame(header, frame.subarray(4)).toString(), 'payload');
      assert.throws(() => tampered.decryptFrame(wrongType, next.subarray(4)), decryptFailed);
      // A body shorter than its header announces (20 bytes) is no frame yet: nothing is opened.
      assert.deepEqual(b.decrypt(next.subarray(0, next.length - 1)), []);
      assert.equal(b.bufferedBytes, 4 + 19);
      assert.equal(b.decrypt(next.subarray(next.length - 1))[0]?.toString(), 'more');
    });
  });

  describe("pyatv's encrypted captures, with the session keys in keys.json", () => {
    const keys = readKeys().session_keys;

    for (const name of ['mrp-session-playing.jsonl', 'mrp-session-pause.jsonl', 'mrp-session-artwork_save.jsonl']) {
      it(`${name}: every frame after pair-verify decrypts to a ProtocolMessage`, () => {
        const k = keys[name]!;
        const conn = mrpConnection(readCapture(name));
        assert.ok(conn.c2s.encrypted.length >= 3 && conn.s2c.encrypted.length >= 2);
        const ours = new MrpSessionCipher({
          encryptKey: Buffer.from(k.client_write_key_client_to_device, 'hex'),
          decryptKey: Buffer.from(k.client_read_key_device_to_client, 'hex'),
        });
        // the device's view of the same keys decrypts what we (pyatv) sent
        const theirs = new MrpSessionCipher({
          encryptKey: Buffer.from(k.client_read_key_device_to_client, 'hex'),
          decryptKey: Buffer.from(k.client_write_key_client_to_device, 'hex'),
        });
        const sent = conn.c2s.encrypted.map((f) => theirs.decrypt(f));
        const received = conn.s2c.encrypted.map((f) => ours.decrypt(f));
        for (const message of [...sent, ...received]) {
          const type = protoFields(message).find((f) => f.field === 1);
          assert.equal(type?.wire, 0, 'field 1 (type) is a varint');
        }
        // SET_CONNECTION_STATE is the first encrypted message (pyatv: MrpProtocol.start in protocols/mrp/protocol.py step 4)
        assert.equal(protoFields(sent[0]!).find((f) => f.field === 1)?.value, 38);
        if (name.includes('playing')) {
          assert.ok(received.some((m) => m.includes('Fake Title')), 'the now-playing title is in a decrypted frame');
        }
        // and re-encrypting our plaintext reproduces pyatv's bytes (same nonce sequence)
        const again = new MrpSessionCipher({
          encryptKey: Buffer.from(k.client_write_key_client_to_device, 'hex'),
          decryptKey: Buffer.from(k.client_read_key_device_to_client, 'hex'),
        });
        sent.forEach((m, i) => assert.ok(again.encrypt(m).equals(conn.c2s.encrypted[i]!), `frame ${i}`));
      });
    }

    for (const name of ['companion-session-power_state.jsonl', 'companion-session-app_list.jsonl', 'companion-session-launch_app_com.example.app.jsonl']) {
      it(`${name}: every E_OPACK frame decrypts with the Companion layout`, () => {
        const k = keys[name]!;
        const chunks = readCapture(name);
        const c2s = splitCompanionFrames(stream(chunks, 'c2s')).filter((f) => f.type === 0x08);
        const s2c = splitCompanionFrames(stream(chunks, 's2c')).filter((f) => f.type === 0x08);
        const device = new CompanionSessionCipher({
          encryptKey: Buffer.from(k.client_read_key_device_to_client, 'hex'),
          decryptKey: Buffer.from(k.client_write_key_client_to_device, 'hex'),
        });
        const client = new CompanionSessionCipher({
          encryptKey: Buffer.from(k.client_write_key_client_to_device, 'hex'),
          decryptKey: Buffer.from(k.client_read_key_device_to_client, 'hex'),
        });
        const sent = c2s.map((f) => device.decryptFrame(f.header, f.body));
        const received = s2c.map((f) => client.decryptFrame(f.header, f.body));
        assert.ok(sent[0]!.includes('_systemInfo'), 'the first request is _systemInfo (pyatv: protocols/companion)');
        for (const m of [...sent, ...received]) assert.equal(m[0]! & 0xf0, 0xe0, 'an OPACK dict');
        const again = new CompanionSessionCipher({
          encryptKey: Buffer.from(k.client_write_key_client_to_device, 'hex'),
          decryptKey: Buffer.from(k.client_read_key_device_to_client, 'hex'),
        });
        assert.ok(again.encryptFrame(0x08, sent[0]!).equals(Buffer.concat([c2s[0]!.header, c2s[0]!.body])));
        // a flipped bit in the first frame fails as a ProtocolError
        const bad = Buffer.from(c2s[0]!.body);
        bad[0]! ^= 1;
        assert.throws(() => new CompanionSessionCipher({ encryptKey: k2, decryptKey: Buffer.from(k.client_write_key_client_to_device, 'hex') }).decryptFrame(c2s[0]!.header, bad), decryptFailed);
      });
    }
  });
});

