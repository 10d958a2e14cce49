/**
 * The simulator's MRP server: what an Apple TV 4K on tvOS 14 answers on its
 * `_mediaremotetv._tcp` port (pyatv: protocols/mrp). Plain TCP with varint-framed protobuf; DEVICE_INFO
 * first; HAP pair-setup with a PIN shown on "screen" (the 'pin' event) and pair-verify, both
 * checked in full (SRP proof, M5 signature, M3 signature against the stored key — unlike
 * pyatv's fake device, which skips the signatures); then ChaCha20-Poly1305 both ways. A
 * verified client that sent CLIENT_UPDATES_CONFIG gets the now-playing state pushed on every
 * change of the shared `SimulatorState`; its commands, HID keys, volume and artwork requests
 * act on that same state, so every protocol sees the same device.
 *
 * Choices where a real device's behaviour is not established (pyatv's MrpProtocol.start says it is not
 * verified whether unpaired sessions are accepted): this device only talks to verified
 * clients. Before verification it answers DEVICE_INFO, pairing and the heartbeat; any other
 * request gets `errorCode = DeviceNotPaired`, so a client that works here also works on a
 * device that enforces pairing. A double press arrives as two separate presses and is
 * recorded as two `single` presses (telling them apart would mean delaying every press).
 */
import { createHash, randomInt } from 'node:crypto';
import { decodeTlv8, Tlv8Type, tlv8Uint, type Tlv8Map } from '../codecs/tlv8';
import type { InputAction } from '../device/commands';
import { InvalidArgumentError, NotSupportedError } from '../errors';
import { CounterNonceCipher } from '../hap/channel';
import { ED25519_KEY_LENGTH } from '../hap/keys';
import { deriveChannelKeys } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import { repeatStateFromMrp, shuffleStateFromMrp, type MrpHidKey } from '../protocols/mrp/commands';
import type { FramedChannel } from '../support/channel';
import { VARINT_FRAMES, type Frame } from '../support/frames';
import { formatPairingRecord } from './hap-accessory';
import { HapTcpServer, type HapServerConnection, type HapServerEvents, type HapServerStats } from './hap-server';
import { printableName } from './listen';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage, MrpMessageType, type MrpDecodedMessage, type MrpMessage } from '../protocols/mrp/messages';
import {
  MrpErrorCode,
  MrpHandlerReturnStatus,
  MrpKeyboardState,
  MrpSendError,
  MrpVolumeCapabilities,
  type MrpCommandOptions,
  type MrpSendCommandResultMessage,
} from '../protocols/mrp/proto-types';
import {
  artworkPayload,
  commandEnabled,
  deviceInfoPayload,
  hidKeyOf,
  nowPlayingClient,
  parseHidEventData,
  playerPath,
  setStatePayload,
  SIMULATOR_MRP_BUILD,
  SIMULATOR_MRP_COMMANDS,
  SIMULATOR_MRP_MODEL,
  type MrpDeviceIdentity,
  type SimulatorMrpCommand,
} from './mrp-messages';
import type { ServerAdvertisement, SimulatorServer, SimulatorServerContext } from './server';
import type { SimulatorSnapshot, SimulatorState } from './state';

export {
  SIMULATOR_MRP_BOARD,
  SIMULATOR_MRP_BUILD,
  SIMULATOR_MRP_MODEL,
  type MrpDeviceIdentity,
} from './mrp-messages';

/** Remotes send small messages; a larger frame is garbage or an attack. */
export const MRP_SIMULATOR_MAX_REQUEST_BYTES = 256 * 1024;
/** A client that lets this much of our output pile up unread is dropped. */
const MAX_PENDING_OUTPUT = 32 * 1024 * 1024;
/** Keys held down at once per connection (a remote has one finger). */
const MAX_HELD_KEYS = 16;
/**
 * pyatv holds a key for 1 s (pyatv: protocols/mrp/__init__.py); its own fake device counts 0.5 s as a hold,
 * which leaves room for network jitter.
 */
const DEFAULT_HOLD_MS = 500;
/** Select within this long after holding home picks "Sleep" in the menu (pyatv: protocols/mrp/__init__.py). */
const SLEEP_MENU_MS = 5000;

/** `AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE` from a hash of `seed`: stable per simulator. */
function derivedUuid(seed: string): string {
  const hex = createHash('md5').update(seed).digest('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The device's MRP identity, derived from the simulator's device id so it is stable across runs. */
export function mrpDeviceIdentity(name: string, deviceId: string): MrpDeviceIdentity {
  const bytes = Buffer.from(deviceId.slice(0, 12).padEnd(12, '0'), 'hex');
  // Locally administered, unicast: never a real vendor's address.
  bytes[0] = (bytes[0]! | 0x02) & 0xfe;
  return {
    name,
    uniqueIdentifier: derivedUuid(`atvlink-simulator-mrp:${deviceId}`),
    deviceUID: derivedUuid(`atvlink-simulator-mrp-output:${deviceId}`),
    macAddress: [...bytes].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
  };
}

/**
 * What the device remembers of a paired controller (its pairing id and long-term public
 * key, hex), as kept in the simulator's credential store under 'mrp'. Public data: the
 * controller's own credentials (with its secret key) never reach the device.
 */
export const formatMrpPairingRecord = formatPairingRecord;

export interface MrpSimulatorOptions extends SimulatorServerContext {
  /** The 4-digit PIN the device "shows" when a remote starts pair-setup. */
  pin: string;
  /** The device's long-term Ed25519 secret (32-byte seed); random per server by default. */
  seed?: Buffer;
  /** Another SRP group, for fast tests; real devices and clients use HAP's. */
  srpGroup?: SrpGroup;
  /** A key held down at least this long is a hold (default 500 ms). */
  holdMs?: number;
}

/** The MRP server's counters. */
export type MrpServerStats = HapServerStats;

export type MrpServerEvents = HapServerEvents;

interface HeldKey {
  key: MrpHidKey;
  action: InputAction;
  at: number;
}

interface Connection extends HapServerConnection {
  /** DEVICE_INFO received: the device talks from then on. */
  greeted: boolean;
  /** Sent CLIENT_UPDATES_CONFIG: gets the state pushes. */
  subscribed: boolean;
  /** `usagePage:usage` → ms when it went down. */
  readonly held: Map<string, number>;
  lastKey: HeldKey | null;
}

type SendCommandOutcome = Pick<MrpSendCommandResultMessage, 'sendError' | 'handlerReturnStatus'>;

const OK: SendCommandOutcome = { sendError: MrpSendError.NoError, handlerReturnStatus: MrpHandlerReturnStatus.Success };
const DISABLED: SendCommandOutcome = { sendError: MrpSendError.Ignored, handlerReturnStatus: MrpHandlerReturnStatus.NoActionableNowPlayingItem };
const INVALID: SendCommandOutcome = { sendError: MrpSendError.InvalidOptions, handlerReturnStatus: MrpHandlerReturnStatus.CommandFailed };
const UNKNOWN_COMMAND: SendCommandOutcome = { sendError: MrpSendError.NoCommandHandlers, handlerReturnStatus: MrpHandlerReturnStatus.CommandFailed };

/** Everything about the state a SET_STATE carries, except the volume (VOLUME_DID_CHANGE's job). */
function stateKey(s: SimulatorSnapshot): string {
  const position = s.position ?? 0;
  // While playing, the moment the track would have started stays fixed until a seek.
  const anchor = s.status === 'playing' ? s.at / 1000 - position : position;
  return [s.status, s.index, s.shuffle, s.repeat, s.power, Math.round(anchor * 10)].join('|');
}

export class MrpSimulatorServer extends HapTcpServer<Connection> implements SimulatorServer {
  readonly protocol = 'mrp' as const;
  readonly identity: MrpDeviceIdentity;

  private readonly state: SimulatorState;
  private readonly host: string;
  private readonly holdMs: number;
  private lastStateKey = '';

  private readonly onChange = (): void => this.pushState();
  private readonly onVolume = (level: number): void => this.broadcast(this.volumeDidChange(level));
  private readonly onPower = (): void => this.broadcast(this.deviceInfo(MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE), { subscribedOnly: false });
  /** A launch brought another app to the front: it becomes the now-playing client, as on a device. */
  private readonly onApp = (): void => {
    const app = this.state.app;
    this.broadcast(createMrpMessage(MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE, { client: nowPlayingClient(app) }));
    this.broadcast(createMrpMessage(MrpMessageType.SET_NOW_PLAYING_PLAYER_MESSAGE, { playerPath: playerPath(app) }));
    this.broadcast(this.setStateMessage(this.state.snapshot()));
  };

  constructor(options: MrpSimulatorOptions) {
    if (!/^\d{4}$/.test(options.pin)) throw new InvalidArgumentError('the MRP pairing PIN must be 4 digits');
    if (options.seed !== undefined && options.seed.length !== ED25519_KEY_LENGTH) {
      throw new InvalidArgumentError('the MRP device seed must be 32 bytes');
    }
    const identity = mrpDeviceIdentity(options.name, options.deviceId);
    super({
      protocol: 'mrp',
      label: 'MRP',
      host: options.host,
      port: options.port,
      credentials: options.credentials,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      pin: options.pin,
      pairingId: identity.uniqueIdentifier,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.srpGroup !== undefined ? { srpGroup: options.srpGroup } : {}),
      format: VARINT_FRAMES,
      maxFrameBytes: MRP_SIMULATOR_MAX_REQUEST_BYTES,
      maxQueuedWriteBytes: MAX_PENDING_OUTPUT,
    });
    this.identity = identity;
    this.state = options.state;
    this.host = options.host;
    this.holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
  }

  protected override started(): void {
    this.lastStateKey = stateKey(this.state.snapshot());
    this.state.on('change', this.onChange);
    this.state.on('volume', this.onVolume);
    this.state.on('power', this.onPower);
    this.state.on('app', this.onApp);
  }

  protected override stopping(): void {
    this.state.off('change', this.onChange);
    this.state.off('volume', this.onVolume);
    this.state.off('power', this.onPower);
    this.state.off('app', this.onApp);
  }

  advertisements(): ServerAdvertisement[] {
    return [
      {
        type: '_mediaremotetv._tcp',
        instance: this.identity.name,
        port: this.port,
        txt: {
          Name: this.identity.name,
          UniqueIdentifier: this.identity.uniqueIdentifier,
          SystemBuildVersion: SIMULATOR_MRP_BUILD,
          AllowPairing: 'YES',
          ModelName: 'Apple TV',
          macAddress: this.identity.macAddress,
        },
      },
    ];
  }

  describe(): string[] {
    return [
      `MRP on ${this.host}:${this.port} (id ${this.identity.uniqueIdentifier}, ${SIMULATOR_MRP_MODEL}, tvOS build ${SIMULATOR_MRP_BUILD})`,
      '  pairing: HAP with a 4-digit PIN, shown when a remote starts pairing',
    ];
  }

  // -------------------------------------------------------------------------------------
  // Connections

  protected connection(id: number, channel: FramedChannel): Connection {
    return { id, channel, greeted: false, remoteName: null, verified: false, subscribed: false, held: new Map(), lastKey: null, closed: false };
  }

  protected receive(conn: Connection, { payload }: Frame): void {
    let message: MrpDecodedMessage;
    try {
      message = decodeMrpMessage(payload);
    } catch (err) {
      this.drop(conn, (err as Error).message);
      return;
    }
    try {
      this.handle(conn, message);
    } catch (err) {
      // A bug of ours must not take the simulator down: lose this client, keep the rest.
      this.logger.warn(`MRP simulator: ${message.typeName} failed: ${err instanceof Error ? err.message : String(err)}`);
      this.drop(conn, 'internal error');
    }
  }

  private send(conn: Connection, message: MrpMessage): void {
    this.sendEncoded(conn, encodeMrpMessage(message));
  }

  private sendEncoded(conn: Connection, plaintext: Buffer): void {
    if (conn.closed || !conn.channel.isOpen) return;
    conn.channel.send(plaintext);
  }

  /** One message to every verified connection (that asked for updates, unless told otherwise). */
  private broadcast(message: MrpMessage, options: { subscribedOnly: boolean } = { subscribedOnly: true }): void {
    let plaintext: Buffer | null = null;
    for (const conn of this.connections) {
      if (!conn.verified || conn.closed || (options.subscribedOnly && !conn.subscribed)) continue;
      plaintext ??= encodeMrpMessage(message);
      this.sendEncoded(conn, plaintext);
    }
  }

  private recordMessage(conn: Connection, message: MrpDecodedMessage, status: number, query: Record<string, string> = {}): void {
    this.record(conn, message.typeName, status, query);
  }

  // -------------------------------------------------------------------------------------
  // Dispatch

  private handle(conn: Connection, message: MrpDecodedMessage): void {
    this.counters.messages += 1;
    if (!conn.greeted && message.type !== MrpMessageType.DEVICE_INFO_MESSAGE) {
      // A real device stays silent until the remote has introduced itself (pyatv: MrpProtocol.start in protocols/mrp/protocol.py).
      this.logger.debug(`MRP simulator: ${message.typeName} before DEVICE_INFO ignored`);
      return;
    }
    switch (message.type) {
      case MrpMessageType.DEVICE_INFO_MESSAGE:
        conn.greeted = true;
        conn.remoteName = printableName(message.payload?.name) ?? conn.remoteName;
        this.send(conn, this.deviceInfo(MrpMessageType.DEVICE_INFO_MESSAGE, message.identifier));
        this.recordMessage(conn, message, 0);
        return;
      case MrpMessageType.CRYPTO_PAIRING_MESSAGE:
        if (conn.verified) {
          this.logger.debug(`MRP simulator: pairing message on the verified connection ${conn.id} ignored`);
          return;
        }
        this.cryptoPairing(conn, message.payload?.pairingData, message.identifier);
        return;
      case MrpMessageType.GENERIC_MESSAGE:
        // pyatv's heartbeat and its flush after HID events: an empty answer (pyatv: protocols/mrp/connection.py).
        this.ack(conn, message);
        return;
      default:
        if (!conn.verified) {
          this.refuseUnpaired(conn, message);
          return;
        }
        this.session(conn, message);
    }
  }

  private ack(conn: Connection, request: MrpDecodedMessage, error?: { code: MrpErrorCode; description: string }): void {
    if (request.identifier === undefined) return;
    const reply = createMrpMessage(MrpMessageType.UNKNOWN_MESSAGE, undefined, { identifier: request.identifier });
    if (error !== undefined) {
      reply.errorCode = error.code;
      reply.errorDescription = error.description;
    }
    this.send(conn, reply);
  }

  private refuseUnpaired(conn: Connection, message: MrpDecodedMessage): void {
    this.recordMessage(conn, message, MrpErrorCode.DeviceNotPaired);
    this.ack(conn, message, { code: MrpErrorCode.DeviceNotPaired, description: 'pair with this Apple TV first (pair-verify did not happen)' });
  }

  private session(conn: Connection, message: MrpDecodedMessage): void {
    switch (message.type) {
      case MrpMessageType.SET_CONNECTION_STATE_MESSAGE:
        this.recordMessage(conn, message, 0, { state: String(message.payload?.state ?? '') });
        return;
      case MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE:
        conn.subscribed = true;
        this.sendInitialState(conn);
        this.ack(conn, message);
        this.recordMessage(conn, message, 0);
        return;
      case MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE:
        this.send(conn, createMrpMessage(MrpMessageType.KEYBOARD_MESSAGE, { state: MrpKeyboardState.NotEditing }, this.replyTo(message)));
        this.recordMessage(conn, message, 0);
        return;
      case MrpMessageType.SEND_COMMAND_MESSAGE:
        this.sendCommand(conn, message);
        return;
      case MrpMessageType.SEND_HID_EVENT_MESSAGE: {
        const event = parseHidEventData(message.payload?.hidEventData);
        if (event === null) this.logger.debug('MRP simulator: unreadable hidEventData ignored');
        else this.hidEvent(conn, message, event.usagePage, event.usage, event.down);
        return;
      }
      case MrpMessageType.SEND_BUTTON_EVENT_MESSAGE: {
        const p = message.payload;
        if (p?.usagePage === undefined || p.usage === undefined) return;
        this.hidEvent(conn, message, p.usagePage, p.usage, p.buttonDown === true);
        return;
      }
      case MrpMessageType.WAKE_DEVICE_MESSAGE:
        this.state.turnOn();
        this.send(conn, createMrpMessage(MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, { ...OK }, this.replyTo(message)));
        this.recordMessage(conn, message, 0);
        return;
      case MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE: {
        const request = message.payload ?? {};
        const payload = artworkPayload(this.state.snapshot(), this.state.app, request);
        this.send(conn, createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, payload, this.replyTo(message)));
        const item = payload.playbackQueue?.contentItems?.[0];
        this.recordMessage(conn, message, 0, item?.artworkData ? { artwork: `${item.artworkDataWidth}x${item.artworkDataHeight}` } : {});
        return;
      }
      case MrpMessageType.SET_VOLUME_MESSAGE:
        this.setVolume(conn, message);
        return;
      case MrpMessageType.GET_VOLUME_MESSAGE:
        this.send(conn, createMrpMessage(MrpMessageType.GET_VOLUME_RESULT_MESSAGE, { volume: this.state.volume / 100 }, this.replyTo(message)));
        this.recordMessage(conn, message, 0);
        return;
      default:
        this.logger.debug(`MRP simulator: ${message.typeName} ignored`);
    }
  }

  private replyTo(request: MrpDecodedMessage): { identifier?: string } {
    return request.identifier === undefined ? {} : { identifier: request.identifier };
  }

  // -------------------------------------------------------------------------------------
  // Device messages

  private deviceInfo(type: MrpMessageType.DEVICE_INFO_MESSAGE | MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE, identifier?: string): MrpMessage {
    const payload = deviceInfoPayload(this.identity, this.state.power !== 'off');
    return createMrpMessage(type, payload, identifier === undefined ? {} : { identifier });
  }

  private volumeDidChange(level: number): MrpMessage {
    return createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, { volume: level / 100, outputDeviceUID: this.identity.deviceUID });
  }

  private setStateMessage(snap: SimulatorSnapshot): MrpMessage {
    return createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, setStatePayload(snap, this.state.app, this.state.skipInterval));
  }

  /** What a device streams once a remote asked for updates (pyatv: MrpProtocol.start in protocols/mrp/protocol.py step 7). */
  private sendInitialState(conn: Connection): void {
    const app = this.state.app;
    this.send(conn, this.setStateMessage(this.state.snapshot()));
    this.send(conn, createMrpMessage(MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE, { client: nowPlayingClient(app) }));
    this.send(conn, createMrpMessage(MrpMessageType.SET_NOW_PLAYING_PLAYER_MESSAGE, { playerPath: playerPath(app) }));
    const capabilities = { volumeControlAvailable: true, volumeCapabilities: MrpVolumeCapabilities.Both };
    this.send(conn, createMrpMessage(MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE, capabilities));
    this.send(
      conn,
      createMrpMessage(MrpMessageType.VOLUME_CONTROL_CAPABILITIES_DID_CHANGE_MESSAGE, { capabilities, outputDeviceUID: this.identity.deviceUID }),
    );
    this.send(conn, this.volumeDidChange(this.state.volume));
  }

  private pushState(): void {
    const snap = this.state.snapshot();
    const key = stateKey(snap);
    if (key === this.lastStateKey) return;
    this.lastStateKey = key;
    this.broadcast(this.setStateMessage(snap));
  }

  // -------------------------------------------------------------------------------------
  // Commands, keys, volume

  private sendCommand(conn: Connection, message: MrpMessageOfCommand): void {
    const command = message.payload?.command;
    const name = command === undefined ? undefined : SIMULATOR_MRP_COMMANDS.get(command);
    let outcome: SendCommandOutcome;
    if (name === undefined) outcome = UNKNOWN_COMMAND;
    else if (!commandEnabled(name, this.state.snapshot())) outcome = DISABLED;
    else outcome = this.runCommand(name, message.payload?.options ?? {});
    this.send(conn, createMrpMessage(MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, { ...outcome }, this.replyTo(message)));
    this.recordMessage(conn, message, outcome.sendError ?? 0, { command: name ?? String(command ?? '') });
  }

  private runCommand(name: SimulatorMrpCommand, options: MrpCommandOptions): SendCommandOutcome {
    try {
      switch (name) {
        case 'position': {
          const position = options.playbackPosition;
          if (typeof position !== 'number' || !Number.isFinite(position) || position < 0) return INVALID;
          this.state.setPosition(position);
          break;
        }
        case 'shuffle': {
          const shuffle = shuffleStateFromMrp(options.shuffleMode);
          if (shuffle === null) return INVALID;
          this.state.setShuffle(shuffle);
          break;
        }
        case 'repeat': {
          const repeat = repeatStateFromMrp(options.repeatMode);
          if (repeat === null) return INVALID;
          this.state.setRepeat(repeat);
          break;
        }
        case 'skipForward':
        case 'skipBackward': {
          const interval = options.skipInterval;
          if (interval !== undefined && !(Number.isFinite(interval) && interval >= 0)) return INVALID;
          // No interval (or 0) means the one the player advertises in preferredIntervals.
          this.state.command(name, interval === undefined || interval === 0 ? {} : { interval });
          break;
        }
        default:
          this.state.command(name);
      }
    } catch (err) {
      if (err instanceof NotSupportedError) return DISABLED;
      if (err instanceof InvalidArgumentError) return INVALID;
      throw err;
    }
    return OK;
  }

  private hidEvent(conn: Connection, message: MrpDecodedMessage, usagePage: number, usage: number, down: boolean): void {
    const id = `${usagePage}:${usage}`;
    const now = Date.now();
    if (down) {
      if (conn.held.size < MAX_HELD_KEYS || conn.held.has(id)) conn.held.set(id, now);
      this.ack(conn, message);
      return;
    }
    const downAt = conn.held.get(id);
    conn.held.delete(id);
    this.ack(conn, message);
    if (downAt === undefined) {
      this.logger.debug(`MRP simulator: key up without key down (${id}) ignored`);
      return;
    }
    const key = hidKeyOf(usagePage, usage);
    if (key === null) {
      this.logger.debug(`MRP simulator: HID usage ${id} is not a remote key; ignored`);
      return;
    }
    const action: InputAction = now - downAt >= this.holdMs ? 'hold' : 'single';
    this.keyPressed(conn, key, action, now);
    this.recordMessage(conn, message, 0, { key, action });
  }

  /** A complete key press (down, then up): what the Apple TV does with that button. */
  private keyPressed(conn: Connection, key: MrpHidKey, action: InputAction, now: number): void {
    const previous = conn.lastKey;
    conn.lastKey = { key, action, at: now };
    try {
      switch (key) {
        case 'volumeUp':
          this.state.volumeUp();
          return;
        case 'volumeDown':
          this.state.volumeDown();
          return;
        case 'suspend':
          this.state.turnOff();
          return;
        case 'wakeup':
          this.state.turnOn();
          return;
        case 'stop':
        case 'next':
        case 'previous':
          this.state.command(key);
          return;
        default:
          this.state.pressKey(key, action);
          // Holding home opens the control centre, whose focused item is Sleep (pyatv: protocols/mrp/__init__.py).
          if (key === 'select' && previous?.key === 'home' && previous.action === 'hold' && now - previous.at <= SLEEP_MENU_MS) {
            this.state.turnOff();
          }
      }
    } catch (err) {
      if (!(err instanceof NotSupportedError)) throw err;
      this.logger.debug(`MRP simulator: ${key} had nothing to act on`);
    }
  }

  private setVolume(conn: Connection, message: MrpMessageOfVolume): void {
    const volume = message.payload?.volume;
    const uid = message.payload?.outputDeviceUID;
    if (typeof volume !== 'number' || !Number.isFinite(volume) || volume < 0 || volume > 1) {
      this.recordMessage(conn, message, MrpErrorCode.VolumeValueOutOfRange);
      this.ack(conn, message, { code: MrpErrorCode.VolumeValueOutOfRange, description: 'volume must be from 0.0 to 1.0' });
      return;
    }
    if (uid !== undefined && uid !== '' && uid !== this.identity.deviceUID) {
      this.recordMessage(conn, message, MrpErrorCode.OutputDeviceNotFound);
      this.ack(conn, message, { code: MrpErrorCode.OutputDeviceNotFound, description: 'no such output device on this Apple TV' });
      return;
    }
    const before = this.state.volume;
    // A float32 on the wire: 0.3 arrives as 0.30000001; keep two decimals of percent.
    this.state.setVolume(Math.round(volume * 10_000) / 100);
    // Remotes wait for VOLUME_DID_CHANGE (pyatv: protocols/mrp/__init__.py): answer even when nothing changed.
    if (this.state.volume === before || !conn.subscribed) this.send(conn, this.volumeDidChange(this.state.volume));
    this.ack(conn, message);
    this.recordMessage(conn, message, 0, { volume: String(this.state.volume) });
  }

  // -------------------------------------------------------------------------------------
  // Pairing

  private pairingReply(conn: Connection, tlv: Buffer, identifier: string | undefined): void {
    // The field values a device answers with (pyatv capture): status 0, state 0.
    const payload = { pairingData: tlv, status: 0, isRetrying: false, isUsingSystemPairing: false, state: 0 };
    this.send(conn, createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, payload, identifier === undefined ? {} : { identifier }));
  }

  private cryptoPairing(conn: Connection, data: Buffer | undefined, identifier: string | undefined): void {
    const bytes = data ?? Buffer.alloc(0);
    let tlv: Tlv8Map | null = null;
    try {
      tlv = decodeTlv8(bytes);
    } catch {
      // Left to the pair-setup state machine, which answers garbage with a TLV error.
    }
    const state = tlv === null ? undefined : tlv8Uint(tlv, Tlv8Type.State);
    // Verify's M1 carries a public key and no method; setup's M1 a method (pyatv's device tells them apart so too).
    const verifyStart = state === 1 && tlv !== null && tlv.has(Tlv8Type.PublicKey) && !tlv.has(Tlv8Type.Method);
    const verifying = verifyStart || (state === 3 && this.accessory.verifying(conn));
    const step = verifying ? this.accessory.pairVerify(conn, bytes) : this.accessory.pairSetup(conn, bytes, (c) => !c.closed);
    this.pairingReply(conn, step.message, identifier);
    const secure = (secret: Buffer): void =>
      conn.channel.switchTo(VARINT_FRAMES, new CounterNonceCipher(deriveChannelKeys(secret, 'mrp', { role: 'accessory' }), 'zeros-then-counter'));
    this.afterPairing(conn, step, !verifying, secure);
  }
}

type MrpMessageOfCommand = Extract<MrpDecodedMessage, { type: MrpMessageType.SEND_COMMAND_MESSAGE }>;
type MrpMessageOfVolume = Extract<MrpDecodedMessage, { type: MrpMessageType.SET_VOLUME_MESSAGE }>;

/** A random 4-digit PIN, as a TV shows for each pairing. */
export function randomMrpPin(): string {
  return String(randomInt(0, 10_000)).padStart(4, '0');
}

/** Creates the MRP server from the simulator's shared context. */
export function createMrpServer(context: SimulatorServerContext & Omit<MrpSimulatorOptions, keyof SimulatorServerContext>): MrpSimulatorServer {
  return new MrpSimulatorServer(context);
}
