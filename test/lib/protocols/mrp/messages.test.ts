import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as protobuf from 'protobufjs/light';
import { encodeVarint } from '../../../../lib/codecs/varint';
import { AtvError, DecodeError, InvalidArgumentError } from '../../../../lib/errors';
import {
  createMrpMessage,
  decodeMrpMessage,
  encodeMrpMessage,
  MRP_EXTENSION_BY_TYPE,
  mrpExtensionOf,
  MrpMessageType,
  mrpMessageTypeName,
  type MrpMappedType,
  type MrpMessage,
} from '../../../../lib/protocols/mrp/messages';
import { MRP_EXTENSION_FIELD_NUMBERS, MrpErrorCode, MrpPlaybackState } from '../../../../lib/protocols/mrp/proto-types';
import { REPO_ROOT } from '../../../support/paths';
import { capturedFrames } from './capture';

const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** A length-delimited field: tag (field, wire type 2), length, bytes. */
const ld = (field: number, body: Buffer): Buffer => Buffer.concat([encodeVarint(field * 8 + 2), encodeVarint(body.length), body]);

// pyatv: protocols/mrp/messages.py, "Type ↔ extension field": [type, extension field number].
const REFERENCE_EXTENSIONS: [MrpMessageType, number][] = [
  [MrpMessageType.SEND_COMMAND_MESSAGE, 6],
  [MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, 7],
  [MrpMessageType.SET_STATE_MESSAGE, 9],
  [MrpMessageType.SET_ARTWORK_MESSAGE, 10],
  [MrpMessageType.REGISTER_HID_DEVICE_MESSAGE, 11],
  [MrpMessageType.REGISTER_HID_DEVICE_RESULT_MESSAGE, 12],
  [MrpMessageType.SEND_HID_EVENT_MESSAGE, 13],
  [MrpMessageType.NOTIFICATION_MESSAGE, 16],
  [MrpMessageType.DEVICE_INFO_MESSAGE, 20],
  [MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE, 20],
  [MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE, 21],
  [MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE, 22],
  [MrpMessageType.KEYBOARD_MESSAGE, 28],
  [MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE, 29],
  [MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE, 37],
  [MrpMessageType.CRYPTO_PAIRING_MESSAGE, 39],
  [MrpMessageType.SET_CONNECTION_STATE_MESSAGE, 42],
  [MrpMessageType.SEND_BUTTON_EVENT_MESSAGE, 43],
  [MrpMessageType.WAKE_DEVICE_MESSAGE, 45],
  [MrpMessageType.GENERIC_MESSAGE, 46],
  [MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE, 50],
  [MrpMessageType.SET_NOW_PLAYING_PLAYER_MESSAGE, 51],
  [MrpMessageType.MODIFY_OUTPUT_CONTEXT_REQUEST_MESSAGE, 52],
  [MrpMessageType.GET_VOLUME_MESSAGE, 53],
  [MrpMessageType.GET_VOLUME_RESULT_MESSAGE, 54],
  [MrpMessageType.SET_VOLUME_MESSAGE, 55],
  [MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, 56],
  [MrpMessageType.REMOVE_CLIENT_MESSAGE, 57],
  [MrpMessageType.REMOVE_PLAYER_MESSAGE, 58],
  [MrpMessageType.UPDATE_CLIENT_MESSAGE, 59],
  [MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, 60],
  [MrpMessageType.UPDATE_CONTENT_ITEM_ARTWORK_MESSAGE, 61],
  [MrpMessageType.VOLUME_CONTROL_CAPABILITIES_DID_CHANGE_MESSAGE, 68],
  [MrpMessageType.UPDATE_OUTPUT_DEVICE_MESSAGE, 69],
  [MrpMessageType.REMOVE_OUTPUT_DEVICES_MESSAGE, 70],
  [MrpMessageType.SET_DEFAULT_SUPPORTED_COMMANDS_MESSAGE, 75],
  [MrpMessageType.CONFIGURE_CONNECTION_MESSAGE, 94],
];

const MAPPED_TYPES = Object.keys(MRP_EXTENSION_BY_TYPE).map(Number) as MrpMappedType[];

/** The schema as the runtime loads it, for building test payloads that fill every field. */
const schemaRoot = protobuf.Root.fromJSON(
  JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'lib', 'protocols', 'mrp', 'proto.json'), 'utf8')) as protobuf.INamespace,
);

/** A payload with every field of `type` set (two entries per repeated field), nested two levels deep. */
function fullPayload(type: protobuf.Type, depth = 0, counter = { n: 1 }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const one = (): unknown => {
      const n = counter.n++;
      if (field.resolvedType instanceof protobuf.Enum) {
        const values = Object.values(field.resolvedType.values);
        return values[n % values.length];
      }
      if (field.resolvedType instanceof protobuf.Type) return depth < 2 ? fullPayload(field.resolvedType, depth + 1, counter) : {};
      switch (field.type) {
        case 'string':
          return `${field.name} ${n} ✓`;
        case 'bytes':
          return Buffer.from([n & 0xff, 0, 0xff]);
        case 'bool':
          return n % 2 === 0;
        case 'double':
          return n + 0.1;
        case 'float':
          return n + 0.5; // exact in float32
        case 'int32':
        case 'int64':
        case 'sint32':
        case 'sint64':
          return -n;
        default:
          return n;
      }
    };
    out[field.name] = field.repeated ? [one(), one()] : one();
  }
  return out;
}

function payloadTypeOf(type: MrpMappedType): protobuf.Type | 'string' {
  const field = schemaRoot.lookupType('mrp.ProtocolMessage').fields[`.mrp.${MRP_EXTENSION_BY_TYPE[type]}`];
  assert.ok(field, `extension of ${mrpMessageTypeName(type)}`);
  field.resolve();
  return field.resolvedType instanceof protobuf.Type ? field.resolvedType : 'string';
}

function throwsDecodeError(bytes: Buffer, pattern?: RegExp): void {
  assert.throws(
    () => decodeMrpMessage(bytes),
    (err: unknown) => err instanceof DecodeError && (pattern === undefined || pattern.test(err.message)),
    `${bytes.toString('hex')} should be refused${pattern ? ` with ${pattern}` : ''}`,
  );
}

describe('MRP messages', () => {
  describe('the type → extension map', () => {
    it('matches the reference table, extension numbers included', () => {
      for (const [type, number] of REFERENCE_EXTENSIONS) {
        const extension = mrpExtensionOf(type);
        assert.ok(extension, `${mrpMessageTypeName(type)} is mapped`);
        assert.equal(MRP_EXTENSION_FIELD_NUMBERS[extension], number, mrpMessageTypeName(type));
      }
      assert.deepEqual(MAPPED_TYPES.sort((a, b) => a - b), REFERENCE_EXTENSIONS.map(([t]) => t).sort((a, b) => a - b));
    });

    it('names every type of the enum, and unknown numbers as UNKNOWN(n)', () => {
      assert.equal(mrpMessageTypeName(15), 'DEVICE_INFO_MESSAGE');
      assert.equal(mrpMessageTypeName(37), 'DEVICE_INFO_UPDATE_MESSAGE');
      assert.equal(mrpMessageTypeName(120), 'CONFIGURE_CONNECTION_MESSAGE');
      assert.equal(mrpMessageTypeName(999), 'UNKNOWN(999)');
      assert.equal(MrpMessageType.GET_STATE_MESSAGE, 3);
      assert.equal(mrpExtensionOf(MrpMessageType.GET_STATE_MESSAGE), undefined);
    });

    it('is generated from the .proto files that are checked in (proto-types.ts is current)', () => {
      const run = spawnSync(process.execPath, [join(REPO_ROOT, 'lib', 'protocols', 'mrp', 'proto.build.mjs'), '--check'], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
    });
  });

  describe('createMrpMessage / encodeMrpMessage', () => {
    it('writes the envelope as pyatv does: type, identifier, errorCode 0, a random uniqueIdentifier', () => {
      const message = createMrpMessage(MrpMessageType.GENERIC_MESSAGE, undefined, { identifier: 'ID' });
      assert.match(message.uniqueIdentifier ?? '', UUID);
      const bytes = encodeMrpMessage(message);
      const unique = Buffer.from(message.uniqueIdentifier ?? '');
      // field 1 = 42, field 2 = "ID", field 4 = 0, field 85 (tag aa05) = 36-byte UUID
      assert.equal(bytes.toString('hex'), `082a` + `12024944` + `2000` + `aa0524${unique.toString('hex')}`);
      assert.notEqual(createMrpMessage(MrpMessageType.GENERIC_MESSAGE).uniqueIdentifier, message.uniqueIdentifier);
      assert.equal(createMrpMessage(MrpMessageType.GENERIC_MESSAGE).identifier, undefined);
    });

    for (const type of MAPPED_TYPES) {
      it(`round-trips ${mrpMessageTypeName(type)} with every payload field set`, () => {
        const payloadType = payloadTypeOf(type);
        const payload = payloadType === 'string' ? 'keyboard session' : fullPayload(payloadType);
        const sent = createMrpMessage(type, payload as never, { identifier: 'REQ-1' });
        const got = decodeMrpMessage(encodeMrpMessage(sent));
        assert.equal(got.type, type);
        assert.equal(got.typeNumber, type);
        assert.equal(got.typeName, mrpMessageTypeName(type));
        assert.equal(got.identifier, 'REQ-1');
        assert.equal(got.uniqueIdentifier, sent.uniqueIdentifier);
        assert.equal(got.errorCode, MrpErrorCode.NoError);
        assert.equal(got.raw.errorCode, 0, 'errorCode 0 is on the wire, not defaulted');
        assert.deepEqual(got.payload, payload);
      });
    }

    it('DEVICE_INFO_MESSAGE and DEVICE_INFO_UPDATE_MESSAGE carry the same extension', () => {
      for (const type of [MrpMessageType.DEVICE_INFO_MESSAGE, MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE] as const) {
        const got = decodeMrpMessage(encodeMrpMessage(createMrpMessage(type, { name: 'Living Room', logicalDeviceCount: 0 })));
        assert.equal(got.type, type);
        assert.equal(got.raw.deviceInfoMessage?.name, 'Living Room');
        assert.deepEqual(got.payload, { name: 'Living Room', logicalDeviceCount: 0 });
      }
    });

    it('encodes a message without payload and decodes it with payload undefined', () => {
      const got = decodeMrpMessage(encodeMrpMessage(createMrpMessage(MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE, undefined, { identifier: 'K' })));
      assert.equal(got.type, MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE);
      assert.equal(got.payload, undefined);
      const state = decodeMrpMessage(encodeMrpMessage(createMrpMessage(MrpMessageType.GET_STATE_MESSAGE)));
      assert.equal(state.typeName, 'GET_STATE_MESSAGE');
      assert.equal(state.payload, undefined);
    });

    it('narrows the payload by type', () => {
      const message: MrpMessage = decodeMrpMessage(
        encodeMrpMessage(createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, { playbackState: MrpPlaybackState.Paused })),
      );
      if (message.type !== MrpMessageType.SET_STATE_MESSAGE) assert.fail('type');
      assert.equal(message.payload?.playbackState, MrpPlaybackState.Paused);
    });

    it('refuses payloads that do not fit the schema, naming the field', () => {
      const badEnum = createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, { playbackState: 77 as MrpPlaybackState });
      assert.throws(() => encodeMrpMessage(badEnum), (err: unknown) => err instanceof InvalidArgumentError && /playbackState/.test(err.message));
      const badType = createMrpMessage(MrpMessageType.SET_VOLUME_MESSAGE, { volume: 'loud' as unknown as number });
      assert.throws(() => encodeMrpMessage(badType), (err: unknown) => err instanceof InvalidArgumentError && /volume/.test(err.message));
      const stray = { ...createMrpMessage(MrpMessageType.GET_STATE_MESSAGE), payload: { x: 1 } } as unknown as MrpMessage;
      assert.throws(() => encodeMrpMessage(stray), InvalidArgumentError);
    });
  });

  describe('decodeMrpMessage on hostile bytes', () => {
    it('decodes an empty message as UNKNOWN_MESSAGE', () => {
      const got = decodeMrpMessage(Buffer.alloc(0));
      assert.equal(got.type, MrpMessageType.UNKNOWN_MESSAGE);
      assert.equal(got.payload, undefined);
    });

    it('refuses invalid wire types and field number 0', () => {
      throwsDecodeError(h('0e'), /wire type 6/);
      throwsDecodeError(h('0f'), /wire type 7/);
      throwsDecodeError(h('0001'), /field number 0/);
      throwsDecodeError(h('0804 0201 00'), /field number 0/);
    });

    it('refuses a known field with the wrong wire type, naming it', () => {
      throwsDecodeError(h('0a0141'), /type \(field 1\) arrived with wire type 2, expected 0/);
      throwsDecodeError(h('0804 2203 4141 41'), /errorCode \(field 4\) arrived with wire type 2/);
      // SET_STATE whose playbackQueue (a message) arrives as a varint
      throwsDecodeError(Buffer.concat([h('0804'), ld(9, h('1801'))]), /SetStateMessage\.playbackQueue \(field 3\) arrived with wire type 0, expected 2/);
      // DEVICE_INFO whose name (a string) arrives as a 32-bit value
      throwsDecodeError(Buffer.concat([h('080f'), ld(20, h('1541414141'))]), /DeviceInfoMessage\.name/);
    });

    it('refuses lengths that run past the end, without allocating them', () => {
      throwsDecodeError(h('080f a201 ffffff0f'));
      throwsDecodeError(h('0a'));
      throwsDecodeError(h('08'));
      throwsDecodeError(h('08ffffffffffffffffffff01'));
      throwsDecodeError(Buffer.concat([h('080f'), ld(20, h('1205 4142'))]));
    });

    it('refuses runaway nesting (groupedDevices inside groupedDevices ...)', () => {
      const nested = (depth: number): Buffer => {
        let inner = h('1201 58'); // name "X"
        for (let i = 0; i < depth; i++) inner = Buffer.concat([h('1201 58'), ld(28, inner)]);
        return Buffer.concat([h('080f'), ld(20, inner)]);
      };
      const ok = decodeMrpMessage(nested(20));
      assert.equal(ok.type, MrpMessageType.DEVICE_INFO_MESSAGE);
      throwsDecodeError(nested(150), /depth/);
    });

    it('keeps enum values this schema does not know, as numbers', () => {
      const unknownType = decodeMrpMessage(h('08c801 1201 41'));
      assert.equal(unknownType.type, MrpMessageType.UNKNOWN_MESSAGE);
      assert.equal(unknownType.typeNumber, 200);
      assert.equal(unknownType.typeName, 'UNKNOWN(200)');
      assert.equal(unknownType.identifier, 'A');
      assert.equal(unknownType.payload, undefined);

      const state = decodeMrpMessage(Buffer.concat([h('0804'), ld(9, h('3009'))]));
      assert.equal(state.type, MrpMessageType.SET_STATE_MESSAGE);
      assert.deepEqual(state.payload, { playbackState: 9 });

      const result = decodeMrpMessage(Buffer.concat([h('0802 20e707'), ld(7, h('0801 10e707'))]));
      assert.equal(result.errorCode, 999);
      assert.deepEqual(result.payload, { sendError: 1, handlerReturnStatus: 999 });
    });

    it('ignores unknown fields', () => {
      const got = decodeMrpMessage(Buffer.concat([h('0804'), ld(9, Buffer.concat([h('3001'), ld(99, h('0102')), h('f80601')]))]));
      assert.deepEqual(got.payload, { playbackState: MrpPlaybackState.Playing });
    });

    it('only ever throws DecodeError: every truncation and 3000 mutations of a captured SET_STATE', () => {
      const frame = capturedFrames('mrp-session-playing.jsonl', 's2c').find((f) => f.message.type === MrpMessageType.SET_STATE_MESSAGE);
      assert.ok(frame);
      const real = frame.plaintext;
      const outcome = (bytes: Buffer): string => {
        try {
          decodeMrpMessage(bytes);
          return 'decoded';
        } catch (err) {
          if (err instanceof DecodeError) return 'refused';
          throw err;
        }
      };
      const seen = new Set<string>();
      for (let n = 0; n < real.length; n++) seen.add(outcome(real.subarray(0, n)));
      let seed = 0x2545f491;
      const random = (): number => {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) / 2 ** 32;
      };
      for (let i = 0; i < 3000; i++) {
        const mutated = Buffer.from(real);
        for (let k = 1 + Math.floor(random() * 4); k > 0; k--) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
        seen.add(outcome(mutated));
        const garbage = Buffer.alloc(Math.floor(random() * 64));
        for (let j = 0; j < garbage.length; j++) garbage[j] = Math.floor(random() * 256);
        seen.add(outcome(garbage));
      }
      assert.deepEqual([...seen].sort(), ['decoded', 'refused'], 'both outcomes occur, nothing else');
    });

    it('DecodeError is a typed AtvError with code PROTOCOL', () => {
      try {
        decodeMrpMessage(h('0f'));
        assert.fail('should throw');
      } catch (err) {
        assert.ok(err instanceof AtvError);
        assert.equal(err.code, 'PROTOCOL');
      }
    });
  });
});
