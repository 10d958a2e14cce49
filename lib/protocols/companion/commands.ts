/**
 * How the library's commands travel over Companion (pyatv: protocols/companion/api.py and
 * __init__.py): buttons as `_hidC` button events (THE Companion HID table), transport commands
 * as `_mcc` media controls, power as the Sleep and Wake buttons. Also the device's attention
 * states (FetchAttentionState, SystemStatus) and its media-control flags (`_iMC`). Names come
 * from lib/device/commands.ts; the compiler keeps the mapping complete.
 */
import type { CommandName } from '../../device/commands';
import type { PowerState } from '../../device/interfaces';

/** `_hidC` button codes (pyatv: HidCommand). */
export const COMPANION_HID = {
  up: 1,
  down: 2,
  left: 3,
  right: 4,
  menu: 5,
  select: 6,
  home: 7,
  volumeUp: 8,
  volumeDown: 9,
  siri: 10,
  screensaver: 11,
  sleep: 12,
  wake: 13,
  playPause: 14,
  channelUp: 15,
  channelDown: 16,
  guide: 17,
  pageUp: 18,
  /** Opens Control Center (pyatv's control_center sends it). */
  pageDown: 19,
} as const;
export type CompanionHidButton = keyof typeof COMPANION_HID;

/** `_hBtS`: the button state of a `_hidC` event. */
export const COMPANION_BUTTON_STATE = { down: 1, up: 2 } as const;

/** `_mcc` media-control commands (pyatv: MediaControlCommand). */
export const COMPANION_MEDIA_CONTROL = {
  play: 1,
  pause: 2,
  nextTrack: 3,
  previousTrack: 4,
  getVolume: 5,
  setVolume: 6,
  skipBy: 7,
  fastForwardBegin: 8,
  fastForwardEnd: 9,
  rewindBegin: 10,
  rewindEnd: 11,
  getCaptionSettings: 12,
  setCaptionSettings: 13,
} as const;
export type CompanionMediaControl = keyof typeof COMPANION_MEDIA_CONTROL;

/**
 * `_mcF` bits of the `_iMC` event: which media controls the playing app takes now (pyatv:
 * MediaControlFlags; its docs swap the next/previous bits, its code has these).
 */
export const COMPANION_MEDIA_FLAGS = {
  play: 0x0001,
  pause: 0x0002,
  nextTrack: 0x0004,
  previousTrack: 0x0008,
  fastForward: 0x0010,
  rewind: 0x0020,
  volume: 0x0100,
  skipForward: 0x0200,
  skipBackward: 0x0400,
} as const;

/**
 * The touch surface as a remote announces it in `_touchStart` (pyatv's 1000 × 1000), and
 * the phases of a `_hidT` event (pyatv: TouchAction): press, hold (the finger moved or
 * stayed), release, click.
 */
export const COMPANION_TOUCHPAD = { width: 1000, height: 1000 } as const;
export const COMPANION_TOUCH_PHASE = { press: 1, hold: 3, release: 4, click: 5 } as const;
/** Between two `_hidT` events of a gesture (pyatv's); a stream without pauses reads as a flick. */
export const COMPANION_TOUCH_INTERVAL_MS = 16;
/** How long a swipe takes. */
export const COMPANION_SWIPE_MS = 200;
/** A point on the touch surface, x then y, 0..1000 (y grows downwards). */
export type TouchPoint = readonly [x: number, y: number];

/** The gesture a finger made from `from` to `to`: a tap when it hardly moved, else the swipe along the longer axis. */
export function touchGesture(from: TouchPoint, to: TouchPoint): 'tap' | 'swipeUp' | 'swipeDown' | 'swipeLeft' | 'swipeRight' {
  const dx = to[0] - from[0];
  const dy = to[1] - from[1];
  // A tenth of the surface: less is a finger that did not mean to move.
  if (Math.hypot(dx, dy) < COMPANION_TOUCHPAD.width / 10) return 'tap';
  if (Math.abs(dx) >= Math.abs(dy)) return dx < 0 ? 'swipeLeft' : 'swipeRight';
  return dy < 0 ? 'swipeUp' : 'swipeDown';
}

/** What Companion does for each command of THE command table. */
export type CompanionAction =
  | { readonly kind: 'button'; readonly button: CompanionHidButton }
  | { readonly kind: 'media'; readonly control: CompanionMediaControl; readonly flag: number }
  /** `_mcc` SkipBy with a signed number of seconds. */
  | { readonly kind: 'skip'; readonly sign: 1 | -1; readonly flag: number }
  /** One button-up event of Sleep or Wake, as pyatv and the iOS remote send them. */
  | { readonly kind: 'power'; readonly button: 'sleep' | 'wake' }
  /** A finger moved across the touch surface from one point to another (`_hidT` events). */
  | { readonly kind: 'swipe'; readonly from: TouchPoint; readonly to: TouchPoint }
  /** A finger put down and lifted where it was: a light tap, not a click. */
  | { readonly kind: 'tap' }
  | { readonly kind: 'unsupported' };

export const COMPANION_COMMAND_ACTIONS: { readonly [C in CommandName]: CompanionAction } = {
  play: { kind: 'media', control: 'play', flag: COMPANION_MEDIA_FLAGS.play },
  pause: { kind: 'media', control: 'pause', flag: COMPANION_MEDIA_FLAGS.pause },
  playPause: { kind: 'button', button: 'playPause' },
  stop: { kind: 'unsupported' },
  next: { kind: 'media', control: 'nextTrack', flag: COMPANION_MEDIA_FLAGS.nextTrack },
  previous: { kind: 'media', control: 'previousTrack', flag: COMPANION_MEDIA_FLAGS.previousTrack },
  skipForward: { kind: 'skip', sign: 1, flag: COMPANION_MEDIA_FLAGS.skipForward },
  skipBackward: { kind: 'skip', sign: -1, flag: COMPANION_MEDIA_FLAGS.skipBackward },
  up: { kind: 'button', button: 'up' },
  down: { kind: 'button', button: 'down' },
  left: { kind: 'button', button: 'left' },
  right: { kind: 'button', button: 'right' },
  select: { kind: 'button', button: 'select' },
  menu: { kind: 'button', button: 'menu' },
  topMenu: { kind: 'unsupported' },
  home: { kind: 'button', button: 'home' },
  guide: { kind: 'button', button: 'guide' },
  channelUp: { kind: 'button', button: 'channelUp' },
  channelDown: { kind: 'button', button: 'channelDown' },
  screensaver: { kind: 'button', button: 'screensaver' },
  controlCenter: { kind: 'button', button: 'pageDown' },
  siri: { kind: 'button', button: 'siri' },
  swipeUp: { kind: 'swipe', from: [500, 800], to: [500, 200] },
  swipeDown: { kind: 'swipe', from: [500, 200], to: [500, 800] },
  swipeLeft: { kind: 'swipe', from: [800, 500], to: [200, 500] },
  swipeRight: { kind: 'swipe', from: [200, 500], to: [800, 500] },
  tap: { kind: 'tap' },
  volumeUp: { kind: 'button', button: 'volumeUp' },
  volumeDown: { kind: 'button', button: 'volumeDown' },
  turnOn: { kind: 'power', button: 'wake' },
  turnOff: { kind: 'power', button: 'sleep' },
};

/** Seconds skipped when the caller gives none (pyatv's, "as seen in the TV Remote app"). */
export const COMPANION_DEFAULT_SKIP_SECONDS = 10;

/** The device's attention state (FetchAttentionState `state`, SystemStatus events). */
export const COMPANION_SYSTEM_STATUS = { asleep: 1, screensaver: 2, awake: 3, idle: 4 } as const;
export type CompanionSystemStatus = keyof typeof COMPANION_SYSTEM_STATUS;

/** The power state an attention state means: asleep is off, the others on; anything else unknown. */
export function powerStateOfSystemStatus(state: number | null): PowerState {
  if (state === COMPANION_SYSTEM_STATUS.asleep) return 'off';
  if (state === COMPANION_SYSTEM_STATUS.screensaver || state === COMPANION_SYSTEM_STATUS.awake || state === COMPANION_SYSTEM_STATUS.idle) {
    return 'on';
  }
  return 'unknown';
}

/** The button of a `_hidC` code, or null. */
export function companionHidButton(code: number): CompanionHidButton | null {
  return (Object.keys(COMPANION_HID) as CompanionHidButton[]).find((b) => COMPANION_HID[b] === code) ?? null;
}

/** The media control of an `_mcc` code, or null. */
export function companionMediaControl(code: number): CompanionMediaControl | null {
  return (Object.keys(COMPANION_MEDIA_CONTROL) as CompanionMediaControl[]).find((c) => COMPANION_MEDIA_CONTROL[c] === code) ?? null;
}
