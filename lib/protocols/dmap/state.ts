/**
 * `playstatusupdate` (`cmst`) → the library's `NowPlaying` (pyatv: protocols/dmap/__init__.py). Pure functions.
 */
import { dmapBool, dmapNumber, dmapString, findDmap, type DmapNode } from '../../codecs/dmap';
import { idleNowPlaying, type DeviceState, type MediaType, type NowPlaying, type RepeatState, type ShuffleState } from '../../device/state';

/** `caps` play status codes. */
const PLAY_STATES: Readonly<Record<number, DeviceState>> = {
  0: 'idle',
  1: 'loading',
  2: 'stopped',
  3: 'paused',
  4: 'playing',
  5: 'seeking',
  6: 'seeking',
};

/** iTunes media kinds (`cmmk`), as pyatv groups them. */
const MEDIA_KINDS: ReadonlyArray<readonly [MediaType, readonly number[]]> = [
  ['unknown', [1, 32770]],
  ['video', [3, 7, 11, 12, 13, 18, 32]],
  ['music', [2, 4, 10, 14, 17, 21, 36]],
  ['tv', [8, 64]],
];

const REPEAT: Readonly<Record<number, RepeatState>> = { 0: 'off', 1: 'track', 2: 'all' };

/** Times of 2^32−1 ms (or more) mean "unknown" (seen during live streams). */
const UNKNOWN_TIME = 2 ** 32 - 1;

export function dmapMediaKind(kind: number): MediaType {
  for (const [type, kinds] of MEDIA_KINDS) if (kinds.includes(kind)) return type;
  return 'unknown';
}

function milliseconds(nodes: readonly DmapNode[], tag: string): number | null {
  const ms = dmapNumber(nodes, 'cmst', tag);
  if (ms === undefined || ms >= UNKNOWN_TIME) return null;
  return ms;
}

/** The `cmsr` revision of a playstatus answer (0 when absent). */
export function playstatusRevision(nodes: readonly DmapNode[]): number {
  return dmapNumber(nodes, 'cmst', 'cmsr') ?? 0;
}

/** `cavc`: whether the device lets a remote change its volume; null when not said. */
export function volumeControllable(nodes: readonly DmapNode[]): boolean | null {
  return dmapBool(nodes, 'cmst', 'cavc') ?? null;
}

/** Whether the playstatus holds a tag (feature availability keys on this). */
export function hasPlaystatusTag(nodes: readonly DmapNode[], tag: string): boolean {
  return findDmap(nodes, 'cmst', tag) !== undefined;
}

export function nowPlayingFromPlaystatus(nodes: readonly DmapNode[]): NowPlaying {
  const state = idleNowPlaying();
  const caps = dmapNumber(nodes, 'cmst', 'caps');
  state.deviceState = caps === undefined ? 'idle' : PLAY_STATES[caps] ?? 'idle';
  state.title = dmapString(nodes, 'cmst', 'cann') ?? null;
  state.artist = dmapString(nodes, 'cmst', 'cana') ?? null;
  state.album = dmapString(nodes, 'cmst', 'canl') ?? null;
  state.genre = dmapString(nodes, 'cmst', 'cang') ?? null;

  if (caps) {
    const kind = dmapNumber(nodes, 'cmst', 'cmmk');
    // Without a media kind, pyatv's rule: artist or album means music, else video.
    state.mediaType = kind !== undefined ? dmapMediaKind(kind) : state.artist || state.album ? 'music' : 'video';
  }

  const total = milliseconds(nodes, 'cast');
  const remaining = milliseconds(nodes, 'cant');
  state.totalTime = total === null ? null : Math.round(total / 1000);
  state.position = total === null || remaining === null ? null : Math.max(0, Math.round((total - remaining) / 1000));

  const shuffle = dmapNumber(nodes, 'cmst', 'cash');
  // DMAP knows no "albums" shuffle: any non-zero value is songs.
  state.shuffle = shuffle === undefined ? null : ((shuffle === 0 ? 'off' : 'songs') satisfies ShuffleState);
  const repeat = dmapNumber(nodes, 'cmst', 'carp');
  state.repeat = repeat === undefined ? null : REPEAT[repeat] ?? null;
  return state;
}
