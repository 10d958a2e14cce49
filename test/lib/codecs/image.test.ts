/**
 * The image sniffer: type from the magic bytes, pixel size from the header (PNG IHDR, JPEG
 * SOFn, GIF screen descriptor, WebP VP8/VP8L/VP8X), the declared type only as a fallback.
 * Checked against OwnTone's real artwork answers and the PNG in pyatv's MRP capture, and fed
 * truncated and random bytes, which must never throw.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { artworkImage, describeImage, PNG_SIGNATURE, sniffImage } from '../../../lib/codecs/image';
import { ProtocolError } from '../../../lib/errors';
import { encodePng } from '../../../lib/simulator/artwork';
import { CAPTURED_ARTWORK } from '../protocols/mrp/fake-device';
import { fixture } from '../../support/paths';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** SOF0: length 17, precision 8, height 0x0120 (288), width 0x0300 (768), 3 components. */
const SOF0 = 'ffc0 0011 08 0120 0300 03 012200 021100 031100';
const SOS = 'ffda 000c 03 0100 0211 0311 003f00';

const GIF = Buffer.concat([Buffer.from('GIF89a'), hex('2000 1000'), Buffer.alloc(8)]);

/** RIFF container with one chunk. */
function webp(fourcc: string, payload: Buffer): Buffer {
  const chunk = Buffer.concat([Buffer.from(fourcc, 'latin1'), Buffer.alloc(4), payload]);
  chunk.writeUInt32LE(payload.length, 4);
  const head = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBP')]);
  head.writeUInt32LE(4 + chunk.length, 4);
  return Buffer.concat([head, chunk]);
}

describe('image codec', () => {
  it("OwnTone's nowplayingartwork answers: JPEG, 300×300 (what `file` says), behind a COM and a DQT segment", () => {
    for (const name of ['nowplayingartwork-track1', 'nowplayingartwork-track2']) {
      const bytes = readFileSync(fixture('owntone-29.3', `${name}.bin`));
      assert.deepEqual(sniffImage(bytes), { mimeType: 'image/jpeg', width: 300, height: 300 }, name);
    }
  });

  it("the PNG in pyatv's MRP artwork capture, and our simulator's PNGs", () => {
    assert.deepEqual(sniffImage(CAPTURED_ARTWORK), { mimeType: 'image/png', width: 16, height: 16 });
    assert.deepEqual(sniffImage(encodePng(7, 3, () => [1, 2, 3])), { mimeType: 'image/png', width: 7, height: 3 });
    assert.ok(CAPTURED_ARTWORK.subarray(0, 8).equals(PNG_SIGNATURE));
  });

  it('JPEG: skips fill bytes and the markers that have no length (TEM, RSTn) on the way to SOFn', () => {
    const jpeg = hex(`ffd8 ff01 ffd3 ffe0 0004 abcd ffff ffff ${SOF0} ${SOS} 1234 ffd9`);
    assert.deepEqual(sniffImage(jpeg), { mimeType: 'image/jpeg', width: 768, height: 288 });
    // Progressive (SOF2) and lossless (SOF3) frames carry the size in the same place.
    assert.deepEqual(sniffImage(hex(`ffd8 ${SOF0.replace('ffc0', 'ffc2')}`)), { mimeType: 'image/jpeg', width: 768, height: 288 });
    assert.deepEqual(sniffImage(hex(`ffd8 ${SOF0.replace('ffc0', 'ffc3')}`)), { mimeType: 'image/jpeg', width: 768, height: 288 });
  });

  it('JPEG: DHT, JPG and DAC share the SOF range but carry no size', () => {
    for (const marker of ['ffc4', 'ffc8', 'ffcc']) {
      const jpeg = hex(`ffd8 ${marker} 0009 08 0001 0002 0300 ${SOF0}`);
      assert.deepEqual(sniffImage(jpeg), { mimeType: 'image/jpeg', width: 768, height: 288 }, marker);
    }
  });

  it('JPEG without a frame header before the first scan or the end: type known, size not', () => {
    assert.deepEqual(sniffImage(hex(`ffd8 ffe0 0004 abcd ${SOS} ${SOF0}`)), { mimeType: 'image/jpeg', width: null, height: null });
    assert.deepEqual(sniffImage(hex('ffd8 ffd9')), { mimeType: 'image/jpeg', width: null, height: null });
    assert.deepEqual(sniffImage(hex('ffd8 ffe0 0001')), { mimeType: 'image/jpeg', width: null, height: null }, 'a length below 2');
    assert.deepEqual(sniffImage(hex('ffd8 ffe0 0004 abcd 00 ffc0')), { mimeType: 'image/jpeg', width: null, height: null }, 'no marker where one belongs');
  });

  it('GIF87a/GIF89a: logical screen size, little-endian', () => {
    assert.deepEqual(sniffImage(GIF), { mimeType: 'image/gif', width: 32, height: 16 });
    assert.deepEqual(sniffImage(Buffer.concat([Buffer.from('GIF87a'), hex('0001 0200')])), { mimeType: 'image/gif', width: 256, height: 2 });
  });

  it('WebP: lossy (VP8), lossless (VP8L) and extended (VP8X) headers', () => {
    // Frame tag (3 bytes), start code 9d 01 2a, 14-bit width and height (upper 2 bits: scale).
    const vp8 = webp('VP8 ', hex('000000 9d012a 4001 f0c0 0000'));
    assert.deepEqual(sniffImage(vp8), { mimeType: 'image/webp', width: 320, height: 240 });
    // Signature 0x2f, then width-1 and height-1 in 14 bits each, little-endian bit order.
    const bits = (320 - 1) | ((240 - 1) << 14);
    const vp8l = webp('VP8L', Buffer.concat([hex('2f'), Buffer.from([bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, (bits >>> 24) & 0xff]), Buffer.alloc(4)]));
    assert.deepEqual(sniffImage(vp8l), { mimeType: 'image/webp', width: 320, height: 240 });
    // Flags (4 bytes), then canvas width-1 and height-1 in 24 bits each.
    const vp8x = webp('VP8X', hex('00000000 3f0100 ef0000'));
    assert.deepEqual(sniffImage(vp8x), { mimeType: 'image/webp', width: 320, height: 240 });
    assert.deepEqual(sniffImage(Buffer.from('RIFF....WEBP')), { mimeType: 'image/webp', width: null, height: null });
    assert.equal(sniffImage(Buffer.from('RIFF....WAVEfmt ')), null, 'a RIFF that is not WebP');
  });

  it('the bytes decide; the declared type counts only when the bytes are unknown and it names an image', () => {
    const owntone = readFileSync(fixture('owntone-29.3', 'nowplayingartwork-track1.bin'));
    assert.deepEqual(describeImage(owntone, 'image/png'), { mimeType: 'image/jpeg', width: 300, height: 300 }, 'a mislabelled JPEG');
    assert.deepEqual(describeImage(GIF, 'application/octet-stream'), { mimeType: 'image/gif', width: 32, height: 16 });
    assert.deepEqual(describeImage(Buffer.from('unknown bytes'), 'Image/HEIC; charset=binary'), { mimeType: 'image/heic', width: null, height: null });
    assert.equal(describeImage(Buffer.from('<html>not found</html>'), 'text/html'), null);
    assert.equal(describeImage(Buffer.from('<html>not found</html>'), 'image/png'), null, 'bytes that contradict a type we can check');
    assert.equal(describeImage(Buffer.from('unknown bytes'), undefined), null);
    assert.equal(describeImage(Buffer.alloc(0), 'image/png'), null, 'no bytes, no image');
  });

  it('artworkImage: an image, or a ProtocolError that says what came instead (the rule of every protocol)', () => {
    assert.deepEqual(artworkImage(GIF, 'application/octet-stream', 'the TV'), { mimeType: 'image/gif', width: 32, height: 16 });
    assert.deepEqual(artworkImage(Buffer.from('heic bytes'), 'image/heic', 'the TV'), { mimeType: 'image/heic', width: null, height: null });
    assert.throws(
      () => artworkImage(Buffer.from('<html>not found</html>'), 'text/html; charset=utf-8', 'DACP server 10.0.0.2:3689'),
      (err: unknown) => err instanceof ProtocolError && err.message === 'DACP server 10.0.0.2:3689 sent artwork that is not an image (type text/html, 22 bytes)',
    );
    assert.throws(() => artworkImage(Buffer.from('??'), undefined, 'the device'), /not an image \(no type, 2 bytes\)/);
  });

  it('never throws: every truncation of every kind, random bytes, and headers claiming huge segments', () => {
    const samples = [
      readFileSync(fixture('owntone-29.3', 'nowplayingartwork-track1.bin')).subarray(0, 700),
      CAPTURED_ARTWORK,
      GIF,
      hex(`ffd8 ff01 ffd3 ffe0 0004 abcd ffff ${SOF0}`),
      webp('VP8 ', hex('000000 9d012a 4001 f0c0 0000')),
      webp('VP8X', hex('00000000 3f0100 ef0000')),
    ];
    for (const sample of samples) {
      const full = sniffImage(sample);
      assert.ok(full && full.width !== null);
      for (let n = 0; n <= sample.length; n++) {
        const info = sniffImage(sample.subarray(0, n));
        if (info === null) continue;
        assert.equal(info.mimeType, full.mimeType);
        assert.ok(info.width === null || info.width === full.width, `${full.mimeType} cut at ${n}`);
      }
    }
    for (let i = 0; i < 500; i++) {
      const noise = randomBytes(1 + (i % 64));
      for (const prefix of [Buffer.alloc(0), hex('ffd8'), hex('ffd8ff'), PNG_SIGNATURE, Buffer.from('GIF89a'), Buffer.from('RIFF\0\0\0\0WEBP')]) {
        assert.doesNotThrow(() => sniffImage(Buffer.concat([prefix, noise])));
      }
    }
    assert.deepEqual(sniffImage(hex('ffd8 ffe0 ffff')), { mimeType: 'image/jpeg', width: null, height: null });
    assert.deepEqual(sniffImage(new Uint8Array(hex(`ffd8 ${SOF0}`))), { mimeType: 'image/jpeg', width: 768, height: 288 }, 'a plain Uint8Array');
  });
});
