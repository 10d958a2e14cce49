/**
 * What the simulated Apple TV says over MRP, as pure functions of the shared player state:
 * its DeviceInfo, the now-playing messages it pushes (what pyatv's protocols/mrp/__init__.py reads), the
 * artwork answer of a playback-queue request, and how a HID event's bytes are read back.
 * No I/O here; `mrp.ts` sends these.
 */
import { DecodeError } from '../errors';
import {
  decodeMrpHidEvent,
  MRP_HID_KEYS,
  MRP_MEDIA_COMMANDS,
  MRP_PROPERTY_COMMANDS,
  MRP_REPEAT_MODES,
  MRP_SHUFFLE_MODES,
  type MrpHidEvent,
  type MrpHidKey,
  type MrpMediaCommandName,
  type MrpPropertyCommandName,
} from '../protocols/mrp/commands';
import {
  MrpCommand,
  MrpMediaType,
  MrpPlaybackState,
  type MrpCommandInfo,
  type MrpContentItem,
  type MrpDeviceInfoMessage,
  type MrpNowPlayingClient,
  type MrpPlayerPath,
  type MrpSetStateMessage,
} from '../protocols/mrp/proto-types';
import { MRP_COCOA_EPOCH_OFFSET, MRP_DEFAULT_PLAYER_ID } from '../protocols/mrp/player-state';
import type { AppInfo, MediaType } from '../device/state';
import { clampArtworkEdge, trackArtwork } from './artwork';
import { APPLE_TV_TVOS14, type SimulatorDeviceProfile } from './profiles';
import type { PlaybackStatus, SimulatorSnapshot } from './state';

/** An Apple TV 4K: the last generation whose tvOS (≤ 14) still speaks MRP directly. */
export const SIMULATOR_MRP_MODEL = APPLE_TV_TVOS14.model;
/** tvOS 14.7: a build discovery keeps MRP enabled for (major ≤ 18). */
export const SIMULATOR_MRP_BUILD = APPLE_TV_TVOS14.build;
/** The board name `_device-info._tcp` carries for that model (discovery's own table). */
export const SIMULATOR_MRP_BOARD: string = APPLE_TV_TVOS14.board;

const DEFAULT_PLAYER_NAME = 'Default Player';
/** Any stable number: clients key apps by bundle id, not by process. */
const APP_PROCESS_ID = 501;
/** The app an Apple TV plays music with (DeviceInfo systemMediaApplication). */
const SYSTEM_MEDIA_APP = 'com.apple.TVMusic';
export const SIMULATOR_ARTWORK_MIME = 'image/png';

/** Epoch milliseconds → seconds since the Cocoa reference date. */
export function cocoaSeconds(epochMs: number): number {
  return epochMs / 1000 - MRP_COCOA_EPOCH_OFFSET;
}

/** How the simulated device identifies itself over MRP. */
export interface MrpDeviceIdentity {
  name: string;
  /** TXT UniqueIdentifier, DeviceInfo uniqueIdentifier and the pairing identifier (a UUID). */
  uniqueIdentifier: string;
  /** The device's own output device (volume messages name it). */
  deviceUID: string;
  /** `AA:BB:CC:DD:EE:FF`. */
  macAddress: string;
  /** The device it is (model, OS build); default an Apple TV 4K on tvOS 14.7. */
  profile?: SimulatorDeviceProfile;
}

/** The device's DeviceInfo (answer to DEVICE_INFO, and DEVICE_INFO_UPDATE on power changes). */
export function deviceInfoPayload(identity: MrpDeviceIdentity, poweredOn: boolean): MrpDeviceInfoMessage {
  const profile = identity.profile ?? APPLE_TV_TVOS14;
  return {
    uniqueIdentifier: identity.uniqueIdentifier,
    name: identity.name,
    localizedModelName: profile.localizedModelName,
    systemBuildVersion: profile.build,
    applicationBundleIdentifier: 'com.apple.mediaremoted',
    protocolVersion: 1,
    lastSupportedMessageType: 108,
    supportsSystemPairing: true,
    allowsPairing: true,
    systemMediaApplication: SYSTEM_MEDIA_APP,
    supportsACL: true,
    supportsSharedQueue: true,
    supportsExtendedMotion: true,
    sharedQueueVersion: 2,
    deviceUID: identity.deviceUID,
    deviceClass: profile.deviceClass,
    // 0 is how an Apple TV says it is asleep (pyatv: protocols/mrp/__init__.py, power).
    logicalDeviceCount: poweredOn ? 1 : 0,
    isProxyGroupPlayer: false,
    isGroupLeader: true,
    modelID: profile.model,
  };
}

// ---------------------------------------------------------------------------------------
// Now playing

const PLAYBACK_STATES: Readonly<Record<PlaybackStatus, MrpPlaybackState>> = {
  playing: MrpPlaybackState.Playing,
  paused: MrpPlaybackState.Paused,
  stopped: MrpPlaybackState.Stopped,
};

const MEDIA_TYPES: Readonly<Record<MediaType, MrpMediaType>> = {
  unknown: MrpMediaType.UnknownMediaType,
  music: MrpMediaType.Audio,
  video: MrpMediaType.Video,
  tv: MrpMediaType.Video,
};

/** The app clients see as "now playing": the state's app, else the system's music app. */
export function nowPlayingClient(app: AppInfo | null): MrpNowPlayingClient {
  const client: MrpNowPlayingClient = { processIdentifier: APP_PROCESS_ID, bundleIdentifier: app?.bundleId ?? SYSTEM_MEDIA_APP };
  if (app?.name) client.displayName = app.name;
  return client;
}

export function playerPath(app: AppInfo | null): MrpPlayerPath {
  return {
    client: nowPlayingClient(app),
    player: { identifier: MRP_DEFAULT_PLAYER_ID, displayName: DEFAULT_PLAYER_NAME, isDefaultPlayer: true },
  };
}

/**
 * Not a URL, on purpose: clients try `artworkIdentifier` as an image URL template first
 * (pyatv: protocols/mrp/__init__.py), and this one must send them to the playback-queue request instead.
 */
export function artworkIdentifier(trackId: string): string {
  return `atvlink-simulator-artwork:${trackId}`;
}

/** The current item (metadata as of `snap.at`), or null when nothing is loaded. */
export function contentItem(snap: SimulatorSnapshot): MrpContentItem | null {
  const track = snap.track;
  if (track === null) return null;
  const metadata: NonNullable<MrpContentItem['metadata']> = {
    title: track.title,
    duration: track.duration,
    elapsedTime: snap.position ?? 0,
    elapsedTimeTimestamp: cocoaSeconds(snap.at),
    playbackRate: snap.status === 'playing' ? 1 : 0,
    mediaType: MEDIA_TYPES[track.mediaType],
    artworkAvailable: true,
    artworkMIMEType: SIMULATOR_ARTWORK_MIME,
    artworkIdentifier: artworkIdentifier(track.id),
    contentIdentifier: track.id,
    isCurrentlyPlaying: snap.status === 'playing',
  };
  if (track.artist !== null) metadata.trackArtistName = track.artist;
  if (track.album !== null) metadata.albumName = track.album;
  if (track.genre !== null) metadata.genre = track.genre;
  return { identifier: track.id, metadata };
}

/** The commands the simulator carries out: media commands, then property commands. */
export type SimulatorMrpCommand = MrpMediaCommandName | MrpPropertyCommandName;

/** MRP Command → what the simulator does with it (inverse of the client's tables, so both agree). */
export const SIMULATOR_MRP_COMMANDS: ReadonlyMap<number, SimulatorMrpCommand> = new Map<number, SimulatorMrpCommand>([
  ...(Object.entries(MRP_MEDIA_COMMANDS) as [MrpMediaCommandName, MrpCommand][]).map(([name, command]) => [command, name] as const),
  ...(Object.entries(MRP_PROPERTY_COMMANDS) as [MrpPropertyCommandName, MrpCommand][]).map(([name, command]) => [command, name] as const),
]);

/**
 * Whether a command can do anything in this state. Disabled here means the simulator answers
 * it with an error: with nothing loaded there is nothing to pause, stop, skip in or seek.
 */
export function commandEnabled(name: SimulatorMrpCommand, snap: SimulatorSnapshot): boolean {
  switch (name) {
    case 'pause':
    case 'stop':
    case 'skipForward':
    case 'skipBackward':
    case 'position':
      return snap.track !== null;
    default:
      return true;
  }
}

/** SupportedCommands as an app publishes them: one CommandInfo per command, enabled per state. */
export function supportedCommands(snap: SimulatorSnapshot, skipInterval: number): MrpCommandInfo[] {
  const list: MrpCommandInfo[] = [];
  for (const [command, name] of SIMULATOR_MRP_COMMANDS) {
    const info: MrpCommandInfo = { command, enabled: commandEnabled(name, snap) };
    if (name === 'skipForward' || name === 'skipBackward') info.preferredIntervals = [skipInterval];
    // The current modes ride on these two entries (pyatv: protocols/mrp/messages.py, CommandInfo).
    if (name === 'shuffle') info.shuffleMode = MRP_SHUFFLE_MODES[snap.shuffle];
    if (name === 'repeat') info.repeatMode = MRP_REPEAT_MODES[snap.repeat];
    list.push(info);
  }
  return list;
}

/** The full SET_STATE of the player: state, commands, and the queue with the current item. */
export function setStatePayload(snap: SimulatorSnapshot, app: AppInfo | null, skipInterval: number): MrpSetStateMessage {
  const item = contentItem(snap);
  const payload: MrpSetStateMessage = {
    playbackState: PLAYBACK_STATES[snap.status],
    playbackStateTimestamp: cocoaSeconds(snap.at),
    supportedCommands: { supportedCommands: supportedCommands(snap, skipInterval) },
    // One item at location 0: the queue as far as remotes need it (pyatv's fake does the same).
    playbackQueue: { location: 0, contentItems: item === null ? [] : [item] },
    playerPath: playerPath(app),
  };
  if (app?.name) payload.displayName = app.name;
  return payload;
}

/**
 * The SET_STATE answering a PLAYBACK_QUEUE_REQUEST: the current item with its artwork at the
 * requested size. pyatv asks with width 0 and height -1 when the user names no size, and
 * expects artwork anyway (pyatv capture), so any edge below 1 means "default"; a missing
 * height keeps the (square) aspect ratio.
 */
export function artworkPayload(
  snap: SimulatorSnapshot,
  app: AppInfo | null,
  request: { artworkWidth?: number | undefined; artworkHeight?: number | undefined },
): MrpSetStateMessage {
  const item = contentItem(snap);
  const payload: MrpSetStateMessage = {
    playbackQueue: { location: 0, contentItems: [] },
    playerPath: playerPath(app),
  };
  if (item === null || snap.track === null || snap.power === 'off') return payload;
  const asked = (v: number | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 1 ? v : undefined);
  const width = asked(request.artworkWidth);
  const height = asked(request.artworkHeight);
  const edgeW = clampArtworkEdge(width ?? height);
  const edgeH = clampArtworkEdge(height ?? width);
  item.artworkData = trackArtwork(snap.track, { width: edgeW, height: edgeH });
  item.artworkDataWidth = edgeW;
  item.artworkDataHeight = edgeH;
  payload.playbackQueue!.contentItems = [item];
  return payload;
}

// ---------------------------------------------------------------------------------------
// HID events

export interface MrpHidKeyEvent extends MrpHidEvent {
  /** The key of THE HID table, or null for a usage it does not list. */
  readonly key: MrpHidKey | null;
}

const KEY_BY_USAGE = new Map<string, MrpHidKey>(
  (Object.entries(MRP_HID_KEYS) as [MrpHidKey, { usagePage: number; usage: number }][]).map(([key, u]) => [`${u.usagePage}:${u.usage}`, key]),
);

/** The key a usage page and usage stand for, or null. */
export function hidKeyOf(usagePage: number, usage: number): MrpHidKey | null {
  return KEY_BY_USAGE.get(`${usagePage}:${usage}`) ?? null;
}

/**
 * Reads a SendHIDEventMessage's hidEventData; null when it is absent or not a keyboard event
 * we understand (decodeMrpHidEvent refuses it).
 */
export function parseHidEventData(data: Uint8Array | undefined): MrpHidKeyEvent | null {
  if (data === undefined) return null;
  let event: MrpHidEvent;
  try {
    event = decodeMrpHidEvent(data);
  } catch (err) {
    if (err instanceof DecodeError) return null;
    throw err;
  }
  return { ...event, key: hidKeyOf(event.usagePage, event.usage) };
}
