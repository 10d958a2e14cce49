/**
 * The MRP `ProtocolSession` (pyatv: protocols/mrp): THE command table mapped to MRP actions in one
 * place (`MRP_COMMAND_ACTIONS`), now-playing from the pushed player-state model, artwork,
 * properties, volume, power, and feature availability as pyatv's MrpFeatures defines it
 * (pyatv's MrpFeatures): `available` only when the device says so.
 *
 * MRP is event driven: the device pushes every change once CLIENT_UPDATES_CONFIG is sent,
 * so `nowPlaying()` reads the model without a request and start/stopPushUpdates only gate
 * the `nowPlaying` events.
 */
import { EventEmitter } from 'node:events';
import { artworkImage } from '../../codecs/image';
import { isCommandName, type CommandName, type CommandOptions, type InputAction } from '../../device/commands';
import type {
  Artwork,
  ArtworkRequest,
  Audio,
  FeatureName,
  FeatureState,
  Metadata,
  Power,
  PowerState,
  ProtocolSession,
  RemoteControl,
  SessionCapabilities,
  SessionContext,
  SessionEvents,
} from '../../device/interfaces';
import type { PlayerPropertyName, PropertyValues } from '../../device/properties';
import { changedFields, NOW_PLAYING_FIELDS, type NowPlaying } from '../../device/state';
import {
  AtvError,
  AuthenticationError,
  ClosedError,
  InvalidArgumentError,
  NotSupportedError,
  TimeoutError,
} from '../../errors';
import type { Logger } from '../../log';
import { emitContained } from '../../support/emit';
import { SerialQueue } from '../../support/serial-queue';
import { fetchMrpArtwork, mrpHttpUrl, MrpArtworkCache, mrpArtworkTemplateUrl } from './artwork';
import {
  MRP_DEFAULT_SKIP_SECONDS,
  MRP_MEDIA_COMMANDS,
  mrpHidKeyEventData,
  mrpPropertyCommand,
  type MrpHidKey,
} from './commands';
import { createMrpMessage, type MrpDecodedMessage, type MrpMessageOf } from './messages';
import { MrpPlayerState } from './player-state';
import { MrpExchange } from './exchange';
import {
  MrpCommand,
  MrpErrorCode,
  MrpHandlerReturnStatus,
  MrpMessageType,
  MrpPlaybackState,
  MrpSendError,
  type MrpCommandOptions,
  type MrpContentItem,
  type MrpDeviceInfoMessage,
} from './proto-types';
import { MrpTcpTransport, type MrpTransport } from './transport';
import { MrpVolume } from './volume';
import { SharedAttempt } from '../../support/shared-attempt';

/** What MRP does for each command of THE command table. */
export type MrpAction =
  | { readonly kind: 'command'; readonly command: MrpCommand }
  /** TogglePlayPause when the app offers it, else Play or Pause by state (pyatv's MrpRemoteControl.play_pause). */
  | { readonly kind: 'playPause' }
  | { readonly kind: 'skip'; readonly command: MrpCommand.SkipForward | MrpCommand.SkipBackward }
  | { readonly kind: 'key'; readonly key: MrpHidKey }
  | { readonly kind: 'volume'; readonly direction: 1 | -1 }
  | { readonly kind: 'turnOn' }
  /** Holding home opens the sleep menu, whose first entry select picks (pyatv: protocols/mrp/__init__.py). */
  | { readonly kind: 'turnOff' }
  /** A button MRP has no key or command for (guide, channels, ...: Companion sends those). */
  | { readonly kind: 'unsupported' };

export const MRP_COMMAND_ACTIONS: { readonly [C in CommandName]: MrpAction } = {
  play: { kind: 'command', command: MRP_MEDIA_COMMANDS.play },
  pause: { kind: 'command', command: MRP_MEDIA_COMMANDS.pause },
  playPause: { kind: 'playPause' },
  stop: { kind: 'command', command: MRP_MEDIA_COMMANDS.stop },
  next: { kind: 'command', command: MRP_MEDIA_COMMANDS.next },
  previous: { kind: 'command', command: MRP_MEDIA_COMMANDS.previous },
  skipForward: { kind: 'skip', command: MRP_MEDIA_COMMANDS.skipForward },
  skipBackward: { kind: 'skip', command: MRP_MEDIA_COMMANDS.skipBackward },
  up: { kind: 'key', key: 'up' },
  down: { kind: 'key', key: 'down' },
  left: { kind: 'key', key: 'left' },
  right: { kind: 'key', key: 'right' },
  select: { kind: 'key', key: 'select' },
  menu: { kind: 'key', key: 'menu' },
  topMenu: { kind: 'key', key: 'topMenu' },
  home: { kind: 'key', key: 'home' },
  guide: { kind: 'unsupported' },
  channelUp: { kind: 'unsupported' },
  channelDown: { kind: 'unsupported' },
  screensaver: { kind: 'unsupported' },
  controlCenter: { kind: 'unsupported' },
  siri: { kind: 'unsupported' },
  swipeUp: { kind: 'unsupported' },
  swipeDown: { kind: 'unsupported' },
  swipeLeft: { kind: 'unsupported' },
  swipeRight: { kind: 'unsupported' },
  tap: { kind: 'unsupported' },
  volumeUp: { kind: 'volume', direction: 1 },
  volumeDown: { kind: 'volume', direction: -1 },
  turnOn: { kind: 'turnOn' },
  turnOff: { kind: 'turnOff' },
};

/** How long a held key stays down (pyatv's hold). */
export const MRP_HOLD_MS = 1000;
/** Pause between the home hold and the select of turnOff (pyatv's). */
export const MRP_TURN_OFF_DELAY_MS = 100;
/** Artwork width asked for when the caller gives no size (pyatv's default). */
export const MRP_DEFAULT_ARTWORK_WIDTH = 512;
/** How long setProperty waits for the device to report the new value. */
export const MRP_PROPERTY_CONFIRM_MS = 2000;

export interface MrpSessionOptions {
  /** The name the device shows for us (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** How long a held key stays down, ms (default 1000). */
  holdMs?: number;
  /** Heartbeat period, ms (default 30 000). */
  heartbeatInterval?: number;
  /** Volume confirmation timeout, ms (default 5000). */
  volumeConfirmTimeout?: number;
  /** How long setProperty waits for the new value to be reported, ms (default 2000). */
  propertyConfirmTimeout?: number;
  /** Clock in Unix ms (position extrapolation); for tests. */
  now?: () => number;
}

/** What `createMrpSession` adds to the session options for direct TCP. */
export interface MrpTcpSessionOptions extends MrpSessionOptions {
  /** Largest frame accepted from the device. */
  maxFrameBytes?: number;
}

type StateWaiter = (state: NowPlaying) => void;

export class MrpSession extends EventEmitter<SessionEvents> implements ProtocolSession, RemoteControl, Metadata, Audio, Power {
  readonly protocol = 'mrp' as const;
  readonly capabilities: SessionCapabilities = { remoteControl: this, metadata: this, audio: this, power: this };
  /** The message exchange, for tools that want to send their own messages. */
  readonly exchange: MrpExchange;
  readonly state = new MrpPlayerState();
  private readonly context: SessionContext;
  private readonly options: MrpSessionOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly volume: MrpVolume;
  private readonly artworkCache = new MrpArtworkCache();
  private info: MrpDeviceInfoMessage | null = null;
  private phase: 'idle' | 'connecting' | 'connected' | 'closed' = 'idle';
  private readonly connecting = new SharedAttempt();
  private pushActive = false;
  /** The last derived state, when it was derived, and whether its position was moving. */
  private latest: { state: NowPlaying; at: number; moving: boolean } | null = null;
  private readonly stateWaiters = new Set<StateWaiter>();
  private readonly delays = new Map<NodeJS.Timeout, (error: Error) => void>();
  /**
   * Commands and settings go out one at a time, in call order: a key press (down, a hold's
   * wait, up, the flush) or a double press never interleaves with the next command's bytes.
   */
  private readonly actions = new SerialQueue();

  /** `transport`: how the messages reach the device (direct TCP, or the AirPlay tunnel). */
  constructor(context: SessionContext, transport: MrpTransport, options: MrpSessionOptions = {}) {
    super();
    this.context = context;
    this.options = options;
    this.logger = context.logger;
    this.now = options.now ?? Date.now;
    this.exchange = new MrpExchange(transport, {
      timeout: context.timeout,
      logger: context.logger,
      ...(options.name !== undefined && { name: options.name }),
      ...(options.heartbeatInterval !== undefined && { heartbeatInterval: options.heartbeatInterval }),
    });
    this.volume = new MrpVolume(
      {
        send: (message) => this.exchange.send(message),
        pressVolumeKey: (key) => this.pressKey(key, 'single', false),
      },
      (level) => this.emit('volume', level),
      options.volumeConfirmTimeout,
    );
    this.exchange.on('deviceInfo', (info) => this.learnDeviceInfo(info, false));
    this.exchange.on('message', (message) => this.onPush(message));
    this.exchange.on('closed', (error) => this.onClosed(error));
  }

  /**
   * Every event reaches the caller's listeners from a socket callback or a microtask: a
   * listener that throws is logged and cannot end the process or starve the others.
   */
  override emit<E extends keyof SessionEvents>(event: E, ...args: SessionEvents[E]): boolean {
    return emitContained<SessionEvents, E>(this, event, args, this.logger);
  }

  /** The protocol the session's messages travel inside, when not MRP's own port (its transport's). */
  get via(): ProtocolSession['via'] {
    return this.exchange.transport.via;
  }

  /** The device's DEVICE_INFO (updated by DEVICE_INFO_UPDATE), once connected. */
  get deviceInfo(): Readonly<MrpDeviceInfoMessage> | null {
    return this.info;
  }

  /**
   * The connection sequence (pyatv's `MrpProtocol.start`) over the transport, with whatever
   * authentication and keep-alive the transport needs. On failure everything is closed again.
   * A call while another is under way shares its outcome: returning early would let the
   * caller's next command find the session not yet connected.
   */
  async connect(): Promise<void> {
    if (this.phase === 'closed') throw new ClosedError('this MRP session was closed; create a new one');
    if (this.phase === 'connected') return;
    return this.connecting.run(() => this.establish());
  }

  private async establish(): Promise<void> {
    this.phase = 'connecting';
    try {
      await this.exchange.start();
    } catch (err) {
      this.phase = 'closed';
      this.exchange.close();
      throw err;
    }
    if ((this.phase as string) === 'closed') throw new ClosedError('the MRP session was closed while connecting');
    this.phase = 'connected';
    this.latest = this.derive();
  }

  /** Ends the session: socket, heartbeat, waits. Safe to call twice. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.pushActive = false;
    this.exchange.close();
    this.releaseWaits(new ClosedError('the MRP session was closed'));
  }

  feature(name: FeatureName): FeatureState {
    switch (name) {
      case 'nowPlaying':
      case 'pushUpdates':
      case 'powerState':
        return 'available';
      case 'artwork': {
        const meta = this.state.activePlayer?.metadata;
        return meta && (meta.artworkAvailable === true || meta.artworkURL !== undefined) ? 'available' : 'unavailable';
      }
      case 'setPosition':
        return this.commandFeature(MrpCommand.SeekToPlaybackPosition);
      case 'setShuffle':
        return this.commandFeature(MrpCommand.ChangeShuffleMode);
      case 'setRepeat':
        return this.commandFeature(MrpCommand.ChangeRepeatMode);
      case 'volume':
      case 'setVolume':
        return this.volume.controllable && this.volume.absolute ? 'available' : 'unavailable';
    }
    // Features of capabilities MRP does not offer are never asked.
    if (!isCommandName(name)) return 'unsupported';
    const action = MRP_COMMAND_ACTIONS[name];
    switch (action.kind) {
      case 'key':
      case 'turnOn':
      case 'turnOff':
        return 'available';
      case 'command':
      case 'skip':
        return this.commandFeature(action.command);
      case 'playPause': {
        if (this.state.commandEnabled(MrpCommand.TogglePlayPause)) return 'available';
        // Apps like YouTube offer only the command opposite to the current state.
        const playback = this.state.effectivePlaybackState();
        if (playback === MrpPlaybackState.Playing && this.state.commandEnabled(MrpCommand.Pause)) return 'available';
        if (playback === MrpPlaybackState.Paused && this.state.commandEnabled(MrpCommand.Play)) return 'available';
        return 'unavailable';
      }
      case 'volume':
        return this.volume.controllable ? 'available' : 'unavailable';
      case 'unsupported':
        return 'unsupported';
    }
  }

  private commandFeature(command: MrpCommand): FeatureState {
    return this.state.commandEnabled(command) ? 'available' : 'unavailable';
  }

  sendCommand(command: CommandName, options: CommandOptions = {}): Promise<void> {
    return this.actions.run(() => this.perform(command, options));
  }

  private async perform(command: CommandName, options: CommandOptions): Promise<void> {
    const action = MRP_COMMAND_ACTIONS[command];
    this.assertConnected();
    switch (action.kind) {
      case 'command':
        await this.mediaCommand(command, action.command);
        return;
      case 'playPause':
        await this.playPause();
        return;
      case 'skip': {
        const preferred = this.state.commandInfo(action.command)?.preferredIntervals?.[0];
        const interval = options.interval ?? (preferred !== undefined && preferred > 0 ? preferred : MRP_DEFAULT_SKIP_SECONDS);
        await this.mediaCommand(command, action.command, { skipInterval: interval });
        return;
      }
      case 'key':
        await this.pressKey(action.key, options.action ?? 'single');
        return;
      case 'volume':
        await this.volume.step(action.direction);
        return;
      case 'turnOn':
        // WAKE_DEVICE gets no reply; the flush request behind it returns once the device has
        // read it (the stream is ordered), as for key presses.
        this.exchange.send(createMrpMessage(MrpMessageType.WAKE_DEVICE_MESSAGE, {}));
        await this.exchange.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
        return;
      case 'turnOff':
        await this.pressKey('home', 'hold');
        await this.delay(MRP_TURN_OFF_DELAY_MS);
        await this.pressKey('select', 'single');
        return;
      case 'unsupported':
        throw new NotSupportedError(`MRP cannot send ${command}; pair Companion for it`);
    }
  }

  private async playPause(): Promise<void> {
    if (this.state.commandEnabled(MrpCommand.TogglePlayPause)) {
      await this.mediaCommand('playPause', MrpCommand.TogglePlayPause);
      return;
    }
    // pyatv does nothing unless playing or paused; Play from any other state is what a
    // remote's play/pause button does.
    const playing = this.state.effectivePlaybackState() === MrpPlaybackState.Playing;
    await this.mediaCommand('playPause', playing ? MrpCommand.Pause : MrpCommand.Play);
  }

  /** SEND_COMMAND and its SEND_COMMAND_RESULT (pyatv: protocols/mrp/__init__.py). */
  private async mediaCommand(what: string, command: MrpCommand, options?: MrpCommandOptions): Promise<void> {
    const reply = await this.exchange.request(
      createMrpMessage(MrpMessageType.SEND_COMMAND_MESSAGE, options ? { command, options } : { command }),
    );
    const error = mrpCommandError(what, reply);
    if (error) throw error;
  }

  /**
   * A button press as HID key events (pyatv: protocols/mrp/__init__.py): down, up (a hold keeps it down for
   * holdMs), then a GENERIC_MESSAGE request as a flush; a double press is two presses.
   */
  private async pressKey(key: MrpHidKey, action: InputAction, flush = true): Promise<void> {
    const press = async (hold: boolean) => {
      this.sendHid(key, true);
      if (hold) await this.delay(this.options.holdMs ?? MRP_HOLD_MS);
      this.sendHid(key, false);
      if (flush) await this.exchange.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
    };
    switch (action) {
      case 'single':
        await press(false);
        return;
      case 'double':
        await press(false);
        await press(false);
        return;
      case 'hold':
        await press(true);
        return;
    }
  }

  private sendHid(key: MrpHidKey, down: boolean): void {
    this.exchange.send(createMrpMessage(MrpMessageType.SEND_HID_EVENT_MESSAGE, { hidEventData: mrpHidKeyEventData(key, down) }));
  }

  async nowPlaying(): Promise<NowPlaying> {
    this.assertConnected();
    return this.state.nowPlaying(this.now());
  }

  /**
   * The current artwork (pyatv: protocols/mrp/__init__.py): a remote URL first (the artworkIdentifier
   * template, then artworkURL), then a PLAYBACK_QUEUE_REQUEST. Null when nothing plays or
   * the item has no artwork.
   */
  async artwork(request: ArtworkRequest = {}): Promise<Artwork | null> {
    this.assertConnected();
    const player = this.state.activePlayer;
    const meta = player?.metadata;
    if (!player || !meta || !(meta.artworkAvailable === true || meta.artworkURL !== undefined)) return null;
    // Unset dimensions: -1 keeps the aspect ratio; no size at all asks for pyatv's default width.
    const width = request.width ?? (request.height === undefined ? MRP_DEFAULT_ARTWORK_WIDTH : 0);
    const height = request.height ?? -1;
    // Keyed as pyatv keys it, plus the size: a different size is a different image.
    const id = meta.artworkIdentifier || meta.contentIdentifier || player.item?.identifier || '';
    const key = id ? `${id}@${width}x${height}` : null;
    const cached = key ? this.artworkCache.get(key) : undefined;
    if (cached) return cached;

    const urls = [meta.artworkIdentifier ? mrpArtworkTemplateUrl(meta.artworkIdentifier, width, height) : null, meta.artworkURL ? mrpHttpUrl(meta.artworkURL) : null];
    for (const url of urls) {
      if (!url) continue;
      try {
        const remote = await fetchMrpArtwork(url, { timeout: this.context.timeout });
        if (remote) {
          if (key) this.artworkCache.set(key, remote);
          return remote;
        }
      } catch (err) {
        this.logger.debug(`MRP artwork: the remote image failed (${err instanceof Error ? err.message : String(err)}); asking the device`);
      }
    }

    const reply = await this.exchange.request(
      createMrpMessage(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE, {
        location: player.location,
        length: 1,
        artworkWidth: width,
        artworkHeight: height,
        returnContentItemAssetsInUserCompletion: true,
      }),
    );
    if (reply.type !== MrpMessageType.SET_STATE_MESSAGE) return null;
    const item = pickArtworkItem(reply.payload?.playbackQueue, player.item, player.location);
    const bytes = item?.artworkData;
    if (!item || !bytes || bytes.length === 0) return null;
    // The metadata's artworkMIMEType plays the part of a Content-Type: a fallback to the bytes.
    const image = artworkImage(bytes, meta.artworkMIMEType, 'the device');
    const artwork: Artwork = {
      bytes,
      mimeType: image.mimeType,
      width: item.artworkDataWidth ?? image.width ?? null,
      height: item.artworkDataHeight ?? image.height ?? null,
    };
    if (key) this.artworkCache.set(key, artwork);
    return artwork;
  }

  setProperty<N extends PlayerPropertyName>(name: N, value: PropertyValues[N]): Promise<PropertyValues[N]> {
    return this.actions.run(() => this.writeProperty(name, value));
  }

  private async writeProperty<N extends PlayerPropertyName>(name: N, value: PropertyValues[N]): Promise<PropertyValues[N]> {
    this.assertConnected();
    const field: PlayerPropertyName = name;
    const checked = value;
    const message = mrpPropertyCommand(field, checked as PropertyValues[typeof field]);
    const reply = await this.exchange.request(createMrpMessage(MrpMessageType.SEND_COMMAND_MESSAGE, message));
    const error = mrpCommandError(`set ${field}`, reply);
    if (error) throw error;
    // The device reports the new value in a later SET_STATE; wait a little for it.
    const matches = (state: NowPlaying) =>
      field === 'position' ? state.position !== null && Math.abs(state.position - (checked as number)) <= 2 : state[field] === checked;
    const confirmed = await this.waitForState(matches, Math.min(this.options.propertyConfirmTimeout ?? MRP_PROPERTY_CONFIRM_MS, this.context.timeout));
    const reported = confirmed[field];
    return (reported ?? checked) as PropertyValues[N];
  }

  async getVolume(): Promise<number | null> {
    this.assertConnected();
    return this.volume.level;
  }

  setVolume(level: number): Promise<number> {
    return this.actions.run(async () => {
      this.assertConnected();
      return this.volume.set(level);
    });
  }

  /** Starts `nowPlaying` events; the current state is delivered first. */
  startPushUpdates(): void {
    if (this.phase === 'closed' || this.pushActive) return;
    this.pushActive = true;
    queueMicrotask(() => {
      if (!this.pushActive || this.phase !== 'connected') return;
      const current = this.derive();
      this.latest = current;
      this.emit('nowPlaying', current.state);
    });
  }

  stopPushUpdates(): void {
    this.pushActive = false;
  }

  turnOn(): Promise<void> {
    return this.sendCommand('turnOn');
  }

  turnOff(): Promise<void> {
    return this.sendCommand('turnOff');
  }

  powerState(): PowerState {
    const count = this.info?.logicalDeviceCount;
    if (count === undefined) return 'unknown';
    return count >= 1 ? 'on' : 'off';
  }

  // -------------------------------------------------------------------------------------

  private assertConnected(): void {
    if (this.phase === 'closed') throw this.exchange.error ?? new ClosedError('the MRP session was closed');
    if (this.phase !== 'connected') throw new ClosedError('the MRP session is not connected (call connect() first)');
  }

  private onPush(message: MrpDecodedMessage): void {
    if (message.type === MrpMessageType.DEVICE_INFO_MESSAGE || message.type === MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE) {
      if (message.payload) this.learnDeviceInfo(message.payload, true);
      return;
    }
    if (this.volume.handle(message)) return;
    if (this.state.handle(message)) {
      this.stateChanged();
      return;
    }
    this.logger.debug(`MRP: ignoring ${message.typeName}`);
  }

  private learnDeviceInfo(update: MrpDeviceInfoMessage, merge: boolean): void {
    const before = this.powerState();
    this.info = merge && this.info ? { ...this.info, ...update } : { ...update };
    this.volume.learnDeviceInfo(this.info);
    const after = this.powerState();
    if (after !== before && this.phase === 'connected') this.emit('power', after);
  }

  private derive(): { state: NowPlaying; at: number; moving: boolean } {
    const at = this.now();
    return { state: this.state.nowPlaying(at), at, moving: this.state.extrapolating() };
  }

  /**
   * After a state message: emit when the derived state really changed. A position that only
   * moved on as the clock extrapolates it is no change (the device did not say anything new).
   */
  private stateChanged(): void {
    const next = this.derive();
    for (const waiter of [...this.stateWaiters]) waiter(next.state);
    const previous = this.latest;
    if (previous && !meaningfulChange(previous, next)) return;
    this.latest = next;
    if (this.pushActive && this.phase === 'connected') this.emit('nowPlaying', next.state);
  }

  private waitForState(predicate: (state: NowPlaying) => boolean, timeout: number): Promise<NowPlaying> {
    const current = this.state.nowPlaying(this.now());
    if (predicate(current)) return Promise.resolve(current);
    return new Promise<NowPlaying>((resolve) => {
      const done = (state: NowPlaying) => {
        clearTimeout(timer);
        this.delays.delete(timer);
        this.stateWaiters.delete(waiter);
        resolve(state);
      };
      const waiter: StateWaiter = (state) => {
        if (predicate(state)) done(state);
      };
      const timer = setTimeout(() => done(this.state.nowPlaying(this.now())), timeout);
      timer.unref();
      this.delays.set(timer, () => done(this.state.nowPlaying(this.now())));
      this.stateWaiters.add(waiter);
    });
  }

  /** A pause that close() cuts short (with ClosedError), so no timer outlives the session. */
  private delay(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.delays.delete(timer);
        resolve();
      }, ms);
      this.delays.set(timer, (error) => {
        clearTimeout(timer);
        this.delays.delete(timer);
        reject(error);
      });
    });
  }

  private releaseWaits(error: Error): void {
    for (const cancel of [...this.delays.values()]) cancel(error);
    this.delays.clear();
    this.stateWaiters.clear();
    this.volume.cancel(error);
    this.actions.close(error);
  }

  /** The connection ended; unless close() did it, a connected session reports the loss. */
  private onClosed(error: AtvError | null): void {
    const wasConnected = this.phase === 'connected';
    this.phase = 'closed';
    this.pushActive = false;
    this.releaseWaits(error ?? new ClosedError('the MRP session was closed'));
    if (wasConnected) this.emit('connectionLost', error ?? new ClosedError('the MRP connection was closed'));
  }
}

/** The reply item carrying artwork: the current item by identifier, else the one at the reply's location. */
function pickArtworkItem(
  queue: { location?: number; contentItems?: MrpContentItem[] } | undefined,
  current: MrpContentItem | undefined,
  location: number,
): MrpContentItem | undefined {
  const items = queue?.contentItems ?? [];
  if (current?.identifier) {
    const same = items.find((i) => i.identifier === current.identifier);
    if (same) return same;
  }
  // We asked for one item starting at the current location; pyatv indexes by the location.
  return items[queue?.location ?? -1] ?? (items.length === 1 ? items[0] : items[location]);
}

function meaningfulChange(
  previous: { state: NowPlaying; at: number; moving: boolean },
  next: { state: NowPlaying; at: number; moving: boolean },
): boolean {
  const fields = changedFields(previous.state, next.state, NOW_PLAYING_FIELDS);
  if (fields.some((f) => f !== 'position')) return true;
  if (fields.length === 0) return previous.moving !== next.moving;
  const before = previous.state.position;
  const after = next.state.position;
  if (before === null || after === null) return true;
  const expected = before + (previous.moving ? (next.at - previous.at) / 1000 : 0);
  // Positions are whole seconds; more than a second off what the clock explains is a seek.
  return Math.abs(after - expected) > 1.5 || previous.moving !== next.moving;
}

const SEND_ERROR_TEXT: Record<number, string> = {
  [MrpSendError.ApplicationNotFound]: 'no app is there to take it',
  [MrpSendError.ConnectionFailed]: 'the device could not reach the app',
  [MrpSendError.Ignored]: 'the app ignored it',
  [MrpSendError.CouldNotLaunchApplication]: 'the app could not be launched',
  [MrpSendError.TimedOut]: 'the app did not answer in time',
  [MrpSendError.OriginDoesNotExist]: 'the player is gone',
  [MrpSendError.InvalidOptions]: 'the app refused its options',
  [MrpSendError.NoCommandHandlers]: 'the app playing does not handle it',
  [MrpSendError.ApplicationNotInstalled]: 'the app is not installed',
  [MrpSendError.NotSupported]: 'the app playing does not support it',
};

const STATUS_TEXT: Record<number, string> = {
  [MrpHandlerReturnStatus.NoSuchContent]: 'there is no such content',
  [MrpHandlerReturnStatus.CommandFailed]: 'the app failed to carry it out',
  [MrpHandlerReturnStatus.NoActionableNowPlayingItem]: 'nothing is playing that it could act on',
  [MrpHandlerReturnStatus.DeviceNotFound]: 'the output device was not found',
  [MrpHandlerReturnStatus.SkipAdProhibited]: 'skipping this ad is not allowed',
  [MrpHandlerReturnStatus.SkipLimitReached]: 'the skip limit is reached',
  [MrpHandlerReturnStatus.AuthenticationFailure]: 'the app needs you to sign in',
  [MrpHandlerReturnStatus.MediaServiceUnavailable]: 'the media service is unavailable',
};

/**
 * The typed error for a command's reply, or null when it succeeded (pyatv: protocols/mrp/messages.py
 * SendCommandResultMessage). A reply that is not a SEND_COMMAND_RESULT (the bare type-0
 * acknowledgement) counts as success unless its envelope carries an error code.
 */
export function mrpCommandError(what: string, reply: MrpDecodedMessage): AtvError | null {
  if (reply.type !== MrpMessageType.SEND_COMMAND_RESULT_MESSAGE) {
    if (reply.errorCode === 0) return null;
    if (reply.errorCode === MrpErrorCode.DeviceNotPaired) {
      return new AuthenticationError(`the device refused ${what}: it only takes commands from paired remotes (pair MRP first)`);
    }
    return new NotSupportedError(`the device refused ${what} (error ${reply.errorCode}${reply.errorDescription ? `: ${reply.errorDescription}` : ''})`);
  }
  const result = (reply as MrpMessageOf<MrpMessageType.SEND_COMMAND_RESULT_MESSAGE>).payload ?? {};
  const sendError = result.sendError ?? result.commandResult?.sendError ?? MrpSendError.NoError;
  // UIKitLegacy (3) is how apps built on the old UIKit remote events report having handled it.
  const failedStatus = [result.handlerReturnStatus, ...(result.commandResult?.statuses ?? []).map((s) => s.statusCode)].find(
    (s) => s !== undefined && s !== MrpHandlerReturnStatus.Success && s !== MrpHandlerReturnStatus.UIKitLegacy,
  );
  if (sendError === MrpSendError.NoError && failedStatus === undefined) return null;
  const names = [
    sendError !== MrpSendError.NoError ? `SendError=${MrpSendError[sendError] ?? sendError}` : null,
    failedStatus !== undefined ? `HandlerReturnStatus=${MrpHandlerReturnStatus[failedStatus] ?? failedStatus}` : null,
  ]
    .filter((n) => n !== null)
    .join(', ');
  const reason =
    (sendError !== MrpSendError.NoError ? SEND_ERROR_TEXT[sendError] : undefined) ??
    (failedStatus !== undefined ? STATUS_TEXT[failedStatus] : undefined) ??
    'the device refused it';
  const message = `${what} failed: ${reason} (${names})`;
  if (sendError === MrpSendError.TimedOut) return new TimeoutError(message);
  if (sendError === MrpSendError.InvalidOptions) return new InvalidArgumentError(message);
  return new NotSupportedError(message);
}

/**
 * An MRP session over MRP's own TCP port (Apple TV 4/4K up to tvOS 14): pair-verify with the
 * context's credentials, encryption, keep-alive and heartbeat.
 */
export function createMrpSession(context: SessionContext, options: MrpTcpSessionOptions = {}): MrpSession {
  if (!context.service.enabled) {
    throw new NotSupportedError(`${context.config.name}: ${context.service.disabledReason ?? 'the MRP service is disabled'}`);
  }
  const transport = new MrpTcpTransport({
    host: context.config.address,
    port: context.service.port,
    timeout: context.timeout,
    credentials: context.credentials,
    logger: context.logger,
    ...(options.maxFrameBytes !== undefined && { maxFrameBytes: options.maxFrameBytes }),
  });
  return new MrpSession(context, transport, options);
}
