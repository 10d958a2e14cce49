import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { DecodeError, InvalidArgumentError } from '../../../lib/errors';
import { PNG_SIGNATURE } from '../../../lib/codecs/image';
import { clampArtworkEdge, crc32, encodePng, MAX_ARTWORK_EDGE, pngSize, trackArtwork } from '../../../lib/simulator/artwork';
import { DEMO_TRACKS } from '../../../lib/simulator/state';

/** Splits a PNG into its chunks, checking each CRC. */
function chunks(png: Buffer): { type: string; data: Buffer }[] {
  const out: { type: string; data: Buffer }[] = [];
  let at = 8;
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    assert.equal(png.readUInt32BE(at + 8 + length), crc32(png.subarray(at + 4, at + 8 + length)), `CRC of ${type}`);
    out.push({ type, data });
    at += 12 + length;
  }
  return out;
}

describe('simulator artwork', () => {
  it('computes the standard CRC-32 check value', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    // The CRC every PNG's IEND chunk carries.
    assert.equal(crc32(Buffer.from('IEND')), 0xae426082);
  });

  it('encodes a valid RGB PNG whose pixels decode back', () => {
    const png = encodePng(3, 2, (x, y) => [x * 10, y * 20, 255]);
    assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE));
    const list = chunks(png);
    assert.deepEqual(
      list.map((c) => c.type),
      ['IHDR', 'IDAT', 'IEND'],
    );
    assert.deepEqual([...list[0]!.data], [0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
    const raw = inflateSync(list[1]!.data);
    assert.deepEqual([...raw], [0, 0, 0, 255, 10, 0, 255, 20, 0, 255, 0, 0, 20, 255, 10, 20, 255, 20, 20, 255]);
    assert.deepEqual(pngSize(png), { width: 3, height: 2 });
  });

  it('refuses sizes outside 1..1024 and reads only PNGs', () => {
    assert.throws(() => encodePng(0, 1, () => [0, 0, 0]), InvalidArgumentError);
    assert.throws(() => encodePng(1, MAX_ARTWORK_EDGE + 1, () => [0, 0, 0]), InvalidArgumentError);
    assert.throws(() => pngSize(Buffer.from('GIF89a, not a png at all')), DecodeError);
  });

  it('clamps requested edges as a server must', () => {
    assert.equal(clampArtworkEdge('320'), 320);
    assert.equal(clampArtworkEdge('99999'), MAX_ARTWORK_EDGE);
    assert.equal(clampArtworkEdge('0', 600), 600);
    assert.equal(clampArtworkEdge('-5', 600), 600);
    assert.equal(clampArtworkEdge('12px', 600), 600);
    assert.equal(clampArtworkEdge(null, 600), 600);
  });

  it('draws a square cover when only one edge is asked for', () => {
    assert.deepEqual(pngSize(trackArtwork(DEMO_TRACKS[0]!, { width: 200 })), { width: 200, height: 200 });
    assert.deepEqual(pngSize(trackArtwork(DEMO_TRACKS[0]!, { width: '0', height: '90' })), { width: 90, height: 90 });
  });

  it('draws a different cover per track at the requested size', () => {
    const covers = DEMO_TRACKS.map((t) => trackArtwork(t, { width: 40, height: 30 }));
    for (const c of covers) assert.deepEqual(pngSize(c), { width: 40, height: 30 });
    assert.equal(new Set(covers.map((c) => c.toString('hex'))).size, DEMO_TRACKS.length);
    const again = trackArtwork(DEMO_TRACKS[0]!, { width: 40, height: 30 });
    assert.ok(again.equals(covers[0]!));
    again[20] = 0xff;
    assert.ok(trackArtwork(DEMO_TRACKS[0]!, { width: 40, height: 30 }).equals(covers[0]!), 'callers cannot corrupt the cache');
  });
});
