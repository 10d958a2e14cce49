/**
 * The device facade: one protocol-independent API over every protocol session a device has.
 * Each call is relayed to the best session that can serve it (reference §1.2: protocols in
 * priority order, a feature that is `available` beats one that is merely not ruled out), so
 * adding a protocol never touches the callers (CLI, Node-RED nodes).
 */
import { EventEmitter } from 'node:events';
import {
  AtvError,
  ClosedError,
  InvalidArgumentError,
  NotSupportedError,
  UnreachableError,
} from '../errors';
import { silentLogger, type Logger } from '../log';
import { emitContained } from '../support/emit';
import { COMMANDS, findCommand, isInputAction, type CommandName, type CommandOptions } from './commands';
import type {
  Artwork,
  ArtworkRequest,
  Credentials,
  DeviceConfig,
  FeatureName,
  FeatureState,
  PowerState,
  Protocol,
  ProtocolSession,
  SessionEvents,
  SessionFactory,
} from './interfaces';
import { FEATURES } from './interfaces';
import { isPropertyName, parsePropertyValue, PROPERTY_NAMES, type PropertyName, type PropertyValues } from './properties';
import { SESSION_FACTORIES } from './registry';
import type { NowPlaying } from './state';

/** Relay order for most calls (pyatv's default priorities). */
export const DEFAULT_PRIORITIES: readonly Protocol[] = ['mrp', 'dmap', 'companion', 'airplay', 'raop'];
/** Power is better served by Companion (reliable state, no phantom wake-ups). */
export const POWER_PRIORITIES: readonly Protocol[] = ['companion', 'mrp', 'dmap', 'airplay', 'raop'];

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
  /** The protocol implementations (default: every protocol the library has). */
  factories?: Partial<Record<Protocol, SessionFactory>>;
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
  private connecting: Promise<void> | null = null;

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
    this.connecting ??= this.openSessions().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async openSessions(): Promise<void> {
    this.state = 'connecting';
    this.failures.clear();
    const factories = this.options.factories ?? SESSION_FACTORIES;
    const wanted = this.options.protocols;
    const usable = this.config.services.filter(
      (s) => s.enabled && s.port > 0 && factories[s.protocol] && (!wanted || wanted.includes(s.protocol)),
    );
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
      throw new NotSupportedError(
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
        this.sessions.push(session);
        this.attach(session);
      }),
    );
    if ((this.state as string) === 'closed') throw new ClosedError('the device was closed while connecting');
    if (this.sessions.length === 0) {
      this.state = 'idle';
      throw mostTelling([...this.failures.values()]);
    }
    this.state = 'connected';
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
    const spec = findCommand(name);
    if (!spec) {
      throw new InvalidArgumentError(`unknown command "${name}"; known commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    }
    const action = options.action ?? 'single';
    if (!isInputAction(action)) {
      throw new InvalidArgumentError(`unknown action "${String(action)}"; use single, double or hold`);
    }
    if (action !== 'single' && !spec.button) {
      throw new InvalidArgumentError(`"${spec.name}" is not a button: it takes no ${action} press`);
    }
    if (options.interval !== undefined && (!spec.interval || !(Number.isFinite(options.interval) && options.interval > 0))) {
      throw new InvalidArgumentError(
        spec.interval ? `the skip interval must be a positive number of seconds` : `"${spec.name}" takes no interval`,
      );
    }
    const priorities = spec.group === 'power' ? POWER_PRIORITIES : DEFAULT_PRIORITIES;
    const session = this.pick(spec.name, (s) => s.sendCommand, priorities);
    await session.sendCommand!(spec.name as CommandName, { ...options, action });
  }

  /** Reads the now-playing state from the device. */
  async nowPlaying(): Promise<NowPlaying> {
    const session = this.pick('nowPlaying', (s) => s.nowPlaying);
    const state = await session.nowPlaying!();
    this.latest = state;
    return state;
  }

  /** The current artwork, or null when there is none (nothing playing, no cover). */
  async artwork(request: ArtworkRequest = {}): Promise<Artwork | null> {
    for (const [key, value] of Object.entries(request)) {
      if (value !== undefined && !(Number.isInteger(value) && (value as number) > 0 && (value as number) <= 4096)) {
        throw new InvalidArgumentError(`artwork ${key} must be a whole number of pixels from 1 to 4096`);
      }
    }
    const session = this.pick('artwork', (s) => s.artwork);
    return session.artwork!(request);
  }

  /** Sets a property; resolves with the value the device reports afterwards. */
  async setProperty<N extends PropertyName>(name: N, value: unknown): Promise<PropertyValues[N]> {
    if (!isPropertyName(name)) {
      throw new InvalidArgumentError(`unknown property "${String(name)}"; known: ${PROPERTY_NAMES.join(', ')}`);
    }
    const parsed = parsePropertyValue(name, value);
    const session = this.pick(PROPERTY_FEATURE[name], (s) => s.setProperty);
    return session.setProperty!(name, parsed);
  }

  async getProperty<N extends PropertyName>(name: N): Promise<PropertyValues[N] | null> {
    if (!isPropertyName(name)) {
      throw new InvalidArgumentError(`unknown property "${String(name)}"; known: ${PROPERTY_NAMES.join(', ')}`);
    }
    const feature: FeatureName = name === 'volume' ? 'volume' : 'nowPlaying';
    const session = this.pick(feature, (s) => s.getProperty);
    return session.getProperty!(name);
  }

  /** Starts `nowPlaying` push events from the best protocol that has them (idempotent). */
  startPushUpdates(): void {
    this.assertConnected();
    if (this.pushSession) return;
    const session = this.pick('pushUpdates', (s) => s.startPushUpdates);
    this.pushSession = session;
    session.startPushUpdates!();
  }

  stopPushUpdates(): void {
    this.pushSession?.stopPushUpdates?.();
    this.pushSession = null;
  }

  powerState(): PowerState {
    if (this.state !== 'connected') return 'unknown';
    for (const session of this.ordered(POWER_PRIORITIES)) {
      if (session.powerState && session.feature('powerState') === 'available') return session.powerState();
    }
    return 'unknown';
  }

  /** What the device can do right now over its best protocol for each feature. */
  feature(name: FeatureName): FeatureState {
    const priorities = COMMANDS.find((c) => c.name === name)?.group === 'power' ? POWER_PRIORITIES : DEFAULT_PRIORITIES;
    let best: FeatureState = 'unsupported';
    for (const session of this.ordered(priorities)) {
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

  /**
   * The session to serve `feature`: among those implementing the method and not ruling the
   * feature out, by priority, the first that says `available`, else `unknown`, else any.
   */
  private pick(
    feature: FeatureName,
    method: (s: ProtocolSession) => unknown,
    priorities: readonly Protocol[] = DEFAULT_PRIORITIES,
  ): ProtocolSession {
    this.assertConnected();
    const able = this.ordered(priorities).filter((s) => method(s) !== undefined && s.feature(feature) !== 'unsupported');
    // The same ranking `feature()` reports: a session that says it can beats one that may,
    // which beats one that says it cannot right now.
    const chosen =
      able.find((s) => s.feature(feature) === 'available') ??
      able.find((s) => s.feature(feature) === 'unknown') ??
      able[0];
    if (!chosen) {
      throw new NotSupportedError(`${this.config.name} cannot do "${feature}" over ${this.protocols.join(', ') || 'any protocol'}`);
    }
    return chosen;
  }

  private attach(session: ProtocolSession): void {
    const onNowPlaying = (state: NowPlaying) => {
      if (this.pushSession !== session) return;
      this.latest = state;
      this.notify('nowPlaying', state);
    };
    const onVolume = (level: number) => this.notify('volume', level);
    const onPower = (state: PowerState) => this.notify('power', state);
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
    session.on('pushError', onPushError);
    session.on('connectionLost', onLost);
    this.detachers.set(session, () => {
      session.off('nowPlaying', onNowPlaying);
      session.off('volume', onVolume);
      session.off('power', onPower);
      session.off('pushError', onPushError);
      session.off('connectionLost', onLost);
    });
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
