/**
 * The now-playing state: one shape for every protocol. Fields a protocol cannot tell are
 * `null`, never missing, so a consumer (a flow, a dashboard) sees the same keys everywhere.
 */

export const DEVICE_STATES = ['idle', 'loading', 'playing', 'paused', 'stopped', 'seeking'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

export const MEDIA_TYPES = ['unknown', 'music', 'video', 'tv'] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

export const SHUFFLE_STATES = ['off', 'songs', 'albums'] as const;
export type ShuffleState = (typeof SHUFFLE_STATES)[number];

export const REPEAT_STATES = ['off', 'track', 'all'] as const;
export type RepeatState = (typeof REPEAT_STATES)[number];

export interface AppInfo {
  /** Display name, e.g. "Music". */
  name: string | null;
  /** Bundle identifier, e.g. "com.apple.TVMusic". */
  bundleId: string | null;
}

export interface NowPlaying {
  deviceState: DeviceState;
  mediaType: MediaType;
  title: string | null;
  artist: string | null;
  album: string | null;
  genre: string | null;
  /** Seconds into the current item. */
  position: number | null;
  /** Length of the current item in seconds. */
  totalTime: number | null;
  shuffle: ShuffleState | null;
  repeat: RepeatState | null;
  /** The app playing, where the protocol tells (MRP); `null` otherwise. */
  app: AppInfo | null;
  /** TV episodes (MRP): series, season and episode; `null` elsewhere. */
  seriesName: string | null;
  seasonNumber: number | null;
  episodeNumber: number | null;
  /** A stable identifier of the item where the device gives one. */
  contentIdentifier: string | null;
}

/** The fields of `NowPlaying`, in display order (used by change filters and the editor). */
export const NOW_PLAYING_FIELDS = [
  'deviceState',
  'mediaType',
  'title',
  'artist',
  'album',
  'genre',
  'position',
  'totalTime',
  'shuffle',
  'repeat',
  'app',
  'seriesName',
  'seasonNumber',
  'episodeNumber',
  'contentIdentifier',
] as const satisfies readonly (keyof NowPlaying)[];
export type NowPlayingField = (typeof NOW_PLAYING_FIELDS)[number];

/** The state of a device that plays nothing. */
export function idleNowPlaying(): NowPlaying {
  return {
    deviceState: 'idle',
    mediaType: 'unknown',
    title: null,
    artist: null,
    album: null,
    genre: null,
    position: null,
    totalTime: null,
    shuffle: null,
    repeat: null,
    app: null,
    seriesName: null,
    seasonNumber: null,
    episodeNumber: null,
    contentIdentifier: null,
  };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The fields (among `fields`, default all) whose values differ between two states. */
export function changedFields(
  before: NowPlaying | null,
  after: NowPlaying,
  fields: readonly NowPlayingField[] = NOW_PLAYING_FIELDS,
): NowPlayingField[] {
  if (before === null) return [...fields];
  return fields.filter((f) => !sameValue(before[f], after[f]));
}
