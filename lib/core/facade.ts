/**
 * The device facade: one protocol-independent API over every protocol session a device has.
 * Each call needs one capability (remote control, metadata, audio, power, apps, accounts,
 * keyboard, stream) and is relayed to the best session offering it: the first by that
 * capability's priority (pyatv's `core/facade.py`: MRP first, Companion first for power)
 * that says the feature is `available`, else one that does not rule it out. Sessions come
 * from the protocol table, so adding a protocol never touches the callers (CLI, nodes).
 *
 * Arguments are checked here, where they enter; the sessions trust them.
 */
import { EventEmitter } from 'node:events';
import {
  AtvError,
  AuthenticationError,
  ClosedError,
  FeatureUnavailableError,
  InvalidArgumentError,
  NoUsableProtocolError,
  UnreachableError,
} from '../errors';
import { silentLogger, type Logger } from '../log';
import { emitContained } from '../support/emit';
import { checkCommand, COMMANDS, isPowerCommand, type CommandOptions, type CommandRequest } from '../device/commands';
import type {
  AppInfo,
  NowPlaying,
} from '../device/state';
import {
  ARTWORK_MAX_EDGE,
  FEATURES,
  isArtworkEdge,
  type Artwork,
  type ArtworkRequest,
  type Capability,
  type CapabilityMap,
  type Credentials,
  type DeviceConfig,
  type FeatureName,
  type FeatureState,
  type PlayUrlOptions,
  type PowerState,
  type Protocol,
  type ProtocolSession,
  type SessionEvents,
  type SessionFactory,
  type TextFocusState,
  type UserAccount,
} from '../device/interfaces';
import { checkProperty, checkPropertyName, type PropertyName, type PropertyRequest, type PropertyValues } from '../device/properties';
import { PROTOCOL_TABLE, protocolDescriptor } from '../protocols/table';
import { SharedAttempt } from '../support/shared-attempt';

/** Relay order for most capabilities (pyatv's default priorities). */
export const DEFAULT_PRIORITIES: readonly Protocol[] = ['mrp', 'dmap', 'companion', 'airplay', 'raop'];
/** Power is better served by Companion (a pushed state, no phantom wake-ups). */
export const POWER_PRIORITIES: readonly Protocol[] = ['companion', 'mrp', 'dmap', 'airplay', 'raop'];

/** The relay order of each capability. */
export const CAPABILITY_PRIORITIES: { readonly [C in Capability]: readonly Protocol[] } = {
  remoteControl: DEFAULT_PRIORITIES,
  metadata: DEFAULT_PRIORITIES,
  audio: DEFAULT_PRIORITIES,
  power: POWER_PRIORITIES,
  apps: DEFAULT_PRIORITIES,
  accounts: DEFAULT_PRIORITIES,
  keyboard: DEFAULT_PRIORITIES,
  stream: ['airplay', 'raop', 'mrp', 'dmap', 'companion'],
};

/** The capability each feature belongs to. */
const FEATURE_CAPABILITY: { readonly [F in (typeof FEATURES)[number]]: Capability } = {
  nowPlaying: 'metadata',
  pushUpdates: 'metadata',
  artwork: 'metadata',
  setPosition: 'remoteControl',
  setShuffle: 'remoteControl',
  setRepeat: 'remoteControl',
  volume: 'audio',
  setVolume: 'audio',
  powerState: 'power',
  appList: 'apps',
  launchApp: 'apps',
  accountList: 'accounts',
  switchAccount: 'accounts',
  textInput: 'keyboard',
  playUrl: 'stream',
};

function capabilityOf(feature: FeatureName): Capability {
  if ((FEATURES as readonly string[]).includes(feature)) return FEATURE_CAPABILITY[feature as (typeof FEATURES)[number]];
  return COMMANDS.some((c) => c.name === feature && c.group === 'power') ? 'power' : 'remoteControl';
}

/** Which feature guards each settable property. */
const PROPERTY_FEATURE: { readonly [N in PropertyName]: FeatureName } = {
  position: 'setPosition',
  shuffle: 'setShuffle',
  repeat: 'setRepeat',
  volume: 'setVolume',
};

export interface DeviceOptions {
  /** Credentials per protocol; a service's own (Home Sharing) credentials are the fallback. */
  credentials?: Credentials;
  /** Only use these protocols (default: every protocol the device offers and we speak). */
  protocols?: readonly Protocol[];
  /** Per-request timeout in ms (default 10 000). */
  timeout?: number;
  logger?: Logger;
  /** The protocol implementations (default: the protocol table's). */
  factories?: Partial<Record<Protocol, SessionFactory>>;
}

/** The session factories of the protocol table. */
function tableFactories(): Partial<Record<Protocol, SessionFactory>> {
  const factories: Partial<Record<Protocol, SessionFactory>> = {};
  for (const d of PROTOCOL_TABLE) if (d.createSession) factories[d.protocol] = d.createSession;
  return factories;
}

export interface DeviceEvents extends SessionEvents {
  /** The device was closed by `close()` or after a lost connection. */
  closed: [];
}

const SEVERITY: Record<string, number> = { AUTH: 5, INVALID_ARGUMENT: 4, PAIRING: 4, PROTOCOL: 3, TIMEOUT: 2, UNREACHABLE: 1 };

export class Device extends EventEmitter {
  readonly config: DeviceConfig;
  private readonly options: DeviceOptions;
  private readonly logger: Logger;
  private sessions: ProtocolSession[] = [];
  private pushSession: ProtocolSession | null = null;
  private latest: NowPlaying | null = null;
  private state: 'idle' | 'connecting' | 'connected' | 'closed' = 'idle';
  /** Sessions whose connect() is still running: close() must be able to end them too. */
  private readonly pending = new Set<ProtocolSession>();
  private readonly detachers = new Map<ProtocolSession, () => void>();
  private readonly failures = new Map<Protocol, Error>();
  /** The protocols the device offers that the last `connect()` did not try for want of credentials. */
  private unpairedProtocols: Protocol[] = [];
  private readonly connecting = new SharedAttempt();
  /** The power state last reported with a 'power' event (or found on connect). */
  private lastPower: PowerState = 'unknown';

  constructor(config: DeviceConfig, options: DeviceOptions = {}) {
    super();
    this.config = config;
    this.options = options;
    this.logger = options.logger ?? silentLogger;
  }

  get name(): string {
    return this.config.name;
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Protocols with an open session, best first. */
  get protocols(): Protocol[] {
    return this.ordered(DEFAULT_PRIORITIES).map((s) => s.protocol);
  }

  /**
   * How each open session reaches the device, best first: MRP through the AirPlay 2 tunnel
   * (tvOS 15+, HomePods) is `{ protocol: 'mrp', via: 'airplay' }`, a protocol on its own port
   * has `via: null` (for a status that says how the device is controlled).
   */
  get routes(): Array<{ protocol: Protocol; via: Protocol | null }> {
    return this.ordered(DEFAULT_PRIORITIES).map((s) => ({ protocol: s.protocol, via: s.via ?? null }));
  }

  /**
   * Why each protocol that could not connect failed, from the last `connect()` (also when it
   * threw): e.g. an `AuthenticationError` says that protocol needs pairing.
   */
  get connectFailures(): ReadonlyMap<Protocol, Error> {
    return this.failures;
  }

  /** The last now-playing state seen (from a push or a `nowPlaying()` call), if any. */
  get lastNowPlaying(): NowPlaying | null {
    return this.latest;
  }

  /**
   * Opens a session for every usable service. Succeeds when at least one protocol connects
   * (the others are logged, and listed in `connectFailures`); fails with the most telling
   * error when none does. A second call while connecting waits for the same attempt.
   */
  connect(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new ClosedError('this device was closed; create a new one'));
    if (this.state === 'connected') return Promise.resolve();
    return this.connecting.run(() => this.openSessions());
  }

  private async openSessions(): Promise<void> {
    this.state = 'connecting';
    this.failures.clear();
    const factories = this.options.factories ?? tableFactories();
    const wanted = this.options.protocols;
    const offeredToUs = this.config.services.filter(
      (s) => s.enabled && s.port > 0 && factories[s.protocol] && (!wanted || wanted.includes(s.protocol)),
    );
    // A protocol that is useless unpaired (Companion) is not tried without credentials.
    const unpaired = offeredToUs.filter((s) => protocolDescriptor(s.protocol).needsCredentials && !this.options.credentials?.[s.protocol] && !s.credentials);
    const usable = offeredToUs.filter((s) => !unpaired.includes(s));
    this.unpairedProtocols = [...new Set(unpaired.map((s) => s.protocol))];
    // One session per protocol: a DACP server is advertised as several services
    // (_touch-able, _appletv-v2, _hscp) that all lead to the same server. Without user
    // credentials, a service that brings its own (Home Sharing) is the one that can log in.
    const candidates = [...new Set(usable.map((s) => s.protocol))].map((protocol) => {
      const ofProtocol = usable.filter((s) => s.protocol === protocol);
      const needOwn = !this.options.credentials?.[protocol];
      return (needOwn && ofProtocol.find((s) => s.credentials)) || ofProtocol[0]!;
    });
    if (candidates.length === 0 && this.config.deepSleep) {
      this.state = 'idle';
      // Not a configuration problem: the device sleeps behind a Bonjour sleep proxy (its
      // services advertised with port 0) and will be reachable once it wakes.
      throw new UnreachableError(
        `${this.config.name} is asleep (its services are advertised by a sleep proxy without ports); try again once it is awake`,
      );
    }
    if (candidates.length === 0 && unpaired.length > 0) {
      this.state = 'idle';
      const which = [...new Set(unpaired.map((s) => protocolDescriptor(s.protocol).label))].join(', ');
      throw new AuthenticationError(`${this.config.name}: ${which} works only once paired: pair it, then connect with its credentials`);
    }
    if (candidates.length === 0) {
      this.state = 'idle';
      const offered = [...new Set(this.config.services.map((s) => s.protocol))].join(', ') || 'none';
      const reasons = [
        ...new Set(
          this.config.services
            .filter((s) => !s.enabled && s.disabledReason && (!wanted || wanted.includes(s.protocol)))
            .map((s) => `${s.protocol}: ${s.disabledReason}`),
        ),
      ];
      throw new NoUsableProtocolError(
        `${this.config.name}: no usable protocol (offered: ${offered}${wanted ? `; allowed: ${wanted.join(', ')}` : ''})` +
          (reasons.length > 0 ? `. ${reasons.join('; ')}` : ''),
      );
    }
    await Promise.all(
      candidates.map(async (service) => {
        const session = factories[service.protocol]!({
          config: this.config,
          service,
          credentials: this.options.credentials?.[service.protocol] ?? service.credentials ?? null,
          timeout: this.options.timeout ?? 10_000,
          logger: this.logger,
        });
        this.pending.add(session);
        try {
          await session.connect();
          if (this.state === 'closed') throw new ClosedError('the device was closed while connecting');
        } catch (err) {
          await session.close().catch(() => undefined);
          this.fail(service.protocol, err);
          return;
        } finally {
          this.pending.delete(session);
        }
        // Listen at once: a session may drop while the others are still connecting.
        for (const opened of [session, ...(session.innerSessions ?? [])]) {
          this.sessions.push(opened);
          this.attach(opened);
        }
      }),
    );
    if ((this.state as string) === 'closed') throw new ClosedError('the device was closed while connecting');
    if (this.sessions.length === 0) {
      this.state = 'idle';
      throw mostTelling([...this.failures.values()]);
    }
    this.state = 'connected';
    this.lastPower = this.powerState();
  }

  private fail(protocol: Protocol, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.failures.set(protocol, error);
    if (!(error instanceof ClosedError)) this.logger.warn(`${protocol}: ${error.message}`);
  }

  /** Closes every session (sockets, long polls, timers). Safe to call at any time, twice. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state !== 'idle';
    this.state = 'closed';
    await this.teardown();
    if (wasOpen) this.notify('closed');
  }

  /** Sends a command from THE command table; resolves once the device acknowledged it. */
  async command(name: string, options: CommandOptions = {}): Promise<void> {
    return this.sendCommand(checkCommand(name, options));
  }

  /** Sends a command already checked by `checkCommand` (a node or the CLI did). */
  async sendCommand(request: CommandRequest): Promise<void> {
    const { command, action, interval } = request;
    if (isPowerCommand(command)) {
      const power = this.route('power', command);
      await (command === 'turnOn' ? power.turnOn() : power.turnOff());
      return;
    }
    await this.route('remoteControl', command).sendCommand(command, interval === undefined ? { action } : { action, interval });
  }

  /** Reads the now-playing state from the device. */
  async nowPlaying(): Promise<NowPlaying> {
    const state = await this.route('metadata', 'nowPlaying').nowPlaying();
    this.latest = state;
    return state;
  }

  /** The current artwork, or null when there is none (nothing playing, no cover). */
  async artwork(request: ArtworkRequest = {}): Promise<Artwork | null> {
    for (const [key, value] of Object.entries(request)) {
      if (value !== undefined && !isArtworkEdge(value)) {
        throw new InvalidArgumentError(`artwork ${key} must be a whole number of pixels from 1 to ${ARTWORK_MAX_EDGE}`);
      }
    }
    return this.fetchArtwork(request);
  }

  /** The artwork for a request whose sizes were checked where it entered (`isArtworkEdge`). */
  fetchArtwork(request: ArtworkRequest): Promise<Artwork | null> {
    return this.route('metadata', 'artwork').artwork(request);
  }

  /** Sets a property; resolves with the value the device reports afterwards. */
  async setProperty<N extends PropertyName>(name: N, value: unknown): Promise<PropertyValues[N]> {
    return (await this.applyProperty(checkProperty(name, value))) as PropertyValues[N];
  }

  /** Sets a property already checked by `checkProperty`. */
  async applyProperty<N extends PropertyName>(request: PropertyRequest<N>): Promise<PropertyValues[N]> {
    const { name, value } = request;
    if (name === 'volume') return this.route('audio', 'setVolume').setVolume(value as number) as Promise<PropertyValues[N]>;
    const player = name as Exclude<PropertyName, 'volume'>;
    return this.route('remoteControl', PROPERTY_FEATURE[player]).setProperty(player, value as PropertyValues[typeof player]) as Promise<
      PropertyValues[N]
    >;
  }

  /** Reads a property: the volume the device reports, or a field of what plays now. */
  async getProperty<N extends PropertyName>(name: N): Promise<PropertyValues[N] | null> {
    checkPropertyName(name);
    if (name === 'volume') return (await this.route('audio', 'volume').getVolume()) as PropertyValues[N] | null;
    const state = await this.nowPlaying();
    // position, shuffle and repeat are now-playing fields of the same names.
    return state[name as Exclude<PropertyName, 'volume'>] as PropertyValues[N] | null;
  }

  /** Starts `nowPlaying` push events from the best protocol that has them (idempotent). */
  startPushUpdates(): void {
    this.assertConnected();
    if (this.pushSession) return;
    const session = this.pickSession('metadata', 'pushUpdates');
    this.pushSession = session;
    session.capabilities.metadata!.startPushUpdates();
  }

  stopPushUpdates(): void {
    this.pushSession?.capabilities.metadata?.stopPushUpdates();
    this.pushSession = null;
  }

  /** The power state, from the protocols that know it (Companion first); 'unknown' otherwise. */
  powerState(): PowerState {
    if (this.state !== 'connected') return 'unknown';
    for (const session of this.ordered(POWER_PRIORITIES)) {
      const power = session.capabilities.power;
      if (power && session.feature('powerState') === 'available') return power.powerState();
    }
    return 'unknown';
  }

  /**
   * Turns the device on or off and resolves with the power state it reports afterwards,
   * waiting up to `wait` ms for it to say so (Companion pushes it; a device that does not
   * tell leaves whatever it reported before, or 'unknown').
   */
  async setPower(state: 'on' | 'off', wait = 2000): Promise<PowerState> {
    if (state !== 'on' && state !== 'off') throw new InvalidArgumentError(`the power state to set is on or off, not ${JSON.stringify(String(state).slice(0, 20))}`);
    await this.sendCommand({ command: state === 'on' ? 'turnOn' : 'turnOff', action: 'single' });
    if (this.powerState() === state) return state;
    return new Promise<PowerState>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('power', onPower);
        this.off('closed', done);
        resolve(this.powerState());
      };
      const onPower = (now: PowerState): void => {
        if (now === state) done();
      };
      const timer = setTimeout(done, wait);
      timer.unref();
      this.on('power', onPower);
      this.once('closed', done);
    });
  }

  /** Installed apps that can be launched (Companion). */
  async appList(): Promise<AppInfo[]> {
    return this.route('apps', 'appList').appList();
  }

  /** Launches an app by bundle id (`com.netflix.Netflix`) or opens a URL (a deep link). */
  async launchApp(bundleIdOrUrl: string): Promise<void> {
    if (typeof bundleIdOrUrl !== 'string' || bundleIdOrUrl.trim() === '' || bundleIdOrUrl.length > 2048) {
      throw new InvalidArgumentError('give an app bundle id (e.g. com.apple.TVMusic) or a URL');
    }
    return this.route('apps', 'launchApp').launchApp(bundleIdOrUrl.trim());
  }

  /** The app in the foreground, where a protocol tells (null when unknown). */
  currentApp(): AppInfo | null {
    if (this.state !== 'connected') return null;
    for (const session of this.ordered(DEFAULT_PRIORITIES)) {
      const app = session.capabilities.apps?.currentApp();
      if (app) return app;
    }
    return this.latest?.app ?? null;
  }

  async accountList(): Promise<UserAccount[]> {
    return this.route('accounts', 'accountList').accountList();
  }

  async switchAccount(id: string): Promise<void> {
    if (typeof id !== 'string' || id.trim() === '') throw new InvalidArgumentError('give the id of the account to switch to');
    return this.route('accounts', 'switchAccount').switchAccount(id.trim());
  }

  /** Whether a text field has the focus on screen. */
  textFocusState(): TextFocusState {
    if (this.state !== 'connected') return 'unknown';
    for (const session of this.ordered(DEFAULT_PRIORITIES)) {
      const keyboard = session.capabilities.keyboard;
      if (keyboard && session.feature('textInput') !== 'unsupported') return keyboard.textFocusState();
    }
    return 'unknown';
  }

  async textGet(): Promise<string | null> {
    return this.route('keyboard', 'textInput').textGet();
  }

  async textSet(text: string): Promise<void> {
    return this.route('keyboard', 'textInput').textSet(checkText(text));
  }

  async textAppend(text: string): Promise<void> {
    return this.route('keyboard', 'textInput').textAppend(checkText(text));
  }

  async textClear(): Promise<void> {
    return this.route('keyboard', 'textInput').textClear();
  }

  /** Plays a media URL (http/https, or a local file served for the device); resolves when playback ends. */
  async playUrl(url: string, options: PlayUrlOptions = {}): Promise<void> {
    if (typeof url !== 'string' || url.trim() === '') throw new InvalidArgumentError('give the URL (or file) to play');
    if (options.position !== undefined && !(Number.isFinite(options.position) && options.position >= 0)) {
      throw new InvalidArgumentError('the start position must be 0 or more seconds');
    }
    return this.route('stream', 'playUrl').playUrl(url.trim(), options);
  }

  /** What the device can do right now over its best protocol for each feature. */
  feature(name: FeatureName): FeatureState {
    const capability = capabilityOf(name);
    let best: FeatureState = 'unsupported';
    for (const session of this.ordered(CAPABILITY_PRIORITIES[capability])) {
      if (!session.capabilities[capability]) continue;
      const state = session.feature(name);
      if (state === 'available') return state;
      if (best === 'unsupported' || (best === 'unavailable' && state === 'unknown')) best = state;
    }
    return best;
  }

  features(): Record<FeatureName, FeatureState> {
    const names: FeatureName[] = [...COMMANDS.map((c) => c.name), ...FEATURES];
    return Object.fromEntries(names.map((n) => [n, this.feature(n)])) as Record<FeatureName, FeatureState>;
  }

  // -------------------------------------------------------------------------------------

  private assertConnected(): void {
    if (this.state === 'closed') throw new ClosedError(`${this.config.name}: the connection was closed`);
    if (this.state !== 'connected') throw new ClosedError(`${this.config.name}: not connected`);
  }

  private ordered(priorities: readonly Protocol[]): ProtocolSession[] {
    const rank = (p: Protocol) => {
      const i = priorities.indexOf(p);
      return i < 0 ? priorities.length : i;
    };
    return [...this.sessions].sort((a, b) => rank(a.protocol) - rank(b.protocol));
  }

  /** The capability `capability` of the session chosen to serve `feature` (see pickSession). */
  private route<C extends Capability>(capability: C, feature: FeatureName): CapabilityMap[C] {
    return this.pickSession(capability, feature).capabilities[capability]!;
  }

  /**
   * The session to serve `feature`: among those offering `capability` and not ruling the
   * feature out, by the capability's priority, the first that says `available`, else
   * `unknown`, else any — the same ranking `feature()` reports.
   */
  private pickSession(capability: Capability, feature: FeatureName): ProtocolSession {
    this.assertConnected();
    const able = this.ordered(CAPABILITY_PRIORITIES[capability]).filter(
      (s) => s.capabilities[capability] !== undefined && s.feature(feature) !== 'unsupported',
    );
    const chosen =
      able.find((s) => s.feature(feature) === 'available') ?? able.find((s) => s.feature(feature) === 'unknown') ?? able[0];
    if (!chosen) throw this.unavailable(capability, feature);
    return chosen;
  }

  /**
   * Why `feature` cannot be done now, naming the protocols the device offers that could (by
   * the protocol table's capabilities) but are unpaired or did not connect.
   */
  private unavailable(capability: Capability, feature: FeatureName): FeatureUnavailableError {
    const connected = this.protocols;
    const could = (p: Protocol) => !connected.includes(p) && protocolDescriptor(p).capabilities.includes(capability);
    const unpaired = this.unpairedProtocols.filter(could);
    const failed = [...this.failures.keys()].filter((p) => could(p) && !(this.failures.get(p) instanceof ClosedError));
    const label = (list: Protocol[]) => list.map((p) => protocolDescriptor(p).label).join(', ');
    const hints = [
      ...(unpaired.length > 0 ? [`${label(unpaired)} can, once paired`] : []),
      ...(failed.length > 0 ? [`${label(failed)} can but did not connect (${failed.map((p) => this.failures.get(p)!.message).join('; ')})`] : []),
    ];
    return new FeatureUnavailableError(`${this.config.name} cannot do "${feature}" over ${connected.join(', ') || 'any protocol'}`, {
      unpaired,
      failed,
      message: hints.join('; '),
    });
  }

  private attach(session: ProtocolSession): void {
    const onNowPlaying = (state: NowPlaying) => {
      if (this.pushSession !== session) return;
      const before = this.latest;
      this.latest = state;
      this.notify('nowPlaying', state);
      // The app in the foreground is part of what plays (MRP tells it): a change is an 'app' event too.
      if (before !== null && appKey(before.app) !== appKey(state.app)) this.notify('app', state.app);
    };
    const onVolume = (level: number) => this.notify('volume', level);
    // Several sessions may know the power state; flows hear the one powerState() reports, once per change.
    const onPower = () => this.powerChanged();
    const onApp = (app: AppInfo | null) => this.notify('app', app);
    const onTextFocus = (state: TextFocusState) => this.notify('textFocus', state);
    const onPushError = (err: Error) => this.notify('pushError', err);
    const onLost = (err: Error) => {
      if (this.state === 'connecting') {
        // Dropped before the device was ready: it simply did not connect.
        this.detach(session);
        this.sessions = this.sessions.filter((s) => s !== session);
        void session.close().catch(() => undefined);
        this.fail(session.protocol, err);
        return;
      }
      if (this.state !== 'connected') return;
      this.logger.warn(`${session.protocol}: connection lost: ${err.message}`);
      this.state = 'closed';
      void this.teardown()
        .catch((e: unknown) => this.logger.warn(`closing after a lost connection: ${errorText(e)}`))
        .then(() => {
          this.notify('connectionLost', err);
          this.notify('closed');
        });
    };
    session.on('nowPlaying', onNowPlaying);
    session.on('volume', onVolume);
    session.on('power', onPower);
    session.on('app', onApp);
    session.on('textFocus', onTextFocus);
    session.on('pushError', onPushError);
    session.on('connectionLost', onLost);
    this.detachers.set(session, () => {
      session.off('nowPlaying', onNowPlaying);
      session.off('volume', onVolume);
      session.off('power', onPower);
      session.off('app', onApp);
      session.off('textFocus', onTextFocus);
      session.off('pushError', onPushError);
      session.off('connectionLost', onLost);
    });
  }

  /** Emits 'power' when the state powerState() reports changed. */
  private powerChanged(): void {
    const now = this.powerState();
    if (now === this.lastPower) return;
    this.lastPower = now;
    this.notify('power', now);
  }

  private detach(session: ProtocolSession): void {
    this.detachers.get(session)?.();
    this.detachers.delete(session);
  }

  /** Emits to every listener; one that throws is logged and cannot break the others or us. */
  private notify<E extends keyof DeviceEvents>(event: E, ...args: DeviceEvents[E]): void {
    emitContained(this as unknown as EventEmitter<DeviceEvents>, event, args, this.logger);
  }

  private async teardown(): Promise<void> {
    for (const session of [...this.detachers.keys()]) this.detach(session);
    const sessions = [...this.sessions.splice(0), ...this.pending];
    this.pushSession = null;
    await Promise.all(sessions.map((s) => s.close().catch((err: unknown) => this.logger.warn(`closing ${s.protocol}: ${errorText(err)}`))));
  }
}

export interface Device {
  on<E extends keyof DeviceEvents>(event: E, listener: (...args: DeviceEvents[E]) => void): this;
  once<E extends keyof DeviceEvents>(event: E, listener: (...args: DeviceEvents[E]) => void): this;
  off<E extends keyof DeviceEvents>(event: E, listener: (...args: DeviceEvents[E]) => void): this;
  emit<E extends keyof DeviceEvents>(event: E, ...args: DeviceEvents[E]): boolean;
}

/** Text for the on-screen field: a string of reasonable length. */
function checkText(text: unknown): string {
  if (typeof text !== 'string') throw new InvalidArgumentError('the text must be a string');
  if (text.length > 10_000) throw new InvalidArgumentError('the text is too long (at most 10 000 characters)');
  return text;
}

function appKey(app: AppInfo | null | undefined): string {
  return app ? `${app.bundleId ?? ''}\u0000${app.name ?? ''}` : '';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function mostTelling(failures: Error[]): Error {
  const ranked = [...failures]
    .sort((a, b) => (SEVERITY[(b as AtvError).code ?? ''] ?? 0) - (SEVERITY[(a as AtvError).code ?? ''] ?? 0));
  return ranked[0] ?? new Error('connection failed');
}

/** Connects to a device: `const atv = await connect(config, { credentials: { dmap: '0x…' } })`. */
export async function connect(config: DeviceConfig, options: DeviceOptions = {}): Promise<Device> {
  const device = new Device(config, options);
  await device.connect();
  return device;
}
