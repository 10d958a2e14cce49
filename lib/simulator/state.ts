/**
 * The simulated player: one implementation of what a device does when a command arrives.
 * Protocol servers (DMAP now, MRP later) only translate their wire requests into calls on
 * this object and its state into their wire answers, so every protocol sees the same device.
 *
 * Time is never ticked: the position is derived from the moment playback (re)started, and a
 * single timer waits for the next track boundary only.
 */
import { EventEmitter } from 'node:events';
import { COMMANDS, isInputAction, type CommandName, type CommandOptions, type InputAction } from '../device/commands';
import type { PowerState, UserAccount } from '../device/interfaces';
import { PROPERTIES, type PropertyName, type PropertyValues } from '../device/properties';
import { idleNowPlaying, type AppInfo, type MediaType, type NowPlaying, type RepeatState, type ShuffleState } from '../device/state';
import { InvalidArgumentError, NotSupportedError } from '../errors';
import { prng } from '../support/prng';

export interface SimulatorTrack {
  /** Stable id, reported as `contentIdentifier`. */
  id: string;
  title: string;
  artist: string | null;
  album: string | null;
  genre: string | null;
  mediaType: MediaType;
  /** Length in seconds (fractions allowed, so tests can use 1.5 s tracks). */
  duration: number;
  /** Base colour of the generated cover art (RGB, 0–255 each). */
  color: readonly [number, number, number];
}

/** The demo queue: two albums of music and one video, so media types and album shuffle differ. */
export const DEMO_TRACKS: readonly SimulatorTrack[] = [
  { id: 'sim-track-1', title: 'Loopback Overture', artist: 'The Simulators', album: 'Synthetic Sessions', genre: 'Electronic', mediaType: 'music', duration: 45, color: [220, 60, 60] },
  { id: 'sim-track-2', title: 'Revision Number Nine', artist: 'The Simulators', album: 'Synthetic Sessions', genre: 'Electronic', mediaType: 'music', duration: 60, color: [60, 170, 90] },
  { id: 'sim-track-3', title: 'Long Poll Blues', artist: 'DACP Trio', album: 'Port 3689', genre: 'Blues', mediaType: 'music', duration: 75, color: [60, 90, 210] },
  { id: 'sim-track-4', title: 'A Short Film About Packets', artist: 'Loopback Studios', album: null, genre: 'Documentary', mediaType: 'video', duration: 90, color: [200, 160, 40] },
];

/** An installed app the device can launch. */
export interface SimulatorApp {
  bundleId: string;
  name: string;
}

/** The demo apps: Apple's own and two well-known ones, so app lists and launching have something to show. */
export const DEMO_APPS: readonly SimulatorApp[] = [
  { bundleId: 'com.apple.TVMusic', name: 'Music' },
  { bundleId: 'com.apple.TVWatchList', name: 'TV' },
  { bundleId: 'com.apple.TVPhotos', name: 'Photos' },
  { bundleId: 'com.apple.TVSettings', name: 'Settings' },
  { bundleId: 'com.netflix.Netflix', name: 'Netflix' },
  { bundleId: 'com.google.ios.youtube', name: 'YouTube' },
];

/** The demo user accounts (Apple TV profiles). */
export const DEMO_ACCOUNTS: readonly UserAccount[] = [
  { id: 'sim-account-1', name: 'Alex' },
  { id: 'sim-account-2', name: 'Sam' },
];

/** What the device shows: awake, the screensaver, or asleep (its "attention state"). */
export type AttentionState = 'awake' | 'screensaver' | 'asleep';

export type PlaybackStatus = 'playing' | 'paused' | 'stopped';

export interface KeyPress {
  /** A navigation, arrow or touch command of the command table (`up`, `select`, `swipeLeft`, ...). */
  name: CommandName;
  action: InputAction;
  /** Epoch milliseconds. */
  at: number;
}

export interface SimulatorStateOptions {
  /** The queue (at least one track). Default `DEMO_TRACKS`. */
  tracks?: readonly SimulatorTrack[];
  /** Gives every track this length in seconds (tests use 1–2 s). */
  trackSeconds?: number;
  /** Initial playback status. Default `paused` (first track loaded, position 0). */
  status?: PlaybackStatus;
  /** Reported as `NowPlaying.app`. Default the Music app. */
  app?: AppInfo | null;
  /** Initial volume, 0–100. Default 50. */
  volume?: number;
  /** Seconds skipped by skipForward/skipBackward without an interval. Default 10. */
  skipInterval?: number;
  /** Seed of the shuffle order, so tests see the same order every run. Default 1. */
  shuffleSeed?: number;
  /** Installed apps (Companion's app list). Default `DEMO_APPS`. */
  apps?: readonly SimulatorApp[];
  /** User accounts; the first is the active one. Default `DEMO_ACCOUNTS`. */
  accounts?: readonly UserAccount[];
}

export interface SimulatorStateEvents {
  /** After every change of the state; `revision` is the new revision. */
  change: [nowPlaying: NowPlaying, revision: number];
  /** A navigation or arrow key arrived (keys do not change the revision). */
  key: [press: KeyPress];
  power: [state: PowerState];
  volume: [level: number];
  /** Awake, screensaver or asleep changed (power changes are attention changes too). */
  attention: [state: AttentionState];
  /** The app in the foreground changed (a launch). */
  app: [app: AppInfo | null];
  /** A URL was opened (a deep link launch). */
  url: [url: string];
  /** The active user account changed. */
  account: [account: UserAccount];
  /** A text field got (true) or lost (false) the focus. */
  textFocus: [focused: boolean];
  /** The text in the focused field changed. */
  text: [text: string];
}

/** Everything a protocol server needs to answer, read at one instant. */
export interface SimulatorSnapshot {
  revision: number;
  status: PlaybackStatus;
  power: PowerState;
  volume: number;
  shuffle: ShuffleState;
  repeat: RepeatState;
  /** Index into `tracks` of the loaded track. */
  index: number;
  /** The loaded track, or null when stopped. */
  track: SimulatorTrack | null;
  /** Seconds into the track (null when stopped). */
  position: number | null;
  /** Epoch ms of this snapshot; with `position` gives the timeline while playing. */
  at: number;
}

const KEY_LOG_LIMIT = 100;
/** Like most players: "previous" restarts the track unless it is in its first seconds. */
const RESTART_THRESHOLD_S = 3;
const VOLUME_STEP = 5;
/** How long a played URL lasts in the simulator, which cannot read the media. */
const URL_SECONDS = 60;

const DEFAULT_APP: AppInfo = { name: 'Music', bundleId: 'com.apple.TVMusic' };

function validateTrack(track: SimulatorTrack, i: number): void {
  if (!track || typeof track.title !== 'string' || typeof track.id !== 'string') {
    throw new InvalidArgumentError(`track ${i + 1} needs an id and a title`);
  }
  if (!Number.isFinite(track.duration) || track.duration <= 0) {
    throw new InvalidArgumentError(`track ${i + 1} ("${track.title}") needs a duration above 0 seconds`);
  }
}

function shuffleInPlace<T>(list: T[], random: () => number): void {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
}

export class SimulatorState extends EventEmitter<SimulatorStateEvents> {
  readonly tracks: readonly SimulatorTrack[];
  readonly skipInterval: number;
  readonly apps: readonly SimulatorApp[];
  readonly accounts: readonly UserAccount[];

  private _revision = 1;
  private _status: PlaybackStatus;
  private _power: PowerState = 'on';
  private _volume: number;
  private _shuffle: ShuffleState = 'off';
  private _repeat: RepeatState = 'off';
  private _index = 0;
  /** Play order: indices into `tracks`; the identity unless shuffling. */
  private order: number[];
  private readonly random: () => number;
  /** Seconds into the track at `anchor` (frozen while paused). */
  private offset = 0;
  /** Epoch ms at which `offset` was taken. */
  private anchor = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly keyLog: KeyPress[] = [];
  private _app: AppInfo | null;
  private _account: UserAccount | null;
  private _screensaver = false;
  private _textFocused = false;
  private _text = '';
  private _openedUrl: string | null = null;
  /** A media URL sent to the device (AirPlay), playing instead of the queue until it ends. */
  private external: SimulatorTrack | null = null;
  private readonly urlSeconds: number;

  constructor(options: SimulatorStateOptions = {}) {
    super();
    const source = options.tracks ?? DEMO_TRACKS;
    if (source.length === 0) throw new InvalidArgumentError('the simulator needs at least one track');
    if (options.trackSeconds !== undefined && !(Number.isFinite(options.trackSeconds) && options.trackSeconds > 0)) {
      throw new InvalidArgumentError(`trackSeconds must be a number of seconds above 0, got ${String(options.trackSeconds)}`);
    }
    this.tracks = source.map((t, i) => {
      const track = options.trackSeconds === undefined ? { ...t } : { ...t, duration: options.trackSeconds };
      validateTrack(track, i);
      return Object.freeze(track);
    });
    this._app = options.app === undefined ? DEFAULT_APP : options.app;
    this.apps = (options.apps ?? DEMO_APPS).map((a, i) => {
      if (!a || typeof a.bundleId !== 'string' || a.bundleId === '' || typeof a.name !== 'string') {
        throw new InvalidArgumentError(`app ${i + 1} needs a bundleId and a name`);
      }
      return Object.freeze({ bundleId: a.bundleId, name: a.name });
    });
    this.accounts = (options.accounts ?? DEMO_ACCOUNTS).map((a, i) => {
      if (!a || typeof a.id !== 'string' || a.id === '' || typeof a.name !== 'string') throw new InvalidArgumentError(`account ${i + 1} needs an id and a name`);
      return Object.freeze({ id: a.id, name: a.name });
    });
    this._account = this.accounts[0] ?? null;
    this.skipInterval = options.skipInterval ?? 10;
    this.urlSeconds = options.trackSeconds ?? URL_SECONDS;
    this._volume = options.volume === undefined ? 50 : PROPERTIES.volume.parse(options.volume);
    this._status = options.status ?? 'paused';
    this.random = prng(options.shuffleSeed ?? 1);
    this.order = this.tracks.map((_, i) => i);
    this.schedule();
  }

  // -------------------------------------------------------------------------------------
  // Reading

  get revision(): number {
    return this._revision;
  }
  get status(): PlaybackStatus {
    return this._status;
  }
  get power(): PowerState {
    return this._power;
  }
  /** Awake, showing the screensaver, or asleep. */
  get attention(): AttentionState {
    if (this._power === 'off') return 'asleep';
    return this._screensaver ? 'screensaver' : 'awake';
  }
  /** The app in the foreground (reported as `NowPlaying.app`). */
  get app(): AppInfo | null {
    return this._app;
  }
  /** The last URL opened by a launch, if any. */
  get openedUrl(): string | null {
    return this._openedUrl;
  }
  /** The active user account. */
  get account(): UserAccount | null {
    return this._account;
  }
  /** Whether a text field on screen has the focus (something can be typed). */
  get textFocused(): boolean {
    return this._textFocused;
  }
  /** The text in the focused field ('' when none has the focus). */
  get text(): string {
    return this._text;
  }
  get volume(): number {
    return this._volume;
  }
  get shuffle(): ShuffleState {
    return this._shuffle;
  }
  get repeat(): RepeatState {
    return this._repeat;
  }
  /** Index into `tracks` of the loaded track. */
  get index(): number {
    return this._index;
  }
  /** The loaded track, or null when stopped. */
  get track(): SimulatorTrack | null {
    return this._status === 'stopped' ? null : this.loaded;
  }

  /** The item loaded: a played URL, else the queue's track. */
  private get loaded(): SimulatorTrack {
    return this.external ?? this.tracks[this._index]!;
  }

  /** The media URL playing (or paused) now, sent to the device over AirPlay; null otherwise. */
  get playingUrl(): string | null {
    return this.external?.id ?? null;
  }

  /**
   * Plays a media URL, as a device does when a sender hands it one (AirPlay): it becomes the
   * current item (a video titled after the file), from `position`, until it ends (the
   * simulator cannot know the media's length: `duration`, default the track length or 60 s),
   * is stopped, or another item is loaded; then the queue is back, stopped.
   */
  playUrl(url: string, options: { position?: number; duration?: number; title?: string } = {}): void {
    const duration = options.duration ?? this.urlSeconds;
    const file = (() => {
      try {
        return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
      } catch {
        return '';
      }
    })();
    this.external = Object.freeze<SimulatorTrack>({
      id: url,
      title: options.title ?? (file || url),
      artist: null,
      album: null,
      genre: null,
      mediaType: 'video',
      duration,
      color: [120, 120, 120],
    });
    this.offset = Math.min(Math.max(0, options.position ?? 0), duration);
    this.anchor = Date.now();
    this._status = 'playing';
    this.changed();
  }
  /** Seconds into the track, or null when stopped. */
  get position(): number | null {
    return this._status === 'stopped' ? null : this.positionAt(Date.now());
  }
  /** The navigation and arrow keys received, oldest first (the last 100). */
  get keys(): readonly KeyPress[] {
    return this.keyLog;
  }
  get lastKey(): KeyPress | null {
    return this.keyLog[this.keyLog.length - 1] ?? null;
  }

  snapshot(): SimulatorSnapshot {
    const at = Date.now();
    return {
      revision: this._revision,
      status: this._status,
      power: this._power,
      volume: this._volume,
      shuffle: this._shuffle,
      repeat: this._repeat,
      index: this._index,
      track: this.track,
      position: this._status === 'stopped' ? null : this.positionAt(at),
      at,
    };
  }

  /** The state in the library's now-playing shape. */
  nowPlaying(): NowPlaying {
    const track = this.track;
    if (track === null) return { ...idleNowPlaying(), deviceState: 'stopped', shuffle: this._shuffle, repeat: this._repeat };
    return {
      deviceState: this._status,
      mediaType: track.mediaType,
      title: track.title,
      artist: track.artist,
      album: track.album,
      genre: track.genre,
      position: Math.round(this.positionAt(Date.now()) * 1000) / 1000,
      totalTime: track.duration,
      shuffle: this._shuffle,
      repeat: this._repeat,
      app: this._app === null ? null : { ...this._app },
      seriesName: null,
      seasonNumber: null,
      episodeNumber: null,
      contentIdentifier: track.id,
    };
  }

  getProperty<N extends PropertyName>(name: N): PropertyValues[N] | null {
    const values: { [K in PropertyName]: PropertyValues[K] | null } = {
      position: this.position,
      shuffle: this._shuffle,
      repeat: this._repeat,
      volume: this._volume,
    };
    return values[name];
  }

  // -------------------------------------------------------------------------------------
  // Commands (THE command table, one method each)

  /** Runs a command of the command table by name. */
  command(name: CommandName, options: CommandOptions = {}): void {
    const handler = this.handlers[name];
    if (handler === undefined) {
      throw new InvalidArgumentError(`unknown command ${JSON.stringify(name)}; known: ${COMMANDS.map((c) => c.name).join(', ')}`);
    }
    handler(options);
  }

  /** Every command of the table; the `Record` type makes a missing one a compile error. */
  private readonly handlers: Record<CommandName, (options: CommandOptions) => void> = {
    play: () => this.play(),
    pause: () => this.pause(),
    playPause: () => this.playPause(),
    stop: () => this.stop(),
    next: () => this.next(),
    previous: () => this.previous(),
    skipForward: (o) => this.skipForward(o.interval),
    skipBackward: (o) => this.skipBackward(o.interval),
    up: (o) => this.pressKey('up', o.action),
    down: (o) => this.pressKey('down', o.action),
    left: (o) => this.pressKey('left', o.action),
    right: (o) => this.pressKey('right', o.action),
    select: (o) => this.pressKey('select', o.action),
    menu: (o) => this.pressKey('menu', o.action),
    topMenu: (o) => this.pressKey('topMenu', o.action),
    home: (o) => this.pressKey('home', o.action),
    guide: (o) => this.pressKey('guide', o.action),
    channelUp: (o) => this.pressKey('channelUp', o.action),
    channelDown: (o) => this.pressKey('channelDown', o.action),
    screensaver: (o) => this.pressKey('screensaver', o.action),
    controlCenter: (o) => this.pressKey('controlCenter', o.action),
    siri: (o) => this.pressKey('siri', o.action),
    swipeUp: () => this.pressKey('swipeUp'),
    swipeDown: () => this.pressKey('swipeDown'),
    swipeLeft: () => this.pressKey('swipeLeft'),
    swipeRight: () => this.pressKey('swipeRight'),
    tap: () => this.pressKey('tap'),
    volumeUp: () => this.volumeUp(),
    volumeDown: () => this.volumeDown(),
    turnOn: () => this.turnOn(),
    turnOff: () => this.turnOff(),
  };

  play(): void {
    if (this._status === 'playing') return;
    if (this._status === 'stopped') this.offset = 0;
    this.anchor = Date.now();
    this._status = 'playing';
    this.changed();
  }

  pause(): void {
    if (this._status !== 'playing') return;
    this.freeze();
    this._status = 'paused';
    this.changed();
  }

  playPause(): void {
    if (this._status === 'playing') this.pause();
    else this.play();
  }

  stop(): void {
    if (this._status === 'stopped') return;
    this.external = null;
    this._status = 'stopped';
    this.offset = 0;
    this.anchor = Date.now();
    this.changed();
  }

  next(): void {
    const at = this.order.indexOf(this._index);
    const nextAt = at + 1 < this.order.length ? at + 1 : 0;
    this.load(this.order[nextAt]!);
  }

  previous(): void {
    const position = this.position ?? 0;
    if (position > RESTART_THRESHOLD_S || this.tracks.length === 1) {
      this.load(this._index);
      return;
    }
    const at = this.order.indexOf(this._index);
    this.load(this.order[at > 0 ? at - 1 : this.order.length - 1]!);
  }

  skipForward(interval: number = this.skipInterval): void {
    this.seekBy(this.checkInterval(interval));
  }

  skipBackward(interval: number = this.skipInterval): void {
    this.seekBy(-this.checkInterval(interval));
  }

  volumeUp(): void {
    this.setVolume(Math.min(100, this._volume + VOLUME_STEP));
  }

  volumeDown(): void {
    this.setVolume(Math.max(0, this._volume - VOLUME_STEP));
  }

  turnOn(): void {
    if (this._power === 'on') return;
    this._power = 'on';
    this._screensaver = false;
    this.changed();
    this.emit('power', 'on');
    this.emit('attention', this.attention);
  }

  /** Like a real Apple TV going to sleep: playback pauses. */
  turnOff(): void {
    if (this._power === 'off') return;
    if (this._status === 'playing') {
      this.freeze();
      this._status = 'paused';
    }
    this._power = 'off';
    this._screensaver = false;
    this.changed();
    this.emit('power', 'off');
    this.emit('attention', this.attention);
  }

  /** Records a navigation/arrow key so tests can assert it arrived. */
  pressKey(name: CommandName, action: InputAction = 'single'): void {
    const spec = COMMANDS.find((c) => c.name === name);
    if (spec === undefined || (spec.group !== 'arrow' && spec.group !== 'navigation' && spec.group !== 'touch')) {
      throw new InvalidArgumentError(`${JSON.stringify(name)} is not a navigation or arrow key or a touch`);
    }
    if (!isInputAction(action)) throw new InvalidArgumentError(`key action must be single, double or hold, got ${JSON.stringify(action)}`);
    const press: KeyPress = { name, action, at: Date.now() };
    this.keyLog.push(press);
    if (this.keyLog.length > KEY_LOG_LIMIT) this.keyLog.shift();
    this.emit('key', press);
    // The screensaver button starts it; any other key ends it, as on a TV that is on.
    const screensaver = this._power === 'on' && name === 'screensaver';
    if (screensaver !== this._screensaver) {
      this._screensaver = screensaver;
      this.emit('attention', this.attention);
    }
  }

  // -------------------------------------------------------------------------------------
  // Apps, accounts, the text field

  /**
   * Launches an installed app by bundle id, or opens a URL (a deep link). Either wakes the
   * device, as a launch from a phone does. An app that is not installed is refused.
   */
  launchApp(bundleIdOrUrl: string): void {
    if (typeof bundleIdOrUrl !== 'string' || bundleIdOrUrl.trim() === '') throw new InvalidArgumentError('give a bundle id or a URL to launch');
    const target = bundleIdOrUrl.trim();
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(target)) {
      this.turnOn();
      this._openedUrl = target;
      this.emit('url', target);
      return;
    }
    const app = this.apps.find((a) => a.bundleId === target);
    if (app === undefined) throw new NotSupportedError(`${JSON.stringify(target.slice(0, 80))} is not installed on this device`);
    this.turnOn();
    if (this._app?.bundleId === app.bundleId) return;
    this._app = { name: app.name, bundleId: app.bundleId };
    this.changed();
    this.emit('app', { ...this._app });
  }

  /** Makes the account with this id the active one. */
  switchAccount(id: string): void {
    const account = this.accounts.find((a) => a.id === id);
    if (account === undefined) throw new InvalidArgumentError(`no user account with id ${JSON.stringify(String(id).slice(0, 80))}`);
    if (this._account?.id === account.id) return;
    this._account = account;
    this.emit('account', { ...account });
  }

  /** Puts the focus on a text field (a search box) holding `text`. */
  focusTextField(text = ''): void {
    if (typeof text !== 'string') throw new InvalidArgumentError('the text field holds a string');
    const changedText = text !== this._text;
    this._text = text;
    if (!this._textFocused) {
      this._textFocused = true;
      this.emit('textFocus', true);
    } else if (changedText) this.emit('text', text);
  }

  /** Takes the focus away from the text field (its text is gone with it). */
  unfocusTextField(): void {
    if (!this._textFocused) return;
    this._textFocused = false;
    this._text = '';
    this.emit('textFocus', false);
  }

  /** Types at the end of the focused field. */
  typeText(text: string): void {
    if (!this._textFocused) throw new NotSupportedError('no text field has the focus');
    if (text === '') return;
    this._text += text;
    this.emit('text', this._text);
  }

  /** Empties the focused field. */
  clearText(): void {
    if (!this._textFocused) throw new NotSupportedError('no text field has the focus');
    if (this._text === '') return;
    this._text = '';
    this.emit('text', '');
  }

  // -------------------------------------------------------------------------------------
  // Setters

  /** Seconds into the loaded track, clamped to its length. Nothing to seek when stopped. */
  setPosition(seconds: number): void {
    const value = PROPERTIES.position.parse(seconds);
    if (this._status === 'stopped') throw new NotSupportedError('nothing is playing, so there is no position to set: send play first');
    const duration = this.loaded.duration;
    this.offset = Math.min(value, duration);
    this.anchor = Date.now();
    this.changed();
  }

  setShuffle(shuffle: ShuffleState): void {
    const value = PROPERTIES.shuffle.parse(shuffle);
    if (value === this._shuffle) return;
    this._shuffle = value;
    this.order = this.playOrder(value);
    this.changed();
  }

  setRepeat(repeat: RepeatState): void {
    const value = PROPERTIES.repeat.parse(repeat);
    if (value === this._repeat) return;
    this._repeat = value;
    this.changed();
  }

  setVolume(level: number): void {
    const value = PROPERTIES.volume.parse(level);
    if (value === this._volume) return;
    this._volume = value;
    this.changed();
    this.emit('volume', value);
  }

  setProperty<N extends PropertyName>(name: N, value: PropertyValues[N]): void {
    const setters: { [K in PropertyName]: (v: PropertyValues[K]) => void } = {
      position: (v) => this.setPosition(v),
      shuffle: (v) => this.setShuffle(v),
      repeat: (v) => this.setRepeat(v),
      volume: (v) => this.setVolume(v),
    };
    const setter = setters[name] as ((v: PropertyValues[N]) => void) | undefined;
    if (setter === undefined) throw new InvalidArgumentError(`unknown property ${JSON.stringify(name)}`);
    setter(value);
  }

  /** Stops the boundary timer for good (the simulator is shutting down). */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  // -------------------------------------------------------------------------------------
  // Internals

  private positionAt(now: number): number {
    const duration = this.loaded.duration;
    const elapsed = this._status === 'playing' ? (now - this.anchor) / 1000 : 0;
    return Math.max(0, Math.min(duration, this.offset + elapsed));
  }

  private freeze(): void {
    const now = Date.now();
    this.offset = this.positionAt(now);
    this.anchor = now;
  }

  private checkInterval(interval: number): number {
    if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
      throw new InvalidArgumentError(`skip interval must be a number of seconds, 0 or more, got ${String(interval)}`);
    }
    return interval;
  }

  private seekBy(delta: number): void {
    if (this._status === 'stopped') throw new NotSupportedError('nothing is playing, so there is nothing to skip in: send play first');
    this.setPosition(Math.max(0, (this.position ?? 0) + delta));
  }

  /** Loads a track at position 0, keeping play/pause (a stopped player starts paused). */
  private load(index: number): void {
    this.external = null;
    this._index = index;
    this.offset = 0;
    this.anchor = Date.now();
    if (this._status === 'stopped') this._status = 'paused';
    this.changed();
  }

  private playOrder(shuffle: ShuffleState): number[] {
    const all = this.tracks.map((_, i) => i);
    if (shuffle === 'off') return all;
    if (shuffle === 'songs') {
      // The current track stays first so shuffling never jumps away from what plays.
      const rest = all.filter((i) => i !== this._index);
      shuffleInPlace(rest, this.random);
      return [this._index, ...rest];
    }
    const albums = new Map<string, number[]>();
    for (const i of all) {
      const track = this.tracks[i]!;
      const key = track.album ?? `\u0000${track.id}`;
      albums.set(key, [...(albums.get(key) ?? []), i]);
    }
    const groups = [...albums.values()];
    const current = groups.find((g) => g.includes(this._index))!;
    const rest = groups.filter((g) => g !== current);
    shuffleInPlace(rest, this.random);
    return [current, ...rest].flat();
  }

  private trackEnded(): void {
    this.timer = null;
    if (this.external !== null) {
      // A played URL ends playback; the queue is back where it was, stopped.
      this.external = null;
      this._status = 'stopped';
      this.offset = 0;
      this.anchor = Date.now();
      this.changed();
      return;
    }
    if (this._repeat === 'track') {
      this.offset = 0;
      this.anchor = Date.now();
      this.changed();
      return;
    }
    const at = this.order.indexOf(this._index);
    if (at + 1 < this.order.length) {
      this._index = this.order[at + 1]!;
    } else if (this._repeat === 'all') {
      this._index = this.order[0]!;
    } else {
      // End of the queue: like a real player, stop and rewind to the start of the order.
      this._index = this.order[0]!;
      this._status = 'stopped';
    }
    this.offset = 0;
    this.anchor = Date.now();
    this.changed();
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed || this._status !== 'playing') return;
    const remaining = this.loaded.duration - this.positionAt(Date.now());
    this.timer = setTimeout(() => this.trackEnded(), Math.max(0, Math.ceil(remaining * 1000)));
    this.timer.unref();
  }

  private changed(): void {
    this._revision += 1;
    this.schedule();
    this.emit('change', this.nowPlaying(), this._revision);
  }
}
