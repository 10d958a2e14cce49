/**
 * The device supervisor: ONE connection to a device, shared by every user that registers with
 * it, kept up by itself. The first user to register starts the connection, the last one to
 * leave (or `close()`) tears it down, and every user hears the same connection state, so a
 * drop shows everywhere at once. Usable from plain Node (the CLI's `watch`), and the
 * Node-RED config node wraps it with status texts.
 *
 * Reconnects back off exponentially with jitter and never spin: a device that is off, a
 * wrong address or a refused login costs one attempt per delay, at most one a minute. Two
 * clients on one device are what breaks pyatv's push updates (pyatv #2740), hence exactly
 * one Device per supervisor however many users share it.
 *
 * A device connected over some of its protocols while another failed (refused credentials,
 * a timeout) stays in use; the failed protocol is tried again alone in the background with
 * the same pacing, and once it connects a whole new device takes over (the old one finishes
 * its requests first), so users that work are never interrupted for it.
 *
 * It also keeps what the device last told of its volume, power, foreground app and text
 * focus (the status's `readings`, from the device's 'volume', 'power', 'app' and 'textFocus'
 * events and one volume read after each connect) and tells its users: the first time together
 * with the first now-playing state, so a flow that shows both gets one message, not two. This
 * is THE way users follow those values across reconnects (a new Device after each): they never
 * hold listeners on a Device themselves.
 */
import { AtvError, ClosedError, NoUsableProtocolError } from '../errors';
import type { Device } from './facade';
import { PROTOCOLS, type DeviceConfig, type PowerState, type Protocol, type TextFocusState } from '../device/interfaces';
import type { Logger } from '../log';
import type { AppInfo, NowPlaying } from '../device/state';

/** The part of `Device` a connection drives; the flow nodes get the whole `Device`. */
export interface SupervisedDevice {
  readonly name: string;
  readonly lastNowPlaying: NowPlaying | null;
  /** The protocols connected, best first. */
  readonly protocols?: readonly Protocol[];
  /** How each connected protocol reaches the device, best first. */
  readonly routes?: readonly DeviceRoute[];
  /** Why each protocol that could not connect failed, from the last `connect()`. */
  readonly connectFailures?: ReadonlyMap<Protocol, Error>;
  connect(): Promise<void>;
  close(): Promise<void>;
  startPushUpdates(): void;
  nowPlaying(): Promise<NowPlaying>;
  /** The power state the device last told (Device: from the protocols that know it). */
  powerState?(): PowerState;
  /** The app in the foreground, where a protocol tells. */
  currentApp?(): AppInfo | null;
  /** Whether a text field has the focus, where a protocol tells. */
  textFocusState?(): TextFocusState;
  /** Reads the volume (the first reading after a connect). */
  getProperty?(name: 'volume'): Promise<number | null>;
  on(event: 'nowPlaying', listener: (state: NowPlaying) => void): unknown;
  on(event: 'connectionLost' | 'pushError', listener: (error: Error) => void): unknown;
  on(event: 'closed', listener: () => void): unknown;
  on(event: 'volume', listener: (level: number) => void): unknown;
  on(event: 'power', listener: (state: PowerState) => void): unknown;
  on(event: 'app', listener: (app: AppInfo | null) => void): unknown;
  on(event: 'textFocus', listener: (state: TextFocusState) => void): unknown;
  off(event: 'nowPlaying', listener: (state: NowPlaying) => void): unknown;
  off(event: 'connectionLost' | 'pushError', listener: (error: Error) => void): unknown;
  off(event: 'closed', listener: () => void): unknown;
  off(event: 'volume', listener: (level: number) => void): unknown;
  off(event: 'power', listener: (state: PowerState) => void): unknown;
  off(event: 'app', listener: (app: AppInfo | null) => void): unknown;
  off(event: 'textFocus', listener: (state: TextFocusState) => void): unknown;
}

/**
 * What the device last told about itself besides what plays, so flows can show what they
 * can set (a dashboard slider follows the real volume): pushed by the protocols that tell
 * (MRP and DMAP the volume, MRP the power, Companion power, the foreground app and the text
 * focus).
 */
export interface DeviceReadings {
  /** 0 to 100, or null until the device said. */
  volume: number | null;
  power: PowerState;
  /** The app in the foreground, where a protocol tells; null when unknown. */
  app: AppInfo | null;
  /** Whether a text field has the focus (Companion tells); 'unknown' elsewhere. */
  textFocus: TextFocusState;
}

export const READING_NAMES = ['volume', 'power', 'app', 'textFocus'] as const satisfies readonly (keyof DeviceReadings)[];
export type ReadingName = (typeof READING_NAMES)[number];

/** The readings before the device told anything. */
export function unknownReadings(): DeviceReadings {
  return { volume: null, power: 'unknown', app: null, textFocus: 'unknown' };
}

export type SupervisorState =
  /** Nobody uses the connection yet (or any more). */
  | 'idle'
  | 'connecting'
  | 'connected'
  /** Not connected; a retry is scheduled. */
  | 'disconnected'
  /** The device refused our credentials: pair again (a retry is still scheduled, slowly). */
  | 'pairing'
  /**
   * The configuration cannot work (no host and no identifier, a bad port, credentials that do
   * not parse, a device that disables every protocol we could use): no retry.
   */
  | 'invalid'
  /** The config node was closed (redeploy, removal). */
  | 'closed';

export interface SupervisorStatus {
  state: SupervisorState;
  /** The latest now-playing state while connected, when known. */
  nowPlaying: NowPlaying | null;
  /** Why the last attempt failed or the connection dropped (no credential in it). */
  error: Error | null;
  /** Milliseconds until the next attempt, while one is scheduled. */
  retryIn: number | null;
  /**
   * In state `pairing`: the protocols whose credentials the device found missing or refused,
   * when known (empty when not). In state `connected`: those of `failedProtocols` that failed
   * that way. Names only, never a credential.
   */
  needsPairing: Protocol[];
  /**
   * In state `connected`: the protocols that failed to connect while others did (refused
   * credentials, a timeout, a device asking to wait). Requests go over the others meanwhile;
   * `retryIn` says when the failed ones are tried again in the background.
   */
  failedProtocols: ProtocolFailure[];
  /**
   * In state `connected`: how each connected protocol reaches the device, best first (MRP
   * through the AirPlay 2 tunnel is `{ protocol: 'mrp', via: 'airplay' }`); empty otherwise.
   */
  routes: DeviceRoute[];
  /** The device's volume, power and foreground app as last told (unknown while not connected). */
  readings: DeviceReadings;
}

export interface DeviceRoute {
  protocol: Protocol;
  /** The protocol it travels inside, or null on its own port. */
  via: Protocol | null;
}

export interface ProtocolFailure {
  protocol: Protocol;
  error: Error;
}
/** What a user hands to `register`: callbacks for what it wants to hear about. */
export interface SupervisorListener {
  status?(status: SupervisorStatus): void;
  nowPlaying?(state: NowPlaying): void;
  /**
   * A reading changed (`changed` names which); also with every reading once the device is
   * connected (or the user joined a live connection), then `initial` is true: not a change
   * the device made, but the first the user hears of this connection's values.
   */
  readings?(readings: DeviceReadings, changed: ReadingName[], initial: boolean): void;
}

export interface RetryPolicy {
  /** First delay in ms (default 1 000). */
  initial: number;
  /** Longest delay in ms (default 60 000). */
  max: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initial: 1_000, max: 60_000 };
/** The shortest delay settings may ask for: less makes a device that is off a busy loop. */
export const MIN_RETRY_MS = 250;
/** The longest: one hour (setTimeout turns anything above 2^31-1 ms into 1 ms). */
export const MAX_RETRY_MS = 3_600_000;

export interface SupervisorOptions<D extends SupervisedDevice = Device> {
  /** The user's name for the device; without one, the device's own name once known. */
  name?: string;
  /** Finds the device to connect to: a manual configuration or a scan. */
  resolve: () => Promise<DeviceConfig>;
  /**
   * Makes an unconnected device for a configuration (credentials are bound in here); with
   * `only`, a device that uses just those protocols (to try failed ones in the background).
   */
  createDevice: (config: DeviceConfig, only?: readonly Protocol[]) => D;
  /**
   * After `device` failed to connect with an authentication error: the protocols whose
   * credentials it found missing or refused, for the status to name them.
   */
  refusedProtocols?: (device: D) => readonly Protocol[];
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Source of randomness for the jitter (tests pin it). */
  random?: () => number;
  /** How long `close()` waits for the device to shut down before giving up (ms). */
  closeTimeout?: number;
  /**
   * After a device with more protocols replaced the connected one: how long the old one may
   * still finish requests under way before it is closed regardless (ms, default 10 000).
   */
  retireTimeout?: number;
}

/**
 * Whether retrying cannot help until someone changes the configuration: a value the config
 * node cannot use (a port out of range, credentials that do not parse: INVALID_ARGUMENT), or
 * a device that itself says why it refuses the protocols we could use (direct MRP on tvOS 15
 * and later: a disabled service with its reason). "No usable protocol" without such a reason
 * is a scan that lost an answer or a device between states, and a device asleep behind a
 * sleep proxy or not found at all is simply not there yet: those are retried, and the device
 * is looked up again for every attempt.
 */
export function isConfigurationError(error: Error, config: DeviceConfig | null): boolean {
  if ((error as Partial<AtvError>).code === 'INVALID_ARGUMENT') return true;
  // Only the facade's own verdict counts: a session that answers NOT_SUPPORTED while it
  // connects (an AirPlay receiver's 501, say) is a failure of that attempt, retried.
  if (!(error instanceof NoUsableProtocolError) || !config) return false;
  return config.services.some((s) => !s.enabled && s.disabledReason !== null);
}

/** A connection that lasted this long resets the back-off. */
const STABLE_MS = 60_000;

/** Delay before retry number `attempt` (0-based): exponential, capped, with jitter in [½, 1]. */
export function retryDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.max, policy.initial * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

/** The protocols that failed while `device` connected (not those closed on purpose), in PROTOCOLS order. */
function failuresOf(device: SupervisedDevice): ProtocolFailure[] {
  const failures = device.connectFailures ?? new Map<Protocol, Error>();
  return PROTOCOLS.filter((p) => failures.has(p) && !(failures.get(p) instanceof ClosedError) && !(device.protocols ?? []).includes(p)).map(
    (protocol) => ({ protocol, error: failures.get(protocol)! }),
  );
}

function pairingOf(failed: readonly ProtocolFailure[]): Protocol[] {
  return failed.filter((f) => (f.error as Partial<AtvError>).code === 'AUTH').map((f) => f.protocol);
}

function describe(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class DeviceSupervisor<D extends SupervisedDevice = Device> {
  private readonly options: SupervisorOptions<D>;
  private readonly policy: RetryPolicy;
  private readonly users = new Map<object, SupervisorListener>();
  /**
   * Users that registered but have not heard their first status yet. Flow nodes register in
   * their constructor: nothing reaches them before the next turn of the event loop (a
   * listener run inside a constructor can see the node half made), and then they hear the
   * state as it is by then.
   */
  private readonly welcomes = new Map<object, NodeJS.Immediate>();
  private current: D | null = null;
  private config: DeviceConfig | null = null;
  private status: SupervisorStatus = {
    state: 'idle',
    nowPlaying: null,
    error: null,
    retryIn: null,
    needsPairing: [],
    failedProtocols: [],
      routes: [],
    readings: unknownReadings(),
  };
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  /** Bumped whenever an attempt must be forgotten (stop, close); stale attempts check it. */
  private generation = 0;
  private detach: (() => void) | null = null;
  private closing: Promise<void> | null = null;
  private waiters = new Set<() => void>();
  /** The attempt under way and the device it is connecting, so a close can end both. */
  private pending: Promise<void> | null = null;
  private connectingDevice: D | null = null;
  private connectedAt = 0;
  /** Whether the connected device's first state and readings are in (users hear them together). */
  private primed = false;
  /**
   * The state the log last announced. A device that is off fails every attempt the same
   * way: the log warns when the state changes, and each attempt's failure goes to debug.
   */
  private reported: SupervisorState = 'idle';
  /** The failed protocols the log last announced while connected (`mrp:AUTH,...`). */
  private reportedPartial = '';
  /** The background attempt at protocols that failed while others connected. */
  private probeTimer: NodeJS.Timeout | null = null;
  private probing: Promise<void> | null = null;
  private probeFailures = 0;
  /** The device a background attempt is connecting, so a close can end it. */
  private trial: D | null = null;
  /** Requests under way per device: a replaced device is closed once its own are done. */
  private readonly busy = new Map<D, number>();
  /** Replaced devices still finishing requests, each with what closes it. */
  private readonly retiring = new Map<D, () => Promise<void>>();

  constructor(options: SupervisorOptions<D>) {
    this.options = options;
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
  }

  /** The delays between attempts. */
  get retryPolicy(): RetryPolicy {
    return { ...this.policy };
  }

  /** The configured name, else the device's own name once known. */
  get name(): string {
    return this.options.name || this.config?.name || 'Apple TV';
  }

  get state(): SupervisorState {
    return this.status.state;
  }

  get userCount(): number {
    return this.users.size;
  }

  /** The connected device, or null. */
  get device(): D | null {
    return this.status.state === 'connected' ? this.current : null;
  }

  snapshot(): SupervisorStatus {
    return { ...this.status };
  }

  /**
   * Adds a user; the first one starts the connection. The user hears the current state (and,
   * while connected, the latest now-playing state) on the next turn of the event loop, never
   * from inside this call.
   */
  register(user: object, listener: SupervisorListener = {}): void {
    if (this.status.state === 'closed') {
      setImmediate(() => this.call(listener, 'status'));
      return;
    }
    this.users.set(user, listener);
    clearImmediate(this.welcomes.get(user));
    this.welcomes.set(
      user,
      setImmediate(() => this.welcome(user)),
    );
    if (this.status.state === 'idle') this.attempt();
  }

  /** Removes a user; when the last one leaves the connection is closed (resolves when it is). */
  async deregister(user: object): Promise<void> {
    clearImmediate(this.welcomes.get(user));
    this.welcomes.delete(user);
    if (!this.users.delete(user)) return;
    if (this.users.size === 0 && this.status.state !== 'closed') await this.stop('idle');
  }

  /**
   * The connected device for a flow node's request. While an attempt is under way, waits for
   * it (up to `timeout` ms); otherwise fails at once with why it is not connected.
   */
  async ready(timeout = 10_000): Promise<D> {
    if (this.status.state === 'connecting') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeout);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
    if (this.status.state === 'connected' && this.current) return this.current;
    throw this.notConnectedError();
  }

  /**
   * Runs a flow node's request on the connected device (waiting for an attempt under way,
   * like `ready`). A device replaced meanwhile by one with more protocols stays open until
   * the requests it is serving are done.
   */
  async use<T>(request: (device: D) => Promise<T>, timeout?: number): Promise<T> {
    const device = await this.ready(timeout);
    this.busy.set(device, (this.busy.get(device) ?? 0) + 1);
    try {
      return await request(device);
    } finally {
      const left = (this.busy.get(device) ?? 1) - 1;
      if (left > 0) this.busy.set(device, left);
      else {
        this.busy.delete(device);
        void this.retiring.get(device)?.();
      }
    }
  }

  /** Ends everything for good (the config node's close): device, timers, users. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = this.stop('closed').then(() => {
        this.users.clear();
        for (const pending of this.welcomes.values()) clearImmediate(pending);
        this.welcomes.clear();
      });
    }
    return this.closing;
  }

  // -------------------------------------------------------------------------------------

  private welcome(user: object): void {
    this.welcomes.delete(user);
    const listener = this.users.get(user);
    if (!listener) return;
    this.call(listener, 'status');
    // A node added by a partial deploy joins a live connection: give it the state too.
    if (this.status.state !== 'connected' || !this.primed) return;
    try {
      listener.readings?.(this.status.readings, [...READING_NAMES], true);
    } catch (err) {
      this.options.logger?.warn(`${this.name}: a node failed handling readings: ${describe(err).message}`);
    }
    if (this.status.nowPlaying) this.call(listener, 'nowPlaying', this.status.nowPlaying);
  }

  /** The users that have heard their first status (the others hear the state then). */
  private *welcomed(): Iterable<SupervisorListener> {
    for (const [user, listener] of this.users) if (!this.welcomes.has(user)) yield listener;
  }

  private notConnectedError(): Error {
    const cause = this.status.error;
    const reason = cause ? `: ${cause.message}` : '';
    if (cause instanceof AtvError) {
      return new AtvError(cause.code, `${this.name} is not connected${reason}`, { cause });
    }
    switch (this.status.state) {
      case 'closed':
        return new ClosedError(`${this.name}: the connection was closed`);
      default:
        return new ClosedError(`${this.name} is not connected${reason}`);
    }
  }

  private async stop(final: 'idle' | 'closed'): Promise<void> {
    this.generation++;
    this.cancelTimer();
    const device = this.current;
    this.current = null;
    this.detach?.();
    this.detach = null;
    this.failures = 0;
    this.reported = 'idle';
    this.reportedPartial = '';
    this.cancelProbe();
    this.update({ state: final, nowPlaying: null, error: null, retryIn: null, needsPairing: [], failedProtocols: [], routes: [], readings: unknownReadings() });
    const inFlight = this.connectingDevice;
    this.connectingDevice = null;
    const trial = this.trial;
    this.trial = null;
    await Promise.all([
      device ? this.closeDevice(device) : undefined,
      inFlight ? this.closeDevice(inFlight) : undefined,
      trial ? this.closeDevice(trial) : undefined,
      this.pending ? this.bounded(this.pending) : undefined,
      this.probing ? this.bounded(this.probing) : undefined,
      ...[...this.retiring.values()].map((retire) => retire()),
    ]);
  }

  private cancelProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }

  private async bounded(work: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.closeTimeout ?? 5_000)))]);
    clearTimeout(timer);
  }

  private async closeDevice(device: SupervisedDevice): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = this.options.closeTimeout ?? 5_000;
    await Promise.race([
      device.close().catch((err: unknown) => this.options.logger?.warn(`closing ${this.name}: ${describe(err).message}`)),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.options.logger?.warn(`closing ${this.name} took longer than ${limit} ms; giving up waiting`);
          resolve();
        }, limit);
      }),
    ]);
    clearTimeout(timer);
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private attempt(): void {
    this.cancelTimer();
    const generation = ++this.generation;
    this.update({
      state: 'connecting',
      nowPlaying: null,
      error: this.status.error,
      retryIn: null,
      needsPairing: this.status.needsPairing,
      failedProtocols: [],
      routes: [],
      readings: unknownReadings(),
    });
    const pending = this.connectOnce(generation).finally(() => {
      if (this.pending === pending) this.pending = null;
    });
    this.pending = pending;
  }

  private async connectOnce(generation: number): Promise<void> {
    let device: D | null = null;
    try {
      const config = await this.options.resolve();
      if (generation !== this.generation) return;
      this.config = config;
      device = this.options.createDevice(config);
      this.connectingDevice = device;
      await device.connect();
      if (this.connectingDevice === device) this.connectingDevice = null;
      if (generation !== this.generation) {
        await this.closeDevice(device);
        return;
      }
    } catch (err) {
      if (device && this.connectingDevice === device) this.connectingDevice = null;
      if (device) await device.close().catch(() => undefined);
      if (generation !== this.generation) return;
      const error = describe(err);
      const refused = device && (error as Partial<AtvError>).code === 'AUTH' ? this.options.refusedProtocols?.(device) ?? [] : [];
      this.failed(error, refused, device ? this.config : null);
      return;
    }
    this.connected(device, generation);
  }

  private connected(device: D, generation: number): void {
    this.current = device;
    this.connectedAt = Date.now();
    const onNowPlaying = (state: NowPlaying) => {
      if (generation !== this.generation) return;
      this.status = { ...this.status, nowPlaying: state };
      // Until the first readings are in, users hear nothing but the status: their first
      // now-playing state then comes with the volume, not followed by a second message for it.
      if (this.primed) for (const listener of this.welcomed()) this.call(listener, 'nowPlaying', state);
      this.update(this.status);
    };
    const onLost = (err: Error) => {
      if (generation !== this.generation) return;
      this.current = null;
      this.detach?.();
      this.detach = null;
      this.cancelProbe();
      this.reportedPartial = '';
      // Only a connection that stayed up a while earns a quick retry: a device that accepts
      // and drops at once must not get a reconnect loop.
      if (Date.now() - this.connectedAt >= STABLE_MS) this.failures = 0;
      this.failed(err, [], null, 'connection lost: ');
    };
    const onClosed = () => onLost(new ClosedError(`${this.name} closed the connection`));
    const onPushError = (err: Error) => this.options.logger?.debug(`${this.name}: push update failed: ${err.message}`);
    const onVolume = (volume: number) => this.read(generation, device, { volume });
    const onPower = (power: PowerState) => this.read(generation, device, { power });
    const onApp = (app: AppInfo | null) => this.read(generation, device, { app });
    const onTextFocus = (textFocus: TextFocusState) => this.read(generation, device, { textFocus });
    device.on('nowPlaying', onNowPlaying);
    device.on('connectionLost', onLost);
    device.on('closed', onClosed);
    device.on('pushError', onPushError);
    device.on('volume', onVolume);
    device.on('power', onPower);
    device.on('app', onApp);
    device.on('textFocus', onTextFocus);
    this.detach = () => {
      device.off('nowPlaying', onNowPlaying);
      device.off('connectionLost', onLost);
      device.off('closed', onClosed);
      device.off('pushError', onPushError);
      device.off('volume', onVolume);
      device.off('power', onPower);
      device.off('app', onApp);
      device.off('textFocus', onTextFocus);
    };
    this.reported = 'connected';
    this.probeFailures = 0;
    const failedProtocols = failuresOf(device);
    this.reportPartial(device, failedProtocols);
    this.update({
      state: 'connected',
      nowPlaying: device.lastNowPlaying,
      error: null,
      retryIn: this.scheduleProbe(generation, device, failedProtocols),
      needsPairing: pairingOf(failedProtocols),
      failedProtocols,
      routes: [...(device.routes ?? [])],
      readings: {
        volume: null,
        power: device.powerState?.() ?? 'unknown',
        app: device.currentApp?.() ?? null,
        textFocus: device.textFocusState?.() ?? 'unknown',
      },
    });
    try {
      device.startPushUpdates();
    } catch (err) {
      this.options.logger?.debug(`${this.name}: no push updates: ${describe(err).message}`);
    }
    // The first state and volume, so status and playstatus nodes need not wait for a change
    // (and a dashboard slider shows the real level from the start); later changes arrive as
    // events (pushed, or seen by the protocol's own reads).
    this.primed = false;
    const first = (what: string) => (err: unknown) => {
      this.options.logger?.debug(`${this.name}: reading ${what} failed: ${describe(err).message}`);
      return null;
    };
    void Promise.all([
      device.nowPlaying().catch(first('now playing')),
      device.getProperty ? device.getProperty('volume').catch(first('the volume')) : Promise.resolve(null),
    ]).then(([state, volume]) => {
      if (generation !== this.generation || this.current !== device || this.status.state !== 'connected') return;
      this.primed = true;
      const readings = volume === null ? this.status.readings : { ...this.status.readings, volume };
      // A push may have brought a newer state meanwhile.
      const nowPlaying = this.status.nowPlaying ?? state;
      this.status = { ...this.status, readings, nowPlaying };
      this.tellReadings([...READING_NAMES], true);
      if (nowPlaying) for (const listener of this.welcomed()) this.call(listener, 'nowPlaying', nowPlaying);
      this.update(this.status);
    });
  }

  /** Takes a reading the connected `device` told, and tells the users what changed. */
  private read(generation: number, device: D, reading: Partial<DeviceReadings>): void {
    if (generation !== this.generation || this.current !== device || this.status.state !== 'connected') return;
    const before = this.status.readings;
    const readings = { ...before, ...reading };
    const changed = READING_NAMES.filter((name) => JSON.stringify(before[name]) !== JSON.stringify(readings[name]));
    if (changed.length === 0) return;
    this.status = { ...this.status, readings };
    if (this.primed) this.tellReadings(changed, false);
  }

  private tellReadings(changed: ReadingName[], initial: boolean): void {
    for (const listener of this.welcomed()) {
      try {
        listener.readings?.(this.status.readings, changed, initial);
      } catch (err) {
        this.options.logger?.warn(`${this.name}: a node failed handling readings: ${describe(err).message}`);
      }
    }
  }

  /** Warns once when the set of protocols that failed while others connected changes. */
  private reportPartial(device: D, failed: readonly ProtocolFailure[]): void {
    const key = failed.map((f) => `${f.protocol}:${(f.error as Partial<AtvError>).code ?? ''}`).join(',');
    if (key === this.reportedPartial) return;
    this.reportedPartial = key;
    const over = (device.protocols ?? []).map((p) => p.toUpperCase()).join(', ');
    if (failed.length === 0) {
      this.options.logger?.debug(`${this.name}: connected over ${over}`);
      return;
    }
    const why = failed.map((f) => `${f.protocol.toUpperCase()}: ${f.error.message}`).join('; ');
    this.options.logger?.warn(`${this.name}: connected over ${over}; ${why}`);
  }

  /**
   * Schedules the next background attempt at the protocols that failed while `device`
   * connected, with the same pacing as whole reconnects (refused credentials only at the
   * slowest pace). Returns the delay, or null when none is worth it (nothing failed, or only
   * configuration errors such as credentials that do not parse).
   */
  private scheduleProbe(generation: number, device: D, failed: readonly ProtocolFailure[]): number | null {
    this.cancelProbe();
    const retryable = failed.filter((f) => !isConfigurationError(f.error, this.config));
    if (retryable.length === 0) return null;
    const onlyAuth = retryable.every((f) => (f.error as Partial<AtvError>).code === 'AUTH');
    const delay = onlyAuth ? this.policy.max : retryDelay(this.probeFailures, this.policy, this.options.random);
    const retryAfter = Math.max(0, ...retryable.map((f) => (f.error as Partial<{ retryAfter: number }>).retryAfter ?? 0));
    const wait = retryAfter > 0 ? Math.max(delay, retryAfter * 1000) : delay;
    const protocols = retryable.map((f) => f.protocol);
    this.options.logger?.debug(`${this.name}: trying ${protocols.join(', ')} again in ${wait} ms`);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      const probing = this.probe(generation, device, protocols).finally(() => {
        if (this.probing === probing) this.probing = null;
      });
      this.probing = probing;
    }, wait);
    return wait;
  }

  /**
   * One background attempt: first the failed protocols alone (the working sessions are not
   * touched, and a device that still refuses costs one connection), and when they connect,
   * a whole new device. It replaces the connected one only when it has more protocols; the
   * old one finishes the requests it is serving first. Flows keep working throughout.
   */
  private async probe(generation: number, current: D, protocols: readonly Protocol[]): Promise<void> {
    const stale = () => generation !== this.generation || this.current !== current || this.status.state !== 'connected';
    let trial: D | null = null;
    let failed: ProtocolFailure[] | null = null;
    try {
      const config = await this.options.resolve();
      if (stale()) return;
      trial = this.trial = this.options.createDevice(config, protocols);
      await trial.connect();
      const probe = trial;
      trial = this.trial = null;
      await this.closeDevice(probe);
      if (stale()) return;
      trial = this.trial = this.options.createDevice(config);
      await trial.connect();
      const full = trial;
      trial = this.trial = null;
      if (stale()) {
        await this.closeDevice(full);
        return;
      }
      if ((full.protocols?.length ?? 0) > (current.protocols?.length ?? 0)) {
        this.config = config;
        this.swap(current, full, generation);
        return;
      }
      failed = failuresOf(full);
      await this.closeDevice(full);
    } catch (err) {
      const device = trial;
      if (this.trial === device) this.trial = null;
      if (device) await device.close().catch(() => undefined);
      // A lookup that failed (the device not found this time) says nothing new about the
      // protocols: the status keeps what it said.
      const seen = device ? failuresOf(device) : null;
      failed = seen && seen.length === 0 ? protocols.map((protocol) => ({ protocol, error: describe(err) })) : seen;
    }
    if (stale()) return;
    this.probeFailures++;
    const failedProtocols = (failed ?? this.status.failedProtocols).filter((f) => !(current.protocols ?? []).includes(f.protocol));
    this.reportPartial(current, failedProtocols);
    this.update({
      ...this.status,
      retryIn: this.scheduleProbe(generation, current, failedProtocols),
      needsPairing: pairingOf(failedProtocols),
      failedProtocols,
    });
  }

  /** Puts `next` in the place of the connected `previous`, which retires. */
  private swap(previous: D, next: D, generation: number): void {
    this.detach?.();
    this.detach = null;
    this.retire(previous);
    this.connected(next, generation);
  }

  /** Closes a replaced device once the requests it serves are done (or after retireTimeout). */
  private retire(device: D): void {
    let closing: Promise<void> | null = null;
    const close = (): Promise<void> => {
      if (!closing) {
        clearTimeout(timer);
        this.retiring.delete(device);
        closing = this.closeDevice(device);
      }
      return closing;
    };
    const timer = setTimeout(close, this.options.retireTimeout ?? 10_000);
    this.retiring.set(device, close);
    if (!this.busy.get(device)) void close();
  }

  /**
   * `config`: what the failed attempt connected to (null when it failed before that);
   * `what`: how the log line starts (a drop says so).
   */
  private failed(error: Error, refused: readonly Protocol[] = [], config: DeviceConfig | null = null, what = ''): void {
    const code = (error as Partial<AtvError>).code;
    this.reportedPartial = '';
    const report = (state: SupervisorState) => {
      const line = `${this.name}: ${what}${error.message}`;
      if (state !== this.reported) this.options.logger?.warn(line);
      else this.options.logger?.debug(line);
      this.reported = state;
    };
    if (isConfigurationError(error, config)) {
      report('invalid');
      this.update({ state: 'invalid', nowPlaying: null, error, retryIn: null, needsPairing: [], failedProtocols: [], routes: [], readings: unknownReadings() });
      return;
    }
    // Wrong credentials will not fix themselves quickly: retry only at the slowest pace.
    const delay = code === 'AUTH' ? this.policy.max : retryDelay(this.failures, this.policy, this.options.random);
    const retryAfter = (error as Partial<{ retryAfter: number }>).retryAfter;
    const wait = typeof retryAfter === 'number' && retryAfter > 0 ? Math.max(delay, retryAfter * 1000) : delay;
    this.failures++;
    const state = code === 'AUTH' ? 'pairing' : 'disconnected';
    report(state);
    this.options.logger?.debug(`${this.name}: next attempt in ${wait} ms`);
    this.update({
      state,
      nowPlaying: null,
      error,
      retryIn: wait,
      needsPairing: code === 'AUTH' ? [...refused] : [],
      failedProtocols: [],
      routes: [],
      readings: unknownReadings(),
    });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.attempt();
    }, wait);
  }

  private update(status: SupervisorStatus): void {
    this.status = status;
    if (status.state !== 'connecting') {
      for (const wake of [...this.waiters]) wake();
      this.waiters.clear();
    }
    for (const listener of this.welcomed()) this.call(listener, 'status');
  }

  /** Tells one user; a user's own failure never reaches the runtime or the other users. */
  private call(listener: SupervisorListener, what: 'status'): void;
  private call(listener: SupervisorListener, what: 'nowPlaying', state: NowPlaying): void;
  private call(listener: SupervisorListener, what: 'status' | 'nowPlaying', state?: NowPlaying): void {
    try {
      if (what === 'status') listener.status?.(this.snapshot());
      else listener.nowPlaying?.(state!);
    } catch (err) {
      this.options.logger?.warn(`${this.name}: a node failed handling ${what}: ${describe(err).message}`);
    }
  }
}
