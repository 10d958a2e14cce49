/**
 * The simulator's AirPlay receiver: what a tvOS 18 Apple TV (or a HomePod) serves on its
 * `_airplay._tcp` port for remote control (pyatv: protocols/airplay, and atvproxy's AirPlay
 * proxy, which shows the receiver's side of the tunnel):
 *  - in clear: `GET /info`, `POST /pair-pin-start` (the Apple TV shows its PIN: the 'pin'
 *    event), HAP pair-setup on `/pair-setup` (`X-Apple-HKP: 3` with the PIN, `4` transient
 *    with 3939) and pair-verify on `/pair-verify`, each checked in full (SRP proof, M5 and
 *    pair-verify M3 signatures against the stored key); anything else gets 470, as a
 *    receiver answers a sender that has not paired;
 *  - then HAP blocks on the same connection, keyed like the sender's control channel: RTSP
 *    `SETUP` of a session (an event port), `RECORD`, `SETUP` of the type-130 data stream (a
 *    data port, keys salted with the sender's seed), `POST /feedback`, `TEARDOWN`;
 *  - the event connection: the receiver sends `POST /command` (`updateInfo`) and ends the
 *    session when it goes unanswered (a real one waits about 30 s);
 *  - the data connection: `sync` frames whose `{params: {data}}` carry MRP messages, each
 *    answered with a `rply` (payload `{}`, as an Apple TV sends), and the device's own MRP
 *    messages sent as `sync`/`cmnd`. The MRP messages are handled by the same device endpoint
 *    as the MRP port (`mrp-device.ts`), over the shared state.
 *  - playing a URL (AirPlay video, after pairing): `POST /play` (the device fetches the
 *    media; the shared state shows it as now playing), `GET /playback-info` (an XML plist
 *    with the duration while it plays, an `error` when the media could not be fetched),
 *    `POST /rate`, `PUT /setProperty`, `POST /scrub`, `POST /stop`; the sender's connection
 *    closing stops it, as on a real receiver.
 * An Apple TV opens the remote-control session only for HAP-verified senders (transient
 * pairing gets 470 there: pyatv uses HAP for Apple TVs, and the issue reports of transient
 * tunnels to Apple TVs failing are consistent with that); a HomePod only pairs transiently.
 */
import { createHash, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Server, Socket } from 'node:net';
import { decodeBplist, encodeBplist, isBplistDict, type BplistValue } from '../codecs/bplist';
import {
  encodeHttpRequest,
  encodeHttpResponse,
  HttpMessageDecoder,
  type HttpHeaderValue,
  type HttpRequest,
} from '../codecs/http';
import { decodeTlv8, encodeTlv8, HapPairingFlag, Tlv8ErrorCode, Tlv8Type, tlv8Uint } from '../codecs/tlv8';
import { decodeOpack } from '../codecs/opack';
import { decodePlistBody, encodeXmlPlist } from '../codecs/plist-xml';
import { encodeTxt } from '../mdns/txt';
import { InvalidArgumentError, ProtocolError } from '../errors';
import { CounterNonceCipher } from '../hap/channel';
import { ED25519_KEY_LENGTH, randomKeyBytes } from '../hap/keys';
import { HAP_TRANSIENT_PIN, PairSetupServer } from '../hap/pair-setup';
import { deriveChannelKeys, PairVerifyServer, type HapSessionChannel } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import { silentLogger, type Logger } from '../log';
import {
  DataStreamCommand,
  DataStreamFrameDecoder,
  DataStreamMessageType,
  dataStreamMessages,
  encodeDataStreamFrame,
  encodeDataStreamSync,
} from '../protocols/airplay/datastream';
import { BPLIST_CONTENT_TYPE } from '../protocols/airplay/connection';
import { MEDIA_REMOTE_CLIENT_TYPE_UUID, REMOTE_CONTROL_STREAM_TYPE } from '../protocols/airplay/tunnel';
import { FramedChannel } from '../support/channel';
import { HAP_BLOCKS, RAW_BYTES } from '../support/frames';
import { MrpDevice, formatMrpPairingRecord, type MrpDeviceClient } from './mrp-device';
import type { MrpDeviceIdentity } from './mrp-messages';
import { mrpDeviceIdentity } from './mrp';
import { APPLE_TV_TVOS18, type SimulatorDeviceProfile } from './profiles';
import { listenTcp, type CredentialStore, type ServerAdvertisement, type SimulatorRequest, type SimulatorServer, type SimulatorServerContext, type SimulatorServerEvents } from './server';
import type { SimulatorState } from './state';

/** What the receiver says it is in `Server` headers and `/info` (AirPlay's version, "srcvers"). */
export const SIMULATOR_AIRPLAY_SOURCE_VERSION = '820.6.1';
/** How long a real receiver waits for the answer to an event-channel request before ending the session. */
export const AIRPLAY_EVENT_REPLY_TIMEOUT = 30_000;
/** Requests are pairing TLVs and small plists; a larger body is garbage. */
const MAX_REQUEST_BODY = 256 * 1024;
const MAX_CONNECTIONS = 32;
/** A listener for an event or data connection waits this long for the sender to connect. */
const CHANNEL_ACCEPT_MS = 30_000;
/** A pair-setup left half-way blocks others only this long. */
const SETUP_STALE_MS = 120_000;
const REQUEST_LOG_LIMIT = 1000;
/** The device's own syncs a sender may leave unanswered before it counts as broken. */
const MAX_UNANSWERED_SYNCS = 256;

/** The feature sets and status flags the profiles advertise (see `airplayTxt`). */
const AIRPLAY_FEATURES: Record<SimulatorDeviceProfile['device'], { features: bigint; flags: string }> = {
  // An Apple TV 4K on tvOS 15 quoted in pyatv issue #1360 (flags 0x644: PIN pairing, 0x200).
  appletv: { features: 0xbc155fde_4a7fdfd5n, flags: '0x644' },
  // A HomePod mini as pyatv's fake AirPlay device describes one (/info): no video, transient pairing.
  homepod: { features: 0x3c356bd0_4a7fca00n, flags: '0x4' },
};

/** `AAAAAAAA-BBBB-…` from a hash of `seed`: stable per simulator. */
function derivedUuid(seed: string): string {
  const hex = createHash('md5').update(seed).digest('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** `0xLOW,0xHIGH`, as TXT records write a 64-bit feature set. */
function featuresText(features: bigint): string {
  const hex = (n: bigint) => `0x${n.toString(16).toUpperCase()}`;
  return `${hex(features & 0xffffffffn)},${hex(features >> 32n)}`;
}

export interface AirPlayDeviceIdentity {
  name: string;
  /** TXT `deviceid`: the MAC (the same as MRP's `macAddress`). */
  deviceId: string;
  /** The HAP pairing identifier (M6 and pair-verify M2 name the device with it); TXT `psi`. */
  pairingId: string;
  /** TXT `pi`: the AirPlay group/pairing identity, lower-case. */
  pi: string;
  /** TXT `gid`: the group UUID. */
  gid: string;
}

/** `profile` defaults to a tvOS 18 Apple TV. */
export interface AirPlaySimulatorOptions extends SimulatorServerContext {
  /** The 4-digit PIN an Apple TV shows for pairing (a HomePod takes none). */
  pin?: string;
  /** The device's long-term Ed25519 secret (32-byte seed); random per server by default. */
  seed?: Buffer;
  /** Another SRP group, for fast tests; real devices and clients use HAP's. */
  srpGroup?: SrpGroup;
  /** A key held down at least this long is a hold (default 500 ms). */
  holdMs?: number;
  /** How long an event-channel request may go unanswered before the session ends (default 30 s). */
  eventReplyTimeout?: number;
  /**
   * Fixed only in tests that replay recorded sessions: the HAP pairing identifier (default
   * derived from the device id), the SRP salt and secret of pair-setup (default random per
   * attempt) and the ephemeral X25519 key of pair-verify (default random per verify).
   */
  pairingId?: string;
  srpSalt?: Buffer;
  srpPrivateKey?: Buffer;
  verifyEphemeralKey?: Buffer;
}

export interface AirPlayServerStats {
  /** Control connections open right now. */
  openConnections: number;
  totalConnections: number;
  /** Successful pair-verifies, transient pairings. */
  verifications: number;
  transientPairings: number;
  /** Refused pair-verifies and transient pairings. */
  failedVerifications: number;
  /** Completed PIN pair-setups, refused attempts. */
  pairings: number;
  failedPairings: number;
  /** Remote-control data streams open right now. */
  tunnels: number;
  feedbacks: number;
  /** Event-channel requests the senders answered. */
  eventReplies: number;
  /** Data-stream syncs received, rplys received. */
  syncs: number;
  replies: number;
}

export interface AirPlayServerEvents extends SimulatorServerEvents {
  connection: [open: number];
  disconnect: [open: number];
}

/** An accepted extra connection (event or data) of one session. */
interface SideChannel {
  listener: Server | null;
  channel: FramedChannel | null;
  timer: NodeJS.Timeout | null;
}

interface Session {
  events: SideChannel | null;
  data: SideChannel | null;
  mrp: MrpDeviceClient | null;
  /** Device-sent event requests waiting for their answer: CSeq → timer. */
  eventWaits: Map<number, NodeJS.Timeout>;
  eventCseq: number;
  /** Device syncs not yet answered. */
  unanswered: Set<bigint>;
}

/** A URL a sender asked to play, and what became of it. */
export interface SimulatorPlayback {
  url: string;
  /** Seconds into the media it started at. */
  position: number;
  /** `loading` while the device fetches it, `playing` once it did (until it ends or stops), `failed`. */
  status: 'loading' | 'playing' | 'failed';
  /** Bytes of the media the device read (its first 64 KiB at most); null when not fetched (https). */
  fetched: Buffer | null;
  /** Why it failed: an NSURLErrorDomain code, as Apple's players report it. */
  error: { code: number; domain: string } | null;
}

interface Control {
  readonly id: number;
  playback: SimulatorPlayback | null;
  readonly channel: FramedChannel;
  readonly decoder: HttpMessageDecoder<HttpRequest>;
  verify: PairVerifyServer | null;
  /** This sender's transient pair-setup (each sender has its own: nothing is shared or stored). */
  transient: PairSetupServer | null;
  /** The shared secret of the control channel, once encrypted. */
  secret: Buffer | null;
  /** Authenticated by HAP pair-verify (not transient). */
  hap: boolean;
  remoteName: string | null;
  session: Session | null;
  closed: boolean;
}

function uint64Seed(value: BplistValue | undefined): bigint | null {
  let seed: bigint;
  if (typeof value === 'number' && Number.isSafeInteger(value)) seed = BigInt(value);
  else if (typeof value === 'bigint') seed = value;
  else return null;
  // iOS sends the seed as a signed 64-bit int; the key salt takes its unsigned value.
  if (seed < 0n) seed += 1n << 64n;
  return seed >= 0n && seed < 1n << 64n ? seed : null;
}

export class AirPlaySimulatorServer extends EventEmitter<AirPlayServerEvents> implements SimulatorServer {
  readonly protocol = 'airplay' as const;
  readonly profile: SimulatorDeviceProfile;
  readonly identity: AirPlayDeviceIdentity;
  readonly mrpIdentity: MrpDeviceIdentity;
  /** The MRP endpoint the remote-control data streams talk to. */
  readonly device: MrpDevice;
  /** The last 1000 HTTP/RTSP requests answered (no bodies), oldest first. */
  readonly requests: SimulatorRequest[] = [];

  private readonly host: string;
  private readonly requestedPort: number;
  private readonly credentials: CredentialStore;
  private readonly logger: Logger;
  private readonly pinCode: string | null;
  private readonly seed: Buffer;
  private readonly setup: PairSetupServer;
  private readonly eventReplyTimeout: number;
  private readonly state: SimulatorState;
  /** Every URL a sender asked to play, oldest first (the last 100). */
  readonly playbacks: SimulatorPlayback[] = [];
  private readonly fixed: Pick<AirPlaySimulatorOptions, 'srpGroup' | 'srpSalt' | 'srpPrivateKey' | 'verifyEphemeralKey'>;
  private server: Server | null = null;
  private boundPort = 0;
  private nextId = 1;
  private readonly controls = new Set<Control>();
  private setupOwner: Control | null = null;
  private setupStartedAt = 0;
  private counters = {
    totalConnections: 0,
    verifications: 0,
    transientPairings: 0,
    failedVerifications: 0,
    pairings: 0,
    failedPairings: 0,
    feedbacks: 0,
    eventReplies: 0,
    syncs: 0,
    replies: 0,
  };

  constructor(options: AirPlaySimulatorOptions) {
    super();
    this.profile = options.profile ?? APPLE_TV_TVOS18;
    if (options.seed !== undefined && options.seed.length !== ED25519_KEY_LENGTH) throw new InvalidArgumentError('the AirPlay device seed must be 32 bytes');
    this.host = options.host;
    this.requestedPort = options.port;
    this.credentials = options.credentials;
    this.logger = options.logger ?? silentLogger;
    this.pinCode = this.profile.device === 'homepod' ? null : (options.pin ?? null);
    this.seed = options.seed ?? randomKeyBytes(ED25519_KEY_LENGTH);
    this.eventReplyTimeout = options.eventReplyTimeout ?? AIRPLAY_EVENT_REPLY_TIMEOUT;
    this.state = options.state;
    this.mrpIdentity = mrpDeviceIdentity(options.name, options.deviceId, this.profile);
    this.identity = {
      name: options.name,
      deviceId: this.mrpIdentity.macAddress,
      pairingId: options.pairingId ?? derivedUuid(`atvlink-simulator-airplay-psi:${options.deviceId}`),
      pi: derivedUuid(`atvlink-simulator-airplay-pi:${options.deviceId}`).toLowerCase(),
      gid: derivedUuid(`atvlink-simulator-airplay-gid:${options.deviceId}`),
    };
    this.setup = new PairSetupServer({
      // A HomePod shows no PIN: PIN pair-setup is refused before the SRP step (see pairSetup).
      pin: this.pinCode ?? '0000',
      deviceId: this.identity.pairingId,
      seed: this.seed,
      allowTransient: false,
      ...this.srpOptions(options),
    });
    this.fixed = options;
    this.device = new MrpDevice({
      state: options.state,
      identity: this.mrpIdentity,
      credentials: options.credentials,
      events: this,
      protocol: 'airplay',
      logger: this.logger,
      ...(options.holdMs !== undefined && { holdMs: options.holdMs }),
    });
  }

  private srpOptions(options: Pick<AirPlaySimulatorOptions, 'srpGroup' | 'srpSalt' | 'srpPrivateKey'>): {
    srpGroup?: SrpGroup;
    salt?: Buffer;
    srpPrivateKey?: Buffer;
  } {
    return {
      ...(options.srpGroup !== undefined && { srpGroup: options.srpGroup }),
      ...(options.srpSalt !== undefined && { salt: options.srpSalt }),
      ...(options.srpPrivateKey !== undefined && { srpPrivateKey: options.srpPrivateKey }),
    };
  }

  get port(): number {
    return this.boundPort;
  }

  /** The PIN an Apple TV shows for pairing (null for a HomePod). */
  get pin(): string | null {
    return this.pinCode;
  }

  /** The device's long-term public key (TXT `pk`; the first field of credentials paired with it). */
  get ltpk(): Buffer {
    return Buffer.from(this.setup.ltpk);
  }

  stats(): AirPlayServerStats {
    let tunnels = 0;
    for (const c of this.controls) if (c.session?.data?.channel?.isOpen) tunnels++;
    return { ...this.counters, openConnections: this.controls.size, tunnels };
  }

  async start(): Promise<void> {
    if (this.server !== null) return;
    const { server, port } = await listenTcp(this.host, this.requestedPort, 'AirPlay simulator', this.logger, (socket) => this.accept(socket));
    this.server = server;
    this.boundPort = port;
    this.device.start();
    this.logger.debug(`AirPlay simulator listening on ${this.host}:${this.boundPort}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.device.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.controls) c.channel.close();
    await closed;
  }

  /**
   * The `_airplay._tcp` TXT record: the keys, in the order, of an Apple TV 4K's record quoted
   * in pyatv issue #1360 (tvOS 15), with this device's values; `pk` is the long-term key the
   * pairing hands out, `fex` the feature set's bytes in base64 (as Apple writes it).
   */
  txt(): Record<string, string> {
    const { features, flags } = AIRPLAY_FEATURES[this.profile.device];
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(features);
    const txt: Record<string, string> = { acl: '0' };
    if (this.profile.device === 'appletv') txt['btaddr'] = this.identity.deviceId;
    Object.assign(txt, {
      deviceid: this.identity.deviceId,
      fex: le.toString('base64').replace(/=+$/, ''),
      features: featuresText(features),
      flags,
      gid: this.identity.gid,
      igl: '1',
      gcgl: '1',
      model: this.profile.model,
      protovers: '1.1',
      pi: this.identity.pi,
      psi: this.identity.pairingId,
      pk: this.ltpk.toString('hex'),
      srcvers: SIMULATOR_AIRPLAY_SOURCE_VERSION,
      osvers: this.profile.osVersion,
      vv: '2',
    });
    return txt;
  }

  /** What `GET /info` answers (and the `updateInfo` event carries): the receiver's description, TXT included. */
  info(): Record<string, BplistValue> {
    const { features, flags } = AIRPLAY_FEATURES[this.profile.device];
    return {
      deviceID: this.identity.deviceId,
      features,
      model: this.profile.model,
      name: this.identity.name,
      osBuildVersion: this.profile.build,
      pi: this.identity.pi,
      psi: this.identity.pairingId,
      pk: this.ltpk,
      macAddress: this.identity.deviceId,
      protocolVersion: '1.1',
      sourceVersion: SIMULATOR_AIRPLAY_SOURCE_VERSION,
      statusFlags: Number.parseInt(flags, 16),
      txtAirPlay: Buffer.concat(encodeTxt(this.txt()).map((s) => Buffer.concat([Buffer.from([s.length]), s]))),
      vv: 2,
    };
  }

  advertisements(): ServerAdvertisement[] {
    return [{ type: '_airplay._tcp', instance: this.identity.name, port: this.boundPort, txt: this.txt() }];
  }

  describe(): string[] {
    const what = this.profile.device === 'homepod' ? 'HomePod' : 'Apple TV';
    return [
      `AirPlay on ${this.host}:${this.boundPort} (${what} ${this.profile.model}, OS ${this.profile.osVersion}, id ${this.identity.deviceId})`,
      this.pinCode === null
        ? '  pairing: none (transient pairing on every connection)'
        : '  pairing: HAP with a 4-digit PIN, shown when a remote starts pairing; remote control through the AirPlay tunnel',
    ];
  }

  // -------------------------------------------------------------------------------------
  // Control connections

  private accept(socket: Socket): void {
    if (this.server === null || this.controls.size >= MAX_CONNECTIONS) {
      socket.destroy();
      return;
    }
    const id = this.nextId++;
    const control: Control = {
      id,
      channel: new FramedChannel(socket, { endpoint: `AirPlay simulator connection ${id}`, format: RAW_BYTES, logger: this.logger }),
      decoder: HttpMessageDecoder.forRequests({ maxBodyBytes: MAX_REQUEST_BODY }),
      verify: null,
      transient: null,
      secret: null,
      hap: false,
      remoteName: null,
      session: null,
      closed: false,
      playback: null,
    };
    this.controls.add(control);
    this.counters.totalConnections += 1;
    control.channel.on('frame', ({ payload }) => this.receive(control, payload));
    control.channel.on('closed', (reason) => {
      if (reason) this.logger.debug(`AirPlay simulator: connection ${id}: ${reason.message}`);
      control.closed = true;
      this.endSession(control);
      // A receiver stops the media a sender played when that sender goes away.
      if (control.playback?.status === 'playing' && this.state.playingUrl === control.playback.url) this.state.stop();
      this.controls.delete(control);
      if (this.setupOwner === control) this.setupOwner = null;
      this.emit('disconnect', this.controls.size);
    });
    this.emit('connection', this.controls.size);
  }

  private receive(control: Control, bytes: Buffer): void {
    let requests: HttpRequest[];
    try {
      requests = control.decoder.push(bytes);
    } catch (err) {
      control.channel.abort(new ProtocolError(`AirPlay simulator: ${(err as Error).message}`));
      return;
    }
    for (const request of requests) {
      if (control.closed) return;
      try {
        this.handle(control, request);
      } catch (err) {
        // A bug of ours must not take the simulator down: lose this sender, keep the rest.
        this.logger.warn(`AirPlay simulator: ${request.method} ${request.target} failed: ${err instanceof Error ? err.message : String(err)}`);
        control.channel.abort(new ProtocolError('internal error'));
      }
    }
  }

  private reply(control: Control, request: HttpRequest, status: number, body?: { bytes: Buffer; type: string }, extra: Array<[string, HttpHeaderValue]> = []): void {
    const headers: Array<[string, HttpHeaderValue]> = [];
    const cseq = request.headers.get('CSeq');
    if (cseq !== undefined) headers.push(['CSeq', cseq]);
    headers.push(['Server', `AirTunes/${SIMULATOR_AIRPLAY_SOURCE_VERSION}`], ...extra);
    if (body) headers.push(['Content-Type', body.type]);
    if (!control.closed && control.channel.isOpen) {
      control.channel.send(encodeHttpResponse({ protocol: request.protocol, status, headers, ...(body && { body: body.bytes }) }));
    }
    this.record(control, request, status);
  }

  private record(control: Control, request: HttpRequest, status: number): void {
    const [path = '', query = ''] = request.target.split('?', 2);
    const entry: SimulatorRequest = {
      protocol: 'airplay',
      at: Date.now(),
      method: request.method,
      path,
      query: query === '' ? {} : Object.fromEntries(new URLSearchParams(query)),
      status,
      sessionId: control.id,
    };
    this.requests.push(entry);
    if (this.requests.length > REQUEST_LOG_LIMIT) this.requests.shift();
    this.emit('request', entry);
  }

  private plistReply(control: Control, request: HttpRequest, value: Record<string, BplistValue>): void {
    this.reply(control, request, 200, { bytes: encodeBplist(value, { sortKeys: false }), type: BPLIST_CONTENT_TYPE });
  }

  private handle(control: Control, request: HttpRequest): void {
    const path = request.target.split('?', 1)[0]!;
    const route = `${request.method} ${path}`;
    if (route === 'GET /info') {
      this.plistReply(control, request, this.info());
      return;
    }
    if (route === 'OPTIONS *' || request.method === 'OPTIONS') {
      this.reply(control, request, 200, undefined, [['Public', 'SETUP, RECORD, TEARDOWN, OPTIONS, GET, POST, PUT']]);
      return;
    }
    if (control.secret === null) {
      switch (route) {
        case 'POST /pair-pin-start':
          this.pinStart(control, request);
          return;
        case 'POST /pair-setup':
          this.pairSetup(control, request);
          return;
        case 'POST /pair-verify':
          this.pairVerify(control, request);
          return;
        default:
          // Not paired (or not encrypted yet): what a receiver answers such a sender.
          this.reply(control, request, 470);
          return;
      }
    }
    switch (request.method) {
      case 'SETUP':
        this.setupRequest(control, request);
        return;
      case 'RECORD':
        this.reply(control, request, 200, undefined, [['Audio-Latency', '0']]);
        return;
      case 'TEARDOWN':
        this.endSession(control);
        this.reply(control, request, 200);
        return;
    }
    if (route === 'POST /feedback') {
      this.counters.feedbacks += 1;
      this.plistReply(control, request, { streams: [] });
      return;
    }
    if (this.playRequest(control, request, route)) return;
    this.reply(control, request, request.protocol === 'RTSP/1.0' ? 501 : 404);
  }

  // -------------------------------------------------------------------------------------
  // Playing a URL

  /** The playback routes; false when `route` is none of them. */
  private playRequest(control: Control, request: HttpRequest, route: string): boolean {
    const query = new URLSearchParams(request.target.split('?', 2)[1] ?? '');
    const mine = control.playback !== null && control.playback.status === 'playing' && this.state.playingUrl === control.playback.url;
    switch (route) {
      case 'POST /play':
        this.play(control, request);
        return true;
      case 'GET /playback-info':
        this.reply(control, request, 200, { bytes: encodeXmlPlist(this.playbackInfo(control)), type: 'text/x-apple-plist+xml' });
        return true;
      case 'POST /rate': {
        const rate = Number(query.get('value'));
        if (!Number.isFinite(rate) || rate < 0) {
          this.reply(control, request, 400);
          return true;
        }
        if (mine) {
          if (rate === 0) this.state.pause();
          else this.state.play();
        }
        this.reply(control, request, 200);
        return true;
      }
      case 'POST /scrub': {
        const position = Number(query.get('position'));
        if (mine && Number.isFinite(position) && position >= 0) this.state.setPosition(position);
        this.reply(control, request, mine ? 200 : 400);
        return true;
      }
      case 'PUT /setProperty':
        try {
          decodeBplist(request.body, { maxDepth: 8 });
          this.reply(control, request, 200);
        } catch {
          this.reply(control, request, 400);
        }
        return true;
      case 'POST /stop':
        if (mine) this.state.stop();
        this.reply(control, request, 200);
        return true;
      default:
        return false;
    }
  }

  private play(control: Control, request: HttpRequest): void {
    let body: BplistValue;
    try {
      body = decodePlistBody(request.body);
    } catch {
      this.reply(control, request, 400);
      return;
    }
    const url = isBplistDict(body) ? body['Content-Location'] : undefined;
    const start = isBplistDict(body) ? (body['Start-Position-Seconds'] ?? body['Start-Position']) : undefined;
    if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) {
      this.reply(control, request, 400);
      return;
    }
    if (!this.profile.video) {
      // A HomePod plays no video.
      this.reply(control, request, 501);
      return;
    }
    const position = typeof start === 'number' && Number.isFinite(start) && start >= 0 ? start : 0;
    const playback: SimulatorPlayback = { url, position, status: 'loading', fetched: null, error: null };
    control.playback = playback;
    this.playbacks.push(playback);
    if (this.playbacks.length > 100) this.playbacks.shift();
    this.reply(control, request, 200);
    // Like a real player, the device reads the media itself (plain http only: no certificates here).
    void fetchStart(url, this.logger).then(
      (bytes) => {
        if (control.playback !== playback) return;
        playback.fetched = bytes;
        playback.status = 'playing';
        this.state.playUrl(url, { position });
      },
      (error: { code: number; domain: string }) => {
        playback.status = 'failed';
        playback.error = error;
      },
    );
  }

  private playbackInfo(control: Control): Record<string, BplistValue> {
    const playback = control.playback;
    if (playback?.error) return { error: { code: playback.error.code, domain: playback.error.domain } };
    if (playback?.status !== 'playing' || this.state.playingUrl !== playback.url) return { readyToPlay: false };
    const snap = this.state.snapshot();
    const duration = snap.track?.duration ?? 0;
    return {
      duration,
      position: snap.position ?? 0,
      rate: snap.status === 'playing' ? 1 : 0,
      readyToPlay: true,
      playbackBufferEmpty: false,
      playbackBufferFull: true,
      playbackLikelyToKeepUp: true,
      loadedTimeRanges: [{ start: 0, duration }],
      seekableTimeRanges: [{ start: 0, duration }],
    };
  }

  // -------------------------------------------------------------------------------------
  // Pairing

  private hkp(request: HttpRequest): string | undefined {
    return request.headers.get('X-Apple-HKP');
  }

  private tlvReply(control: Control, request: HttpRequest, tlv: Buffer): void {
    this.reply(control, request, 200, { bytes: tlv, type: 'application/octet-stream' });
  }

  private pinStart(control: Control, request: HttpRequest): void {
    if (this.hkp(request) === '3' && this.pinCode !== null) {
      this.logger.debug(`AirPlay simulator: a sender asked for the PIN; it is on screen`);
      this.emit('pin', { protocol: 'airplay', pin: this.pinCode, remoteName: control.remoteName });
    }
    this.reply(control, request, 200);
  }

  private pairSetup(control: Control, request: HttpRequest): void {
    const hkp = this.hkp(request);
    let state: number | undefined;
    try {
      state = tlv8Uint(decodeTlv8(request.body), Tlv8Type.State);
    } catch {
      // Left to the state machine, which answers garbage with a TLV error.
    }
    const refuse = (code: number) => {
      this.counters.failedPairings += 1;
      this.tlvReply(control, request, encodeTlv8([[Tlv8Type.State, Math.min(6, Math.max(2, (state ?? 1) + 1))], [Tlv8Type.Error, code]]));
    };
    if (hkp !== '3' && hkp !== '4') {
      this.reply(control, request, 400);
      return;
    }
    if (hkp === '4') {
      this.transientSetup(control, request, state, refuse);
      return;
    }
    if (this.pinCode === null) {
      // A HomePod pairs with a sender only transiently.
      refuse(Tlv8ErrorCode.Unavailable);
      return;
    }
    const now = Date.now();
    const owner = this.setupOwner;
    const ownerBusy = owner !== null && owner !== control && !owner.closed && now - this.setupStartedAt < SETUP_STALE_MS;
    if (state === 1 && ownerBusy) {
      refuse(Tlv8ErrorCode.Busy);
      return;
    }
    if (state !== 1 && owner !== control) {
      refuse(Tlv8ErrorCode.Unknown);
      return;
    }
    if (state === 1) {
      this.setupOwner = control;
      this.setupStartedAt = now;
    }
    const step = this.setup.handle(request.body);
    switch (step.kind) {
      case 'reply':
        this.tlvReply(control, request, step.message);
        return;
      case 'paired': {
        this.setupOwner = null;
        const record = formatMrpPairingRecord(step.controller.id, step.controller.ltpk);
        this.credentials.add('airplay', record);
        this.counters.pairings += 1;
        control.remoteName = this.controllerName(step.controller.name) ?? control.remoteName;
        this.tlvReply(control, request, step.message);
        this.logger.debug(`AirPlay simulator: paired with ${control.remoteName ?? 'a sender'}`);
        this.emit('credentials', { protocol: 'airplay', credentials: record, remoteName: control.remoteName });
        return;
      }
      default:
        // 'rejected' (wrong PIN, back-off, garbage, a transient M1 under HKP 3).
        this.setupOwner = null;
        this.counters.failedPairings += 1;
        this.tlvReply(control, request, step.message);
        this.logger.debug(`AirPlay simulator: pair-setup refused: ${step.kind === 'rejected' ? step.reason : step.kind}`);
    }
  }

  /** Transient pair-setup (`X-Apple-HKP: 4`, PIN 3939, M1..M4): the SRP key keys the channels. */
  private transientSetup(control: Control, request: HttpRequest, state: number | undefined, refuse: (code: number) => void): void {
    if (state === 1) {
      control.transient = new PairSetupServer({
        pin: HAP_TRANSIENT_PIN,
        deviceId: this.identity.pairingId,
        seed: this.seed,
        ...this.srpOptions(this.fixed),
      });
    }
    const setup = control.transient;
    if (setup === null) {
      refuse(Tlv8ErrorCode.Unknown);
      return;
    }
    const step = setup.handle(request.body);
    switch (step.kind) {
      case 'reply':
        if (state === 1 && ((tlv8Uint(decodeTlv8(request.body), Tlv8Type.Flags) ?? 0) & HapPairingFlag.Transient) === 0) {
          // X-Apple-HKP 4 without the transient flag: not a transient pairing.
          control.transient = null;
          refuse(Tlv8ErrorCode.Unknown);
          return;
        }
        this.tlvReply(control, request, step.message);
        return;
      case 'transient':
        control.transient = null;
        this.counters.transientPairings += 1;
        // M4 goes out in clear; everything after it is encrypted, both ways.
        this.tlvReply(control, request, step.message);
        this.encrypt(control, step.sharedSecret, false);
        this.emit('login', { protocol: 'airplay', sessionId: control.id, method: 'transient' });
        return;
      default:
        control.transient = null;
        this.counters.failedVerifications += 1;
        this.tlvReply(control, request, step.kind === 'rejected' ? step.message : encodeTlv8([[Tlv8Type.State, 4], [Tlv8Type.Error, Tlv8ErrorCode.Unknown]]));
        this.logger.debug(`AirPlay simulator: transient pairing refused: ${step.kind === 'rejected' ? step.reason : step.kind}`);
    }
  }

  /** The name an M5 carried (OPACK `{name}`), safe for a log line. */
  private controllerName(item: Buffer | undefined): string | null {
    if (item === undefined) return null;
    try {
      const value = decodeOpack(item);
      const name = value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !Array.isArray(value) ? (value as Record<string, unknown>)['name'] : undefined;
      // eslint-disable-next-line no-control-regex
      return typeof name === 'string' ? name.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 64) || null : null;
    } catch {
      return null;
    }
  }

  private pairVerify(control: Control, request: HttpRequest): void {
    if (this.hkp(request) !== '3') {
      this.reply(control, request, 400);
      return;
    }
    let state: number | undefined;
    try {
      state = tlv8Uint(decodeTlv8(request.body), Tlv8Type.State);
    } catch {
      // The verifier answers garbage with a TLV error.
    }
    if (state === 1 || control.verify === null) {
      control.verify = new PairVerifyServer({
        seed: this.seed,
        deviceId: this.identity.pairingId,
        controllers: (id) => this.controllerKey(id),
        ...(this.fixed.verifyEphemeralKey !== undefined && { ephemeralPrivateKey: this.fixed.verifyEphemeralKey }),
      });
    }
    const step = control.verify.handle(request.body);
    switch (step.kind) {
      case 'reply':
        this.tlvReply(control, request, step.message);
        return;
      case 'rejected':
        control.verify = null;
        this.counters.failedVerifications += 1;
        this.tlvReply(control, request, step.message);
        this.logger.debug(`AirPlay simulator: pair-verify refused: ${step.reason}`);
        return;
      case 'verified':
        control.verify = null;
        this.counters.verifications += 1;
        this.tlvReply(control, request, step.message);
        this.encrypt(control, step.sharedSecret, true);
        this.emit('login', { protocol: 'airplay', sessionId: control.id, method: 'pair-verify' });
    }
  }

  /** The control connection turns into HAP blocks with the control keys (our side: accessory). */
  private encrypt(control: Control, secret: Buffer, hap: boolean): void {
    if (control.decoder.pendingBytes > 0) {
      control.channel.abort(new ProtocolError('the sender sent more before encryption started'));
      return;
    }
    control.secret = secret;
    control.hap = hap;
    control.channel.switchTo(HAP_BLOCKS, new CounterNonceCipher(deriveChannelKeys(secret, 'airplayControl', { role: 'accessory' }), 'zeros-then-counter'));
  }

  /** The long-term key of a paired sender (the newest pairing of that id wins). */
  private controllerKey(id: Buffer): Buffer | undefined {
    const wanted = `${id.toString('hex')}:`;
    let found: Buffer | undefined;
    for (const record of this.credentials.list('airplay')) if (record.startsWith(wanted)) found = Buffer.from(record.slice(wanted.length), 'hex');
    return found;
  }

  // -------------------------------------------------------------------------------------
  // The remote-control session

  private setupRequest(control: Control, request: HttpRequest): void {
    let body: BplistValue;
    try {
      body = decodeBplist(request.body, { maxDepth: 16 });
    } catch {
      this.reply(control, request, 400);
      return;
    }
    if (!isBplistDict(body)) {
      this.reply(control, request, 400);
      return;
    }
    const streams = body['streams'];
    if (streams === undefined) {
      this.setupSession(control, request, body);
      return;
    }
    this.setupStreams(control, request, streams);
  }

  private setupSession(control: Control, request: HttpRequest, body: Record<string, BplistValue>): void {
    if (body['isRemoteControlOnly'] === true && this.profile.device === 'appletv' && !control.hap) {
      // An Apple TV opens remote control only to senders that paired with its PIN.
      this.reply(control, request, 470);
      return;
    }
    if (typeof body['name'] === 'string') control.remoteName = body['name'].slice(0, 64);
    this.endSession(control);
    const session: Session = { events: null, data: null, mrp: null, eventWaits: new Map(), eventCseq: 0, unanswered: new Set() };
    control.session = session;
    this.listen(control, 'airplayEvents', null, (side) => (session.events = side), (channel) => this.eventsConnected(control, session, channel))
      .then((port) => this.plistReply(control, request, { eventPort: port }))
      .catch((err: Error) => {
        this.logger.warn(`AirPlay simulator: no event port: ${err.message}`);
        this.reply(control, request, 500);
      });
  }

  private setupStreams(control: Control, request: HttpRequest, streams: BplistValue): void {
    const session = control.session;
    const stream = Array.isArray(streams) && streams.length === 1 && isBplistDict(streams[0]) ? streams[0] : null;
    if (session === null || stream === null) {
      this.reply(control, request, 400);
      return;
    }
    const seed = uint64Seed(stream['seed']);
    if (stream['type'] !== REMOTE_CONTROL_STREAM_TYPE || seed === null || session.data !== null) {
      // Audio streams are RAOP's business; one remote-control stream per session.
      this.reply(control, request, 453);
      return;
    }
    if (stream['clientTypeUUID'] !== MEDIA_REMOTE_CLIENT_TYPE_UUID) this.logger.debug('AirPlay simulator: a data stream for another client type');
    this.listen(control, 'airplayDataStream', seed, (side) => (session.data = side), (channel) => this.dataConnected(control, session, channel))
      .then((port) => this.plistReply(control, request, { streams: [{ type: REMOTE_CONTROL_STREAM_TYPE, streamID: 1, dataPort: port }] }))
      .catch((err: Error) => {
        this.logger.warn(`AirPlay simulator: no data port: ${err.message}`);
        this.reply(control, request, 500);
      });
  }

  /**
   * Opens a listener for one extra connection of `control`'s session, keyed from its secret
   * (our side: accessory); resolves with its port. The first connection is taken, the
   * listener closes; nobody connecting within 30 s closes it too.
   */
  private async listen(
    control: Control,
    keys: HapSessionChannel,
    seed: bigint | null,
    register: (side: SideChannel) => void,
    connected: (channel: FramedChannel) => void,
  ): Promise<number> {
    const side: SideChannel = { listener: null, channel: null, timer: null };
    register(side);
    const { server, port } = await listenTcp(this.host, 0, 'AirPlay simulator channel', this.logger, (socket) => {
      if (side.channel !== null || control.closed) {
        socket.destroy();
        return;
      }
      this.closeListener(side);
      const channel = new FramedChannel(socket, {
        endpoint: `AirPlay simulator ${keys === 'airplayEvents' ? 'events' : 'data stream'} of connection ${control.id}`,
        format: HAP_BLOCKS,
        logger: this.logger,
      });
      channel.switchTo(
        HAP_BLOCKS,
        new CounterNonceCipher(deriveChannelKeys(control.secret!, keys, { role: 'accessory', ...(seed !== null && { seed }) }), 'zeros-then-counter'),
      );
      side.channel = channel;
      connected(channel);
    });
    side.listener = server;
    side.timer = setTimeout(() => this.closeListener(side), CHANNEL_ACCEPT_MS);
    side.timer.unref();
    return port;
  }

  private closeListener(side: SideChannel): void {
    if (side.timer) clearTimeout(side.timer);
    side.timer = null;
    side.listener?.close();
    side.listener = null;
  }

  /** The event connection is up: tell the sender who we are, and expect an answer. */
  private eventsConnected(control: Control, session: Session, channel: FramedChannel): void {
    const decoder = HttpMessageDecoder.forResponses({ maxBodyBytes: MAX_REQUEST_BODY });
    channel.on('frame', ({ payload }) => {
      try {
        for (const response of decoder.push(payload)) {
          const cseq = Number(response.headers.get('CSeq'));
          const wait = session.eventWaits.get(cseq);
          if (wait === undefined) continue;
          clearTimeout(wait);
          session.eventWaits.delete(cseq);
          this.counters.eventReplies += 1;
        }
      } catch (err) {
        channel.abort(new ProtocolError(`event channel: ${(err as Error).message}`));
      }
    });
    channel.on('closed', () => {
      if (control.session === session) this.endSession(control);
    });
    this.sendEvent(control, session, { type: 'updateInfo', value: this.info() });
  }

  /** A request on the event channel, which the sender must answer in time or lose the session. */
  private sendEvent(control: Control, session: Session, body: Record<string, BplistValue>): void {
    const channel = session.events?.channel;
    if (!channel?.isOpen) return;
    const cseq = session.eventCseq++;
    const timer = setTimeout(() => {
      this.logger.debug(`AirPlay simulator: the sender did not answer event ${cseq}; ending its session`);
      if (control.session === session) this.endSession(control);
    }, this.eventReplyTimeout);
    timer.unref();
    session.eventWaits.set(cseq, timer);
    const bytes = encodeBplist(body, { sortKeys: false });
    channel.send(
      encodeHttpRequest({
        method: 'POST',
        target: '/command',
        protocol: 'RTSP/1.0',
        headers: [
          ['CSeq', cseq],
          ['Content-Type', BPLIST_CONTENT_TYPE],
        ],
        body: bytes,
      }),
    );
  }

  /** The data connection is up: MRP flows both ways through it. */
  private dataConnected(control: Control, session: Session, channel: FramedChannel): void {
    const decoder = new DataStreamFrameDecoder();
    const client = this.device.attach(
      {
        name: channel.endpoint,
        get isOpen() {
          return channel.isOpen;
        },
        send: (message) => {
          const seqno = (BigInt(randomInt(0, 0xffffffff)) << 32n) | BigInt(randomInt(0, 0xffffffff));
          if (session.unanswered.size >= MAX_UNANSWERED_SYNCS) {
            channel.abort(new ProtocolError('the sender stopped answering our syncs'));
            return;
          }
          session.unanswered.add(seqno);
          channel.send(encodeDataStreamSync([message], seqno, DataStreamCommand.Receiver));
        },
        drop: (reason) => channel.abort(new ProtocolError(reason)),
      },
      { verified: true },
    );
    session.mrp = client;
    channel.on('frame', ({ payload }) => {
      let messages: Buffer[] = [];
      try {
        for (const frame of decoder.push(payload)) {
          if (frame.messageType === DataStreamMessageType.Reply) {
            session.unanswered.delete(frame.seqno);
            this.counters.replies += 1;
            continue;
          }
          if (frame.messageType !== DataStreamMessageType.Sync) continue;
          this.counters.syncs += 1;
          messages = messages.concat(dataStreamMessages(frame));
          // An Apple TV's rply carries an empty dict.
          channel.send(encodeDataStreamFrame({ messageType: DataStreamMessageType.Reply, command: '', seqno: frame.seqno, payload: encodeBplist({}) }));
        }
      } catch (err) {
        channel.abort(new ProtocolError(`data stream: ${(err as Error).message}`));
        return;
      }
      for (const message of messages) this.device.receive(client, message);
    });
    channel.on('closed', () => {
      this.device.detach(client);
      if (control.session === session) this.endSession(control);
    });
  }

  /** Ends `control`'s session: its extra connections, listeners and MRP client. */
  private endSession(control: Control): void {
    const session = control.session;
    if (session === null) return;
    control.session = null;
    for (const timer of session.eventWaits.values()) clearTimeout(timer);
    session.eventWaits.clear();
    for (const side of [session.events, session.data]) {
      if (side === null) continue;
      this.closeListener(side);
      side.channel?.close();
    }
    if (session.mrp) this.device.detach(session.mrp);
  }
}

/** How much of a played URL the simulated device reads to know it is there. */
const FETCH_BYTES = 64 * 1024;
const FETCH_TIMEOUT = 5000;

/**
 * Reads the start of the media at `url`, as a player does before it plays: resolves with
 * those bytes (null for https, which the simulator does not fetch), rejects with the
 * NSURLErrorDomain code a player reports (-1004 cannot connect, -1100 not found, -1001 timed out).
 */
function fetchStart(url: string, logger: Logger): Promise<Buffer | null> {
  if (!url.toLowerCase().startsWith('http:')) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const fail = (code: number, why: string) => {
      logger.debug(`AirPlay simulator: the media could not be read (${why})`);
      reject({ code, domain: 'NSURLErrorDomain' });
    };
    const request = http.get(url, { headers: { Range: `bytes=0-${FETCH_BYTES - 1}` }, timeout: FETCH_TIMEOUT }, (response) => {
      const status = response.statusCode ?? 0;
      if (status !== 200 && status !== 206) {
        response.resume();
        fail(-1100, `HTTP ${status}`);
        return;
      }
      const chunks: Buffer[] = [];
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= FETCH_BYTES) response.destroy();
      });
      const done = () => resolve(Buffer.concat(chunks).subarray(0, FETCH_BYTES));
      response.on('end', done);
      response.on('close', done);
    });
    request.on('timeout', () => {
      request.destroy();
      fail(-1001, 'timed out');
    });
    request.on('error', (err) => fail(-1004, err.message));
  });
}

/** Creates the AirPlay server from the simulator's shared context. */
export function createAirPlayServer(context: SimulatorServerContext & Omit<AirPlaySimulatorOptions, keyof SimulatorServerContext>): AirPlaySimulatorServer {
  return new AirPlaySimulatorServer(context);
}
