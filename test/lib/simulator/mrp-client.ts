/**
 * A minimal MRP remote for the simulator tests, built from the message layer and lib/hap's
 * controller classes only (not the library's MRP session), so the tests check the simulator
 * against the protocol rather than against another piece of our own stack.
 */
import { connect, type Socket } from 'node:net';
import { ProtocolError } from '../../../lib/errors';
import { CounterNonceCipher } from '../../../lib/hap/channel';
import type { HapCredentials } from '../../../lib/hap/credentials';
import { PairSetupClient } from '../../../lib/hap/pair-setup';
import { deriveChannelKeys, PairVerifyClient } from '../../../lib/hap/pair-verify';
import { FramedChannel } from '../../../lib/support/channel';
import { VARINT_FRAMES } from '../../../lib/support/frames';
import {
  createMrpMessage,
  decodeMrpMessage,
  encodeMrpMessage,
  MrpMessageType,
  newMrpIdentifier,
  type MrpDecodedMessage,
  type MrpMessage,
} from '../../../lib/protocols/mrp/messages';
import { MrpConnectionState } from '../../../lib/protocols/mrp/proto-types';
import { MRP_CLIENT_UPDATES_CONFIG } from '../../../lib/protocols/mrp/exchange';

const DEFAULT_WAIT_MS = 3000;

type Match = (message: MrpDecodedMessage) => boolean;

interface Waiter {
  match: Match;
  resolve: (message: MrpDecodedMessage) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class MrpTestClient {
  readonly socket: Socket;
  /** Resolves when the server closed (or we did). */
  readonly closed: Promise<void>;
  /** Every message received, in order (also those already taken by `next`). */
  readonly received: MrpDecodedMessage[] = [];
  private readonly channel: FramedChannel;
  private readonly inbox: MrpDecodedMessage[] = [];
  private readonly waiters = new Set<Waiter>();
  private isClosed = false;
  /** Bytes or frames we could not read (would be a simulator bug). */
  failure: Error | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.channel = new FramedChannel(socket, { endpoint: 'MRP test client', format: VARINT_FRAMES });
    this.closed = new Promise((resolve) => {
      this.channel.on('closed', (reason) => {
        if (reason instanceof ProtocolError) this.failure = reason;
        this.isClosed = true;
        for (const w of this.waiters) {
          clearTimeout(w.timer);
          w.reject(new Error('the simulator closed the connection'));
        }
        this.waiters.clear();
        resolve();
      });
    });
    this.channel.on('frame', ({ payload }) => this.receive(payload));
  }

  static connect(port: number): Promise<MrpTestClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new MrpTestClient(socket));
      });
      socket.once('error', reject);
    });
  }

  get open(): boolean {
    return !this.isClosed;
  }

  get encrypted(): boolean {
    return this.channel.encrypted;
  }

  private receive(frame: Buffer): void {
    let message: MrpDecodedMessage;
    try {
      message = decodeMrpMessage(frame);
    } catch (err) {
      this.channel.abort(err instanceof ProtocolError ? err : new ProtocolError(String(err)));
      return;
    }
    this.received.push(message);
    const waiter = [...this.waiters].find((w) => w.match(message));
    if (waiter === undefined) {
      this.inbox.push(message);
    } else {
      this.waiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve(message);
    }
  }

  send(message: MrpMessage): void {
    if (this.channel.isOpen) this.channel.send(encodeMrpMessage(message));
  }

  /** The next message matching `match` (already received or still to come). */
  next(match: Match, timeoutMs = DEFAULT_WAIT_MS, what = 'a message'): Promise<MrpDecodedMessage> {
    const at = this.inbox.findIndex(match);
    if (at >= 0) return Promise.resolve(this.inbox.splice(at, 1)[0]!);
    if (this.isClosed) return Promise.reject(new Error(`connection closed while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  nextOfType(type: MrpMessageType, timeoutMs = DEFAULT_WAIT_MS): Promise<MrpDecodedMessage> {
    return this.next((m) => m.type === type, timeoutMs, MrpMessageType[type]);
  }

  /** Whether a matching message arrives within `ms` (for "the device stays silent"). */
  async arrives(match: Match, ms: number): Promise<boolean> {
    try {
      await this.next(match, ms);
      return true;
    } catch {
      return false;
    }
  }

  /** Messages received and not taken by `next`. */
  pending(): MrpDecodedMessage[] {
    return [...this.inbox];
  }

  /** Forgets the untaken messages. */
  drain(): void {
    this.inbox.length = 0;
  }

  /** Sends with a fresh identifier and waits for the message answering it. */
  request(message: MrpMessage, timeoutMs = DEFAULT_WAIT_MS): Promise<MrpDecodedMessage> {
    const identifier = newMrpIdentifier();
    this.send({ ...message, identifier });
    return this.next((m) => m.identifier === identifier, timeoutMs, `answer to ${MrpMessageType[message.type]}`);
  }

  /** DEVICE_INFO as pyatv sends it (pyatv: MrpProtocol.start in protocols/mrp/protocol.py step 2); returns the device's. */
  hello(name = 'atvlink test remote'): Promise<MrpDecodedMessage> {
    return this.request(
      createMrpMessage(MrpMessageType.DEVICE_INFO_MESSAGE, {
        uniqueIdentifier: newMrpIdentifier(),
        name,
        localizedModelName: 'iPhone',
        systemBuildVersion: '18G82',
        applicationBundleIdentifier: 'com.apple.TVRemote',
        protocolVersion: 1,
        lastSupportedMessageType: 108,
        allowsPairing: true,
        deviceClass: 1,
        logicalDeviceCount: 1,
      }),
    );
  }

  private async pairingExchange(tlv: Buffer, first: boolean): Promise<Buffer> {
    this.send(
      createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, {
        pairingData: tlv,
        status: 0,
        isRetrying: false,
        isUsingSystemPairing: false,
        state: first ? 2 : 0,
      }),
    );
    const reply = await this.nextOfType(MrpMessageType.CRYPTO_PAIRING_MESSAGE);
    if (reply.type !== MrpMessageType.CRYPTO_PAIRING_MESSAGE || reply.payload?.pairingData === undefined) {
      throw new Error('a pairing reply without pairingData');
    }
    return reply.payload.pairingData;
  }

  /** Pair-setup M1..M6 with `pin` (resolved after M2, as a user reads it off the screen). */
  async pairSetup(pin: string | (() => string), options: { pairingId?: string; seed?: Buffer } = {}): Promise<HapCredentials> {
    const client = new PairSetupClient({
      ...(options.pairingId !== undefined ? { pairingId: options.pairingId } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    });
    let reply = await this.pairingExchange(client.m1(), true);
    client.setPin(typeof pin === 'function' ? pin() : pin);
    for (;;) {
      const step = client.handle(reply);
      if (step.kind === 'paired') return step.credentials;
      if (step.kind !== 'send') throw new Error(`unexpected pair-setup step ${step.kind}`);
      reply = await this.pairingExchange(step.message, false);
    }
  }

  /** Pair-verify M1..M4; on success everything after is encrypted. */
  async pairVerify(credentials: HapCredentials): Promise<void> {
    const client = new PairVerifyClient(credentials);
    let reply = await this.pairingExchange(client.m1(), false);
    for (;;) {
      const step = client.handle(reply);
      if (step.kind === 'verified') {
        this.channel.switchTo(VARINT_FRAMES, new CounterNonceCipher(deriveChannelKeys(step.sharedSecret, 'mrp'), 'zeros-then-counter'));
        return;
      }
      reply = await this.pairingExchange(step.message, false);
    }
  }

  /** Steps 4–6 of the connection sequence (pyatv: MrpProtocol.start in protocols/mrp/protocol.py). */
  async startSession(): Promise<void> {
    this.send(createMrpMessage(MrpMessageType.SET_CONNECTION_STATE_MESSAGE, { state: MrpConnectionState.Connected }));
    await this.request(createMrpMessage(MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE, MRP_CLIENT_UPDATES_CONFIG));
    await this.request(createMrpMessage(MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE));
  }

  async close(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }
}

/** Connects, says hello, verifies and starts a session: a ready remote. */
export async function verifiedClient(port: number, credentials: HapCredentials): Promise<MrpTestClient> {
  const client = await MrpTestClient.connect(port);
  await client.hello();
  await client.pairVerify(credentials);
  await client.startSession();
  return client;
}
