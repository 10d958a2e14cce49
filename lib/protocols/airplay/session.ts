/**
 * The AirPlay `ProtocolSession`. Its main work is the remote-control tunnel: when the device
 * carries MRP inside AirPlay 2 it opens the tunnel and an `MrpSession` over it, which the
 * facade finds in `innerSessions` and ranks as MRP (every MRP capability, unchanged).
 *
 * When is the tunnel opened (pyatv: protocols/airplay/__init__.py `setup`)? For an Apple TV
 * on tvOS 13 or later with HAP AirPlay credentials, and for a HomePod (transient pairing, no
 * credentials). An Apple TV that still serves MRP on its own port (tvOS 14 and earlier, an
 * enabled `_mediaremotetv` service) is controlled there instead: pyatv sets up both and keeps
 * the first MRP to connect, which is the direct one; we skip the tunnel, which spares a second
 * connection. An Apple TV on tvOS 15 or later whose direct MRP is gone cannot be controlled
 * without AirPlay credentials, so connecting without them is an AuthenticationError saying to
 * pair AirPlay (the config node shows "pairing required" rather than a device that connects
 * and then refuses every button).
 *
 * A host given by hand comes with no TXT record: the session asks `GET /info` first, as
 * Apple's senders do, and decides from the model and features the device reports.
 *
 * Its own capability is `stream`: playing a URL (play.ts), on a connection of its own for
 * as long as the media plays, on devices that play video (not HomePods).
 */
import { EventEmitter } from 'node:events';
import {
  DEFAULT_CLIENT_NAME,
  type FeatureName,
  type FeatureState,
  type PlayUrlOptions,
  type ProtocolSession,
  type SessionCapabilities,
  type SessionContext,
  type SessionEvents,
  type Stream,
  type Txt,
} from '../../device/interfaces';
import { AuthenticationError, ClosedError } from '../../errors';
import { parseHapCredentials, type HapPairingCredentials } from '../../hap/credentials';
import { emitContained } from '../../support/emit';
import { MrpSession } from '../mrp/session';
import { AirPlayConnection } from './connection';
import { fetchAirPlayInfo } from './info';
import { airplayPlayUrl } from './play';
import { airplayPlaysVideo, airplayRemoteControlKind, type AirPlayRemoteControlKind } from './service';
import { AirPlayMrpTunnel } from './tunnel';
import { SharedAttempt } from '../../support/shared-attempt';

export interface AirPlaySessionOptions {
  /** The name the device shows for us (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** Feedback period of the tunnel, ms (default 2000). */
  feedbackInterval?: number;
}

/** Why (not) a tunnel: the decision and its reason, for the log. */
export type TunnelDecision =
  | { tunnel: true; credentials: HapPairingCredentials; kind: 'apple-tv' | 'homepod' }
  | { tunnel: false; reason: string };

/**
 * Whether MRP goes through the AirPlay tunnel for a device with this AirPlay TXT (see the
 * header), given its credentials and whether its own MRP port is usable. Throws an
 * AuthenticationError for an Apple TV that can only be reached through a tunnel it has no
 * credentials for.
 */
export function decideTunnel(txt: Txt, credentials: HapPairingCredentials | null, directMrp: boolean, device: string): TunnelDecision {
  const kind: AirPlayRemoteControlKind = airplayRemoteControlKind(txt);
  if (kind === null) return { tunnel: false, reason: 'the device carries no MRP inside AirPlay (not an Apple TV on tvOS 13+ or a HomePod)' };
  if (kind === 'homepod') {
    // HomePods open the tunnel with transient pairing only; stored credentials do not apply.
    return { tunnel: true, credentials: { kind: 'transient' }, kind };
  }
  if (directMrp) return { tunnel: false, reason: 'the Apple TV serves MRP on its own port, which is used instead' };
  if (credentials?.kind === 'hap') return { tunnel: true, credentials, kind };
  const why =
    credentials === null
      ? 'no AirPlay credentials were given'
      : credentials.kind === 'legacy'
        ? 'these are legacy AirPlay credentials, which cannot open the remote-control tunnel'
        : 'transient pairing does not open the remote-control tunnel of an Apple TV';
  throw new AuthenticationError(`${device} is controlled through AirPlay (tvOS 15 and later) and ${why}: pair AirPlay with it and use those credentials`);
}

export class AirPlaySession extends EventEmitter<SessionEvents> implements ProtocolSession, Stream {
  readonly protocol = 'airplay' as const;
  private readonly context: SessionContext;
  private readonly options: AirPlaySessionOptions;
  private inner: MrpSession | null = null;
  private properties: Txt;
  private phase: 'idle' | 'connecting' | 'connected' | 'closed' = 'idle';
  private readonly connecting = new SharedAttempt();
  private readonly playing = new Set<AbortController>();

  constructor(context: SessionContext, options: AirPlaySessionOptions = {}) {
    super();
    this.context = context;
    this.options = options;
    this.properties = context.service.properties;
  }

  override emit<E extends keyof SessionEvents>(event: E, ...args: SessionEvents[E]): boolean {
    return emitContained<SessionEvents, E>(this, event, args, this.context.logger);
  }

  /** Playing URLs (AirPlay video), unless the device says it plays none (HomePods, speakers). */
  get capabilities(): SessionCapabilities {
    return this.playsVideo() ? { stream: this } : {};
  }

  private playsVideo(): boolean {
    // Before GET /info a host given by hand is not known yet: assume it might.
    return Object.keys(this.properties).length === 0 || airplayPlaysVideo(this.properties);
  }

  /** The MRP session inside the tunnel, once connected (none without a tunnel). */
  get innerSessions(): readonly ProtocolSession[] {
    return this.inner ? [this.inner] : [];
  }

  /** The device's AirPlay TXT record: from discovery, or from `GET /info` for a host given by hand. */
  get txt(): Txt {
    return this.properties;
  }

  private get endpoint(): string {
    return `AirPlay ${this.context.config.address}:${this.context.service.port}`;
  }

  connect(): Promise<void> {
    if (this.phase === 'closed') return Promise.reject(new ClosedError('this AirPlay session was closed; create a new one'));
    if (this.phase === 'connected') return Promise.resolve();
    return this.connecting.run(() => this.establish());
  }

  private async establish(): Promise<void> {
    this.phase = 'connecting';
    try {
      // Parsed before any byte is sent: a malformed string is a configuration error.
      const credentials = this.context.credentials ? parseHapCredentials(this.context.credentials) : null;
      if (Object.keys(this.properties).length === 0) this.properties = await this.learnProperties();
      const directMrp = this.context.config.services.some((s) => s.protocol === 'mrp' && s.enabled && s.port > 0);
      const decision = decideTunnel(this.properties, credentials, directMrp, this.context.config.name);
      if (decision.tunnel) {
        await this.openTunnel(decision.credentials);
      } else {
        this.context.logger.debug(`${this.endpoint}: no remote-control tunnel: ${decision.reason}`);
      }
    } catch (err) {
      const phase = this.phase as string;
      this.phase = 'closed';
      await this.inner?.close();
      if (phase === 'closed') throw new ClosedError('the AirPlay session was closed while connecting');
      throw err;
    }
    if ((this.phase as string) === 'closed') {
      await this.inner?.close();
      throw new ClosedError('the AirPlay session was closed while connecting');
    }
    this.phase = 'connected';
  }

  private async learnProperties(): Promise<Txt> {
    const connection = await AirPlayConnection.connect({
      host: this.context.config.address,
      port: this.context.service.port,
      timeout: this.context.timeout,
      logger: this.context.logger,
    });
    try {
      const txt = await fetchAirPlayInfo(connection);
      this.context.logger.debug(`${this.endpoint}: /info says model ${txt['model'] ?? '?'}, OS ${txt['osvers'] ?? '?'}`);
      return txt;
    } finally {
      connection.close();
    }
  }

  private async openTunnel(credentials: HapPairingCredentials): Promise<void> {
    const name = this.options.name ?? DEFAULT_CLIENT_NAME;
    const tunnel = new AirPlayMrpTunnel({
      host: this.context.config.address,
      port: this.context.service.port,
      credentials,
      timeout: this.context.timeout,
      name,
      logger: this.context.logger,
      ...(this.options.feedbackInterval !== undefined && { feedbackInterval: this.options.feedbackInterval }),
    });
    const mrp = new MrpSession(this.context, tunnel, { name });
    this.inner = mrp;
    // The tunnel is this session's own connection: losing it loses the session too.
    mrp.on('connectionLost', (error) => {
      if (this.phase === 'connected') {
        this.phase = 'closed';
        this.emit('connectionLost', error);
      }
    });
    await mrp.connect();
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    // A playback under way ends with the session (its connection closes, the call resolves).
    for (const playing of this.playing) playing.abort();
    await this.inner?.close();
  }

  feature(name: FeatureName): FeatureState {
    if (name !== 'playUrl' || !this.playsVideo()) return 'unsupported';
    return this.phase === 'connected' ? 'available' : 'unavailable';
  }

  /**
   * Plays a media URL (or a local file, served for the device) on its own AirPlay
   * connection; resolves when playback ends, or when `options.signal` stops it.
   */
  async playUrl(url: string, options: PlayUrlOptions): Promise<void> {
    if (this.phase !== 'connected') throw new ClosedError('the AirPlay session is not connected (call connect() first)');
    const controller = new AbortController();
    this.playing.add(controller);
    const stop = () => controller.abort();
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.signal?.aborted) stop();
    try {
      await airplayPlayUrl(url, {
        host: this.context.config.address,
        port: this.context.service.port,
        txt: this.properties,
        credentials: this.context.credentials ? parseHapCredentials(this.context.credentials) : null,
        timeout: this.context.timeout,
        name: this.options.name ?? DEFAULT_CLIENT_NAME,
        logger: this.context.logger,
        signal: controller.signal,
        ...(options.position !== undefined && { position: options.position }),
      });
    } finally {
      options.signal?.removeEventListener('abort', stop);
      this.playing.delete(controller);
    }
  }
}

/** The AirPlay session of the protocol table. */
export function createAirPlaySession(context: SessionContext, options: AirPlaySessionOptions = {}): AirPlaySession {
  return new AirPlaySession(context, options);
}
