/**
 * The simulated Apple TV's MRP endpoint, whatever carries its messages: the device side of
 * every MRP message (pyatv: protocols/mrp), run for each client that a transport attaches.
 * Two transports do: MRP's own TCP port (`mrp.ts`: varint frames, pair-setup with a PIN and
 * pair-verify before anything else, then ChaCha20-Poly1305) and the AirPlay 2 tunnel
 * (`airplay.ts`: the data stream of an already verified AirPlay session). Both see one device:
 * the same identity, the same shared `SimulatorState`, the same answers.
 *
 * On MRP's own port, CRYPTO_PAIRING messages drive the device-side HAP pairing of that port
 * (`hap-accessory.ts`: every signature checked, unlike pyatv's fake device). A verified client that
 * sent CLIENT_UPDATES_CONFIG gets the now-playing state pushed on every change of the shared
 * state; its commands, HID keys, volume and artwork requests act on that same state.
 *
 * Choices where a real device's behaviour is not established (pyatv's MrpProtocol.start says it is not
 * verified whether unpaired sessions are accepted): this device only talks to verified
 * clients. Before verification it answers DEVICE_INFO, pairing and the heartbeat; any other
 * request gets `errorCode = DeviceNotPaired`, so a client that works here also works on a
 * device that enforces pairing. A double press arrives as two separate presses and is
 * recorded as two `single` presses (telling them apart would mean delaying every press).
 */
import { decodeTlv8, Tlv8Type, tlv8Uint, type Tlv8Map } from '../codecs/tlv8';
import type { InputAction } from '../device/commands';
import type { Protocol } from '../device/interfaces';
import { InvalidArgumentError, NotSupportedError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { repeatStateFromMrp, shuffleStateFromMrp, type MrpHidKey } from '../protocols/mrp/commands';
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
  SIMULATOR_MRP_COMMANDS,
  type MrpDeviceIdentity,
  type SimulatorMrpCommand,
} from './mrp-messages';
import type { HapAccessory, HapPairingLink, HapPeer } from './hap-accessory';
import { printableName } from './listen';
import { recordRequest, type SimulatorServerSink } from './server';
import type { SimulatorSnapshot, SimulatorState } from './state';

/** Keys held down at once per client (a remote has one finger). */
const MAX_HELD_KEYS = 16;
/**
 * pyatv holds a key for 1 s (pyatv: protocols/mrp/__init__.py); its own fake device counts 0.5 s as a hold,
 * which leaves room for network jitter.
 */
const DEFAULT_HOLD_MS = 500;
/** Select within this long after holding home picks "Sleep" in the menu (pyatv: protocols/mrp/__init__.py). */
const SLEEP_MENU_MS = 5000;
/** How the device reaches one client: the transport's side of an attached client. */
export interface MrpDeviceLink {
  /** Names the client in log lines, e.g. `MRP simulator connection 3`. */
  readonly name: string;
  /** Whether the transport can still carry messages. */
  readonly isOpen: boolean;
  /** Sends one serialised MRP ProtocolMessage (the transport frames and seals it). */
  send(message: Buffer): void;
  /** Ends the client's connection over its own bad input; other clients carry on. */
  drop(reason: string): void;
  /**
   * Pair-verify succeeded on this client: from the next message on, the transport encrypts
   * with keys from `sharedSecret`. Absent where the transport is already secure (the tunnel).
   */
  secure?(sharedSecret: Buffer): void;
}

interface HeldKey {
  key: MrpHidKey;
  action: InputAction;
  at: number;
}

/** One attached client, as the device sees it (`verified`: on this link, or by the transport below it). */
export interface MrpDeviceClient extends HapPeer {
  readonly link: MrpDeviceLink;
  /** DEVICE_INFO received: the device talks from then on. */
  greeted: boolean;
  /** Sent CLIENT_UPDATES_CONFIG: gets the state pushes. */
  subscribed: boolean;
  /** `usagePage:usage` → ms when it went down. */
  readonly held: Map<string, number>;
  lastKey: HeldKey | null;
}

export interface MrpDeviceOptions {
  state: SimulatorState;
  identity: MrpDeviceIdentity;
  /** The server that carries it: its request log and events. */
  events: SimulatorServerSink;
  /** The protocol its request log names (`mrp`, or `airplay` inside the tunnel). */
  protocol: Protocol;
  /**
   * The device-side pairing of its transport, which CRYPTO_PAIRING messages drive (MRP's own
   * port); null where the transport below authenticates clients (the AirPlay tunnel).
   */
  pairing: HapAccessory | null;
  logger?: Logger;
  /** A key held down at least this long is a hold (default 500 ms). */
  holdMs?: number;
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

export class MrpDevice {
  readonly identity: MrpDeviceIdentity;

  private readonly state: SimulatorState;
  private readonly logger: Logger;
  private readonly events: SimulatorServerSink;
  private readonly protocol: Protocol;
  private readonly pairing: HapAccessory | null;
  private readonly holdMs: number;
  private readonly clients = new Set<MrpDeviceClient>();
  private lastStateKey = '';
  private running = false;

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

  constructor(options: MrpDeviceOptions) {
    this.state = options.state;
    this.logger = options.logger ?? silentLogger;
    this.events = options.events;
    this.protocol = options.protocol;
    this.pairing = options.pairing;
    this.holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.identity = options.identity;
  }

  /** Starts following the shared state (pushes go out from now on). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastStateKey = stateKey(this.state.snapshot());
    this.state.on('change', this.onChange);
    this.state.on('volume', this.onVolume);
    this.state.on('power', this.onPower);
    this.state.on('app', this.onApp);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.state.off('change', this.onChange);
    this.state.off('volume', this.onVolume);
    this.state.off('power', this.onPower);
    this.state.off('app', this.onApp);
  }

  /**
   * A new client on `link`, `id` its transport's connection id. `verified`: the transport below
   * already authenticated it (the AirPlay tunnel); otherwise it must pair-verify over MRP first.
   */
  attach(link: MrpDeviceLink, options: { id: number; verified: boolean }): MrpDeviceClient {
    const client: MrpDeviceClient = {
      id: options.id,
      link,
      greeted: false,
      remoteName: null,
      verified: options.verified,
      subscribed: false,
      held: new Map(),
      lastKey: null,
      closed: false,
    };
    this.clients.add(client);
    return client;
  }

  /** The client's transport ended. */
  detach(client: MrpDeviceClient): void {
    client.closed = true;
    this.clients.delete(client);
  }

  /** Ends one connection over its own bad input; the others carry on. */
  private drop(conn: MrpDeviceClient, reason: string): void {
    if (conn.closed) return;
    this.logger.debug(`MRP simulator: closing ${conn.link.name}: ${reason}`);
    conn.link.drop(reason);
  }

  /** One serialised MRP message from a client; false when it was none (the client is dropped). */
  receive(conn: MrpDeviceClient, frame: Buffer): boolean {
    if (conn.closed) return false;
    let message: MrpDecodedMessage;
    try {
      message = decodeMrpMessage(frame);
    } catch (err) {
      this.drop(conn, (err as Error).message);
      return false;
    }
    try {
      this.handle(conn, message);
    } catch (err) {
      // A bug of ours must not take the simulator down: lose this client, keep the rest.
      this.logger.warn(`MRP simulator: ${message.typeName} failed: ${err instanceof Error ? err.message : String(err)}`);
      this.drop(conn, 'internal error');
    }
    return true;
  }

  private send(conn: MrpDeviceClient, message: MrpMessage): void {
    this.sendEncoded(conn, encodeMrpMessage(message));
  }

  private sendEncoded(conn: MrpDeviceClient, plaintext: Buffer): void {
    if (conn.closed || !conn.link.isOpen) return;
    conn.link.send(plaintext);
  }

  /** One message to every verified connection (that asked for updates, unless told otherwise). */
  private broadcast(message: MrpMessage, options: { subscribedOnly: boolean } = { subscribedOnly: true }): void {
    let plaintext: Buffer | null = null;
    for (const conn of this.clients) {
      if (!conn.verified || conn.closed || (options.subscribedOnly && !conn.subscribed)) continue;
      plaintext ??= encodeMrpMessage(message);
      this.sendEncoded(conn, plaintext);
    }
  }

  private record(conn: MrpDeviceClient, message: MrpDecodedMessage, status: number, query: Record<string, string> = {}): void {
    recordRequest(this.events, { protocol: this.protocol, at: Date.now(), method: 'MRP', path: message.typeName, query, status, sessionId: conn.id });
  }

  // -------------------------------------------------------------------------------------
  // Dispatch

  private handle(conn: MrpDeviceClient, message: MrpDecodedMessage): void {
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
        this.record(conn, message, 0);
        return;
      case MrpMessageType.CRYPTO_PAIRING_MESSAGE:
        if (conn.verified || this.pairing === null) {
          this.logger.debug(`MRP simulator: pairing message on the ${conn.verified ? 'verified' : 'unpairable'} ${conn.link.name} ignored`);
          return;
        }
        this.cryptoPairing(this.pairing, conn, message.payload?.pairingData, message.identifier);
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

  private ack(conn: MrpDeviceClient, request: MrpDecodedMessage, error?: { code: MrpErrorCode; description: string }): void {
    if (request.identifier === undefined) return;
    const reply = createMrpMessage(MrpMessageType.UNKNOWN_MESSAGE, undefined, { identifier: request.identifier });
    if (error !== undefined) {
      reply.errorCode = error.code;
      reply.errorDescription = error.description;
    }
    this.send(conn, reply);
  }

  private refuseUnpaired(conn: MrpDeviceClient, message: MrpDecodedMessage): void {
    this.record(conn, message, MrpErrorCode.DeviceNotPaired);
    this.ack(conn, message, { code: MrpErrorCode.DeviceNotPaired, description: 'pair with this Apple TV first (pair-verify did not happen)' });
  }

  private session(conn: MrpDeviceClient, message: MrpDecodedMessage): void {
    switch (message.type) {
      case MrpMessageType.SET_CONNECTION_STATE_MESSAGE:
        this.record(conn, message, 0, { state: String(message.payload?.state ?? '') });
        return;
      case MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE:
        conn.subscribed = true;
        this.sendInitialState(conn);
        this.ack(conn, message);
        this.record(conn, message, 0);
        return;
      case MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE:
        this.send(conn, createMrpMessage(MrpMessageType.KEYBOARD_MESSAGE, { state: MrpKeyboardState.NotEditing }, this.replyTo(message)));
        this.record(conn, message, 0);
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
        this.record(conn, message, 0);
        return;
      case MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE: {
        const request = message.payload ?? {};
        const payload = artworkPayload(this.state.snapshot(), this.state.app, request);
        this.send(conn, createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, payload, this.replyTo(message)));
        const item = payload.playbackQueue?.contentItems?.[0];
        this.record(conn, message, 0, item?.artworkData ? { artwork: `${item.artworkDataWidth}x${item.artworkDataHeight}` } : {});
        return;
      }
      case MrpMessageType.SET_VOLUME_MESSAGE:
        this.setVolume(conn, message);
        return;
      case MrpMessageType.GET_VOLUME_MESSAGE:
        this.send(conn, createMrpMessage(MrpMessageType.GET_VOLUME_RESULT_MESSAGE, { volume: this.state.volume / 100 }, this.replyTo(message)));
        this.record(conn, message, 0);
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
  private sendInitialState(conn: MrpDeviceClient): void {
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

  private sendCommand(conn: MrpDeviceClient, message: MrpMessageOfCommand): void {
    const command = message.payload?.command;
    const name = command === undefined ? undefined : SIMULATOR_MRP_COMMANDS.get(command);
    let outcome: SendCommandOutcome;
    if (name === undefined) outcome = UNKNOWN_COMMAND;
    else if (!commandEnabled(name, this.state.snapshot())) outcome = DISABLED;
    else outcome = this.runCommand(name, message.payload?.options ?? {});
    this.send(conn, createMrpMessage(MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, { ...outcome }, this.replyTo(message)));
    this.record(conn, message, outcome.sendError ?? 0, { command: name ?? String(command ?? '') });
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

  private hidEvent(conn: MrpDeviceClient, message: MrpDecodedMessage, usagePage: number, usage: number, down: boolean): void {
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
    this.record(conn, message, 0, { key, action });
  }

  /** A complete key press (down, then up): what the Apple TV does with that button. */
  private keyPressed(conn: MrpDeviceClient, key: MrpHidKey, action: InputAction, now: number): void {
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

  private setVolume(conn: MrpDeviceClient, message: MrpMessageOfVolume): void {
    const volume = message.payload?.volume;
    const uid = message.payload?.outputDeviceUID;
    if (typeof volume !== 'number' || !Number.isFinite(volume) || volume < 0 || volume > 1) {
      this.record(conn, message, MrpErrorCode.VolumeValueOutOfRange);
      this.ack(conn, message, { code: MrpErrorCode.VolumeValueOutOfRange, description: 'volume must be from 0.0 to 1.0' });
      return;
    }
    if (uid !== undefined && uid !== '' && uid !== this.identity.deviceUID) {
      this.record(conn, message, MrpErrorCode.OutputDeviceNotFound);
      this.ack(conn, message, { code: MrpErrorCode.OutputDeviceNotFound, description: 'no such output device on this Apple TV' });
      return;
    }
    const before = this.state.volume;
    // A float32 on the wire: 0.3 arrives as 0.30000001; keep two decimals of percent.
    this.state.setVolume(Math.round(volume * 10_000) / 100);
    // Remotes wait for VOLUME_DID_CHANGE (pyatv: protocols/mrp/__init__.py): answer even when nothing changed.
    if (this.state.volume === before || !conn.subscribed) this.send(conn, this.volumeDidChange(this.state.volume));
    this.ack(conn, message);
    this.record(conn, message, 0, { volume: String(this.state.volume) });
  }

  // -------------------------------------------------------------------------------------
  // Pairing

  private pairingReply(conn: MrpDeviceClient, tlv: Buffer, identifier: string | undefined): void {
    // The field values a device answers with (pyatv capture): status 0, state 0.
    const payload = { pairingData: tlv, status: 0, isRetrying: false, isUsingSystemPairing: false, state: 0 };
    this.send(conn, createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, payload, identifier === undefined ? {} : { identifier }));
  }

  private cryptoPairing(pairing: HapAccessory, conn: MrpDeviceClient, data: Buffer | undefined, identifier: string | undefined): void {
    const bytes = data ?? Buffer.alloc(0);
    let tlv: Tlv8Map | null = null;
    try {
      tlv = decodeTlv8(bytes);
    } catch {
      // Left to the pair-setup state machine, which answers garbage with a TLV error.
    }
    const state = tlv === null ? undefined : tlv8Uint(tlv, Tlv8Type.State);
    const link: HapPairingLink = {
      reply: (tlv8) => this.pairingReply(conn, tlv8, identifier),
      secure: (secret) => conn.link.secure?.(secret),
    };
    // Verify's M1 carries a public key and no method; setup's M1 a method (pyatv's device tells them apart so too).
    const verifyStart = state === 1 && tlv !== null && tlv.has(Tlv8Type.PublicKey) && !tlv.has(Tlv8Type.Method);
    if (verifyStart || (state === 3 && pairing.verifying(conn))) pairing.pairVerify(conn, bytes, link);
    else pairing.pairSetup(conn, bytes, link);
  }
}

type MrpMessageOfCommand = Extract<MrpDecodedMessage, { type: MrpMessageType.SEND_COMMAND_MESSAGE }>;
type MrpMessageOfVolume = Extract<MrpDecodedMessage, { type: MrpMessageType.SET_VOLUME_MESSAGE }>;
