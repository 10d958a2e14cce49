import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeVarint } from '../../../../lib/codecs/varint';
import { DecodeError, InvalidArgumentError } from '../../../../lib/errors';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage } from '../../../../lib/protocols/mrp/messages';
import { MrpMessageType } from '../../../../lib/protocols/mrp/proto-types';
import {
  DATA_STREAM_HEADER_BYTES,
  DATA_STREAM_MAX_FRAME_BYTES,
  DataStreamCommand,
  DataStreamFrameDecoder,
  DataStreamMessageType,
  decodeDataStreamFrame,
  encodeDataStreamFrame,
  encodeDataStreamReply,
  joinDataStreamMessages,
  splitDataStreamMessages,
  type DataStreamFrame,
} from '../../../../lib/protocols/airplay/datastream';
import { bplistVector } from '../../../support/bplist-vectors';
import { randomChunks, randomInt, seededRandom } from '../../../support/random';

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** The `params.data` bytes of a `{params: {data}}` plist vector, from its typed-JSON value. */
const paramsData = (name: string): Buffer =>
  h((bplistVector(name).value as { params: { data: { $bytes: string } } }).params.data.$bytes);

// Frame headers quoted in pyatv's docs/documentation/protocols.md ("Data Channel"): an iOS
// sync/comm with a payload and the Apple TV's rply (payload `{}`), and a payload-less
// sync/cmnd from the Apple TV with iOS's rply.
const IOS_SYNC_HEADER = '0000009d 73796e630000000000000000 636f6d6d 00000001 6155c3e0 00000000';
const APPLE_TV_RPLY_HEADER = '0000004a 72706c790000000000000000 00000000 00000001 6155c3e0 00000000';
const APPLE_TV_SYNC = '00000020 73796e630000000000000000 636d6e64 cf493446 9b4941ae 00000000';
const IOS_RPLY = '00000020 72706c790000000000000000 00000000 cf493446 9b4941ae 00000000';

const comparable = (frames: DataStreamFrame[]): unknown[] => frames.map((f) => ({ ...f, payload: f.payload.toString('hex') }));

describe('AirPlay data-stream frames', () => {
  describe('the frames quoted from an iOS/Apple TV session', () => {
    const syncPayload = bplistVector('doc-ios-data-sync-comm-payload').bytes;
    const rplyPayload = bplistVector('doc-appletv-data-rply-payload').bytes;

    it('encodes the iOS sync/comm frame and the Apple TV rply byte for byte', () => {
      const sync = encodeDataStreamFrame({ messageType: 'sync', command: 'comm', seqno: 0x16155c3e0n, payload: syncPayload });
      assert.equal(sync.toString('hex'), h(IOS_SYNC_HEADER).toString('hex') + syncPayload.toString('hex'));
      assert.equal(sync.length, 157);
      const rply = encodeDataStreamFrame({ messageType: DataStreamMessageType.Reply, command: '', seqno: 0x16155c3e0n, payload: rplyPayload });
      assert.equal(rply.toString('hex'), h(APPLE_TV_RPLY_HEADER).toString('hex') + rplyPayload.toString('hex'));
    });

    it('answers the Apple TV’s payload-less sync/cmnd with the rply iOS sent', () => {
      const [sync] = new DataStreamFrameDecoder().push(h(APPLE_TV_SYNC));
      assert.deepEqual(comparable([sync!]), [{ messageType: 'sync', command: DataStreamCommand.Receiver, seqno: 0xcf4934469b4941aen, payload: '' }]);
      assert.equal(encodeDataStreamReply(sync!.seqno).toString('hex'), h(IOS_RPLY).toString('hex'));
    });

    it('decodes the iOS sync and the Apple TV rply, and finds one MRP message in the sync’s data', () => {
      const bytes = Buffer.concat([h(IOS_SYNC_HEADER), syncPayload, h(APPLE_TV_RPLY_HEADER), rplyPayload]);
      const frames = new DataStreamFrameDecoder().push(bytes);
      assert.deepEqual(comparable(frames), [
        { messageType: 'sync', command: 'comm', seqno: 0x16155c3e0n, payload: syncPayload.toString('hex') },
        { messageType: 'rply', command: '', seqno: 0x16155c3e0n, payload: rplyPayload.toString('hex') },
      ]);
      assert.equal(frames[0]!.seqno >> 32n, 1n, 'the sender’s seqno has the upper 32 bits = 1');
      const data = paramsData('doc-ios-data-sync-comm-payload');
      const messages = splitDataStreamMessages(data);
      assert.deepEqual(messages.map((m) => m.length), [0x3a]);
      assert.equal(messages[0]![0], 0x08, 'a ProtocolMessage starts with its type field');
      assert.equal(decodeMrpMessage(messages[0]!).type, MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE);
      assert.equal(joinDataStreamMessages(messages).toString('hex'), data.toString('hex'));
    });
  });

  describe('MRP messages in params.data', () => {
    for (const [name, type] of [
      ['ap2-data-params-set-connection-state', MrpMessageType.SET_CONNECTION_STATE_MESSAGE],
      ['ap2-data-params-device-info', MrpMessageType.DEVICE_INFO_MESSAGE],
    ] as const) {
      it(`${name}: one varint-prefixed ProtocolMessage, joined back to the same bytes`, () => {
        const data = paramsData(name);
        const [message, ...rest] = splitDataStreamMessages(data);
        assert.deepEqual(rest, []);
        assert.equal(decodeMrpMessage(message!).type, type);
        assert.equal(encodeVarint(message!.length).length + message!.length, data.length);
        assert.equal(joinDataStreamMessages([message!]).toString('hex'), data.toString('hex'));
      });
    }

    it('splits several prefixed messages and returns views into the data', () => {
      const a = paramsData('ap2-data-params-set-connection-state').subarray(1);
      const b = paramsData('ap2-data-params-device-info').subarray(2);
      const data = joinDataStreamMessages([a, b, a]);
      const parts = splitDataStreamMessages(data);
      assert.deepEqual(parts.map((p) => p.toString('hex')), [a, b, a].map((p) => p.toString('hex')));
      assert.equal(parts[0]!.buffer, data.buffer, 'no copy');
      assert.deepEqual(splitDataStreamMessages(new Uint8Array(0)), []);
      assert.equal(joinDataStreamMessages([]).length, 0);
    });

    it('reads an unprefixed ConfigureConnectionMessage (it starts with 0x08) as the rest of the data', () => {
      const prefixed = paramsData('ap2-data-params-set-connection-state');
      const unprefixed = encodeMrpMessage(createMrpMessage(MrpMessageType.CONFIGURE_CONNECTION_MESSAGE, { groupID: 'group' }));
      assert.equal(unprefixed[0], 0x08);
      assert.deepEqual(splitDataStreamMessages(unprefixed).map((m) => m.toString('hex')), [unprefixed.toString('hex')]);
      const both = splitDataStreamMessages(Buffer.concat([prefixed, unprefixed]));
      assert.deepEqual(
        both.map((m) => decodeMrpMessage(m).type),
        [MrpMessageType.SET_CONNECTION_STATE_MESSAGE, MrpMessageType.CONFIGURE_CONNECTION_MESSAGE],
      );
    });

    it('refuses a length that runs past the data, and a truncated or runaway prefix', () => {
      const data = paramsData('ap2-data-params-set-connection-state');
      assert.throws(() => splitDataStreamMessages(data.subarray(0, -1)), (err: unknown) => err instanceof DecodeError && /runs past|announces/.test(err.message));
      assert.throws(() => splitDataStreamMessages(h('b1')), (err: unknown) => err instanceof DecodeError && /more than the 1 bytes left/.test(err.message));
      assert.throws(() => splitDataStreamMessages(h('01ff80')), (err: unknown) => err instanceof DecodeError && /ends inside an MRP message length at offset 2/.test(err.message));
      assert.throws(() => splitDataStreamMessages(h('ffffffffffffffffffff01')), DecodeError);
      assert.throws(() => splitDataStreamMessages(Buffer.concat([data, h('05 0102')])), (err: unknown) => err instanceof DecodeError && err.offset === data.length);
    });
  });

  describe('frame codec', () => {
    it('round-trips a frame through decodeDataStreamFrame, with the largest seqno', () => {
      const frame = { messageType: 'sync', command: 'comm', seqno: 2n ** 64n - 1n, payload: Buffer.from('payload') };
      const bytes = encodeDataStreamFrame(frame);
      assert.equal(bytes.readUInt32BE(0), DATA_STREAM_HEADER_BYTES + 7);
      assert.deepEqual(comparable([decodeDataStreamFrame(bytes)]), comparable([frame]));
      assert.deepEqual(comparable([decodeDataStreamFrame(new Uint8Array(bytes))]), comparable([frame]));
    });

    it('refuses to encode what it could not read back', () => {
      const ok = { messageType: 'sync', command: 'comm', seqno: 1n };
      assert.throws(() => encodeDataStreamFrame({ ...ok, messageType: 'thirteen-long' }), InvalidArgumentError);
      assert.throws(() => encodeDataStreamFrame({ ...ok, messageType: 'sy\u00e9c' }), InvalidArgumentError);
      assert.throws(() => encodeDataStreamFrame({ ...ok, command: 'comm\u0000' }), InvalidArgumentError);
      assert.throws(() => encodeDataStreamFrame({ ...ok, command: 'commx' }), InvalidArgumentError);
      assert.throws(() => encodeDataStreamFrame({ ...ok, seqno: -1n }), /seqno/);
      assert.throws(() => encodeDataStreamFrame({ ...ok, seqno: 2n ** 64n }), /seqno/);
      assert.throws(() => encodeDataStreamFrame({ ...ok, seqno: 5 as unknown as bigint }), /seqno/);
      assert.throws(() => encodeDataStreamFrame({ ...ok, payload: Buffer.alloc(DATA_STREAM_MAX_FRAME_BYTES) }), /frame limit/);
    });

    it('decodeDataStreamFrame wants exactly one whole frame', () => {
      const bytes = encodeDataStreamReply(3n);
      assert.throws(() => decodeDataStreamFrame(bytes.subarray(0, 31)), /at least 32 bytes/);
      assert.throws(() => decodeDataStreamFrame(Buffer.concat([bytes, h('00')])), /announces 32 bytes but 33 were given/);
      assert.throws(() => decodeDataStreamFrame(encodeDataStreamFrame({ messageType: 'sync', command: '', seqno: 0n, payload: Buffer.alloc(10) }), 40), /more than the 40-byte limit/);
    });

    it('reads unknown message types, commands and padding as they are (their meaning is not known)', () => {
      // messageType "ab\0c", command "zz", seqno 2, padding all ones, a one-byte payload.
      const raw = Buffer.concat([h('00000021'), Buffer.from('ab\u0000c', 'latin1'), Buffer.alloc(8), Buffer.from('zz'), Buffer.alloc(2), h('0000000000000002 ffffffff 99')]);
      assert.equal(raw.length, 33);
      const frame = decodeDataStreamFrame(raw);
      assert.deepEqual(comparable([frame]), [{ messageType: 'ab\u0000c', command: 'zz', seqno: 2n, payload: '99' }]);
    });
  });

  describe('stream decoder', () => {
    const frames = [
      encodeDataStreamFrame({ messageType: 'sync', command: 'comm', seqno: 0x16155c3e0n, payload: bplistVector('ap2-data-params-device-info').bytes }),
      encodeDataStreamReply(0xcf4934469b4941aen),
      encodeDataStreamFrame({ messageType: 'rply', command: '', seqno: 0x16155c3e0n, payload: bplistVector('ap2-empty-dict').bytes }),
      encodeDataStreamFrame({ messageType: 'sync', command: 'comm', seqno: 0x16155c3e0n, payload: bplistVector('ap2-data-params-set-connection-state').bytes }),
    ];
    const bytes = Buffer.concat(frames);
    const whole = comparable(frames.map((f) => decodeDataStreamFrame(f)));

    it('cuts the same frames at every split point and byte by byte', () => {
      assert.deepEqual(comparable(new DataStreamFrameDecoder().push(bytes)), whole);
      for (let at = 0; at <= bytes.length; at++) {
        const decoder = new DataStreamFrameDecoder();
        const got = [...decoder.push(bytes.subarray(0, at)), ...decoder.push(bytes.subarray(at))];
        assert.deepEqual(comparable(got), whole, `split at ${at}`);
        assert.equal(decoder.pendingBytes, 0);
      }
      const decoder = new DataStreamFrameDecoder();
      const got: DataStreamFrame[] = [];
      for (let i = 0; i < bytes.length; i++) {
        got.push(...decoder.push(bytes.subarray(i, i + 1)));
        assert.equal(decoder.pendingBytes + got.reduce((n, f) => n + DATA_STREAM_HEADER_BYTES + f.payload.length, 0), i + 1);
      }
      assert.deepEqual(comparable(got), whole);
    });

    it('refuses a size below the header from its first four bytes, then stays failed', () => {
      for (const size of [0, 1, 31]) {
        const decoder = new DataStreamFrameDecoder();
        const header = Buffer.alloc(4);
        header.writeUInt32BE(size);
        let first: unknown;
        assert.throws(
          () => decoder.push(header),
          (err: unknown) => {
            first = err;
            return err instanceof DecodeError && err.code === 'PROTOCOL' && new RegExp(`announces ${size} bytes, less than`).test(err.message);
          },
        );
        assert.equal(decoder.error, first);
        assert.equal(decoder.pendingBytes, 0);
        assert.throws(() => decoder.push(encodeDataStreamReply(1n)), (err: unknown) => err === first);
      }
    });

    it('refuses an oversized frame before its payload arrives, at the right stream offset', () => {
      const decoder = new DataStreamFrameDecoder(1024);
      assert.equal(decoder.push(frames[1]!).length, 1);
      assert.throws(
        () => decoder.push(h('00000401')),
        (err: unknown) => err instanceof DecodeError && /1025 bytes, more than the 1024-byte limit/.test(err.message) && err.offset === 32,
      );
      assert.throws(() => new DataStreamFrameDecoder().push(h('ffffffff')), /more than the/);
      assert.throws(() => new DataStreamFrameDecoder(31), InvalidArgumentError);
    });

    it('only ever returns frames or throws DecodeError: 3000 mutations in random chunks', () => {
      const random = seededRandom(0xda7a);
      const seen = new Set<string>();
      for (let i = 0; i < 3000; i++) {
        const mutated = Buffer.from(bytes);
        for (let k = 1 + randomInt(random, 3); k > 0; k--) mutated[randomInt(random, mutated.length)] = randomInt(random, 256);
        const decoder = new DataStreamFrameDecoder(4096);
        try {
          for (const piece of randomChunks(mutated, random, 300)) {
            for (const frame of decoder.push(piece)) {
              assert.ok(frame.payload.length <= 4096 - DATA_STREAM_HEADER_BYTES);
              if (frame.messageType === 'sync' && frame.payload.length > 0) {
                try {
                  splitDataStreamMessages(frame.payload);
                } catch (err) {
                  if (!(err instanceof DecodeError)) throw err;
                }
              }
            }
            assert.ok(decoder.pendingBytes < 4096, 'buffering stays under the frame limit');
          }
          seen.add('decoded');
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          seen.add('refused');
        }
      }
      assert.deepEqual([...seen].sort(), ['decoded', 'refused']);
    });
  });
});
