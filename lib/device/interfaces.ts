/**
 * The one contract between the device facade and the protocols. A protocol (DMAP, MRP, and
 * later Companion and AirPlay) implements `ProtocolSession`; the facade (`Device`) relays each
 * call to the best session that can serve it. Discovery produces `DeviceConfig`s; the
 * facade consumes them. Nothing here knows a byte of any protocol.
 */
import type { CommandName, CommandOptions } from './commands';
import type { PropertyName, PropertyValues } from './properties';
import type { NowPlaying } from './state';

export const PROTOCOLS = ['mrp', 'dmap', 'companion', 'airplay', 'raop'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Whether and how a service can be paired with. */
export type PairingRequirement =
  /** Pairing is required before the service can be used. */
  | 'mandatory'
  /** Works without pairing, pairing adds something. */
  | 'optional'
  /** Not needed (e.g. Home Sharing credentials come from discovery). */
  | 'not-needed'
  /** The device currently refuses pairing. */
  | 'disabled'
  /** We cannot pair with this service. */
  | 'unsupported';

export interface ServiceInfo {
  protocol: Protocol;
  /** TCP port; 0 when the device sleeps behind a sleep proxy. */
  port: number;
  /** The DNS-SD service type it was found as, e.g. `_touch-able._tcp`. */
  serviceType: string | null;
  /** The DNS-SD instance name. */
  instanceName: string | null;
  /** This service's unique identifier (see discovery), if any. */
  identifier: string | null;
  pairing: PairingRequirement;
  /** False when the service is advertised but unusable (e.g. direct MRP on tvOS 15+). */
  enabled: boolean;
  /** Why the service is disabled, for humans. */
  disabledReason: string | null;
  /** Credentials found by discovery (Home Sharing `hG`), if any. */
  credentials: string | null;
  /** The raw TXT record (keys as advertised). */
  properties: Record<string, string>;
}

export interface DeviceInfo {
  /** tvOS, macOS, AirPort OS, ... or null. */
  operatingSystem: string | null;
  /** Marketing model name, e.g. "Apple TV 4K (gen 2)". */
  model: string | null;
  /** Raw model identifier, e.g. "AppleTV11,1". */
  rawModel: string | null;
  /** OS version, e.g. "17.4". */
  osVersion: string | null;
  /** OS build, e.g. "21L227". */
  buildNumber: string | null;
  mac: string | null;
}

export interface DeviceConfig {
  name: string;
  /** IPv4 address. */
  address: string;
  /** The main identifier (first of `identifiers`). */
  identifier: string | null;
  /** Every unique id of every service; a device matches a search by any of them. */
  identifiers: string[];
  deviceInfo: DeviceInfo;
  services: ServiceInfo[];
  /** The device sleeps behind a Bonjour sleep proxy (ports 0); a knock may wake it. */
  deepSleep: boolean;
}

export type FeatureState = 'available' | 'unavailable' | 'unsupported' | 'unknown';

/** Every capability the facade can be asked about: the commands plus these. */
export const FEATURES = [
  'nowPlaying',
  'pushUpdates',
  'artwork',
  'setPosition',
  'setShuffle',
  'setRepeat',
  'volume',
  'setVolume',
  'powerState',
] as const;
export type FeatureName = (typeof FEATURES)[number] | CommandName;

export interface Artwork {
  bytes: Buffer;
  /** `image/png`, `image/jpeg`, ... */
  mimeType: string;
  width: number | null;
  height: number | null;
}

export interface ArtworkRequest {
  width?: number;
  height?: number;
}

export type PowerState = 'on' | 'off' | 'unknown';

/** Events a session (and, relayed, the facade) emits. */
export interface SessionEvents {
  /** A push update: the full now-playing state after the change. */
  nowPlaying: [state: NowPlaying];
  volume: [level: number];
  power: [state: PowerState];
  /** The session's connection dropped; the session is unusable afterwards. */
  connectionLost: [error: Error];
  /** A push-update round failed but the session lives on (it will retry). */
  pushError: [error: Error];
}

export interface SessionEmitter {
  on<E extends keyof SessionEvents>(event: E, listener: (...args: SessionEvents[E]) => void): this;
  off<E extends keyof SessionEvents>(event: E, listener: (...args: SessionEvents[E]) => void): this;
  once<E extends keyof SessionEvents>(event: E, listener: (...args: SessionEvents[E]) => void): this;
}

/**
 * One protocol's connection to a device. Optional methods are what the protocol can do at
 * all; `feature()` says what it can do right now. The facade never calls a method the session
 * lacks, and skips a session whose `feature()` says `unsupported` for the call.
 */
export interface ProtocolSession extends SessionEmitter {
  readonly protocol: Protocol;
  connect(): Promise<void>;
  /** Ends everything: sockets, long polls, timers. Safe to call twice. */
  close(): Promise<void>;
  feature(name: FeatureName): FeatureState;

  sendCommand?(command: CommandName, options: CommandOptions): Promise<void>;
  nowPlaying?(): Promise<NowPlaying>;
  artwork?(request: ArtworkRequest): Promise<Artwork | null>;
  /** Sets a property and resolves with the value the device reports afterwards. */
  setProperty?<N extends PropertyName>(name: N, value: PropertyValues[N]): Promise<PropertyValues[N]>;
  getProperty?<N extends PropertyName>(name: N): Promise<PropertyValues[N] | null>;
  /** Starts delivering `nowPlaying` events (idempotent). */
  startPushUpdates?(): void;
  stopPushUpdates?(): void;
  powerState?(): PowerState;
}

/** Credentials per protocol, in each protocol's string format. */
export type Credentials = Partial<Record<Protocol, string>>;

/** What the facade hands a protocol when it opens a session. */
export interface SessionContext {
  config: DeviceConfig;
  service: ServiceInfo;
  /** This protocol's credentials, or null to connect unpaired. */
  credentials: string | null;
  /** Per-request timeout in milliseconds (long polls are exempt). */
  timeout: number;
  logger: import('../log').Logger;
}

export type SessionFactory = (context: SessionContext) => ProtocolSession;

/** The name a device lists us under when the caller gives none (DMAP remote name, MRP client name). */
export const DEFAULT_CLIENT_NAME = 'Node-RED';

/**
 * One pairing attempt. DMAP: the user picks the PIN and types it on the device
 * (`deviceProvidesPin` false, call `setPin` before `begin`). MRP and the HAP protocols: the
 * device shows the PIN after `begin`, the user types it into us (`setPin`), then `finish`.
 */
export interface PairingSession {
  readonly protocol: Protocol;
  readonly deviceProvidesPin: boolean;
  begin(): Promise<void>;
  setPin(pin: string): void;
  /** Resolves with the credentials string once the device accepted the pairing. */
  finish(): Promise<string>;
  /** Stops everything (announcements, servers, sockets). Safe to call twice. */
  close(): Promise<void>;
}
