/**
 * The Companion `ProtocolSession` (pyatv: protocols/companion/__init__.py and api.py): power
 * with a state the device reports and pushes, apps, user accounts, the on-screen keyboard,
 * the buttons MRP lacks (guide, channels, screensaver, Control Center, Siri) and volume.
 *
 * Connect: pair-verify (Companion is useless unpaired: pyatv does not even try), then the
 * sequence the iOS remote sends (a 2026 capture of it is quoted in the pyatv issue tracker):
 * `_systemInfo` with a non-null, stable `_i` (without it newer tvOS stops pushing power
 * events, pyatv PR #2855), `_sessionStart`, `TVRCSessionStart` (tvOS 26 answers
 * FetchAttentionState only after it; older tvOS has no handler, which is fine), one
 * `_interest` for `_iMC`, `SystemStatus` and `TVSystemStatus`, then `FetchAttentionState`.
 * The touch and text-input sessions (`_touchStart`, `_tiStart`) are what the remote's screen
 * opens: they are started only while the device is on, or when a keyboard call needs one,
 * never while it sleeps (users report TVs woken at night by a reconnecting remote,
 * homebridge-appletv-enhanced #121 and PR #1287). Power is 'unknown' until the device says.
 *
 * Disconnect undoes it (`_interest` deregistration, `_sessionStop` with the combined 64-bit
 * session id, `_touchStop`, `_tiStop`), each briefly waited for: pyatv's fake device keeps one
 * text session for everyone and ignores a `_tiStart` until the previous one was stopped.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { OpackFloat, type OpackObject } from '../../codecs/opack';
import type { CommandName, CommandOptions, InputAction } from '../../device/commands';
import {
  DEFAULT_CLIENT_NAME,
  type Accounts,
  type Apps,
  type Audio,
  type FeatureName,
  type FeatureState,
  type Keyboard,
  type Power,
  type PowerState,
  type ProtocolSession,
  type RemoteControl,
  type SessionCapabilities,
  type SessionContext,
  type SessionEvents,
  type TextFocusState,
  type UserAccount,
} from '../../device/interfaces';
import type { PlayerPropertyName, PropertyValues } from '../../device/properties';
import type { AppInfo } from '../../device/state';
import { AtvError, AuthenticationError, ClosedError, NotSupportedError, ProtocolError, type AtvErrorCode } from '../../errors';
import { parseFullHapCredentials, type HapCredentials } from '../../hap/credentials';
import { hapPairVerify } from '../../hap/pairing';
import type { Logger } from '../../log';
import { emitContained } from '../../support/emit';
import {
  COMPANION_BUTTON_STATE,
  COMPANION_COMMAND_ACTIONS,
  COMPANION_DEFAULT_SKIP_SECONDS,
  COMPANION_HID,
  COMPANION_MEDIA_CONTROL,
  COMPANION_MEDIA_FLAGS,
  COMPANION_SWIPE_MS,
  COMPANION_TOUCH_INTERVAL_MS,
  COMPANION_TOUCH_PHASE,
  COMPANION_TOUCHPAD,
  powerStateOfSystemStatus,
  type CompanionHidButton,
  type TouchPoint,
  type CompanionMediaControl,
} from './commands';
import { CompanionConnection, CompanionRefusal } from './connection';
import { companionNumber, companionString, companionUint64, uint64ForOpack, type CompanionContent } from './messages';
import { readRtiSession, rtiClearTextArchive, rtiInsertTextArchive, type RtiSession } from './rti';
import { SharedAttempt } from '../../support/shared-attempt';

/** How long a held button stays down (pyatv's hold). */
export const COMPANION_HOLD_MS = 1000;
/** How long each message of the disconnect sequence is waited for. */
const GOODBYE_TIMEOUT_MS = 2000;
/** The middle of the touch surface, where a tap goes. */
const CENTRE: TouchPoint = [COMPANION_TOUCHPAD.width / 2, COMPANION_TOUCHPAD.height / 2];
/** The service a remote opens its session with (pyatv's `_srvT`). */
const TV_REMOTE_SERVICE = 'com.apple.tvremoteservices';
/** The events we listen to: media-control flags and the two power-state events. */
export const COMPANION_EVENTS = ['_iMC', 'SystemStatus', 'TVSystemStatus'] as const;

/** A URL or a bare scheme (`netflix:`) opens a URL; anything else is a bundle id (pyatv: support/url.py). */
export function isCompanionUrl(target: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(target);
}

export interface CompanionSessionOptions {
  /** The name the Apple TV sees for us (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** How long a held button stays down, ms (default 1000). */
  holdMs?: number;
}

/**
 * The identity we give in `_systemInfo`, derived from our pairing id so it is the same on
 * every connection (tvOS 18.4 drops remotes whose `_i` changes) without storing anything.
 */
export function companionClientIdentity(credentials: HapCredentials): { id: string; publicId: string } {
  const digest = createHash('sha256').update('atvlink-companion:').update(credentials.clientId).digest();
  const mac = Buffer.from(digest.subarray(6, 12));
  // Locally administered, unicast: never a real vendor's address.
  mac[0] = (mac[0]! | 0x02) & 0xfe;
  return {
    id: digest.subarray(0, 6).toString('hex'),
    publicId: [...mac].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
  };
}

export class CompanionSession
  extends EventEmitter<SessionEvents>
  implements ProtocolSession, Power, Apps, Accounts, Keyboard, RemoteControl, Audio
{
  readonly protocol = 'companion' as const;
  readonly capabilities: SessionCapabilities = {
    power: this,
    apps: this,
    accounts: this,
    keyboard: this,
    remoteControl: this,
    audio: this,
  };
  private readonly context: SessionContext;
  private readonly options: CompanionSessionOptions;
  private readonly logger: Logger;
  private connection: CompanionConnection | null = null;
  private phase: 'idle' | 'connecting' | 'connected' | 'closed' = 'idle';
  private readonly connecting = new SharedAttempt();
  private readonly closing = new AbortController();
  private power: PowerState = 'unknown';
  private mediaFlags: number | null = null;
  private volumeLevel: number | null = null;
  private focus: TextFocusState = 'unknown';
  private localSid = 0;
  private sessionId: bigint | null = null;
  private touchStarted = false;
  /** When the touch session started: `_hidT` events count nanoseconds from it. */
  private touchBase = process.hrtime.bigint();
  private textStarted = false;
  private remoteSessions: Promise<void> | null = null;
  /** Keyboard calls one at a time: each restarts the text session. */
  private keyboardQueue: Promise<unknown> = Promise.resolve();

  constructor(context: SessionContext, options: CompanionSessionOptions = {}) {
    super();
    this.context = context;
    this.options = options;
    this.logger = context.logger;
  }

  override emit<E extends keyof SessionEvents>(event: E, ...args: SessionEvents[E]): boolean {
    return emitContained<SessionEvents, E>(this, event, args, this.logger);
  }

  private get endpoint(): string {
    return `Companion ${this.context.config.address}:${this.context.service.port}`;
  }

  async connect(): Promise<void> {
    if (this.phase === 'closed') throw new ClosedError('this Companion session was closed; create a new one');
    if (this.phase === 'connected') return;
    return this.connecting.run(() => this.establish());
  }

  private async establish(): Promise<void> {
    this.phase = 'connecting';
    if (!this.context.credentials) {
      this.phase = 'closed';
      throw new AuthenticationError(`${this.endpoint}: Companion needs credentials: pair Companion with the Apple TV first`);
    }
    let connection: CompanionConnection | null = null;
    try {
      const credentials = parseFullHapCredentials(this.context.credentials);
      connection = await CompanionConnection.open(
        { host: this.context.config.address, port: this.context.service.port, timeout: this.context.timeout, logger: this.logger },
        this.closing.signal,
      );
      this.connection = connection;
      connection.on('event', (name, content) => this.onEvent(name, content));
      connection.on('closed', (error) => this.onClosed(error));
      const open = connection;
      await hapPairVerify(credentials, open.pairingExchange, (secret) => open.enableEncryption(secret));
      await this.introduce(open, credentials);
    } catch (err) {
      this.phase = 'closed';
      connection?.close();
      throw err;
    }
    if ((this.phase as string) === 'closed') throw new ClosedError('the Companion session was closed while connecting');
    this.phase = 'connected';
    if (this.power !== 'off') this.startRemoteSessions();
  }

  /** The connect sequence after pair-verify (see the file header). */
  private async introduce(connection: CompanionConnection, credentials: HapCredentials): Promise<void> {
    const identity = companionClientIdentity(credentials);
    await connection.request('_systemInfo', {
      _bf: 0,
      _cf: 512,
      _clFl: 128,
      _i: identity.id,
      // Our pairing id, as bytes (what pyatv sends).
      _idsID: credentials.clientId,
      _pubID: identity.publicId,
      _sf: 256,
      _sv: '170.18',
      model: 'iPhone10,6',
      name: this.options.name ?? DEFAULT_CLIENT_NAME,
    });
    this.localSid = Math.floor(Math.random() * 0x100000000);
    const started = await connection.request('_sessionStart', { _srvT: TV_REMOTE_SERVICE, _sid: this.localSid });
    const remoteSid = companionUint64(started.content.get('_sid'));
    if (remoteSid === null) throw new ProtocolError(`${this.endpoint} started a session without giving its _sid`);
    this.sessionId = (BigInt.asUintN(32, remoteSid) << 32n) | BigInt(this.localSid);
    await this.tolerate('TVRCSessionStart', () => connection.request('TVRCSessionStart', { ProtocolVersionKey: '1.2' }));
    // Interest first, then the state: no change can fall between the two, and once the
    // answer is here the device has read our interest (the stream is ordered).
    connection.event('_interest', { _regEvents: [...COMPANION_EVENTS] });
    await this.tolerate('FetchAttentionState', async () => {
      const reply = await connection.request('FetchAttentionState', {});
      this.setPower(powerStateOfSystemStatus(companionNumber(reply.content.get('state'))), false);
    });
  }

  /** Runs a step older tvOS may refuse; only a dead connection fails the connect. */
  private async tolerate(what: string, step: () => Promise<unknown>): Promise<void> {
    try {
      await step();
    } catch (err) {
      const fatal: readonly AtvErrorCode[] = ['CLOSED', 'CONNECTION_LOST'];
      if (!(err instanceof AtvError) || fatal.includes(err.code)) throw err;
      this.logger.debug(`${this.endpoint}: ${what} failed (${err.message}); going on without it`);
    }
  }

  /** Opens the touch and text-input sessions (once), in the background. */
  private startRemoteSessions(): Promise<void> {
    this.remoteSessions ??= this.openRemoteSessions().catch((err: unknown) => {
      this.remoteSessions = null;
      this.logger.debug(`${this.endpoint}: touch/text sessions: ${err instanceof Error ? err.message : String(err)}`);
    });
    return this.remoteSessions;
  }

  private async openRemoteSessions(): Promise<void> {
    const connection = this.live();
    if (!this.touchStarted) {
      // Counted as started once asked for: a disconnect must stop it even if the answer is still on its way.
      this.touchStarted = true;
      this.touchBase = process.hrtime.bigint();
      await connection.request('_touchStart', {
        _height: new OpackFloat(COMPANION_TOUCHPAD.height),
        _tFl: 0,
        _width: new OpackFloat(COMPANION_TOUCHPAD.width),
      });
    }
    if (!this.textStarted) await this.keyboard(() => this.textSession(false));
  }

  /** Ends the session: the disconnect sequence (briefly), then the socket. Safe to call twice. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    const wasConnected = this.phase === 'connected';
    this.phase = 'closed';
    this.closing.abort();
    const connection = this.connection;
    if (wasConnected && connection?.isOpen) {
      await this.goodbye(connection).catch((err: unknown) =>
        this.logger.debug(`${this.endpoint}: disconnect sequence: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    connection?.close();
  }

  private async goodbye(connection: CompanionConnection): Promise<void> {
    // Sessions asked for just before the close are answered first, then stopped (the device
    // may keep a text session for everyone: pyatv's fake ignores the next _tiStart otherwise).
    const pending = this.remoteSessions;
    if (pending) await Promise.race([pending, new Promise((resolve) => setTimeout(resolve, GOODBYE_TIMEOUT_MS).unref())]);
    connection.event('_interest', { _deregEvents: [...COMPANION_EVENTS] });
    const steps: [string, OpackObject][] = [];
    if (this.sessionId !== null) steps.push(['_sessionStop', { _srvT: TV_REMOTE_SERVICE, _sid: uint64ForOpack(this.sessionId) }]);
    if (this.touchStarted) steps.push(['_touchStop', { _i: 1 }]);
    if (this.textStarted) steps.push(['_tiStop', {}]);
    for (const [name, content] of steps) {
      await connection.request(name, content, Math.min(GOODBYE_TIMEOUT_MS, this.context.timeout)).catch((err: unknown) => {
        this.logger.debug(`${this.endpoint}: ${name} on disconnect: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  }

  feature(name: FeatureName): FeatureState {
    switch (name) {
      case 'powerState':
        return this.power === 'unknown' ? 'unavailable' : 'available';
      case 'appList':
      case 'launchApp':
      case 'accountList':
      case 'switchAccount':
        return 'available';
      case 'textInput':
        return this.focus === 'focused' ? 'available' : this.focus === 'unfocused' ? 'unavailable' : 'unknown';
      case 'volume':
      case 'setVolume':
        return this.flagFeature(COMPANION_MEDIA_FLAGS.volume);
      case 'nowPlaying':
      case 'pushUpdates':
      case 'artwork':
      case 'setPosition':
      case 'setShuffle':
      case 'setRepeat':
      case 'playUrl':
        return 'unsupported';
    }
    const action = COMPANION_COMMAND_ACTIONS[name];
    switch (action.kind) {
      case 'button':
      case 'power':
      case 'swipe':
      case 'tap':
        return 'available';
      case 'media':
      case 'skip':
        return this.flagFeature(action.flag);
      case 'unsupported':
        return 'unsupported';
    }
  }

  /** Available when the device's media-control flags (`_iMC`) have the bit; unknown before it said. */
  private flagFeature(flag: number): FeatureState {
    if (this.mediaFlags === null) return 'unknown';
    return (this.mediaFlags & flag) !== 0 ? 'available' : 'unavailable';
  }

  // -------------------------------------------------------------------------------------
  // Remote control, power, audio

  async sendCommand(command: CommandName, options: CommandOptions = {}): Promise<void> {
    const action = COMPANION_COMMAND_ACTIONS[command];
    this.assertConnected();
    switch (action.kind) {
      case 'button':
        await this.pressButton(action.button, options.action ?? 'single');
        return;
      case 'media':
        await this.mediaControl(action.control);
        return;
      case 'skip': {
        const seconds = options.interval ?? COMPANION_DEFAULT_SKIP_SECONDS;
        // A float: the skip is a signed number of seconds (pyatv notes negative integers trip its OPACK).
        await this.mediaControl('skipBy', { _skpS: new OpackFloat(action.sign * seconds) });
        return;
      }
      case 'power':
        await this.powerButton(action.button);
        return;
      case 'swipe':
        await this.touch(action.from, action.to, COMPANION_SWIPE_MS);
        return;
      case 'tap':
        await this.touch(CENTRE, CENTRE, 0);
        return;
      case 'unsupported':
        throw new NotSupportedError(`Companion cannot send ${command}`);
    }
  }

  /**
   * A finger on the touch surface (pyatv: CompanionAPI.swipe): press at `from`, hold events
   * every 16 ms on the way, release at `to`. The events get no answer; a FetchAttentionState
   * behind them returns once the device has read them (the stream is ordered).
   */
  private async touch(from: TouchPoint, to: TouchPoint, ms: number): Promise<void> {
    await this.startRemoteSessions();
    const connection = this.live();
    const send = (point: TouchPoint, phase: keyof typeof COMPANION_TOUCH_PHASE): void => {
      const ns = process.hrtime.bigint() - this.touchBase;
      connection.event('_hidT', {
        _ns: ns <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ns) : ns,
        _tFg: 1,
        _cx: Math.round(point[0]),
        _tPh: COMPANION_TOUCH_PHASE[phase],
        _cy: Math.round(point[1]),
      });
    };
    send(from, 'press');
    const steps = Math.floor(ms / COMPANION_TOUCH_INTERVAL_MS);
    for (let i = 1; i < steps; i++) {
      await this.delay(COMPANION_TOUCH_INTERVAL_MS);
      send([from[0] + ((to[0] - from[0]) * i) / steps, from[1] + ((to[1] - from[1]) * i) / steps], 'hold');
    }
    if (steps > 0) await this.delay(COMPANION_TOUCH_INTERVAL_MS);
    send(to, 'release');
    await this.tolerate('a flush after touch events', () => connection.request('FetchAttentionState', {}));
  }

  async setProperty<N extends PlayerPropertyName>(name: N): Promise<PropertyValues[N]> {
    throw new NotSupportedError(`Companion cannot set ${name}`);
  }

  /** A button press: `_hidC` down then up (a hold keeps it down for holdMs), each answered. */
  private async pressButton(button: CompanionHidButton, action: InputAction): Promise<void> {
    const press = async (hold: boolean): Promise<void> => {
      await this.hid(button, 'down');
      if (hold) await this.delay(this.options.holdMs ?? COMPANION_HOLD_MS);
      await this.hid(button, 'up');
    };
    await press(action === 'hold');
    if (action === 'double') await press(false);
  }

  private async hid(button: CompanionHidButton, state: keyof typeof COMPANION_BUTTON_STATE): Promise<void> {
    await this.live().request('_hidC', { _hBtS: COMPANION_BUTTON_STATE[state], _hidC: COMPANION_HID[button] });
  }

  /** Sleep and Wake go as one button-up event each (pyatv's turn_off/turn_on, and the iOS remote). */
  private async powerButton(button: 'sleep' | 'wake'): Promise<void> {
    await this.hid(button, 'up');
  }

  private async mediaControl(control: CompanionMediaControl, extra: OpackObject = {}): Promise<CompanionContent> {
    const reply = await this.live().request('_mcc', { _mcc: COMPANION_MEDIA_CONTROL[control], ...extra });
    return reply.content;
  }

  turnOn(): Promise<void> {
    return this.sendCommand('turnOn');
  }

  turnOff(): Promise<void> {
    return this.sendCommand('turnOff');
  }

  powerState(): PowerState {
    return this.power;
  }

  async getVolume(): Promise<number | null> {
    this.assertConnected();
    if (this.mediaFlags !== null && (this.mediaFlags & COMPANION_MEDIA_FLAGS.volume) === 0) return null;
    return this.readVolume();
  }

  async setVolume(level: number): Promise<number> {
    this.assertConnected();
    await this.mediaControl('setVolume', { _vol: new OpackFloat(level / 100) });
    return (await this.readVolume()) ?? level;
  }

  /** GetVolume (`_vol` 0..1) as a percentage with two decimals; emits 'volume' when it changed. */
  private async readVolume(): Promise<number | null> {
    const vol = companionNumber((await this.mediaControl('getVolume')).get('_vol'));
    if (vol === null || !Number.isFinite(vol)) return null;
    const level = Math.round(Math.min(1, Math.max(0, vol)) * 10_000) / 100;
    if (level !== this.volumeLevel) {
      this.volumeLevel = level;
      if (this.phase === 'connected') this.emit('volume', level);
    }
    return level;
  }

  // -------------------------------------------------------------------------------------
  // Apps and accounts

  async appList(): Promise<AppInfo[]> {
    const reply = await this.live().request('FetchLaunchableApplicationsEvent', {});
    return namedEntries(reply.content).map(([bundleId, name]) => ({ name, bundleId }));
  }

  async launchApp(bundleIdOrUrl: string): Promise<void> {
    const key = isCompanionUrl(bundleIdOrUrl) ? '_urlS' : '_bundleID';
    await this.asked(`launch ${bundleIdOrUrl}`, () => this.live().request('_launchApp', { [key]: bundleIdOrUrl }));
  }

  /** Companion does not say which app is in the foreground; the facade asks MRP for that. */
  currentApp(): AppInfo | null {
    return null;
  }

  async accountList(): Promise<UserAccount[]> {
    const reply = await this.live().request('FetchUserAccountsEvent', {});
    return namedEntries(reply.content).map(([id, name]) => ({ id, name }));
  }

  async switchAccount(id: string): Promise<void> {
    await this.asked(`switch to account ${id}`, () => this.live().request('SwitchUserAccountEvent', { SwitchAccountID: id }));
  }

  /** A request the user made; the device saying no (an app not installed) is NotSupported, in its words. */
  private async asked<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (err instanceof CompanionRefusal) {
        throw new NotSupportedError(`${this.context.config.name} refused to ${what}: ${err.deviceMessage}`, { cause: err });
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------
  // Keyboard

  textFocusState(): TextFocusState {
    return this.focus;
  }

  textGet(): Promise<string | null> {
    return this.keyboard(async () => {
      const session = await this.textSession(true);
      return session ? session.text ?? '' : null;
    });
  }

  textSet(text: string): Promise<void> {
    return this.edit(text, true);
  }

  textAppend(text: string): Promise<void> {
    return this.edit(text, false);
  }

  textClear(): Promise<void> {
    return this.edit('', true);
  }

  /** An edit of the focused field: a fresh text session, then `_tiC` events (clear, then type). */
  private edit(text: string, clear: boolean): Promise<void> {
    return this.keyboard(async () => {
      const session = await this.textSession(true);
      if (!session) throw new NotSupportedError(`${this.context.config.name}: no text field has the focus, so there is nothing to type into`);
      const connection = this.live();
      if (clear) connection.event('_tiC', { _tiV: 1, _tiD: rtiClearTextArchive(session.sessionUuid) });
      if (text !== '') connection.event('_tiC', { _tiV: 1, _tiD: rtiInsertTextArchive(session.sessionUuid, text) });
    });
  }

  private keyboard<T>(job: () => Promise<T>): Promise<T> {
    this.assertConnected();
    const run = this.keyboardQueue.then(job, job);
    this.keyboardQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * (Re)starts the text-input session and reads the device's answer: its `_tiD` describes
   * the focused field, none means no field has the focus. `restart` stops the current one
   * first, so the session and its text are current (pyatv does the same per call).
   */
  private async textSession(restart: boolean): Promise<RtiSession | null> {
    const connection = this.live();
    if (restart && this.textStarted) {
      this.textStarted = false;
      await connection.request('_tiStop', {});
    }
    this.textStarted = true;
    const reply = await connection.request('_tiStart', {});
    return this.learnTextSession(reply.content);
  }

  private learnTextSession(content: CompanionContent): RtiSession | null {
    const data = content.get('_tiD');
    let session: RtiSession | null = null;
    if (data instanceof Uint8Array) {
      try {
        session = readRtiSession(data);
      } catch (err) {
        this.logger.debug(`${this.endpoint}: unreadable text-input session (${(err as Error).message})`);
      }
    }
    this.setFocus(session ? 'focused' : 'unfocused');
    return session;
  }

  // -------------------------------------------------------------------------------------

  private onEvent(name: string, content: CompanionContent): void {
    switch (name) {
      case 'SystemStatus':
      case 'TVSystemStatus':
        this.setPower(powerStateOfSystemStatus(companionNumber(content.get('state'))), true);
        return;
      case '_iMC': {
        const flags = companionNumber(content.get('_mcF'));
        if (flags === null) return;
        this.mediaFlags = flags;
        if (flags & COMPANION_MEDIA_FLAGS.volume && this.phase === 'connected') {
          this.readVolume().catch((err: unknown) => this.logger.debug(`${this.endpoint}: reading the volume: ${(err as Error).message}`));
        }
        return;
      }
      case '_tiStarted':
        this.learnTextSession(content);
        return;
      case '_tiStopped':
        this.setFocus('unfocused');
        return;
      default:
        this.logger.debug(`${this.endpoint}: event ${name} ignored`);
    }
  }

  private setPower(state: PowerState, pushed: boolean): void {
    if (state === 'unknown' && pushed) return;
    const before = this.power;
    this.power = state;
    if (state === before) return;
    if (this.phase === 'connected') {
      this.emit('power', state);
      // The device woke up: now the remote's touch and text sessions may be opened.
      if (state === 'on') void this.startRemoteSessions();
    }
  }

  private setFocus(state: TextFocusState): void {
    if (state === this.focus) return;
    this.focus = state;
    if (this.phase === 'connected') this.emit('textFocus', state);
  }

  private assertConnected(): void {
    if (this.phase === 'closed') throw this.connection?.error ?? new ClosedError('the Companion session was closed');
    if (this.phase !== 'connected') throw new ClosedError('the Companion session is not connected (call connect() first)');
  }

  private live(): CompanionConnection {
    this.assertConnected();
    return this.connection!;
  }

  /** A pause that close() cuts short (with ClosedError). */
  private delay(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const signal = this.closing.signal;
      if (signal.aborted) {
        reject(new ClosedError('the Companion session was closed'));
        return;
      }
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new ClosedError('the Companion session was closed'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private onClosed(error: AtvError | null): void {
    const wasConnected = this.phase === 'connected';
    this.phase = 'closed';
    this.closing.abort();
    if (wasConnected) this.emit('connectionLost', error ?? new ClosedError('the Companion connection was closed'));
  }
}

/** A `{key: name}` reply (apps, accounts) as pairs, skipping anything that is not text. */
function namedEntries(content: CompanionContent): [string, string][] {
  const entries: [string, string][] = [];
  for (const [key, value] of content) {
    const name = companionString(value);
    if (name !== null) entries.push([key, name]);
  }
  return entries;
}

/** A Companion session to the context's device (needs Companion credentials). */
export function createCompanionSession(context: SessionContext, options: CompanionSessionOptions = {}): CompanionSession {
  return new CompanionSession(context, options);
}
