/**
 * A simulated Apple TV on loopback (or any address): one shared `SimulatorState` served by
 * a server per protocol (DMAP/DACP, MRP, Companion), advertised over DNS-SD (multicast and/or
 * unicast), with DMAP pairing run from the device side and MRP and Companion pairing with a PIN. Tests,
 * the CLI's `simulate` command and the Node-RED demo (`npm start`) all use this class.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DeviceConfig, UserAccount } from '../device/interfaces';
import { DEFAULT_ADVERTISED_TTL, ServiceAdvertiser } from '../mdns/advertiser';
import { browseServices } from '../discovery/scan';
import { devicesFromRecords } from '../discovery/services';
import { announcedIPv4Addresses } from '../mdns/transport';
import type { AdvertisedService, ServiceRecord } from '../mdns/types';
import { AtvError, ClosedError, InvalidArgumentError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { DEMO_DMAP_CREDENTIALS, DEMO_HOME_SHARING_GUID, SIMULATOR_DMAP_MODEL, createDmapServer, type DmapSimulatorServer } from './dmap';
import { pairWithRemote, type PairWithRemoteOptions, type PairWithRemoteResult } from './dmap-pairing';
import { createAirPlayServer, type AirPlaySimulatorServer } from './airplay';
import { createMrpServer, type MrpSimulatorServer } from './mrp';
import { checkDevicePin, randomDevicePin } from './hap-accessory';
import { createCompanionServer, type CompanionSimulatorServer } from './companion';
import { simulatorProfile, SIMULATED_DEVICES, type SimulatedDevice, type SimulatorDeviceProfile } from './profiles';
import {
  CredentialStore,
  type SimulatorCredentials,
  type SimulatorLogin,
  type SimulatorPinRequest,
  type SimulatorRequest,
  type SimulatorServer,
  type SimulatorServerContext,
} from './server';
import { DEMO_TRACKS, SimulatorState, type PlaybackStatus, type SimulatorApp, type SimulatorTrack } from './state';

export * from './state';
export { CredentialStore } from './server';
export type { SimulatorCredentials, SimulatorLogin, SimulatorPinRequest, SimulatorRequest, SimulatorServer, SimulatorServerContext, ServerAdvertisement } from './server';
export { DmapSimulatorServer, DEMO_DMAP_CREDENTIALS, DEMO_HOME_SHARING_GUID, type DmapServerStats } from './dmap';
export {
  MrpSimulatorServer,
  formatMrpPairingRecord,
  mrpDeviceIdentity,
  MRP_SIMULATOR_MAX_REQUEST_BYTES,
  SIMULATOR_MRP_BOARD,
  SIMULATOR_MRP_BUILD,
  SIMULATOR_MRP_MODEL,
  type MrpDeviceIdentity,
  type MrpServerStats,
  type MrpSimulatorOptions,
} from './mrp';
export {
  AirPlaySimulatorServer,
  AIRPLAY_EVENT_REPLY_TIMEOUT,
  SIMULATOR_AIRPLAY_SOURCE_VERSION,
  type AirPlayDeviceIdentity,
  type AirPlayServerStats,
  type AirPlaySimulatorOptions,
} from './airplay';
export * from './profiles';
export {
  CompanionSimulatorServer,
  companionDeviceIdentity,
  COMPANION_SIMULATOR_MAX_REQUEST_BYTES,
  type CompanionServerStats,
  type CompanionSimulatorOptions,
} from './companion';
export { HapAccessory, formatPairingRecord, pairingRecordId, type HapAccessoryOptions, type HapPairingLink, type HapPeer } from './hap-accessory';
export { type PairWithRemoteOptions, type PairWithRemoteResult, type TouchRemote } from './dmap-pairing';
export { trackArtwork, pngSize, encodePng, MAX_ARTWORK_EDGE } from './artwork';

export const SIMULATED_PROTOCOLS = ['dmap', 'mrp', 'airplay', 'companion'] as const;
export type SimulatedProtocol = (typeof SIMULATED_PROTOCOLS)[number];

/** The server class of each simulated protocol (what `Simulator.server(p)` returns). */
export interface SimulatorServers {
  dmap: DmapSimulatorServer;
  mrp: MrpSimulatorServer;
  airplay: AirPlaySimulatorServer;
  companion: CompanionSimulatorServer;
}

/** One factory per simulated protocol: adding MRP is one line here plus its server file. */
const SERVER_FACTORIES: {
  readonly [P in SimulatedProtocol]: (context: SimulatorServerContext, options: SimulatorOptions) => SimulatorServers[P];
} = {
  dmap: (context, options) =>
    createDmapServer({
      ...context,
      port: options.dmapPort ?? 0,
      homeSharingGuid: options.homeSharing === false ? null : DEMO_HOME_SHARING_GUID,
      ...(options.longPollTimeout !== undefined ? { longPollTimeout: options.longPollTimeout } : {}),
    }),
  mrp: (context, options) => createMrpServer({ ...context, port: options.mrpPort ?? 0, pin: options.pin ?? randomDevicePin() }),
  airplay: (context, options) =>
    createAirPlayServer({
      ...context,
      port: options.airplayPort ?? 0,
      ...(options.pin !== undefined && { pin: options.pin }),
      ...(options.eventReplyTimeout !== undefined && { eventReplyTimeout: options.eventReplyTimeout }),
    }),
  companion: (context, options) => createCompanionServer({ ...context, port: options.companionPort ?? 0, pin: options.pin ?? randomDevicePin() }),
};

/** The protocols whose pairing shows a PIN on the device's screen (the simulator's `pin`); AirPlay only on an Apple TV. */
const SHOWS_PIN: ReadonlySet<SimulatedProtocol> = new Set(['mrp', 'companion']);

/** Whether a simulator serving `protocols` as `device` shows a pairing PIN (a HomePod pairs AirPlay transiently). */
export function showsPairingPin(protocols: readonly SimulatedProtocol[], device: SimulatedDevice = 'appletv'): boolean {
  return protocols.some((p) => SHOWS_PIN.has(p)) || (protocols.includes('airplay') && device === 'appletv');
}

export const DEFAULT_SIMULATOR_NAME = 'Simulated Apple TV';

export interface SimulatorOptions {
  /** The device name users see (default "Simulated Apple TV"). */
  name?: string;
  /** Address every server binds (default 127.0.0.1). */
  host?: string;
  /** Protocols to serve (default `['dmap']`; a HomePod `['airplay']`). */
  protocols?: readonly SimulatedProtocol[];
  /** TCP port of the DACP server (default 0 = ephemeral). */
  dmapPort?: number;
  /** TCP port of the MRP server (default 0 = ephemeral). */
  mrpPort?: number;
  /** TCP port of the AirPlay receiver (default 0 = ephemeral). */
  airplayPort?: number;
  /**
   * The device played: an Apple TV (default; tvOS 18 when AirPlay is served, tvOS 14.7
   * otherwise) or a HomePod mini (AirPlay only, transient pairing, music only).
   */
  device?: SimulatedDevice;
  /** TCP port of the Companion server (default 0 = ephemeral). */
  companionPort?: number;
  /** The 4-digit PIN MRP, AirPlay and Companion pairing ask for (default: random, chosen once per simulator). */
  pin?: string;
  /** How long the AirPlay receiver waits for an event-channel answer before ending a session (default 30 s). */
  eventReplyTimeout?: number;
  /** Answer unicast DNS-SD queries on this UDP port (0 = ephemeral); undefined = no unicast. */
  mdnsPort?: number;
  /** Advertise by multicast DNS on 224.0.0.251:5353 (default false; the CLI turns it on). */
  multicast?: boolean;
  /** IPv4 address of the interface to multicast on. */
  interface?: string;
  /** Extra accepted DMAP pairing GUIDs (`0x` + 16 hex digits); the demo one is always accepted. */
  credentials?: readonly string[];
  /** Accept and advertise the demo Home Sharing GUID (default true); false makes pairing mandatory. */
  homeSharing?: boolean;
  /** The 16-hex-digit device id (default: derived from the name, so it is stable across runs). */
  deviceId?: string;
  /** Queue of tracks (default the demo queue). */
  tracks?: readonly SimulatorTrack[];
  /** Give every track this many seconds (tests use 1–2). */
  trackSeconds?: number;
  /** Start playing at once (default false: the first track is loaded, paused). */
  autoplay?: boolean;
  /** Installed apps (Companion's app list; default the demo apps). */
  apps?: readonly SimulatorApp[];
  /** User accounts, the first active (default the demo accounts). */
  accounts?: readonly UserAccount[];
  /** Server-side cap of a DACP long poll in ms (default 10 min). */
  longPollTimeout?: number;
  logger?: Logger;
}

export interface SimulatorEvents {
  /** A pairing succeeded; the CLI prints these credentials for the user. */
  credentials: [credentials: SimulatorCredentials];
  login: [login: SimulatorLogin];
  request: [request: SimulatorRequest];
  /** A remote started MRP or Companion pairing: show this PIN as a TV shows it on screen. */
  pin: [request: SimulatorPinRequest];
}

export interface SimulatorPairingOptions extends Omit<PairWithRemoteOptions, 'browse' | 'signal' | 'logger'> {
  /**
   * Browse with unicast DNS-SD to these hosts; default: multicast when the simulator
   * multicasts, else 127.0.0.1 on `mdnsPort`.
   */
  hosts?: string[];
}

function defaultDeviceId(name: string): string {
  return createHash('md5').update(`atvlink-simulator:${name}`).digest('hex').slice(0, 16).toUpperCase();
}

function normalizeCredential(value: string): string {
  const m = /^0x([0-9a-f]{16})$/i.exec(value.trim());
  if (m === null) throw new InvalidArgumentError('simulator credentials must be "0x" followed by 16 hex digits');
  return `0x${m[1]!.toUpperCase()}`;
}

function checkPort(value: number | undefined, what: string): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= 65535)) {
    throw new InvalidArgumentError(`${what} must be a port number from 0 to 65535, got ${String(value)}`);
  }
}

/** A DNS-SD host label from a device name ("Simulated Apple TV" → "Simulated-Apple-TV"). */
function hostLabel(name: string): string {
  const label = name.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return label === '' ? 'atvlink-simulator' : label;
}

export class Simulator extends EventEmitter<SimulatorEvents> {
  readonly name: string;
  readonly host: string;
  readonly deviceId: string;
  readonly protocols: readonly SimulatedProtocol[];
  /** The device played (model, OS, build), as every protocol reports it. */
  readonly profile: SimulatorDeviceProfile;
  readonly state: SimulatorState;
  /**
   * Board name advertised in `_device-info._tcp`: an Apple TV 3 for DMAP alone, an Apple TV
   * 4K when MRP is served (that generation speaks both).
   */
  readonly model: string;

  private readonly options: SimulatorOptions;
  private readonly logger: Logger;
  private readonly store = new CredentialStore();
  private readonly servers = new Map<SimulatedProtocol, SimulatorServer>();
  private advertiser: ServiceAdvertiser | null = null;
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private readonly pairings = new AbortController();

  constructor(options: SimulatorOptions = {}) {
    super();
    this.options = { ...options };
    this.name = options.name?.trim() || DEFAULT_SIMULATOR_NAME;
    this.host = options.host ?? '127.0.0.1';
    // A HomePod speaks AirPlay only; an Apple TV defaults to the DMAP demo.
    this.protocols = [...new Set<SimulatedProtocol>(options.protocols ?? (options.device === 'homepod' ? ['airplay'] : ['dmap']))];
    if (this.protocols.length === 0) throw new InvalidArgumentError(`the simulator needs a protocol to serve: ${SIMULATED_PROTOCOLS.join(', ')}`);
    for (const p of this.protocols) {
      if (!(SIMULATED_PROTOCOLS as readonly string[]).includes(p)) {
        throw new InvalidArgumentError(`the simulator cannot serve ${JSON.stringify(p)}; it serves ${SIMULATED_PROTOCOLS.join(', ')}`);
      }
    }
    checkPort(options.dmapPort, 'dmapPort');
    checkPort(options.mrpPort, 'mrpPort');
    checkPort(options.companionPort, 'companionPort');
    checkPort(options.airplayPort, 'airplayPort');
    const device = options.device ?? 'appletv';
    if (!(SIMULATED_DEVICES as readonly string[]).includes(device)) {
      throw new InvalidArgumentError(`the simulator plays ${SIMULATED_DEVICES.join(' or ')}, not ${JSON.stringify(device)}`);
    }
    this.profile = simulatorProfile(device, this.protocols);
    if (options.pin !== undefined) checkDevicePin(options.pin);
    if (this.showsPin) this.options.pin = options.pin ?? randomDevicePin();
    this.model = this.protocols.some((p) => p !== 'dmap') ? this.profile.board : SIMULATOR_DMAP_MODEL;
    checkPort(options.mdnsPort, 'mdnsPort');
    if (options.deviceId !== undefined && !/^[0-9A-Fa-f]{16}$/.test(options.deviceId)) {
      throw new InvalidArgumentError('the simulator device id must be 16 hex digits');
    }
    this.deviceId = (options.deviceId ?? defaultDeviceId(this.name)).toUpperCase();
    this.logger = options.logger ?? silentLogger;
    this.store.add('dmap', DEMO_DMAP_CREDENTIALS);
    for (const c of options.credentials ?? []) this.store.add('dmap', normalizeCredential(c));
    // A HomePod plays no video.
    const tracks = options.tracks ?? (this.profile.video ? undefined : DEMO_TRACKS.filter((t) => t.mediaType === 'music'));
    this.state = new SimulatorState({
      ...(tracks !== undefined ? { tracks } : {}),
      ...(options.trackSeconds !== undefined ? { trackSeconds: options.trackSeconds } : {}),
      status: (options.autoplay ? 'playing' : 'paused') satisfies PlaybackStatus,
      ...(options.apps !== undefined ? { apps: options.apps } : {}),
      ...(options.accounts !== undefined ? { accounts: options.accounts } : {}),
    });
  }

  /** The DMAP pairing GUIDs accepted for login (the demo one first). */
  get acceptedCredentials(): string[] {
    return this.store.list('dmap');
  }

  /** Whether a pairing PIN is shown: MRP, Companion, or AirPlay on an Apple TV (a HomePod pairs transiently). */
  private get showsPin(): boolean {
    return showsPairingPin(this.protocols, this.profile.device);
  }

  /** The MRP/AirPlay/Companion pairing PIN (null when neither pairs with a PIN); also sent with each 'pin' event. */
  get pin(): string | null {
    return this.showsPin ? this.options.pin ?? null : null;
  }

  /** The AirPlay receiver's bound port (0 before start or when AirPlay is not served). */
  get airplayPort(): number {
    return this.servers.get('airplay')?.port ?? 0;
  }

  /** The Companion server's bound port (0 before start or when Companion is not served). */
  get companionPort(): number {
    return this.servers.get('companion')?.port ?? 0;
  }

  /** The MRP server's bound port (0 before start or when MRP is not served). */
  get mrpPort(): number {
    return this.servers.get('mrp')?.port ?? 0;
  }

  /** The DACP server's bound port (0 before start or when DMAP is not served). */
  get dmapPort(): number {
    return this.servers.get('dmap')?.port ?? 0;
  }

  /** The UDP port answering unicast DNS-SD queries, or null when there is none. */
  get mdnsPort(): number | null {
    return this.advertiser?.unicastPort ?? null;
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  /** The server of a protocol (for its counters, request log and events), once started. */
  server<P extends SimulatedProtocol>(protocol: P): SimulatorServers[P] | undefined {
    return this.servers.get(protocol) as SimulatorServers[P] | undefined;
  }

  async start(): Promise<void> {
    if (this.phase === 'stopped') throw new ClosedError('this simulator was stopped; create a new one');
    if (this.phase !== 'new') return;
    this.phase = 'starting';
    try {
      for (const protocol of this.protocols) {
        const context: SimulatorServerContext = {
          state: this.state,
          name: this.name,
          deviceId: this.deviceId,
          host: this.host,
          port: 0,
          credentials: this.store,
          logger: this.logger,
          profile: this.profile,
        };
        const server = SERVER_FACTORIES[protocol](context, this.options);
        server.on('login', (login) => this.emit('login', login));
        server.on('request', (request) => this.emit('request', request));
        server.on('pin', (request) => this.emit('pin', request));
        server.on('credentials', (credentials) => this.emit('credentials', credentials));
        this.servers.set(protocol, server);
        await server.start();
      }
      await this.startAdvertising();
      this.phase = 'running';
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Closes every server, socket, long poll, timer, pairing and advertisement. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.phase === 'stopped') return;
    this.phase = 'stopped';
    this.pairings.abort();
    const advertiser = this.advertiser;
    this.advertiser = null;
    const results = await Promise.allSettled([advertiser?.stop(), ...[...this.servers.values()].map((s) => s.stop())]);
    this.state.close();
    for (const r of results) {
      if (r.status === 'rejected') this.logger.warn(`simulator: error while stopping: ${String(r.reason)}`);
    }
  }

  /** The DNS-SD services this simulator advertises (valid once started). */
  advertisements(): AdvertisedService[] {
    const host = `${hostLabel(this.name)}.local`;
    const addresses = this.advertisedAddresses();
    const services: AdvertisedService[] = [];
    for (const server of this.servers.values()) {
      for (const ad of server.advertisements()) services.push({ ...ad, host, addresses });
    }
    services.push({ type: '_device-info._tcp', instance: this.deviceId, host, addresses, port: 0, txt: { model: this.model } });
    return services;
  }

  /**
   * How a client reaches this simulator without discovery: exactly what a scan would report
   * (the advertised records run through discovery's own record → device code).
   */
  config(): DeviceConfig {
    if (this.phase !== 'running') throw new ClosedError('start the simulator before asking for its config (ports are known once bound)');
    const source = this.clientAddress();
    const records: ServiceRecord[] = this.advertisements().map((ad) => ({
      type: ad.type,
      instance: ad.instance,
      host: ad.host,
      port: ad.port,
      addresses: [source],
      txt: { ...ad.txt },
      ttl: ad.ttl ?? DEFAULT_ADVERTISED_TTL,
      source,
    }));
    const device = devicesFromRecords(records)[0];
    if (device === undefined) throw new AtvError('NOT_SUPPORTED', 'the simulator advertises no usable service');
    return device;
  }

  /** Lines for the CLI banner: name, id, ports, DNS-SD, demo credentials (nothing secret). */
  describe(): string[] {
    const lines = [`${this.name} (id ${this.deviceId}) on ${this.host}`];
    for (const server of this.servers.values()) lines.push(...server.describe());
    const dnsSd: string[] = [];
    if (this.options.multicast) dnsSd.push(`multicast${this.options.interface ? ` on ${this.options.interface}` : ''}`);
    if (this.mdnsPort !== null) dnsSd.push(`unicast on udp ${this.host}:${this.mdnsPort}`);
    lines.push(`DNS-SD: ${dnsSd.length > 0 ? dnsSd.join(', ') : 'not advertised'}`);
    if (this.mdnsPort !== null) lines.push(`  find it with: scan --hosts ${this.clientAddress()} --mdns-port ${this.mdnsPort}`);
    return lines;
  }

  /**
   * DMAP pairing from the device side: finds the remote announcing `_touch-remote._tcp`
   * (or calls `options.remote`), sends it the code for `pin`, and accepts the GUID it
   * answers. Emits 'credentials' and resolves with them.
   */
  async pairWithRemote(pin: string, options: SimulatorPairingOptions = {}): Promise<PairWithRemoteResult> {
    if (this.phase === 'stopped') throw new ClosedError('this simulator was stopped');
    const hosts = options.hosts ?? (this.options.multicast ? undefined : ['127.0.0.1']);
    const result = await pairWithRemote(pin, this.deviceId, {
      ...options,
      ...(hosts !== undefined ? { hosts } : {}),
      browse: browseServices,
      ...(options.interface === undefined && this.options.interface !== undefined ? { interface: this.options.interface } : {}),
      logger: this.logger,
      signal: this.pairings.signal,
    });
    this.store.add('dmap', result.credentials);
    this.emit('credentials', { protocol: 'dmap', credentials: result.credentials, remoteName: result.remoteName });
    return result;
  }

  // -------------------------------------------------------------------------------------

  private clientAddress(): string {
    return this.host === '0.0.0.0' ? this.advertisedAddresses()[0] ?? '127.0.0.1' : this.host;
  }

  private advertisedAddresses(): string[] {
    if (this.host !== '0.0.0.0') return [this.host];
    const found = announcedIPv4Addresses(this.options.interface);
    return found.length > 0 ? found : ['127.0.0.1'];
  }

  private async startAdvertising(): Promise<void> {
    const multicast = this.options.multicast ?? false;
    if (!multicast && this.options.mdnsPort === undefined) return;
    const advertiser = new ServiceAdvertiser({
      multicast,
      ...(this.options.mdnsPort !== undefined ? { unicast: { host: this.host, port: this.options.mdnsPort } } : {}),
      ...(this.options.interface !== undefined ? { interface: this.options.interface } : {}),
      logger: this.logger,
    });
    this.advertiser = advertiser;
    for (const service of this.advertisements()) advertiser.add(service);
    await advertiser.start();
  }
}
