/**
 * The one contract between the device facade and the protocols. A protocol (DMAP, MRP, and
 * later Companion and AirPlay) implements `ProtocolSession`; the facade (`Device`) relays each
 * call to the best session that can serve it. Discovery produces `DeviceConfig`s; the
 * facade consumes them. Nothing here knows a byte of any protocol.
 */
import type { CommandName, CommandOptions, RemoteCommandName } from './commands';
import type { PlayerPropertyName, PropertyValues } from './properties';
import type { AppInfo, NowPlaying } from './state';

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

/** A TXT record as key/values (keys as advertised; read them case-insensitively). */
export type Txt = Readonly<Record<string, string>>;

/** What else on the same host bears on a service's pairing (RAOP inherits AirPlay's access control). */
export interface PairingContext {
  airplayTxt?: Txt;
}

/**
 * One DNS-SD service type: which protocol it is an endpoint of, and how its instance name
 * and TXT record yield the device's identity, its pairing requirement and whether it is
 * usable (pyatv's `service_info` of each protocol and `helpers.get_unique_id`).
 */
export interface ServiceTypeSpec {
  /** e.g. `_mediaremotetv._tcp` (without `.local`). */
  readonly type: string;
  /** The protocol this service is an endpoint of; null for info-only services. */
  readonly protocol: Protocol | null;
  /** What the service is, for humans. */
  readonly description: string;
  /** How the unique id is derived (documentation of `uniqueId`). */
  readonly uniqueIdSource: string;
  /** TXT keys we read (case-insensitive). */
  readonly txtKeys: readonly string[];
  /** The service's unique id, or null. */
  uniqueId(instance: string, txt: Txt): string | null;
  /** The device name this service announces, or null. */
  deviceName(instance: string, txt: Txt): string | null;
  /**
   * The name shared with `_device-info`/`_sleep-proxy` instances of the same device (used
   * to place TXT-only records whose responder address is not the device's own).
   */
  sharedName(instance: string): string | null;
  /** The pairing requirement (default: unsupported). */
  pairing?(txt: Txt, context: PairingContext): PairingRequirement;
  /** Why the service is unusable, or null when it is usable. */
  disabledReason?(txt: Txt): string | null;
  /** Credentials the service brings itself (DMAP's Home Sharing `hG`), or null. */
  credentials?(txt: Txt): string | null;
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
  'appList',
  'launchApp',
  'accountList',
  'switchAccount',
  'textInput',
  'playUrl',
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

/** The largest artwork edge one may ask for, in pixels. */
export const ARTWORK_MAX_EDGE = 4096;

/** Whether `value` is an artwork size one may ask for: whole pixels from 1 to ARTWORK_MAX_EDGE. */
export function isArtworkEdge(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= ARTWORK_MAX_EDGE;
}

export type PowerState = 'on' | 'off' | 'unknown';

/** A user account of the device (Apple TV profiles). */
export interface UserAccount {
  id: string;
  name: string;
}

/** Whether a text field has the focus on screen (something can be typed). */
export type TextFocusState = 'focused' | 'unfocused' | 'unknown';

export interface PlayUrlOptions {
  /** Where to start, in seconds. */
  position?: number;
  /** Ends the playback (and the call) early. */
  signal?: AbortSignal;
}

/** Events a session (and, relayed, the facade) emits. */
export interface SessionEvents {
  /** A push update: the full now-playing state after the change. */
  nowPlaying: [state: NowPlaying];
  volume: [level: number];
  power: [state: PowerState];
  /** The app in the foreground changed (where the protocol tells, e.g. Companion). */
  app: [app: AppInfo | null];
  /** A text field got or lost the focus (Companion). */
  textFocus: [state: TextFocusState];
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

// -----------------------------------------------------------------------------------------
// Capabilities: what a session can be asked. Arguments reach them checked (by the facade or
// the node that took them in); a capability trusts its types.

/** Buttons, transport commands and the player's settings. */
export interface RemoteControl {
  sendCommand(command: RemoteCommandName, options: CommandOptions): Promise<void>;
  /** Sets position, shuffle or repeat; resolves with the value the device reports afterwards. */
  setProperty<N extends PlayerPropertyName>(name: N, value: PropertyValues[N]): Promise<PropertyValues[N]>;
}

/** What plays: the now-playing state, its artwork, and pushed changes. */
export interface Metadata {
  nowPlaying(): Promise<NowPlaying>;
  artwork(request: ArtworkRequest): Promise<Artwork | null>;
  /** Starts delivering `nowPlaying` events (idempotent). */
  startPushUpdates(): void;
  stopPushUpdates(): void;
}

/** Absolute volume, 0 to 100. */
export interface Audio {
  /** The volume the device reports, or null when it does not say. */
  getVolume(): Promise<number | null>;
  /** Sets the volume; resolves with the level the device reports afterwards. */
  setVolume(level: number): Promise<number>;
}

export interface Power {
  powerState(): PowerState;
  turnOn(): Promise<void>;
  turnOff(): Promise<void>;
}

export interface Apps {
  /** Installed apps that can be launched. */
  appList(): Promise<AppInfo[]>;
  /** Launches an app by bundle id, or opens a URL (a deep link). */
  launchApp(bundleIdOrUrl: string): Promise<void>;
  /** The app in the foreground, where known. */
  currentApp(): AppInfo | null;
}

export interface Accounts {
  accountList(): Promise<UserAccount[]>;
  switchAccount(id: string): Promise<void>;
}

/** The on-screen text field. */
export interface Keyboard {
  textFocusState(): TextFocusState;
  textGet(): Promise<string | null>;
  textSet(text: string): Promise<void>;
  textAppend(text: string): Promise<void>;
  textClear(): Promise<void>;
}

export interface Stream {
  /** Plays a media URL; resolves when playback ends. */
  playUrl(url: string, options: PlayUrlOptions): Promise<void>;
}

export interface CapabilityMap {
  remoteControl: RemoteControl;
  metadata: Metadata;
  audio: Audio;
  power: Power;
  apps: Apps;
  accounts: Accounts;
  keyboard: Keyboard;
  stream: Stream;
}
export type Capability = keyof CapabilityMap;
export const CAPABILITIES = ['remoteControl', 'metadata', 'audio', 'power', 'apps', 'accounts', 'keyboard', 'stream'] as const satisfies readonly Capability[];

/** The capabilities a session offers (each may be the session itself). */
export type SessionCapabilities = { readonly [C in Capability]?: CapabilityMap[C] };

/**
 * One protocol's connection to a device. `capabilities` says what the protocol can do at
 * all; `feature()` says what it can do right now. The facade relays each call to the best
 * session offering the capability, and skips one whose `feature()` says `unsupported`.
 */
export interface ProtocolSession extends SessionEmitter {
  readonly protocol: Protocol;
  /** The protocol this session's messages travel inside, when not its own port (MRP through the AirPlay tunnel: 'airplay'). */
  readonly via?: Protocol;
  readonly capabilities: SessionCapabilities;
  connect(): Promise<void>;
  /** Ends everything: sockets, long polls, timers. Safe to call twice. */
  close(): Promise<void>;
  feature(name: FeatureName): FeatureState;
  /**
   * Sessions this one opened on its own connection (the MRP session inside the AirPlay
   * tunnel), known once connect() resolved; they end with it.
   */
  readonly innerSessions?: readonly ProtocolSession[];
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
