/**
 * The DMAP/DACP `ProtocolSession`: THE command table mapped to DACP requests (in one place,
 * `DMAP_COMMAND_ACTIONS`), now-playing from `playstatusupdate`, artwork, properties, push
 * updates, and feature availability as pyatv's DmapFeatures defines it.
 *
 * DMAP has no notion of a button being pressed twice or held: `double` sends the command
 * twice, `hold` sends it once.
 *
 * Everything that acts on the device (commands, property writes) goes through one
 * `SerialQueue`: an arrow is seven touch requests that the device reads as one swipe, and
 * two swipes interleaved on the wire read as a different key (or none).
 *
 * A device that stops answering is noticed by a `LivenessMonitor` (the library-wide bound,
 * LIVENESS_TIMEOUT_MS): every answer counts, and after a quiet spell one `playstatusupdate`
 * read (what the Remote app reads; no command, so it turns nothing on) must be answered.
 */
import { EventEmitter } from 'node:events';
import type { DmapNode } from '../../codecs/dmap';
import { isCommandName, type CommandName, type CommandOptions } from '../../device/commands';
import type {
  Artwork,
  ArtworkRequest,
  Audio,
  FeatureName,
  FeatureState,
  Metadata,
  ProtocolSession,
  RemoteControl,
  SessionCapabilities,
  SessionContext,
  SessionEvents,
  SessionFactory,
} from '../../device/interfaces';
import type { PlayerPropertyName, PropertyValues } from '../../device/properties';
import type { NowPlaying, RepeatState, ShuffleState } from '../../device/state';
import { ClosedError, ConnectionLostError, NotSupportedError } from '../../errors';
import type { Logger } from '../../log';
import { emitContained } from '../../support/emit';
import { LivenessMonitor, type LivenessOptions } from '../../support/liveness';
import { SerialQueue } from '../../support/serial-queue';
import { dmapNumber, findDmap } from '../../codecs/dmap';
import { DacpClient, type DacpArrow, type DacpButton, type DacpPrompt } from './client';
import { DmapPushUpdater, type DmapPushOptions } from './push';
import { hasPlaystatusTag, nowPlayingFromPlaystatus, volumeControllable } from './state';

export type DmapAction =
  | { readonly kind: 'button'; readonly cmd: DacpButton }
  | { readonly kind: 'prompt'; readonly cmd: DacpPrompt }
  | { readonly kind: 'arrow'; readonly direction: DacpArrow }
  /** Emulated by moving the position (DMAP has no skip request; pyatv does the same). */
  | { readonly kind: 'skip'; readonly sign: 1 | -1 }
  | { readonly kind: 'unsupported' };

/** Every command of THE command table and what DMAP does for it. */
export const DMAP_COMMAND_ACTIONS: { readonly [C in CommandName]: DmapAction } = {
  play: { kind: 'button', cmd: 'play' },
  pause: { kind: 'button', cmd: 'pause' },
  playPause: { kind: 'button', cmd: 'playpause' },
  stop: { kind: 'button', cmd: 'stop' },
  next: { kind: 'button', cmd: 'nextitem' },
  previous: { kind: 'button', cmd: 'previtem' },
  skipForward: { kind: 'skip', sign: 1 },
  skipBackward: { kind: 'skip', sign: -1 },
  up: { kind: 'arrow', direction: 'up' },
  down: { kind: 'arrow', direction: 'down' },
  left: { kind: 'arrow', direction: 'left' },
  right: { kind: 'arrow', direction: 'right' },
  select: { kind: 'prompt', cmd: 'select' },
  menu: { kind: 'prompt', cmd: 'menu' },
  topMenu: { kind: 'prompt', cmd: 'topmenu' },
  home: { kind: 'unsupported' },
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
  volumeUp: { kind: 'button', cmd: 'volumeup' },
  volumeDown: { kind: 'button', cmd: 'volumedown' },
  turnOn: { kind: 'unsupported' },
  turnOff: { kind: 'unsupported' },
};

/** Skip interval when the caller gives none (pyatv's). */
export const DMAP_SKIP_INTERVAL = 10;

const SHUFFLE_VALUE: { readonly [S in ShuffleState]: 0 | 1 } = { off: 0, songs: 1, albums: 1 };
const REPEAT_VALUE: { readonly [R in RepeatState]: 0 | 1 | 2 } = { off: 0, track: 1, all: 2 };

export interface DmapSessionOptions {
  /** Seconds skipped by skipForward/skipBackward without an interval (default 10). */
  skipInterval?: number;
  /** Back-off of the push long poll. */
  push?: Omit<DmapPushOptions, 'logger'>;
  /** Largest accepted response body in bytes (default 16 MiB). */
  maxBodySize?: number;
  /** Shorter liveness bounds than the library's (tests). */
  liveness?: Pick<LivenessOptions, 'timeout' | 'probeAfter'>;
}

export class DmapSession extends EventEmitter<SessionEvents> implements ProtocolSession, RemoteControl, Metadata, Audio {
  readonly protocol = 'dmap' as const;
  readonly capabilities: SessionCapabilities = { remoteControl: this, metadata: this, audio: this };
  readonly client: DacpClient;
  private readonly push: DmapPushUpdater;
  private readonly skipInterval: number;
  private latest: DmapNode[] | null = null;
  private volume: number | null = null;
  private closed = false;
  private readonly logger: Logger;
  /** Commands and property writes, one at a time, in call order. */
  private readonly actions = new SerialQueue();
  private readonly liveness: LivenessMonitor;
  private lost = false;

  constructor(context: SessionContext, options: DmapSessionOptions = {}) {
    super();
    this.logger = context.logger;
    this.skipInterval = options.skipInterval ?? DMAP_SKIP_INTERVAL;
    this.client = new DacpClient({
      host: context.config.address,
      port: context.service.port,
      credentials: context.credentials ?? context.service.credentials,
      timeout: context.timeout,
      logger: context.logger,
      onAnswer: () => this.liveness.heard(),
      ...(options.maxBodySize !== undefined ? { maxBodySize: options.maxBodySize } : {}),
    });
    this.liveness = new LivenessMonitor({
      ...options.liveness,
      probe: (signal) =>
        this.client.playStatus(0, { signal }).then((nodes) => {
          this.latest = nodes;
        }),
      onLost: (silentMs) =>
        this.connectionLost(
          new ConnectionLostError(`${this.client.endpoint} stopped answering: nothing from it for ${Math.round(silentMs / 1000)} s`),
        ),
    });
    this.push = new DmapPushUpdater(this.client, { ...options.push, logger: context.logger });
    this.push.on('playstatus', (nodes) => {
      this.latest = nodes;
      // A playstatus update carries no volume, but a volume change on the device ends the
      // long poll too: read it again (as Apple's Remote app does), once it is known to be
      // readable, so a volume changed elsewhere reaches the 'volume' listeners.
      if (this.volume !== null && !this.closed && !this.lost) {
        this.actions.run(() => this.readVolume()).catch((err: unknown) => this.logger.debug(`DMAP: reading the volume failed: ${(err as Error).message}`));
      }
    });
    this.push.on('update', (state) => this.emit('nowPlaying', state));
    this.push.on('pushError', (error) => this.emit('pushError', error));
    this.push.on('connectionLost', (error) => this.connectionLost(error));
  }

  /** The contract: a lost session is unusable; free its sockets now, say so once. */
  private connectionLost(error: Error): void {
    if (this.lost || this.closed) return;
    this.lost = true;
    this.liveness.stop();
    this.actions.close(error);
    void this.push.stop();
    void this.client.close();
    this.emit('connectionLost', error);
  }

  /**
   * Events come from the push loop and from volume reads: a listener that throws is logged
   * and cannot break the loop, fail the caller's request or starve the other listeners.
   */
  override emit<E extends keyof SessionEvents>(event: E, ...args: SessionEvents[E]): boolean {
    return emitContained<SessionEvents, E>(this, event, args, this.logger);
  }

  /** Logs in and reads the play status once (so `feature()` can answer). */
  async connect(): Promise<void> {
    await this.client.login();
    try {
      this.latest = await this.client.playStatus(0);
    } catch (err) {
      if (!(err instanceof NotSupportedError)) throw err;
    }
    if (!this.closed) this.liveness.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.liveness.stop();
    this.actions.close(new ClosedError('the DMAP session was closed'));
    const stopped = this.push.stop();
    await this.client.close();
    await stopped;
  }

  feature(name: FeatureName): FeatureState {
    switch (name) {
      case 'nowPlaying':
        // pyatv keys metadata availability on the tags of the latest cmst (title on caps).
        if (!this.latest) return 'unknown';
        return hasPlaystatusTag(this.latest, 'caps') ? 'available' : 'unavailable';
      case 'pushUpdates':
        return 'available';
      case 'artwork':
      case 'setPosition':
      case 'setShuffle':
      case 'setRepeat':
        return 'unknown';
      case 'volume':
        // Read with getproperty dmcp.volume: works on OwnTone/iTunes, unverified on Apple TV.
        return this.volume !== null ? 'available' : 'unknown';
      case 'setVolume':
        return 'unknown';
    }
    // Features of capabilities DMAP does not offer are never asked.
    if (!isCommandName(name)) return 'unsupported';
    const action = DMAP_COMMAND_ACTIONS[name];
    switch (action.kind) {
      case 'unsupported':
        return 'unsupported';
      case 'prompt':
      case 'arrow':
        return 'available';
      case 'skip':
        return 'unknown';
      case 'button':
        if (action.cmd === 'volumeup' || action.cmd === 'volumedown') {
          return this.latest && volumeControllable(this.latest) === true ? 'available' : 'unavailable';
        }
        // DMAP cannot tell whether the player accepts a transport command right now.
        return 'unknown';
    }
  }

  async sendCommand(command: CommandName, options: CommandOptions = {}): Promise<void> {
    const action = DMAP_COMMAND_ACTIONS[command];
    if (action.kind === 'unsupported') throw new NotSupportedError(`DMAP cannot send ${command}; pair MRP or Companion for it`);
    return this.actions.run(() => this.perform(action, options));
  }

  private async perform(action: Exclude<DmapAction, { kind: 'unsupported' }>, options: CommandOptions): Promise<void> {
    const times = options.action === 'double' ? 2 : 1;
    switch (action.kind) {
      case 'button':
        for (let i = 0; i < times; i++) await this.client.button(action.cmd);
        return;
      case 'prompt':
        for (let i = 0; i < times; i++) await this.client.prompt(action.cmd);
        return;
      case 'arrow':
        for (let i = 0; i < times; i++) await this.client.arrow(action.direction);
        return;
      case 'skip':
        await this.skip(action.sign, options.interval ?? this.skipInterval);
        return;
    }
  }

  private async skip(sign: 1 | -1, interval: number): Promise<void> {
    const state = await this.nowPlaying();
    if (state.position === null) throw new NotSupportedError('cannot skip: the device reports no position for what is playing');
    let target = Math.max(0, state.position + sign * interval);
    if (state.totalTime !== null) target = Math.min(target, state.totalTime);
    await this.client.setProperty('dacp.playingtime', Math.round(target * 1000));
  }

  async nowPlaying(): Promise<NowPlaying> {
    const nodes = await this.client.playStatus(0);
    this.latest = nodes;
    return nowPlayingFromPlaystatus(nodes);
  }

  artwork(request: ArtworkRequest = {}): Promise<Artwork | null> {
    return this.client.artwork(request.width ?? 0, request.height ?? 0);
  }

  setProperty<N extends PlayerPropertyName>(name: N, value: PropertyValues[N]): Promise<PropertyValues[N]> {
    return this.actions.run(() => this.writeProperty(name, value));
  }

  private async writeProperty<N extends PlayerPropertyName>(name: N, value: PropertyValues[N]): Promise<PropertyValues[N]> {
    switch (name) {
      case 'position':
        await this.client.setProperty('dacp.playingtime', Math.round((value as number) * 1000));
        break;
      case 'shuffle':
        await this.client.setProperty('dacp.shufflestate', SHUFFLE_VALUE[value as ShuffleState]);
        break;
      case 'repeat':
        await this.client.setProperty('dacp.repeatstate', REPEAT_VALUE[value as RepeatState]);
        break;
    }
    // position, shuffle and repeat are now-playing fields of the same names.
    const after = (await this.nowPlaying())[name] ?? value;
    return after as PropertyValues[N];
  }

  setVolume(level: number): Promise<number> {
    return this.actions.run(async () => {
      await this.client.setProperty('dmcp.volume', level);
      // Not every server answers getproperty; then the value we set is the best we know.
      const reported = await this.readVolume().catch((err: unknown) => {
        if (err instanceof NotSupportedError) return null;
        throw err;
      });
      if (reported === null) this.learnVolume(level);
      return reported ?? level;
    });
  }

  getVolume(): Promise<number | null> {
    return this.readVolume();
  }

  private async readVolume(): Promise<number | null> {
    const nodes = await this.client.getProperty(['dmcp.volume']);
    const level = findDmap(nodes, 'cmgt', 'cmvo') ? dmapNumber(nodes, 'cmgt', 'cmvo') ?? null : null;
    if (level !== null) this.learnVolume(level);
    return level;
  }

  private learnVolume(level: number): void {
    if (this.volume === level) return;
    this.volume = level;
    this.emit('volume', level);
  }

  startPushUpdates(): void {
    if (this.closed) return;
    this.push.start();
  }

  stopPushUpdates(): void {
    void this.push.stop();
  }

  /** The latest raw playstatus (`cmst` tree), for diagnostics. */
  get playstatus(): readonly DmapNode[] | null {
    return this.latest;
  }
}

export const createDmapSession: SessionFactory = (context) => new DmapSession(context);
