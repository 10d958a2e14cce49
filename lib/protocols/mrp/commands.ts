/**
 * How the library's commands and properties travel over MRP (pyatv: protocols/mrp/__init__.py):
 *  - buttons as HID key events (SEND_HID_EVENT_MESSAGE): THE HID usage table, MRP_HID_KEYS;
 *  - transport commands and settable properties as SEND_COMMAND_MESSAGE with a Command.
 * Names come from lib/device/commands.ts and properties.ts; removing one there breaks the
 * build here rather than leaving a stale entry.
 */
import { DecodeError, InvalidArgumentError } from '../../errors';
import type { CommandName } from '../../device/commands';
import type { PropertyName, PropertyValues } from '../../device/properties';
import type { RepeatState, ShuffleState } from '../../device/state';
import { MrpCommand, MrpRepeatMode, MrpShuffleMode, type MrpSendCommandMessage } from './proto-types';

export interface MrpHidUsage {
  /** USB HID usage page: 1 generic desktop, 12 (0x0C) consumer. */
  readonly usagePage: number;
  readonly usage: number;
}

/** Keys sent as HID events: the library's button and volume commands, stop/next/previous, and two power keys. */
export type MrpHidKey =
  | Extract<CommandName, 'up' | 'down' | 'left' | 'right' | 'select' | 'menu' | 'home' | 'topMenu' | 'volumeUp' | 'volumeDown'>
  | Extract<CommandName, 'stop' | 'next' | 'previous'>
  | 'suspend'
  | 'wakeup';

/** THE HID table: key -> USB HID usage page and usage. */
export const MRP_HID_KEYS = {
  up: { usagePage: 0x01, usage: 0x8c },
  down: { usagePage: 0x01, usage: 0x8d },
  left: { usagePage: 0x01, usage: 0x8b },
  right: { usagePage: 0x01, usage: 0x8a },
  select: { usagePage: 0x01, usage: 0x89 },
  menu: { usagePage: 0x01, usage: 0x86 },
  suspend: { usagePage: 0x01, usage: 0x82 },
  wakeup: { usagePage: 0x01, usage: 0x83 },
  home: { usagePage: 0x0c, usage: 0x40 },
  topMenu: { usagePage: 0x0c, usage: 0x60 },
  stop: { usagePage: 0x0c, usage: 0xb7 },
  next: { usagePage: 0x0c, usage: 0xb5 },
  previous: { usagePage: 0x0c, usage: 0xb6 },
  volumeUp: { usagePage: 0x0c, usage: 0xe9 },
  volumeDown: { usagePage: 0x0c, usage: 0xea },
} as const satisfies Record<MrpHidKey, MrpHidUsage>;

export function isMrpHidKey(name: string): name is MrpHidKey {
  return Object.prototype.hasOwnProperty.call(MRP_HID_KEYS, name);
}

// hidEventData is a serialised IOHIDEvent keyboard event of which only usage page, usage and
// the down flag are understood; the rest is replayed as captured (pyatv: protocols/mrp/__init__.py). Its first
// 8 bytes are a mach absolute time; tvOS accepts any old value, so a fixed one is sent.
const HID_EVENT_HEAD = Buffer.from(
  '438922cf08020000' + '0000000000000000010000000000000002000000200000000300000001000000000000',
  'hex',
);
const HID_EVENT_TAIL = Buffer.from('0000000000000001000000', 'hex');
/** Length of hidEventData. */
export const MRP_HID_EVENT_BYTES = HID_EVENT_HEAD.length + 6 + HID_EVENT_TAIL.length;

/** The 60-byte hidEventData of SendHIDEventMessage for one key transition. */
export function mrpHidEventData(usagePage: number, usage: number, down: boolean): Buffer {
  for (const [what, v] of [
    ['usage page', usagePage],
    ['usage', usage],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new InvalidArgumentError(`HID ${what} must be 0 to 65535, got ${v}`);
  }
  const event = Buffer.alloc(MRP_HID_EVENT_BYTES);
  HID_EVENT_HEAD.copy(event, 0);
  event.writeUInt16BE(usagePage, HID_EVENT_HEAD.length);
  event.writeUInt16BE(usage, HID_EVENT_HEAD.length + 2);
  event.writeUInt16BE(down ? 1 : 0, HID_EVENT_HEAD.length + 4);
  HID_EVENT_TAIL.copy(event, HID_EVENT_HEAD.length + 6);
  return event;
}

/** The key transition a hidEventData carries (what mrpHidEventData encodes). */
export interface MrpHidEvent {
  readonly usagePage: number;
  readonly usage: number;
  readonly down: boolean;
}

/**
 * Reads usage page, usage and the down flag back out of a hidEventData (the device side of
 * mrpHidEventData; the simulator uses it). The fields sit where mrpHidEventData writes them;
 * what follows them is not read, so a longer event from another client still decodes, up to
 * four times our own length. Too short, too long, or a down flag other than 0 or 1 is a
 * DecodeError.
 */
export function decodeMrpHidEvent(data: Uint8Array): MrpHidEvent {
  const at = HID_EVENT_HEAD.length;
  if (data.length < at + 6 || data.length > MRP_HID_EVENT_BYTES * 4) {
    throw new DecodeError(`hidEventData of ${data.length} bytes is not a keyboard event (expected ${MRP_HID_EVENT_BYTES})`);
  }
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const flag = buf.readUInt16BE(at + 4);
  if (flag > 1) throw new DecodeError(`hidEventData has down flag ${flag}, expected 0 or 1`, { offset: at + 4 });
  return { usagePage: buf.readUInt16BE(at), usage: buf.readUInt16BE(at + 2), down: flag === 1 };
}

/** hidEventData for a key of MRP_HID_KEYS. A press is a down event, then an up event. */
export function mrpHidKeyEventData(key: MrpHidKey, down: boolean): Buffer {
  const { usagePage, usage } = MRP_HID_KEYS[key];
  return mrpHidEventData(usagePage, usage, down);
}

/** Transport commands sent as SEND_COMMAND_MESSAGE. */
export const MRP_MEDIA_COMMANDS = {
  play: MrpCommand.Play,
  pause: MrpCommand.Pause,
  playPause: MrpCommand.TogglePlayPause,
  stop: MrpCommand.Stop,
  next: MrpCommand.NextTrack,
  previous: MrpCommand.PreviousTrack,
  skipForward: MrpCommand.SkipForward,
  skipBackward: MrpCommand.SkipBackward,
} as const satisfies Partial<Record<CommandName, MrpCommand>>;

export type MrpMediaCommandName = keyof typeof MRP_MEDIA_COMMANDS;

/**
 * Skip interval when neither the caller nor the app's CommandInfo.preferredIntervals gives
 * one (pyatv's default).
 */
export const MRP_DEFAULT_SKIP_SECONDS = 15;

/** Settable properties sent as SEND_COMMAND_MESSAGE (volume is SET_VOLUME_MESSAGE instead). */
export const MRP_PROPERTY_COMMANDS = {
  position: MrpCommand.SeekToPlaybackPosition,
  shuffle: MrpCommand.ChangeShuffleMode,
  repeat: MrpCommand.ChangeRepeatMode,
} as const satisfies Partial<Record<PropertyName, MrpCommand>>;

export type MrpPropertyCommandName = keyof typeof MRP_PROPERTY_COMMANDS;

export const MRP_SHUFFLE_MODES: { readonly [S in ShuffleState]: MrpShuffleMode } = {
  off: MrpShuffleMode.Off,
  songs: MrpShuffleMode.Songs,
  albums: MrpShuffleMode.Albums,
};

export const MRP_REPEAT_MODES: { readonly [R in RepeatState]: MrpRepeatMode } = {
  off: MrpRepeatMode.Off,
  track: MrpRepeatMode.One,
  all: MrpRepeatMode.All,
};

/** The library's shuffle state for an MRP ShuffleMode; null for Unknown or a value we do not know. */
export function shuffleStateFromMrp(mode: number | undefined): ShuffleState | null {
  return (Object.keys(MRP_SHUFFLE_MODES) as ShuffleState[]).find((s) => MRP_SHUFFLE_MODES[s] === mode) ?? null;
}

/** The library's repeat state for an MRP RepeatMode; null for Unknown or a value we do not know. */
export function repeatStateFromMrp(mode: number | undefined): RepeatState | null {
  return (Object.keys(MRP_REPEAT_MODES) as RepeatState[]).find((r) => MRP_REPEAT_MODES[r] === mode) ?? null;
}

/** The SendCommandMessage setting a property (values already validated by PROPERTIES). */
export function mrpPropertyCommand<N extends MrpPropertyCommandName>(name: N, value: PropertyValues[N]): MrpSendCommandMessage {
  switch (name) {
    case 'position':
      return { command: MRP_PROPERTY_COMMANDS.position, options: { playbackPosition: value as number } };
    // sendOptions 0 accompanies shuffle/repeat changes as pyatv sends them (pyatv: protocols/mrp/__init__.py).
    case 'shuffle':
      return { command: MRP_PROPERTY_COMMANDS.shuffle, options: { sendOptions: 0, shuffleMode: MRP_SHUFFLE_MODES[value as ShuffleState] } };
    case 'repeat':
      return { command: MRP_PROPERTY_COMMANDS.repeat, options: { sendOptions: 0, repeatMode: MRP_REPEAT_MODES[value as RepeatState] } };
    default:
      throw new InvalidArgumentError(`${String(name)} is not set with an MRP command`);
  }
}
