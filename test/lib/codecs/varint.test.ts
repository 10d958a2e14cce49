import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeVarint, encodeVarint, VARINT_MAX_BYTES, varintLength, writeVarint } from '../../../lib/codecs/varint';
import { DecodeError, InvalidArgumentError } from '../../../lib/errors';

describe('varint codec', () => {
  it('encodes the protobuf spec examples', () => {
    assert.equal(encodeVarint(0).toString('hex'), '00');
    assert.equal(encodeVarint(1).toString('hex'), '01');
    assert.equal(encodeVarint(127).toString('hex'), '7f');
    assert.equal(encodeVarint(128).toString('hex'), '8001');
    assert.equal(encodeVarint(150).toString('hex'), '9601');
    assert.equal(encodeVarint(300).toString('hex'), 'ac02');
    assert.equal(encodeVarint(2 ** 32).toString('hex'), '8080808010');
    assert.equal(encodeVarint(Number.MAX_SAFE_INTEGER).toString('hex'), 'ffffffffffffff0f');
  });

  it('round-trips values around every 7-bit boundary, with the length varintLength predicts', () => {
    const values = [0, 1, 2, 1000, 123456789, Number.MAX_SAFE_INTEGER];
    for (let bits = 7; bits <= 52; bits += 7) values.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);
    for (const value of values) {
      const bytes = encodeVarint(value);
      assert.equal(bytes.length, varintLength(value), `length of ${value}`);
      assert.deepEqual(decodeVarint(bytes), { value, bytes: bytes.length }, `value ${value}`);
    }
  });

  it('reads at an offset and writes into a buffer', () => {
    const buf = Buffer.alloc(6, 0xee);
    assert.equal(writeVarint(300, buf, 2), 4);
    assert.equal(buf.toString('hex'), 'eeeeac02eeee');
    assert.deepEqual(decodeVarint(buf, 2), { value: 300, bytes: 2 });
  });

  it('accepts a non-minimal encoding (allowed by protobuf)', () => {
    assert.deepEqual(decodeVarint(Buffer.from('8000', 'hex')), { value: 0, bytes: 2 });
  });

  it('returns undefined while the varint is incomplete', () => {
    assert.equal(decodeVarint(Buffer.alloc(0)), undefined);
    assert.equal(decodeVarint(Buffer.from('ac', 'hex')), undefined);
    assert.equal(decodeVarint(Buffer.from('ffffff', 'hex')), undefined);
    assert.equal(decodeVarint(Buffer.from('00ac', 'hex'), 1), undefined);
  });

  it('refuses more than ten bytes', () => {
    const runaway = Buffer.alloc(VARINT_MAX_BYTES + 1, 0x80);
    assert.throws(() => decodeVarint(runaway), (err: unknown) => err instanceof DecodeError && /past 10 bytes/.test(err.message));
    // Ten continuation bytes are already proof: no eleventh byte is needed to refuse.
    assert.throws(() => decodeVarint(Buffer.alloc(VARINT_MAX_BYTES, 0x80)), DecodeError);
  });

  it('refuses values beyond 2^53 - 1 instead of rounding them', () => {
    assert.throws(() => decodeVarint(Buffer.from('ffffffffffffffff7f', 'hex')), DecodeError);
    assert.throws(() => decodeVarint(Buffer.from('80808080808080808001', 'hex')), DecodeError);
  });

  it('refuses a value above the caller maximum as soon as the bytes prove it', () => {
    assert.deepEqual(decodeVarint(Buffer.from('e807', 'hex'), 0, 1000), { value: 1000, bytes: 2 });
    assert.throws(() => decodeVarint(Buffer.from('e907', 'hex'), 0, 1000), DecodeError);
    // 0xff alone already means at least 127 > 100, although the varint is unfinished.
    assert.throws(
      () => decodeVarint(Buffer.from('ff', 'hex'), 0, 100),
      (err: unknown) => err instanceof DecodeError && err.offset === 0,
    );
  });

  it('refuses to encode negative, fractional or unsafe numbers', () => {
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity]) {
      assert.throws(() => encodeVarint(bad), InvalidArgumentError, String(bad));
    }
  });
});
