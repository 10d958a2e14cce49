import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../../../lib/device/commands';
import { REPEAT_STATES, SHUFFLE_STATES } from '../../../../lib/device/state';
import { DecodeError, InvalidArgumentError } from '../../../../lib/errors';
import {
  decodeMrpHidEvent,
  isMrpHidKey,
  MRP_HID_EVENT_BYTES,
  MRP_HID_KEYS,
  MRP_MEDIA_COMMANDS,
  mrpHidEventData,
  mrpHidKeyEventData,
  mrpPropertyCommand,
  repeatStateFromMrp,
  shuffleStateFromMrp,
} from '../../../../lib/protocols/mrp/commands';
import { MRP_COMMAND_ACTIONS } from '../../../../lib/protocols/mrp/session';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage, MrpMessageType } from '../../../../lib/protocols/mrp/messages';
import { MrpCommand, MrpRepeatMode, MrpShuffleMode } from '../../../../lib/protocols/mrp/proto-types';

// pyatv: protocols/mrp/__init__.py, "Keys (usage page, usage)".
const REFERENCE_HID: Record<string, [number, number]> = {
  up: [1, 0x8c],
  down: [1, 0x8d],
  left: [1, 0x8b],
  right: [1, 0x8a],
  select: [1, 0x89],
  menu: [1, 0x86],
  suspend: [1, 0x82],
  wakeup: [1, 0x83],
  home: [12, 0x40],
  topMenu: [12, 0x60],
  stop: [12, 0xb7],
  next: [12, 0xb5],
  previous: [12, 0xb6],
  volumeUp: [12, 0xe9],
  volumeDown: [12, 0xea],
};

describe('MRP commands and HID keys', () => {
  it('builds the 60-byte hidEventData pyatv sends (protocols/mrp/messages.py)', () => {
    const down = mrpHidEventData(1, 0x8b, true);
    assert.equal(MRP_HID_EVENT_BYTES, 60);
    assert.equal(down.length, 60);
    assert.equal(
      down.toString('hex'),
      '438922cf08020000' +
        '0000000000000000010000000000000002000000200000000300000001000000000000' +
        '0001' + '008b' + '0001' +
        '0000000000000001000000',
    );
    const up = mrpHidEventData(12, 0xe9, false);
    assert.equal(up.subarray(43, 49).toString('hex'), '000c00e90000');
    assert.deepEqual(mrpHidKeyEventData('left', true), down);
  });

  it('refuses usages that do not fit 16 bits', () => {
    for (const [page, usage] of [[-1, 1], [1, 0x10000], [1.5, 1]] as const) {
      assert.throws(() => mrpHidEventData(page, usage, true), InvalidArgumentError);
    }
  });

  it('has exactly the HID keys of the reference', () => {
    const table = Object.fromEntries(Object.entries(MRP_HID_KEYS).map(([k, v]) => [k, [v.usagePage, v.usage]]));
    assert.deepEqual(table, REFERENCE_HID);
  });

  it('sends every button and volume command of the command table as a HID key', () => {
    // The buttons only Companion sends (guide, channels, ...) have no HID usage on MRP.
    for (const spec of COMMANDS.filter((c) => (c.button || c.group === 'volume') && MRP_COMMAND_ACTIONS[c.name].kind !== 'unsupported')) {
      assert.ok(isMrpHidKey(spec.name), spec.name);
    }
    assert.equal(isMrpHidKey('play'), false);
    assert.equal(isMrpHidKey('toString'), false);
  });

  it('sends every transport command of the command table as an MRP Command', () => {
    const transport = COMMANDS.filter((c) => c.group === 'transport').map((c) => c.name);
    assert.deepEqual(Object.keys(MRP_MEDIA_COMMANDS).sort(), [...transport].sort());
    assert.equal(MRP_MEDIA_COMMANDS.playPause, MrpCommand.TogglePlayPause);
    assert.equal(MRP_MEDIA_COMMANDS.next, MrpCommand.NextTrack);
    assert.equal(MRP_MEDIA_COMMANDS.previous, MrpCommand.PreviousTrack);
  });

  it('maps shuffle and repeat both ways', () => {
    for (const s of SHUFFLE_STATES) assert.equal(shuffleStateFromMrp(mrpPropertyCommand('shuffle', s).options?.shuffleMode), s);
    for (const r of REPEAT_STATES) assert.equal(repeatStateFromMrp(mrpPropertyCommand('repeat', r).options?.repeatMode), r);
    assert.equal(shuffleStateFromMrp(MrpShuffleMode.Unknown), null);
    assert.equal(repeatStateFromMrp(undefined), null);
    assert.equal(repeatStateFromMrp(42), null);
    assert.equal(mrpPropertyCommand('repeat', 'track').options?.repeatMode, MrpRepeatMode.One);
  });

  it('builds property commands that survive the wire', () => {
    const cases = [
      [mrpPropertyCommand('position', 73.5), { command: MrpCommand.SeekToPlaybackPosition, options: { playbackPosition: 73.5 } }],
      [mrpPropertyCommand('shuffle', 'albums'), { command: MrpCommand.ChangeShuffleMode, options: { sendOptions: 0, shuffleMode: MrpShuffleMode.Albums } }],
      [mrpPropertyCommand('repeat', 'all'), { command: MrpCommand.ChangeRepeatMode, options: { sendOptions: 0, repeatMode: MrpRepeatMode.All } }],
    ] as const;
    for (const [payload, expected] of cases) {
      const got = decodeMrpMessage(encodeMrpMessage(createMrpMessage(MrpMessageType.SEND_COMMAND_MESSAGE, payload)));
      assert.deepEqual(got.payload, expected);
    }
  });
});

describe('decodeMrpHidEvent', () => {
  it('reads back what mrpHidEventData wrote, for every key of the table, down and up', () => {
    for (const [key, { usagePage, usage }] of Object.entries(MRP_HID_KEYS)) {
      for (const down of [true, false]) {
        assert.deepEqual(decodeMrpHidEvent(mrpHidEventData(usagePage, usage, down)), { usagePage, usage, down }, `${key} ${down}`);
      }
    }
    // The full 16-bit range, and the fields do not bleed into each other.
    assert.deepEqual(decodeMrpHidEvent(mrpHidEventData(0xffff, 0, true)), { usagePage: 0xffff, usage: 0, down: true });
    assert.deepEqual(decodeMrpHidEvent(mrpHidEventData(0, 0xffff, false)), { usagePage: 0, usage: 0xffff, down: false });
  });

  it('survives a SEND_HID_EVENT_MESSAGE round trip through the wire format', () => {
    const bytes = encodeMrpMessage(createMrpMessage(MrpMessageType.SEND_HID_EVENT_MESSAGE, { hidEventData: mrpHidKeyEventData('topMenu', true) }));
    const message = decodeMrpMessage(bytes);
    assert.equal(message.type, MrpMessageType.SEND_HID_EVENT_MESSAGE);
    const data = (message as typeof message & { payload?: { hidEventData?: Uint8Array } }).payload?.hidEventData;
    assert.ok(data);
    assert.deepEqual(decodeMrpHidEvent(data), { ...MRP_HID_KEYS.topMenu, down: true });
  });

  it('reads a sub-array view at its own offset', () => {
    const event = mrpHidEventData(0x0c, 0xe9, true);
    const padded = Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), event]);
    assert.deepEqual(decodeMrpHidEvent(new Uint8Array(padded.buffer, padded.byteOffset + 3, event.length)), { usagePage: 0x0c, usage: 0xe9, down: true });
  });

  it('refuses what is not a keyboard event with a DecodeError', () => {
    const event = mrpHidEventData(1, 0x8c, true);
    assert.throws(() => decodeMrpHidEvent(event.subarray(0, 20)), DecodeError);
    assert.throws(() => decodeMrpHidEvent(Buffer.alloc(0)), DecodeError);
    assert.throws(() => decodeMrpHidEvent(Buffer.alloc(MRP_HID_EVENT_BYTES * 4 + 1)), DecodeError);
    const badFlag = Buffer.from(event);
    badFlag.writeUInt16BE(2, MRP_HID_EVENT_BYTES - 11 - 2);
    assert.throws(() => decodeMrpHidEvent(badFlag), (err: unknown) => err instanceof DecodeError && /down flag 2/.test(err.message));
  });
});
