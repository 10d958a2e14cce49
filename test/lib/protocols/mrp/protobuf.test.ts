import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as protobuf from 'protobufjs/light';
import { encodeVarint } from '../../../../lib/codecs/varint';
import { DecodeError } from '../../../../lib/errors';
import { MRP_EXTENSION_BY_TYPE } from '../../../../lib/protocols/mrp/messages';
import {
  decodeProtobuf,
  encodeProtobuf,
  PayloadError,
  PROTOBUF_MAX_DEPTH,
  schemaPlan,
  WireError,
  type ProtoJson,
} from '../../../../lib/protocols/mrp/protobuf';

const PREFIX = '.mrp.';
const json = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'lib', 'protocols', 'mrp', 'proto.json'), 'utf8')) as ProtoJson;
// protobufjs, the independent implementation the tests hold ours against.
const root = protobuf.Root.fromJSON(json as protobuf.INamespace);
const protocolMessage = root.lookupType('mrp.ProtocolMessage');
const plan = schemaPlan(json, 'mrp.ProtocolMessage');
const commandInfo = schemaPlan(json, 'mrp.CommandInfo');

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const key = (field: number, wire: number): Buffer => encodeVarint(field * 8 + wire);
const ld = (field: number, body: Buffer): Buffer => Buffer.concat([key(field, 2), encodeVarint(body.length), body]);

/**
 * A payload with every field of `type` set, from a seed: the variants cover negative and
 * large integers, zeros, false, empty and non-ASCII strings, so protobufjs and protobuf.ts
 * meet each kind of value.
 */
function payloadOf(type: protobuf.Type, variant: number, depth = 0, counter = { n: variant * 13 + 1 }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const one = (): unknown => {
      const n = counter.n++;
      const negative = variant % 2 === 1;
      if (field.resolvedType instanceof protobuf.Enum) {
        const values = Object.values(field.resolvedType.values);
        return values[n % values.length];
      }
      if (field.resolvedType instanceof protobuf.Type) return depth < 2 ? payloadOf(field.resolvedType, variant, depth + 1, counter) : {};
      switch (field.type) {
        case 'string':
          return [`${field.name} ${n}`, '', `Ünïcode ✓ ${n} 🎵`, 'x'.repeat(70 + n)][variant % 4];
        case 'bytes':
          return variant % 3 === 2 ? Buffer.alloc(0) : Buffer.from([n & 0xff, 0, 0xff]);
        case 'bool':
          return n % 2 === 0;
        case 'double':
          return negative ? -n * 1e10 - 0.25 : n + 0.1;
        case 'float':
          return negative ? -n - 0.5 : n + 0.5;
        case 'int32':
          return negative ? -n * 1_000_003 : variant === 2 ? 0 : n * 100_003;
        case 'int64':
          return negative ? -n * 2 ** 33 : n * 2 ** 40 + 7;
        case 'uint64':
          return variant === 4 ? 2 ** 53 - 1 : n * 2 ** 35 + 9;
        default:
          return variant === 2 ? 0 : n * 1000 + 2 ** 20 * (variant % 3);
      }
    };
    out[field.name] = field.repeated ? [one(), one()] : one();
  }
  return out;
}

/** What protobufjs makes of the same message: its bytes, and its decode as plain objects. */
function viaProtobufjs(wire: Record<string, unknown>): Buffer {
  assert.equal(protocolMessage.verify(wire), null);
  return Buffer.from(protocolMessage.encode(protocolMessage.fromObject(wire)).finish());
}

function protobufjsDecode(bytes: Buffer): Record<string, unknown> {
  const object = protocolMessage.toObject(protocolMessage.decode(bytes), { longs: Number });
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k.startsWith(PREFIX) ? k.slice(PREFIX.length) : k, v]));
}

describe('MRP protobuf wire format', () => {
  describe('against protobufjs, every message type of the schema', () => {
    for (const [type, extension] of Object.entries(MRP_EXTENSION_BY_TYPE)) {
      it(`${extension}: the same bytes out, the same objects back`, () => {
        const field = protocolMessage.fields[PREFIX + extension]!;
        field.resolve();
        for (let variant = 0; variant < 5; variant++) {
          const payload = field.resolvedType instanceof protobuf.Type ? payloadOf(field.resolvedType, variant) : `text ${variant}`;
          const envelope = { type: Number(type), identifier: `ID-${variant}`, errorCode: 0, timestamp: 2 ** 40 + variant, uniqueIdentifier: 'U' };
          const expected = viaProtobufjs({ ...envelope, [PREFIX + extension]: payload });
          const ours = encodeProtobuf({ ...envelope, [extension]: payload }, plan);
          assert.equal(ours.toString('hex'), expected.toString('hex'), `variant ${variant}`);
          assert.deepEqual(decodeProtobuf(ours, plan), protobufjsDecode(expected), `variant ${variant}`);
        }
      });
    }
  });

  describe('checks before writing, as protobufjs verify() does', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['an enum value the schema does not list', { setStateMessage: { playbackState: 77 } }],
      ['an enum value as text', { setStateMessage: { playbackState: 'Playing' } }],
      ['text for a float', { setVolumeMessage: { volume: 'loud' } }],
      ['a fraction for a uint32', { sendCommandMessage: { command: 1, options: { sendOptions: 1.5 } } }],
      ['a number for a string', { deviceInfoMessage: { name: 7 } }],
      ['a number for bytes', { cryptoPairingMessage: { pairingData: 5 } }],
      ['one value for a repeated field', { setStateMessage: { supportedCommands: { supportedCommands: { command: 1 } } } }],
      ['text among repeated doubles', { setStateMessage: { supportedCommands: { supportedCommands: [{ command: 18, preferredIntervals: [10, 'x'] }] } } }],
      ['text for a nested message', { setStateMessage: { playbackQueue: 'queue' } }],
      ['text for an int64', { setStateMessage: { playbackQueue: { contentItems: [{ metadata: { iTunesStoreIdentifier: 'x' } }] } } }],
      ['a boolean as a number', { clientUpdatesConfigMessage: { artworkUpdates: 1 } }],
    ];
    for (const [what, fields] of cases) {
      it(`refuses ${what}, in protobufjs' words`, () => {
        const wire = Object.fromEntries(Object.entries(fields).map(([k, v]) => [PREFIX + k, v]));
        const theirs = protocolMessage.verify({ type: 1, ...wire });
        assert.ok(theirs, 'protobufjs refuses it too');
        assert.throws(
          () => encodeProtobuf({ type: 1, ...fields }, plan),
          (err: unknown) => err instanceof PayloadError && err.message === theirs.replaceAll(PREFIX, ''),
        );
      });
    }

    it('takes what protobufjs takes: a Long for a 64-bit field, base64 text or a byte array for bytes', () => {
      const wire = { type: 1, timestamp: { low: 5, high: 1 }, [`${PREFIX}cryptoPairingMessage`]: { pairingData: 'AQID' } };
      assert.equal(protocolMessage.verify(wire), null);
      const ours = encodeProtobuf({ type: 1, timestamp: { low: 5, high: 1 }, cryptoPairingMessage: { pairingData: 'AQID' } }, plan);
      assert.equal(ours.toString('hex'), viaProtobufjs(wire).toString('hex'));
      const decoded = decodeProtobuf(ours, plan) as { timestamp: number; cryptoPairingMessage: { pairingData: Buffer } };
      assert.equal(decoded.timestamp, 2 ** 32 + 5);
      assert.deepEqual([...decoded.cryptoPairingMessage.pairingData], [1, 2, 3]);
      const array = encodeProtobuf({ type: 1, cryptoPairingMessage: { pairingData: [1, 2, 3] } }, plan);
      assert.deepEqual([...(decodeProtobuf(array, plan) as { cryptoPairingMessage: { pairingData: Buffer } }).cryptoPairingMessage.pairingData], [1, 2, 3]);
    });
  });

  describe('values', () => {
    it('64-bit integers: negative int64 in ten bytes, uint64 exact up to 2^53', () => {
      const bytes = encodeProtobuf({ type: 1, timestamp: 2 ** 53 - 1 }, plan);
      assert.equal(decodeProtobuf(bytes, plan).timestamp, 2 ** 53 - 1);
      assert.equal(bytes.toString('hex'), viaProtobufjs({ type: 1, timestamp: 2 ** 53 - 1 }).toString('hex'));
      // int32 fields take values modulo 2^32, as protobufjs does; a negative one is sign-extended.
      const info = encodeProtobuf({ skipInterval: -1 }, commandInfo);
      assert.equal(info.toString('hex'), '68ffffffffffffffffff01');
      assert.equal(decodeProtobuf(info, commandInfo).skipInterval, -1);
      assert.equal(encodeProtobuf({ skipInterval: 2 ** 32 + 5 }, commandInfo).toString('hex'), '6805');
    });

    it('repeated numbers arrive packed or one by one, in wire order', () => {
      const doubles = Buffer.alloc(16);
      doubles.writeDoubleLE(10, 0);
      doubles.writeDoubleLE(30, 8);
      const types = Buffer.concat([key(17, 0), encodeVarint(5), ld(17, Buffer.concat([encodeVarint(6), encodeVarint(300)])), key(17, 0), encodeVarint(7)]);
      const decoded = decodeProtobuf(Buffer.concat([ld(4, doubles), types]), commandInfo);
      assert.deepEqual(decoded, { preferredIntervals: [10, 30], supportedPlaybackQueueTypes: [5, 6, 300, 7] });
    });

    it('a field sent twice: the last value wins, a message is merged', () => {
      const bytes = Buffer.concat([h('0804 0802'), ld(9, h('3001')), ld(9, h('3002')), ld(9, ld(1, h('0a0141'))), ld(9, ld(1, h('120142')))]);
      const decoded = decodeProtobuf(bytes, plan);
      assert.equal(decoded.type, 2);
      assert.deepEqual(decoded.setStateMessage, { playbackState: 2, nowPlayingInfo: { album: 'A', artist: 'B' } });
    });

    it('strings: invalid UTF-8 becomes U+FFFD; bytes are views into the input', () => {
      const bytes = Buffer.concat([ld(2, h('41ff42')), ld(20, ld(16, h('0102')))]);
      const decoded = decodeProtobuf(bytes, plan) as { identifier: string; deviceInfoMessage: { bluetoothAddress: Buffer } };
      assert.equal(decoded.identifier, 'A\ufffdB');
      const address = decoded.deviceInfoMessage.bluetoothAddress;
      assert.deepEqual([...address], [1, 2]);
      assert.equal(address.buffer, bytes.buffer);
    });
  });

  describe('bounds', () => {
    const refuses = (bytes: Buffer, pattern: RegExp, error: new (...args: never[]) => Error = WireError): void => {
      assert.throws(() => decodeProtobuf(bytes, plan), (err: unknown) => err instanceof error && pattern.test((err as Error).message), bytes.toString('hex'));
    };

    it('refuses truncation everywhere, overlong varints and keys, bad wire types', () => {
      refuses(h('08'), /index out of range/);
      refuses(h('12 05 4142'), /index out of range/);
      refuses(h('4a 03 3001'), /index out of range/);
      refuses(h('08 ffffffffffffffffffff01'), /invalid varint encoding/);
      // A key may take five bytes (as protobufjs reads it), not six.
      assert.deepEqual(decodeProtobuf(h('8880808000 01'), plan), { type: 1 });
      refuses(h('888080808000 01'), /invalid tag encoding/);
      refuses(h('0f'), /wire type 7/);
      refuses(h('0e'), /wire type 6/);
      refuses(h('0001'), /field number 0/);
      refuses(h('0a0141'), /ProtocolMessage\.type \(field 1\) arrived with wire type 2, expected 0/, DecodeError);
    });

    it('skips unknown fields of every wire type, groups included, and checks a group ends where it began', () => {
      const unknown = Buffer.concat([key(99, 0), encodeVarint(1), key(98, 1), Buffer.alloc(8), key(97, 5), Buffer.alloc(4), ld(96, h('0102'))]);
      const group = Buffer.concat([key(95, 3), key(1, 0), encodeVarint(3), key(95, 4)]);
      assert.deepEqual(decodeProtobuf(Buffer.concat([h('0804'), unknown, group]), plan), { type: 4 });
      refuses(Buffer.concat([key(95, 3), key(94, 4)]), /invalid end group tag/);
      refuses(key(95, 3), /index out of range/);
    });

    it(`refuses nesting deeper than ${PROTOBUF_MAX_DEPTH} levels, in messages and in groups`, () => {
      const nested = (depth: number): Buffer => {
        let inner = h('1201 58');
        for (let i = 0; i < depth; i++) inner = Buffer.concat([h('1201 58'), ld(28, inner)]);
        return ld(20, inner);
      };
      assert.equal(decodeProtobuf(nested(PROTOBUF_MAX_DEPTH - 1), plan).deviceInfoMessage !== undefined, true);
      refuses(nested(PROTOBUF_MAX_DEPTH + 1), /max depth exceeded/);
      let groups = Buffer.alloc(0);
      for (let i = 0; i < PROTOBUF_MAX_DEPTH + 2; i++) groups = Buffer.concat([key(95, 3), groups, key(95, 4)]);
      refuses(groups, /max depth exceeded/);
      const deep: Record<string, unknown> = {};
      let at = deep;
      for (let i = 0; i < PROTOBUF_MAX_DEPTH + 2; i++) at = (at.groupedDevices = [{}] as Record<string, unknown>[])[0]!;
      assert.throws(() => encodeProtobuf({ deviceInfoMessage: deep }, plan), /max depth exceeded/);
    });
  });
});
