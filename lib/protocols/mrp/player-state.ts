/**
 * The MRP now-playing model (pyatv: protocols/mrp/player_state.py and MrpMetadata): the device
 * pushes per-player state (SET_STATE, UPDATE_CONTENT_ITEM, ...) for every app ("client",
 * keyed by bundle identifier) and says which client and player are active. This module keeps
 * that model and derives the library's NowPlaying from the active player. Pure: messages in,
 * state out, the clock injected.
 */
import type { NowPlaying } from '../../device/state';
import { idleNowPlaying } from '../../device/state';
import { repeatStateFromMrp, shuffleStateFromMrp } from './commands';
import type { MrpDecodedMessage } from './messages';
import {
  MrpCommand,
  MrpMediaType,
  MrpMessageType,
  MrpPlaybackState,
  type MrpCommandInfo,
  type MrpContentItem,
  type MrpContentItemMetadata,
  type MrpNowPlayingClient,
  type MrpNowPlayingPlayer,
  type MrpPlayerPath,
  type MrpSetStateMessage,
} from './proto-types';

/** The player an app uses unless it names another. */
export const MRP_DEFAULT_PLAYER_ID = 'MediaRemote-DefaultPlayer';

/**
 * How much of the device's model we keep. The device tells us about every app that ever
 * played and never has to remove them, so on a long-lived connection (or from a hostile
 * device) the model would grow without end. Only the active player's current item matters;
 * beyond these caps the least recently active app, player or far-away queue items go.
 */
export const MRP_MAX_CLIENTS = 32;
export const MRP_MAX_PLAYERS_PER_CLIENT = 8;
export const MRP_MAX_QUEUE_ITEMS = 32;

/** Seconds from the Unix epoch to 2001-01-01T00:00:00Z, the epoch of elapsedTimeTimestamp. */
export const MRP_COCOA_EPOCH_OFFSET = 978_307_200;

export class MrpPlayer {
  readonly identifier: string;
  displayName: string | null = null;
  /** Absent until the device sends one (then the player counts as idle). */
  playbackState: number | undefined;
  supportedCommands: MrpCommandInfo[] = [];
  items: MrpContentItem[] = [];
  location = 0;

  constructor(
    readonly client: MrpClient,
    player: MrpNowPlayingPlayer | undefined,
  ) {
    this.identifier = player?.identifier ?? '';
    this.update(player);
  }

  update(player: MrpNowPlayingPlayer | undefined): void {
    if (player?.displayName) this.displayName = player.displayName;
  }

  /** The current content item (`items[location]`), if any. */
  get item(): MrpContentItem | undefined {
    return this.items[this.location];
  }

  get metadata(): MrpContentItemMetadata | undefined {
    return this.item?.metadata;
  }

  /** The player's CommandInfo for `command`, falling back to the client's defaults. */
  commandInfo(command: MrpCommand): MrpCommandInfo | undefined {
    return this.supportedCommands.find((c) => c.command === command) ?? this.client.supportedCommands.find((c) => c.command === command);
  }

  applySetState(state: MrpSetStateMessage): void {
    if (state.playbackState !== undefined) this.playbackState = state.playbackState;
    if (state.supportedCommands) this.supportedCommands = state.supportedCommands.supportedCommands ?? [];
    if (state.playbackQueue) {
      const items = state.playbackQueue.contentItems ?? [];
      const location = state.playbackQueue.location ?? 0;
      // A window around the current item: the others only matter once a new queue comes.
      const start = Math.max(0, Math.min(location - Math.floor(MRP_MAX_QUEUE_ITEMS / 2), items.length - MRP_MAX_QUEUE_ITEMS));
      this.items = items.slice(start, start + MRP_MAX_QUEUE_ITEMS).map(cloneItem);
      this.location = location - start;
    }
  }

  /**
   * Merges partial items into the queue by identifier: fields present in the update replace
   * ours, metadata field by field. An item not in the queue is ignored, as pyatv does.
   */
  mergeContentItems(updates: readonly MrpContentItem[]): void {
    for (const update of updates) {
      // pyatv compares identifiers with proto defaults, so two items without one are "the
      // same" (its fake device sends none).
      const existing = this.items.find((item) => (item.identifier ?? '') === (update.identifier ?? ''));
      if (!existing) continue;
      for (const [key, value] of Object.entries(update) as [keyof MrpContentItem, unknown][]) {
        if (value === undefined || key === 'metadata' || key === 'artworkData') continue;
        (existing as Record<string, unknown>)[key] = value;
      }
      if (update.metadata) existing.metadata = { ...existing.metadata, ...update.metadata };
    }
  }
}

export class MrpClient {
  readonly bundleIdentifier: string;
  displayName: string | null = null;
  readonly players = new Map<string, MrpPlayer>();
  supportedCommands: MrpCommandInfo[] = [];
  /** Set by SET_NOW_PLAYING_PLAYER; null means "the default player, if there is one". */
  activePlayerId: string | null = null;

  constructor(client: MrpNowPlayingClient | undefined) {
    this.bundleIdentifier = client?.bundleIdentifier ?? '';
    this.update(client);
  }

  update(client: MrpNowPlayingClient | undefined): void {
    if (client?.displayName) this.displayName = client.displayName;
  }

  /** The player with this identifier (created when new), now the most recently active. */
  player(player: MrpNowPlayingPlayer | undefined): MrpPlayer {
    const id = player?.identifier ?? '';
    let found = this.players.get(id);
    if (!found) {
      found = new MrpPlayer(this, player);
    } else {
      found.update(player);
    }
    touch(this.players, id, found, MRP_MAX_PLAYERS_PER_CLIENT, (key) => key === (this.activePlayerId ?? MRP_DEFAULT_PLAYER_ID));
    return found;
  }

  get activePlayer(): MrpPlayer | undefined {
    if (this.activePlayerId !== null) return this.players.get(this.activePlayerId);
    return this.players.get(MRP_DEFAULT_PLAYER_ID);
  }
}

/** The message types the model consumes. */
export const MRP_PLAYER_STATE_MESSAGES: readonly MrpMessageType[] = [
  MrpMessageType.SET_STATE_MESSAGE,
  MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE,
  MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE,
  MrpMessageType.SET_NOW_PLAYING_PLAYER_MESSAGE,
  MrpMessageType.SET_DEFAULT_SUPPORTED_COMMANDS_MESSAGE,
  MrpMessageType.UPDATE_CLIENT_MESSAGE,
  MrpMessageType.REMOVE_CLIENT_MESSAGE,
  MrpMessageType.REMOVE_PLAYER_MESSAGE,
];

export class MrpPlayerState {
  readonly clients = new Map<string, MrpClient>();
  private activeClientId: string | null = null;

  /** Feeds one message; returns true when it was a state message the model used. */
  handle(message: MrpDecodedMessage): boolean {
    switch (message.type) {
      case MrpMessageType.SET_STATE_MESSAGE: {
        const state = message.payload;
        if (!state) return false;
        this.player(state.playerPath).applySetState(state);
        return true;
      }
      case MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE: {
        const update = message.payload;
        if (!update) return false;
        this.player(update.playerPath).mergeContentItems(update.contentItems ?? []);
        return true;
      }
      case MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE: {
        const client = this.client(message.payload?.client);
        this.activeClientId = client.bundleIdentifier;
        return true;
      }
      case MrpMessageType.SET_NOW_PLAYING_PLAYER_MESSAGE: {
        const path = message.payload?.playerPath;
        const client = this.client(path?.client);
        const player = client.player(path?.player);
        client.activePlayerId = player.identifier;
        return true;
      }
      case MrpMessageType.SET_DEFAULT_SUPPORTED_COMMANDS_MESSAGE: {
        const defaults = message.payload;
        if (!defaults) return false;
        this.client(defaults.playerPath?.client).supportedCommands = defaults.supportedCommands?.supportedCommands ?? [];
        return true;
      }
      case MrpMessageType.UPDATE_CLIENT_MESSAGE:
        this.client(message.payload?.client);
        return true;
      case MrpMessageType.REMOVE_CLIENT_MESSAGE: {
        const id = message.payload?.client?.bundleIdentifier ?? '';
        if (!this.clients.delete(id)) return false;
        if (this.activeClientId === id) this.activeClientId = null;
        return true;
      }
      case MrpMessageType.REMOVE_PLAYER_MESSAGE: {
        const path = message.payload?.playerPath;
        const client = this.clients.get(path?.client?.bundleIdentifier ?? '');
        const id = path?.player?.identifier ?? '';
        if (!client || id === '' || !client.players.delete(id)) return false;
        if (client.activePlayerId === id) client.activePlayerId = null;
        return true;
      }
      default:
        return false;
    }
  }

  /** The client with this bundle identifier (created when new), now the most recently active. */
  private client(client: MrpNowPlayingClient | undefined): MrpClient {
    const id = client?.bundleIdentifier ?? '';
    let found = this.clients.get(id);
    if (!found) {
      found = new MrpClient(client);
    } else {
      found.update(client);
    }
    touch(this.clients, id, found, MRP_MAX_CLIENTS, (key) => key === this.activeClientId);
    return found;
  }

  private player(path: MrpPlayerPath | undefined): MrpPlayer {
    return this.client(path?.client).player(path?.player);
  }

  /** The app now playing, as SET_NOW_PLAYING_CLIENT named it. */
  get activeClient(): MrpClient | undefined {
    return this.activeClientId === null ? undefined : this.clients.get(this.activeClientId);
  }

  /** The active client's active player. */
  get activePlayer(): MrpPlayer | undefined {
    return this.activeClient?.activePlayer;
  }

  /** The active player's CommandInfo for `command` (or its client's default). */
  commandInfo(command: MrpCommand): MrpCommandInfo | undefined {
    return this.activePlayer?.commandInfo(command);
  }

  /** Whether the active player currently accepts `command` (pyatv's MrpFeatures). */
  commandEnabled(command: MrpCommand): boolean {
    return this.commandInfo(command)?.enabled === true;
  }

  /**
   * The playback state after pyatv's corrections (pyatv: protocols/mrp/__init__.py): absent → undefined (idle);
   * Paused with nothing queued → undefined; Playing at a rate other than 0 or 1 → Seeking.
   */
  effectivePlaybackState(): number | undefined {
    const player = this.activePlayer;
    const state = player?.playbackState;
    if (player === undefined || state === undefined) return undefined;
    if (state === MrpPlaybackState.Paused) return player.metadata ? MrpPlaybackState.Paused : undefined;
    if (state !== MrpPlaybackState.Playing) return state;
    const rate = player.metadata?.playbackRate;
    // A rate of 0 while Playing still reads as Playing, as pyatv has it: apps report 0
    // during buffering and then correct themselves.
    if (rate === undefined || isClose(rate, 0) || isClose(rate, 1)) return MrpPlaybackState.Playing;
    return MrpPlaybackState.Seeking;
  }

  /**
   * Whether the position advances with the clock: playing at a rate other than 0. A missing
   * playbackRate counts as 0 here, though as Playing for the device state: that is pyatv's
   * rule (its position reads a missing rate as 0.0 since its 2023 fix for rate-0 positions).
   */
  extrapolating(): boolean {
    const rate = this.activePlayer?.metadata?.playbackRate;
    return this.effectivePlaybackState() === MrpPlaybackState.Playing && rate !== undefined && !isClose(rate, 0);
  }

  /** The library's NowPlaying of the active player; `nowMs` is the Unix time in ms. */
  nowPlaying(nowMs: number): NowPlaying {
    const state = idleNowPlaying();
    const client = this.activeClient;
    if (client) state.app = { name: client.displayName, bundleId: client.bundleIdentifier || null };
    const player = this.activePlayer;
    if (!player) return state;
    state.deviceState = deviceStateOf(this.effectivePlaybackState());
    const meta = player.metadata;
    const shuffle = player.commandInfo(MrpCommand.ChangeShuffleMode);
    const repeat = player.commandInfo(MrpCommand.ChangeRepeatMode);
    state.shuffle = shuffle ? shuffleStateFromMrp(shuffle.shuffleMode) : null;
    state.repeat = repeat ? repeatStateFromMrp(repeat.repeatMode) : null;
    if (!meta) return state;
    state.mediaType = meta.mediaType === MrpMediaType.Audio ? 'music' : meta.mediaType === MrpMediaType.Video ? 'video' : 'unknown';
    state.title = meta.title ?? null;
    state.artist = meta.trackArtistName ?? null;
    state.album = meta.albumName ?? null;
    state.genre = meta.genre ?? null;
    state.totalTime = meta.duration !== undefined && Number.isFinite(meta.duration) && meta.duration >= 0 ? Math.floor(meta.duration) : null;
    state.position = this.position(meta, nowMs, state.totalTime);
    state.seriesName = meta.seriesName ?? null;
    state.seasonNumber = meta.seasonNumber ?? null;
    state.episodeNumber = meta.episodeNumber ?? null;
    state.contentIdentifier = meta.contentIdentifier ?? null;
    return state;
  }

  /**
   * elapsedTime as of elapsedTimeTimestamp, moved on by the time since when playing. pyatv
   * reports no position without a timestamp; we still report an elapsedTime that comes
   * alone (it cannot have moved on unless the device also says when it was taken).
   */
  private position(meta: MrpContentItemMetadata, nowMs: number, totalTime: number | null): number | null {
    const elapsed = meta.elapsedTime !== undefined && Number.isFinite(meta.elapsedTime) ? meta.elapsedTime : undefined;
    const stamp = meta.elapsedTimeTimestamp;
    if (stamp === undefined || !Number.isFinite(stamp) || stamp === 0) return elapsed === undefined ? null : clampPosition(elapsed, totalTime);
    let position = elapsed ?? 0;
    if (this.extrapolating()) position += nowMs / 1000 - (stamp + MRP_COCOA_EPOCH_OFFSET);
    return clampPosition(position, totalTime);
  }
}

function clampPosition(seconds: number, totalTime: number | null): number {
  let position = Math.max(0, Math.floor(seconds));
  if (totalTime !== null && totalTime > 0) position = Math.min(position, totalTime);
  return position;
}

function deviceStateOf(state: number | undefined): NowPlaying['deviceState'] {
  switch (state) {
    // Unknown is what a player reports before it has anything to say: nothing plays.
    case undefined:
    case MrpPlaybackState.Unknown:
      return 'idle';
    case MrpPlaybackState.Playing:
      return 'playing';
    case MrpPlaybackState.Paused:
      return 'paused';
    case MrpPlaybackState.Stopped:
      return 'stopped';
    case MrpPlaybackState.Interrupted:
      return 'loading';
    case MrpPlaybackState.Seeking:
      return 'seeking';
    default:
      // A state newer than our schema: something is loaded but we cannot say more.
      return 'paused';
  }
}

function isClose(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-9;
}

/**
 * Moves `key` to the end of `map` (maps iterate in insertion order, so the first entry is
 * the least recently active), then evicts from the front while the map is over `limit`,
 * skipping what `keep` protects.
 */
function touch<V>(map: Map<string, V>, key: string, value: V, limit: number, keep: (key: string) => boolean): void {
  map.delete(key);
  map.set(key, value);
  if (map.size <= limit) return;
  for (const candidate of map.keys()) {
    if (map.size <= limit) break;
    if (candidate !== key && !keep(candidate)) map.delete(candidate);
  }
}

/**
 * Our copy of a queue item, without artworkData: the bytes are fetched when artwork is asked
 * for (the PLAYBACK_QUEUE_REQUEST reply goes to that request, not here), and keeping every
 * pushed image would hold megabytes per item.
 */
function cloneItem(item: MrpContentItem): MrpContentItem {
  const { artworkData: _bytes, ...rest } = item;
  return rest.metadata ? { ...rest, metadata: { ...rest.metadata } } : rest;
}
