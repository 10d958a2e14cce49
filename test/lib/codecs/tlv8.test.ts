import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeTlv8,
  decodeTlv8Items,
  describeTlv8,
  encodeTlv8,
  Tlv8ErrorCode,
  tlv8ErrorName,
  tlv8Require,
  Tlv8Type,
  tlv8TypeName,
  tlv8Uint,
} from '../../../lib/codecs/tlv8';
import { DecodeError, InvalidArgumentError } from '../../../lib/errors';
import { mrpPairingTlvs, readCapture } from '../hap/captures';

describe('TLV8 codec', () => {
  it('has the HAP type and error tables (pyatv: auth/hap_tlv8.py)', () => {
    assert.deepEqual(
      [Tlv8Type.Method, Tlv8Type.Identifier, Tlv8Type.Salt, Tlv8Type.PublicKey, Tlv8Type.Proof, Tlv8Type.EncryptedData, Tlv8Type.State],
      [0, 1, 2, 3, 4, 5, 6],
    );
    assert.deepEqual([Tlv8Type.Error, Tlv8Type.BackOff, Tlv8Type.Signature, Tlv8Type.Name, Tlv8Type.Flags], [7, 8, 0x0a, 0x11, 0x13]);
    assert.deepEqual(Object.values(Tlv8ErrorCode), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(tlv8TypeName(0x0a), 'Signature');
    assert.equal(tlv8TypeName(0x42), '0x42');
    assert.equal(tlv8ErrorName(2), 'Authentication');
  });

  it('encodes the pair-setup M1 exactly as pyatv sent it', () => {
    const m1 = encodeTlv8([
      [Tlv8Type.Method, 0],
      [Tlv8Type.State, 1],
    ]);
    assert.equal(m1.toString('hex'), '000100060101');
  });

  it('splits values over 255 bytes into consecutive fragments and joins them on read', () => {
    const big = Buffer.alloc(600, 0).map((_, i) => i % 251);
    const encoded = encodeTlv8([
      [Tlv8Type.State, 3],
      [Tlv8Type.PublicKey, big],
      [Tlv8Type.Proof, Buffer.from('abcd', 'hex')],
    ]);
    // 3 + (2+255) + (2+255) + (2+90) + 4
    assert.equal(encoded.length, 3 + 257 + 257 + 92 + 4);
    assert.deepEqual([encoded[3], encoded[4], encoded[3 + 257], encoded[4 + 257], encoded[3 + 514], encoded[4 + 514]], [3, 255, 3, 255, 3, 90]);
    const map = decodeTlv8(encoded);
    assert.deepEqual([...map.keys()], [Tlv8Type.State, Tlv8Type.PublicKey, Tlv8Type.Proof]);
    assert.ok(map.get(Tlv8Type.PublicKey)!.equals(big));
    assert.equal(tlv8Uint(map, Tlv8Type.State), 3);
    assert.ok(encodeTlv8(map).equals(encoded), 're-encodes byte for byte');
  });

  it('writes exactly 255 bytes as one fragment and an empty value as a zero-length item', () => {
    const encoded = encodeTlv8([
      [Tlv8Type.Signature, Buffer.alloc(255, 7)],
      [0xff, Buffer.alloc(0)],
    ]);
    assert.equal(encoded.length, 257 + 2);
    assert.deepEqual(decodeTlv8Items(encoded).map((i) => [i.type, i.value.length]), [
      [Tlv8Type.Signature, 255],
      [0xff, 0],
    ]);
  });

  it('writes integers little-endian in as few bytes as needed', () => {
    assert.equal(encodeTlv8([[Tlv8Type.BackOff, 300]]).toString('hex'), '08022c01');
    assert.equal(encodeTlv8([[Tlv8Type.State, 0]]).toString('hex'), '060100');
    assert.throws(() => encodeTlv8([[Tlv8Type.State, -1]]), InvalidArgumentError);
    assert.throws(() => encodeTlv8([[256, 1]]), InvalidArgumentError);
  });

  it('rejects truncated input with a DecodeError naming the offset', () => {
    const good = encodeTlv8([
      [Tlv8Type.State, 2],
      [Tlv8Type.Salt, Buffer.alloc(16, 1)],
    ]);
    for (let cut = 1; cut < good.length; cut++) {
      if (cut === 3) continue; // a whole item
      assert.throws(() => decodeTlv8(good.subarray(0, cut)), (err: unknown) => err instanceof DecodeError && /truncated TLV8/.test(err.message), `cut ${cut}`);
    }
    assert.throws(() => decodeTlv8(Buffer.from([0x03, 0xff, 0x00])), (err: unknown) => err instanceof DecodeError && err.offset === 0);
  });

  it('refuses a type repeated with other items in between', () => {
    assert.throws(() => decodeTlv8(Buffer.from('0601020201aa060104', 'hex')), /State appears twice/);
    // the list form keeps them apart
    assert.equal(decodeTlv8Items(Buffer.from('060102ff00060104', 'hex')).length, 3);
  });

  it('names a missing item and summarises without revealing values', () => {
    const map = decodeTlv8(encodeTlv8([
      [Tlv8Type.State, 4],
      [Tlv8Type.Error, Tlv8ErrorCode.BackOff],
      [Tlv8Type.BackOff, 30],
      [Tlv8Type.Proof, Buffer.alloc(64, 0xee)],
    ]));
    assert.equal(describeTlv8(map), 'State=4, Error=BackOff, BackOff=30s, Proof=64B');
    assert.throws(() => tlv8Require(map, Tlv8Type.Salt, 'pair-setup M2'), /pair-setup M2 lacks the Salt item/);
  });

  it('decodes every pairing TLV of pyatv\'s MRP pairing capture and re-encodes it byte for byte', () => {
    const { c2s, s2c } = mrpPairingTlvs(readCapture('mrp-pair.jsonl'));
    assert.equal(c2s.length + s2c.length, 10);
    for (const tlv of [...c2s, ...s2c]) assert.ok(encodeTlv8(decodeTlv8(tlv)).equals(tlv));
    // M2 carries a 384-byte public key, which must have come in two 255/129 fragments
    const m2 = s2c[0]!;
    assert.equal(decodeTlv8Items(m2).length, 3);
    assert.equal(decodeTlv8(m2).get(Tlv8Type.PublicKey)!.length, 384);
  });
});
