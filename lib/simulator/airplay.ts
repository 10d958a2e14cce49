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
import { randomInt } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { decodeBplist, encodeBplist, isBplistDict, type BplistValue } from '../codecs/bplist';
import {
  encodeHttpRequest,
  encodeHttpResponse,
  HttpMessageDecoder,
  type HttpHeaderValue,
  type HttpRequest,
} from '../codecs/http';
import { decodePlistBody, encodeXmlPlist } from '../codecs/plist-xml';
import { encodeTxt } from '../mdns/txt';
import { ProtocolError } from '../errors';
import { CounterNonceCipher } from '../hap/channel';
import { deriveChannelKeys, type HapSessionChannel } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import type { Logger } from '../log';
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
import { HAP_BLOCKS, RAW_BYTES, type Frame } from '../support/frames';
import type { HapPairingLink, HapPeer } from './hap-accessory';
import { HapTcpServer, type HapServerStats } from './hap-server';
import { listenOn, printableName } from './listen';
import { MrpDevice, type MrpDeviceClient } from './mrp-device';
import type { MrpDeviceIdentity } from './mrp-messages';
import { mrpDeviceIdentity } from './mrp';
import { APPLE_TV_TVOS18, type SimulatorDeviceProfile } from './profiles';
import { derivedUuid, type ServerAdvertisement, type SimulatorServer, type SimulatorServerContext } from './server';
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
/** The device's own syncs a sender may leave unanswered before it counts as broken. */
const MAX_UNANSWERED_SYNCS = 256;

/** The feature sets and status flags the profiles advertise (see `airplayTxt`). */
const AIRPLAY_FEATURES: Record<SimulatorDeviceProfile['device'], { features: bigint; flags: string }> = {
  // An Apple TV 4K on tvOS 15 quoted in pyatv issue #1360 (flags 0x644: PIN pairing, 0x200).
  appletv: { features: 0xbc155fde_4a7fdfd5n, flags: '0x644' },
  // A HomePod mini as pyatv's fake AirPlay device describes one (/info): no video, transient pairing.
  homepod: { features: 0x3c356bd0_4a7fca00n, flags: '0x4' },
};

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

/**
 * Counted over control connections (`messages`: HTTP/RTSP requests on them;
 * `failedVerifications` includes refused transient pairings).
 */
export interface AirPlayServerStats extends HapServerStats {
  /** Transient pairings (X-Apple-HKP 4). */
  transientPairings: number;
  /** Remote-control data streams open right now. */
  tunnels: number;
  feedbacks: number;
  /** Event-channel requests the senders answered. */
  eventReplies: number;
  /** Data-stream syncs received, rplys received. */
  syncs: number;
  replies: number;
}

/** An accepted extra connection (event or data) of one session. */
interface SideChannel {
  listener: net.Server | null;
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
  /** Bytes of the media the device read (its first 64 KiB at most); null when not fetched (https, or not on this machine). */
  fetched: Buffer | null;
  /** Why it failed: an NSURLErrorDomain code, as Apple's players report it. */
  error: { code: number; domain: string } | null;
}

/** A sender's control connection (`verified`: by HAP pair-verify, not transiently). */
interface Control extends HapPeer {
  playback: SimulatorPlayback | null;
  readonly channel: FramedChannel;
  readonly decoder: HttpMessageDecoder<HttpRequest>;
  /** The shared secret of the control channel, once encrypted. */
  secret: Buffer | null;
  session: Session | null;
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

export class AirPlaySimulatorServer extends HapTcpServer<Control> implements SimulatorServer {
  readonly protocol = 'airplay' as const;
  readonly profile: SimulatorDeviceProfile;
  readonly identity: AirPlayDeviceIdentity;
  readonly mrpIdentity: MrpDeviceIdentity;
  /** The MRP endpoint the remote-control data streams talk to (its messages join the request log). */
  readonly device: MrpDevice;
  /** Every URL a sender asked to play, oldest first (the last 100). */
  readonly playbacks: SimulatorPlayback[] = [];

  private readonly eventReplyTimeout: number;
  private readonly state: SimulatorState;
  private readonly traffic = { feedbacks: 0, eventReplies: 0, syncs: 0, replies: 0 };

  constructor(options: AirPlaySimulatorOptions) {
    const profile = options.profile ?? APPLE_TV_TVOS18;
    const mrpIdentity = mrpDeviceIdentity(options.name, options.deviceId, profile);
    const pairingId = options.pairingId ?? derivedUuid(`atvlink-simulator-airplay-psi:${options.deviceId}`);
    super({
      protocol: 'airplay',
      label: 'AirPlay',
      host: options.host,
      port: options.port,
      credentials: options.credentials,
      ...(options.logger !== undefined && { logger: options.logger }),
      // A HomePod shows no PIN: it pairs only transiently.
      pin: profile.device === 'homepod' ? null : (options.pin ?? null),
      // The sender asks for the PIN with /pair-pin-start before pair-setup.
      showPinOnSetup: false,
      pairingId,
      ...(options.seed !== undefined && { seed: options.seed }),
      ...(options.srpGroup !== undefined && { srpGroup: options.srpGroup }),
      ...(options.srpSalt !== undefined && { srpSalt: options.srpSalt }),
      ...(options.srpPrivateKey !== undefined && { srpPrivateKey: options.srpPrivateKey }),
      ...(options.verifyEphemeralKey !== undefined && { verifyEphemeralKey: options.verifyEphemeralKey }),
      format: RAW_BYTES,
      maxConnections: MAX_CONNECTIONS,
    });
    this.profile = profile;
    this.eventReplyTimeout = options.eventReplyTimeout ?? AIRPLAY_EVENT_REPLY_TIMEOUT;
    this.state = options.state;
    this.mrpIdentity = mrpIdentity;
    this.identity = {
      name: options.name,
      deviceId: mrpIdentity.macAddress,
      pairingId,
      pi: derivedUuid(`atvlink-simulator-airplay-pi:${options.deviceId}`).toLowerCase(),
      gid: derivedUuid(`atvlink-simulator-airplay-gid:${options.deviceId}`),
    };
    this.device = new MrpDevice({
      state: options.state,
      identity: mrpIdentity,
      events: this,
      protocol: 'airplay',
      // The tunnel's clients are verified by the AirPlay pairing below it.
      pairing: null,
      logger: this.logger,
      ...(options.holdMs !== undefined && { holdMs: options.holdMs }),
    });
  }

  override stats(): AirPlayServerStats {
    let tunnels = 0;
    for (const c of this.connections.keys()) if (c.session?.data?.channel?.isOpen) tunnels++;
    return { ...super.stats(), transientPairings: this.accessory.counters.transientPairings, ...this.traffic, tunnels };
  }

  protected override started(): void {
    this.device.start();
  }

  protected override stopping(): void {
    this.device.stop();
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
    return [{ type: '_airplay._tcp', instance: this.identity.name, port: this.port, txt: this.txt() }];
  }

  describe(): string[] {
    const what = this.profile.device === 'homepod' ? 'HomePod' : 'Apple TV';
    return [
      `AirPlay on ${this.host}:${this.port} (${what} ${this.profile.model}, OS ${this.profile.osVersion}, id ${this.identity.deviceId})`,
      this.pin === null
        ? '  pairing: none (transient pairing on every connection)'
        : '  pairing: HAP with a 4-digit PIN, shown when a remote starts pairing; remote control through the AirPlay tunnel',
    ];
  }

  // -------------------------------------------------------------------------------------
  // Control connections

  protected connection(id: number, channel: FramedChannel): Control {
    return {
      id,
      channel,
      decoder: HttpMessageDecoder.forRequests({ maxBodyBytes: MAX_REQUEST_BODY }),
      secret: null,
      verified: false,
      remoteName: null,
      session: null,
      closed: false,
      playback: null,
    };
  }

  protected override closed(control: Control): void {
    this.endSession(control);
    // A receiver stops the media a sender played when that sender goes away.
    if (control.playback?.status === 'playing' && this.state.playingUrl === control.playback.url) this.state.stop();
  }

  protected receive(control: Control, { payload }: Frame): void {
    let requests: HttpRequest[];
    try {
      requests = control.decoder.push(payload);
    } catch (err) {
      this.drop(control, (err as Error).message);
      return;
    }
    for (const request of requests) {
      if (control.closed) return;
      this.counters.messages += 1;
      try {
        this.handle(control, request);
      } catch (err) {
        // A bug of ours must not take the simulator down: lose this sender, keep the rest.
        this.logger.warn(`AirPlay simulator: ${request.method} ${request.target} failed: ${err instanceof Error ? err.message : String(err)}`);
        this.drop(control, 'internal error');
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
    const [path = '', query = ''] = request.target.split('?', 2);
    this.record(control, path, status, query === '' ? {} : Object.fromEntries(new URLSearchParams(query)), request.method);
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
      this.traffic.feedbacks += 1;
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
    if (this.hkp(request) === '3') this.accessory.showPin(control);
    this.reply(control, request, 200);
  }

  /** Pair-setup: `X-Apple-HKP: 3` with the PIN (an Apple TV), `4` transient (anyone). */
  private pairSetup(control: Control, request: HttpRequest): void {
    const hkp = this.hkp(request);
    if (hkp === '3') this.accessory.pairSetup(control, request.body, this.pairingLink(control, request));
    else if (hkp === '4') this.accessory.transientSetup(control, request.body, this.pairingLink(control, request));
    else this.reply(control, request, 400);
  }

  private pairVerify(control: Control, request: HttpRequest): void {
    if (this.hkp(request) === '3') this.accessory.pairVerify(control, request.body, this.pairingLink(control, request));
    else this.reply(control, request, 400);
  }

  /** A pairing answer is the response to `request`; a verified (or transient) pairing encrypts the connection. */
  private pairingLink(control: Control, request: HttpRequest): HapPairingLink {
    return { reply: (tlv) => this.tlvReply(control, request, tlv), secure: (secret) => this.encrypt(control, secret) };
  }

  /** The control connection turns into HAP blocks with the control keys (our side: accessory). */
  private encrypt(control: Control, secret: Buffer): void {
    if (control.decoder.pendingBytes > 0) {
      control.channel.abort(new ProtocolError('the sender sent more before encryption started'));
      return;
    }
    control.secret = secret;
    control.channel.switchTo(HAP_BLOCKS, new CounterNonceCipher(deriveChannelKeys(secret, 'airplayControl', { role: 'accessory' }), 'zeros-then-counter'));
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
    if (body['isRemoteControlOnly'] === true && this.profile.device === 'appletv' && !control.verified) {
      // An Apple TV opens remote control only to senders that paired with its PIN.
      this.reply(control, request, 470);
      return;
    }
    if (typeof body['name'] === 'string') control.remoteName = printableName(body['name']) ?? control.remoteName;
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
    const server = net.createServer((socket) => {
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
    const port = await listenOn(server, this.host, 0, 'AirPlay simulator channel', this.logger);
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
          this.traffic.eventReplies += 1;
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
      { id: control.id, verified: true },
    );
    session.mrp = client;
    channel.on('frame', ({ payload }) => {
      let messages: Buffer[] = [];
      try {
        for (const frame of decoder.push(payload)) {
          if (frame.messageType === DataStreamMessageType.Reply) {
            session.unanswered.delete(frame.seqno);
            this.traffic.replies += 1;
            continue;
          }
          if (frame.messageType !== DataStreamMessageType.Sync) continue;
          this.traffic.syncs += 1;
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

/** Whether `url` names this machine (127.0.0.0/8, ::1, localhost): the only media the simulator reads. */
function onThisMachine(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Reads the start of the media at `url`, as a player does before it plays: resolves with
 * those bytes, rejects with the NSURLErrorDomain code a player reports (-1004 cannot connect,
 * -1100 not found, -1001 timed out). The simulator only reads plain http from this machine
 * (a file a remote serves it, as the play URL node does): anything else, https or another
 * host, it plays without reading (null), so a simulated device never reaches out to a network.
 */
function fetchStart(url: string, logger: Logger): Promise<Buffer | null> {
  if (!url.toLowerCase().startsWith('http:') || !onThisMachine(url)) return Promise.resolve(null);
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
