/**
 * Companion message and pairing dicts: every message pyatv 0.16.1 sent (opack-vectors.jsonl,
 * `companion-*`) and the Apple TV's pairing frames quoted in pyatv's docs (`doc-*`) decode;
 * what we encode reads back, the pyatv way, as the same values; pairing M1 is byte for byte
 * pyatv's; hostile bytes only ever give a DecodeError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOpack, OpackFloat, encodeOpack } from '../../../../lib/codecs/opack';
import { decodeTlv8, Tlv8Type } from '../../../../lib/codecs/tlv8';
import { DecodeError, InvalidArgumentError } from '../../../../lib/errors';
import {
  companionDict,
  companionNumber,
  companionPairingName,
  companionUint64,
  decodeCompanionMessage,
  decodeCompanionPairing,
  encodeCompanionMessage,
  encodeCompanionPairing,
  nextXid,
  uint64ForOpack,
} from '../../../../lib/protocols/companion/messages';
import { fromTypedJson, readOpackVectors } from '../../../support/typed-json-opack';
import { seededRandom, randomInt } from '../../../support/random';

const vectors = readOpackVectors();
const vector = (name: string) => {
  const v = vectors.find((x) => x.name === name);
  assert.ok(v, name);
  return v;
};
const messageVectors = vectors.filter((v) => v.name.startsWith('companion-') && v.hex.includes('425f74'));

describe('Companion messages', () => {
  it('decodes every message pyatv sent: name, type, transaction id and content', () => {
    assert.ok(messageVectors.length >= 14, `${messageVectors.length} message vectors`);
    for (const v of messageVectors) {
      const value = v.value as { _i: string; _t: number; _x: number; _c: Record<string, unknown> };
      const message = decodeCompanionMessage(Buffer.from(v.hex, 'hex'));
      assert.equal(message.name, value._i, v.name);
      assert.equal(message.kind, value._t === 1 ? 'event' : 'request', v.name);
      assert.equal(message.xid, value._x, v.name);
      assert.equal(message.error, null);
      assert.deepEqual([...message.content.keys()], Object.keys(value._c), v.name);
    }
    const launch = decodeCompanionMessage(Buffer.from(vector('companion-_launchApp-_urlS').hex, 'hex'));
    assert.equal(launch.content.get('_urlS'), 'https://example.com/path');
    const info = decodeCompanionMessage(Buffer.from(vector('companion-_systemInfo').hex, 'hex'));
    // pyatv writes 128 as 30 80, which an unsigned reader (ours) keeps at 128.
    assert.equal(info.content.get('_clFl'), 128);
    assert.ok(Buffer.isBuffer(info.content.get('_idsID')), '_idsID is sent as bytes');
  });

  it('encodes what pyatv reads back as the message it would have sent itself', () => {
    for (const v of messageVectors) {
      const value = v.value as { _i: string; _t: number; _x: number; _c: unknown };
      const content = fromTypedJson((v.value as { _c: never })._c);
      const ours = encodeCompanionMessage({ kind: value._t === 1 ? 'event' : 'request', name: value._i, xid: value._x, content });
      assert.deepEqual(decodeOpack(ours, { integers: 'unsigned' }), decodeOpack(Buffer.from(v.hex, 'hex'), { integers: 'unsigned' }), v.name);
    }
  });

  it('round-trips responses and errors', () => {
    const ok = decodeCompanionMessage(encodeCompanionMessage({ kind: 'response', xid: 7, content: new Map([['com.apple.TVMusic', 'Music']]) }));
    assert.deepEqual(ok, { kind: 'response', name: null, xid: 7, content: new Map([['com.apple.TVMusic', 'Music']]), error: null });
    const failed = decodeCompanionMessage(
      encodeCompanionMessage({ kind: 'response', xid: 8, error: { message: 'No request handler', code: -6714, domain: 'RPErrorDomain' } }),
    );
    // -6714 goes out signed (31 c6 e5) and reads back unsigned, as pyatv shows it.
    assert.deepEqual(failed.error, { message: 'No request handler', code: 58822, domain: 'RPErrorDomain' });
    assert.deepEqual([...failed.content], []);
    const event = decodeCompanionMessage(encodeCompanionMessage({ kind: 'event', name: 'SystemStatus', xid: 0, content: { state: 1 } }));
    assert.equal(event.kind, 'event');
    assert.equal(event.content.get('state'), 1);
    assert.throws(() => encodeCompanionMessage({ kind: 'event', name: 'x', xid: -1 }), InvalidArgumentError);
    assert.equal(nextXid(0x7fffffff), 0);
  });

  it('carries 64-bit session ids in the bytes both readers agree on', () => {
    for (const sid of [0n, 5555n << 32n, (0xfffffffen << 32n) | 0x12345678n, (1n << 64n) - 1n]) {
      const bytes = encodeOpack({ _sid: uint64ForOpack(sid) });
      assert.equal(companionUint64(companionDict(decodeOpack(bytes, { integers: 'unsigned' }))!.get('_sid')), sid);
      assert.equal(companionUint64(companionDict(decodeOpack(bytes))!.get('_sid')), sid, 'read signed too');
    }
    assert.equal(companionNumber(new OpackFloat(0.25)), 0.25);
    assert.equal(companionNumber('1'), null);
  });

  it('wraps pairing TLV8 as pyatv does: M1 is its exact bytes', () => {
    const m1 = vector('companion-pair-setup-M1');
    const value = fromTypedJson(m1.value) as { _pd: Buffer; _x: number };
    const ours = encodeCompanionPairing(value._pd, { passwordType: 1, xid: value._x });
    assert.equal(ours.toString('hex'), m1.hex);
    assert.equal(companionPairingName('pyatv').toString('hex'), vector('companion-pair-hap-m5-name-tlv').hex);
    const verify = decodeOpack(encodeCompanionPairing(Buffer.from('060101', 'hex'), { authType: 4 }));
    assert.deepEqual(Object.keys(verify as object), ['_pd', '_auTy']);
  });

  it("reads the Apple TV's pairing frames quoted in pyatv's docs", () => {
    for (const [name, state] of [
      ['doc-apple-tv-pair-setup-M2', 2],
      ['doc-apple-tv-pair-setup-M4', 4],
      ['doc-apple-tv-pair-setup-M6', 6],
      ['doc-apple-tv-pair-verify-M2', 2],
      ['doc-apple-tv-pair-verify-M4', 4],
    ] as const) {
      const tlv = decodeTlv8(decodeCompanionPairing(Buffer.from(vector(name).hex, 'hex')));
      assert.equal(tlv.get(Tlv8Type.State)?.[0], state, name);
    }
  });

  it('refuses what is not a message with a DecodeError', () => {
    const bad = [
      encodeOpack([1, 2]),
      encodeOpack({ _i: 'x', _c: {} }),
      encodeOpack({ _t: 9, _c: {} }),
      encodeOpack({ _t: 2, _i: 5 }),
      encodeOpack({ _t: 2, _i: 'x', _c: [1] }),
      encodeOpack(new Map<unknown, unknown>([[1, 2], ['_t', 2]]) as never),
      Buffer.from('e2425f74', 'hex'),
      Buffer.alloc(0),
    ];
    for (const bytes of bad) assert.throws(() => decodeCompanionMessage(bytes), DecodeError, bytes.toString('hex'));
    for (const bytes of [encodeOpack({ _pd: 'text' }), encodeOpack({ _pd: Buffer.alloc(0) }), encodeOpack({}), Buffer.from('ff', 'hex')]) {
      assert.throws(() => decodeCompanionPairing(bytes), DecodeError, bytes.toString('hex'));
    }
  });

  it('survives mutated messages: a value or a DecodeError, never another error', () => {
    const random = seededRandom(0xc0ffee);
    const seeds = messageVectors.map((v) => Buffer.from(v.hex, 'hex'));
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(seeds[randomInt(random, seeds.length)]!);
      for (let n = 1 + randomInt(random, 4); n > 0; n--) bytes[randomInt(random, bytes.length)] = randomInt(random, 256);
      const cut = random() < 0.2 ? bytes.subarray(0, randomInt(random, bytes.length)) : bytes;
      try {
        decodeCompanionMessage(cut);
      } catch (err) {
        assert.ok(err instanceof DecodeError, `${cut.toString('hex')}: ${String(err)}`);
      }
    }
  });
});
