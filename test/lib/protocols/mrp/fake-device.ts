/**
 * A scripted MRP device on 127.0.0.1:0 for the client tests. It plays the device side the
 * way pyatv 0.16.1's fake Apple TV did in the recorded captures: the same DEVICE_INFO, the
 * same pushes in the same order during setup (SET_STATE and SET_NOW_PLAYING_CLIENT before
 * the type-0 acknowledgement of CLIENT_UPDATES_CONFIG, then the volume messages), a
 * KEYBOARD_MESSAGE answering GET_KEYBOARD_SESSION, a SEND_COMMAND_RESULT per command and a
 * SET_STATE carrying the PNG for a PLAYBACK_QUEUE_REQUEST. The pairing side is our own HAP
 * device (lib/hap) with the fake's fixed key (seed 32 × 0xAA), so pyatv's credentials from
 * keys.json verify against it; unlike pyatv's fake it checks the controller's signature.
 *
 * Everything it receives is recorded decoded, with the plaintext bytes, so tests assert on
 * what really crossed the socket. Handlers can be replaced per message type.
 */
import net, { type AddressInfo } from 'node:net';
import { decodeTlv8, Tlv8Type, tlv8Uint } from '../../../../lib/codecs/tlv8';
import { CounterNonceCipher } from '../../../../lib/hap/channel';
import { ed25519PublicKey } from '../../../../lib/hap/keys';
import { PairSetupServer, type PairSetupServerOptions } from '../../../../lib/hap/pair-setup';
import { deriveChannelKeys, PairVerifyServer } from '../../../../lib/hap/pair-verify';
import { parseFullHapCredentials } from '../../../../lib/hap/credentials';
import { encodeMrpFrame, mrpFrameCodec } from '../../../../lib/protocols/mrp/framing';
import {
  createMrpMessage,
  decodeMrpMessage,
  encodeMrpMessage,
  MrpMessageType,
  type MrpDecodedMessage,
  type MrpMessage,
  type MrpMessageOf,
} from '../../../../lib/protocols/mrp/messages';
import type { MrpDeviceInfoMessage } from '../../../../lib/protocols/mrp/proto-types';
import { capturedFrames, readKeys } from './capture';

export const FAKE_DEVICE_SEED = Buffer.alloc(32, 0xaa);
export const FAKE_DEVICE_ID = '5D797FD3-3538-427E-A47B-A32FC6CF3A6A';
export const FAKE_DEVICE_UID = 'E510C430-B01D-45DF-B558-6EA6F8251069';
/** pyatv's credentials from mrp-pair.jsonl (paired with the fake above). */
export const PYATV_CREDENTIALS = readKeys().credentials_from_pairing.mrp!;
export const PYATV_CLIENT_ID = parseFullHapCredentials(PYATV_CREDENTIALS).clientId.toString('utf8');

const PLAYING = capturedFrames('mrp-session-playing.jsonl', 's2c').map((f) => f.message);
const ARTWORK = capturedFrames('mrp-session-artwork_save.jsonl', 's2c').map((f) => f.message);

function capturedOf<T extends MrpMessageType>(messages: MrpDecodedMessage[], type: T, nth = 0): MrpMessageOf<T> & MrpDecodedMessage {
  const found = messages.filter((m) => m.type === type)[nth];
  if (!found) throw new Error(`capture has no ${MrpMessageType[type]} #${nth}`);
  return found as MrpMessageOf<T> & MrpDecodedMessage;
}

/** The fake's DEVICE_INFO reply, as captured. */
export const CAPTURED_DEVICE_INFO: MrpDeviceInfoMessage = capturedOf(PLAYING, MrpMessageType.DEVICE_INFO_MESSAGE).payload!;
/** The PNG the fake answered the artwork request with (16 × 16). */
export const CAPTURED_ARTWORK: Buffer = capturedOf(ARTWORK, MrpMessageType.SET_STATE_MESSAGE, 1).payload!.playbackQueue!.contentItems![0]!
  .artworkData!;

/** A message from the capture, re-made as an outgoing message (without the captured identifiers). */
function fresh(message: MrpDecodedMessage): MrpMessage {
  return createMrpMessage(message.type as MrpMessageType.SET_STATE_MESSAGE, message.payload as never) as MrpMessage;
}

/** The pushes around the CLIENT_UPDATES_CONFIG acknowledgement, in captured order. */
export const CAPTURED_PUSHES_BEFORE_ACK: MrpMessage[] = [
  fresh(capturedOf(PLAYING, MrpMessageType.SET_STATE_MESSAGE)),
  fresh(capturedOf(PLAYING, MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE)),
];
export const CAPTURED_PUSHES_AFTER_ACK: MrpMessage[] = [
  fresh(capturedOf(PLAYING, MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE)),
  fresh(capturedOf(PLAYING, MrpMessageType.VOLUME_CONTROL_CAPABILITIES_DID_CHANGE_MESSAGE)),
  fresh(capturedOf(PLAYING, MrpMessageType.VOLUME_DID_CHANGE_MESSAGE)),
];
/** The captured SET_STATE (for tests that vary it). */
export const CAPTURED_SET_STATE = capturedOf(PLAYING, MrpMessageType.SET_STATE_MESSAGE).payload!;

export interface Received {
  message: MrpDecodedMessage;
  plaintext: Buffer;
  encrypted: boolean;
  /** ms since the connection opened. */
  at: number;
}

export type FakeHandler = (conn: FakeConnection, message: MrpDecodedMessage) => void | 'default';

export interface FakeMrpDeviceOptions {
  deviceInfo?: MrpDeviceInfoMessage;
  /** Paired controllers: id → Ed25519 public key. Default: pyatv's from keys.json. */
  controllers?: Map<string, Uint8Array>;
  pin?: string;
  setup?: Partial<PairSetupServerOptions>;
  pushesBeforeAck?: MrpMessage[];
  pushesAfterAck?: MrpMessage[];
}

export class FakeConnection {
  readonly received: Received[] = [];
  /** Cuts frames only: the fake seals and opens bodies itself, so it can also send plain ones mid-session. */
  private readonly decoder = mrpFrameCodec();
  private cipher: CounterNonceCipher | null = null;
  private mode: 'setup' | 'verify' | null = null;
  private readonly verifier: PairVerifyServer;
  private readonly opened = Date.now();
  private waiters: { predicate: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  closed = false;

  constructor(
    readonly socket: net.Socket,
    private readonly device: FakeMrpDevice,
  ) {
    this.verifier = new PairVerifyServer({
      seed: FAKE_DEVICE_SEED,
      deviceId: FAKE_DEVICE_ID,
      controllers: (id) => device.controllers.get(id.toString('utf8')),
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => undefined);
  }

  get encrypted(): boolean {
    return this.cipher !== null;
  }

  messages(type?: MrpMessageType): MrpDecodedMessage[] {
    return this.received.map((r) => r.message).filter((m) => type === undefined || m.type === type);
  }

  /** Resolves with the first received message (already here or later) matching `predicate`. */
  waitFor(predicate: (r: Received) => boolean, ms = 5000): Promise<Received> {
    const seen = this.received.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<Received>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fake device: the expected message never came')), ms);
      this.waiters.push({
        predicate,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  send(message: MrpMessage): void {
    this.sendFrame(encodeMrpMessage(message));
  }

  /** Sends a frame body: encrypted once the session cipher is on, unless `plain`. */
  sendFrame(body: Buffer, plain = false): void {
    if (this.closed) return;
    this.socket.write(encodeMrpFrame(this.cipher && !plain ? this.cipher.seal(body) : body));
  }

  /** Raw bytes, no framing. */
  sendRaw(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  reply(to: MrpDecodedMessage, message: MrpMessage): void {
    this.send({ ...message, identifier: to.identifier } as MrpMessage);
  }

  /** The bare type-0 acknowledgement the fake answers some requests with. */
  ack(to: MrpDecodedMessage): void {
    this.reply(to, createMrpMessage(MrpMessageType.UNKNOWN_MESSAGE));
  }

  enableCipher(shared: Buffer): void {
    this.cipher = new CounterNonceCipher(deriveChannelKeys(shared, 'mrp', { role: 'accessory' }), 'zeros-then-counter');
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const frames: Buffer[] = [];
    try {
      this.decoder.push(chunk, (frame) => frames.push(frame.payload));
    } catch {
      this.socket.destroy();
      return;
    }
    for (const frame of frames) {
      const encrypted = this.cipher !== null;
      let plaintext: Buffer;
      let message: MrpDecodedMessage;
      try {
        plaintext = this.cipher ? this.cipher.open(frame) : frame;
        message = decodeMrpMessage(plaintext);
      } catch {
        this.socket.destroy();
        return;
      }
      const received: Received = { message, plaintext, encrypted, at: Date.now() - this.opened };
      this.received.push(received);
      this.waiters = this.waiters.filter((w) => {
        if (!w.predicate(received)) return true;
        w.resolve(received);
        return false;
      });
      this.device.dispatch(this, message);
    }
  }

  /** The default device behaviour for one message. */
  handleDefault(message: MrpDecodedMessage): void {
    const d = this.device;
    switch (message.type) {
      case MrpMessageType.DEVICE_INFO_MESSAGE:
        this.reply(message, createMrpMessage(MrpMessageType.DEVICE_INFO_MESSAGE, d.deviceInfo));
        return;
      case MrpMessageType.CRYPTO_PAIRING_MESSAGE:
        this.pairing(message);
        return;
      case MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE:
        for (const push of d.pushesBeforeAck) this.send(push);
        this.ack(message);
        for (const push of d.pushesAfterAck) this.send(push);
        return;
      case MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE:
        this.reply(message, createMrpMessage(MrpMessageType.KEYBOARD_MESSAGE));
        return;
      case MrpMessageType.GENERIC_MESSAGE:
        if (message.identifier) this.ack(message);
        return;
      case MrpMessageType.SEND_COMMAND_MESSAGE:
        this.reply(message, createMrpMessage(MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, { sendError: 0, handlerReturnStatus: 0 }));
        return;
      case MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE:
        this.reply(
          message,
          createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, {
            playbackQueue: {
              location: 0,
              contentItems: [{ artworkData: CAPTURED_ARTWORK, artworkDataWidth: 16, artworkDataHeight: 16 }],
            },
          }),
        );
        return;
      case MrpMessageType.SET_VOLUME_MESSAGE:
        this.send(
          createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, {
            volume: message.payload?.volume ?? 0,
            outputDeviceUID: message.payload?.outputDeviceUID ?? '',
          }),
        );
        return;
      default:
        if (message.identifier) this.ack(message);
    }
  }

  private pairing(message: MrpDecodedMessage): void {
    const data = (message as MrpMessageOf<MrpMessageType.CRYPTO_PAIRING_MESSAGE>).payload?.pairingData;
    if (!data) return;
    const tlv = decodeTlv8(data);
    // Pair-setup M1 names its method; pair-verify M1 does not. M3 belongs to whichever began.
    if (tlv8Uint(tlv, Tlv8Type.State) === 1) this.mode = tlv.has(Tlv8Type.Method) ? 'setup' : 'verify';
    let reply: Buffer;
    let shared: Buffer | null = null;
    if (this.mode === 'verify') {
      const step = this.verifier.handle(data);
      reply = step.message;
      if (step.kind === 'verified') shared = step.sharedSecret;
    } else {
      const step = this.device.setup.handle(data);
      reply = step.message;
      if (step.kind === 'paired') this.device.controllers.set(step.controller.id.toString('utf8'), step.controller.ltpk);
    }
    this.send(
      createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, {
        pairingData: reply,
        status: 0,
        isRetrying: false,
        isUsingSystemPairing: false,
        state: 0,
      }),
    );
    if (shared && this.device.encryptAfterVerify) this.enableCipher(shared);
  }
}

export class FakeMrpDevice {
  readonly connections: FakeConnection[] = [];
  readonly controllers: Map<string, Uint8Array>;
  readonly deviceInfo: MrpDeviceInfoMessage;
  readonly setup: PairSetupServer;
  pushesBeforeAck: MrpMessage[];
  pushesAfterAck: MrpMessage[];
  /** Switch on the session cipher after a successful verify (a real device does). */
  encryptAfterVerify = true;
  private readonly handlers = new Map<MrpMessageType, FakeHandler>();
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    options: FakeMrpDeviceOptions,
  ) {
    const pyatv = parseFullHapCredentials(PYATV_CREDENTIALS);
    this.controllers = options.controllers ?? new Map([[pyatv.clientId.toString('utf8'), ed25519PublicKey(pyatv.ltsk)]]);
    this.deviceInfo = options.deviceInfo ?? CAPTURED_DEVICE_INFO;
    this.setup = new PairSetupServer({ pin: options.pin ?? '1111', deviceId: FAKE_DEVICE_ID, seed: FAKE_DEVICE_SEED, ...options.setup });
    this.pushesBeforeAck = options.pushesBeforeAck ?? CAPTURED_PUSHES_BEFORE_ACK;
    this.pushesAfterAck = options.pushesAfterAck ?? CAPTURED_PUSHES_AFTER_ACK;
  }

  static async start(options: FakeMrpDeviceOptions = {}): Promise<FakeMrpDevice> {
    const server = net.createServer();
    const device = new FakeMrpDevice(server, options);
    server.on('connection', (socket) => {
      socket.setNoDelay(true);
      device.sockets.add(socket);
      socket.on('close', () => device.sockets.delete(socket));
      device.connections.push(new FakeConnection(socket, device));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return device;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The latest connection. */
  get last(): FakeConnection {
    const conn = this.connections[this.connections.length - 1];
    if (!conn) throw new Error('fake device: no connection yet');
    return conn;
  }

  /** Replaces the behaviour for one message type (return 'default' to fall back). */
  on(type: MrpMessageType, handler: FakeHandler): this {
    this.handlers.set(type, handler);
    return this;
  }

  dispatch(conn: FakeConnection, message: MrpDecodedMessage): void {
    const handler = this.handlers.get(message.type);
    if (handler && handler(conn, message) !== 'default') return;
    conn.handleDefault(message);
  }

  /** Sockets still open on the device side. */
  openSockets(): number {
    return this.sockets.size;
  }

  /** Resolves once every device-side socket has closed. */
  async socketsClosed(ms = 2000): Promise<void> {
    const until = Date.now() + ms;
    while (this.sockets.size > 0) {
      if (Date.now() > until) throw new Error(`${this.sockets.size} socket(s) still open on the fake device`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
