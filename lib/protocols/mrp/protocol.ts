/**
 * MRP message exchange over an MrpConnection (reference §4.3, §4.4, §4.1 heartbeat):
 *  - request/response: a request gets a fresh `identifier` and waits (with a timeout naming
 *    the message) for the reply carrying it, whatever the reply's type. The device answers
 *    some requests with a bare type-0 message that only echoes the identifier, and answers an
 *    artwork request with a SET_STATE: matching by identifier before anything else keeps
 *    both from being taken for pushes;
 *  - crypto pairing replies carry no identifier and are matched by type (one exchange at a
 *    time);
 *  - everything else is a push, dispatched to the listeners of its type;
 *  - the connection sequence: DEVICE_INFO first, pair-verify when we have credentials,
 *    SET_CONNECTION_STATE as the first encrypted message, CLIENT_UPDATES_CONFIG,
 *    GET_KEYBOARD_SESSION;
 *  - the heartbeat: a GENERIC_MESSAGE every 30 s, one immediate retry, then the connection
 *    is given up.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodeTlv8 } from '../../codecs/tlv8';
import { DEFAULT_CLIENT_NAME } from '../../device/interfaces';
import { AtvError, AuthenticationError, ClosedError, ConnectionLostError, ProtocolError, TimeoutError } from '../../errors';
import type { HapCredentials } from '../../hap/credentials';
import { deriveChannelKeys, PairVerifyClient } from '../../hap/pair-verify';
import { silentLogger, type Logger } from '../../log';
import { MrpConnection } from './connection';
import {
  createMrpMessage,
  mrpMessageTypeName,
  newMrpIdentifier,
  type MrpDecodedMessage,
  type MrpMessage,
  type MrpMessageOf,
} from './messages';
import { MrpConnectionState, MrpDeviceClass, MrpErrorCode, MrpMessageType, type MrpDeviceInfoMessage } from './proto-types';

/** pyatv's heartbeat period (reference §4.1). */
export const MRP_HEARTBEAT_INTERVAL = 30_000;
/** Heartbeat retries after a failed one, sent at once (pyatv: one). */
export const MRP_HEARTBEAT_RETRIES = 1;

/** The updates we subscribe to (reference §4.4 step 5: everything but the now-playing feed pyatv leaves off). */
export const MRP_CLIENT_UPDATES_CONFIG = {
  artworkUpdates: true,
  nowPlayingUpdates: false,
  volumeUpdates: true,
  keyboardUpdates: true,
  outputDeviceUpdates: true,
} as const;

/**
 * Our DEVICE_INFO: the values pyatv sends (reference §4.4), which tvOS is known to accept.
 * A device that gets anything else first stays silent.
 */
export function mrpClientDeviceInfo(name: string, uniqueIdentifier: string): MrpDeviceInfoMessage {
  return {
    uniqueIdentifier,
    name,
    localizedModelName: 'iPhone',
    systemBuildVersion: '18G82',
    applicationBundleIdentifier: 'com.apple.TVRemote',
    applicationBundleVersion: '344.28',
    protocolVersion: 1,
    lastSupportedMessageType: 108,
    supportsSystemPairing: true,
    allowsPairing: true,
    systemMediaApplication: 'com.apple.TVMusic',
    supportsACL: true,
    supportsSharedQueue: true,
    supportsExtendedMotion: true,
    sharedQueueVersion: 2,
    deviceClass: MrpDeviceClass.iPhone,
    logicalDeviceCount: 1,
  };
}

export interface MrpProtocolOptions {
  host: string;
  port: number;
  /** Per-request timeout in ms (also the connect timeout). */
  timeout: number;
  logger?: Logger;
  /** The name the device shows for us (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** Heartbeat period in ms (default 30 s). */
  heartbeatInterval?: number;
  /** Largest frame accepted from the device. */
  maxFrameBytes?: number;
}

export interface MrpProtocolEvents {
  /**
   * The device's DEVICE_INFO reply, as soon as it arrives: pushes about volume name the
   * output device it names, and they start before the connection sequence is over.
   */
  deviceInfo: [info: MrpDeviceInfoMessage];
  /** A push (a message that answers no request of ours). */
  message: [message: MrpDecodedMessage];
  /** The connection ended; null after close(). Emitted once. */
  closed: [error: AtvError | null];
}

interface Pending {
  resolve: (message: MrpDecodedMessage) => void;
  reject: (error: AtvError) => void;
  timer: NodeJS.Timeout;
  /** Runs synchronously on the reply, before the next frame is read (see pairVerify). */
  onReply?: (message: MrpDecodedMessage) => void;
}

export interface MrpRequestOptions {
  /** Override the per-request timeout (ms). */
  timeout?: number;
}

export class MrpProtocol extends EventEmitter<MrpProtocolEvents> {
  readonly connection: MrpConnection;
  private readonly options: MrpProtocolOptions;
  private readonly logger: Logger;
  private readonly byIdentifier = new Map<string, Pending>();
  private readonly byType = new Map<number, Pending>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatRunning = false;
  private closed = false;
  private info: MrpDeviceInfoMessage | null = null;

  constructor(options: MrpProtocolOptions) {
    super();
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.connection = new MrpConnection({
      host: options.host,
      port: options.port,
      timeout: options.timeout,
      logger: this.logger,
      ...(options.maxFrameBytes !== undefined && { maxFrameBytes: options.maxFrameBytes }),
    });
    this.connection.on('message', (message) => this.route(message));
    this.connection.on('closed', (error) => this.onClosed(error));
  }

  /** The device's DEVICE_INFO reply (null before the exchange). */
  get deviceInfo(): Readonly<MrpDeviceInfoMessage> | null {
    return this.info;
  }

  get endpoint(): string {
    return this.connection.endpoint;
  }

  get isOpen(): boolean {
    return this.connection.isOpen;
  }

  /** TCP connect only. */
  async connect(): Promise<void> {
    if (this.closed) throw new ClosedError(`${this.endpoint}: the connection was closed`);
    await this.connection.connect();
  }

  /**
   * The whole connection sequence of reference §4.4: DEVICE_INFO, pair-verify (with
   * credentials), SET_CONNECTION_STATE, CLIENT_UPDATES_CONFIG, GET_KEYBOARD_SESSION.
   * Resolves with the device's DEVICE_INFO.
   */
  async start(credentials: HapCredentials | null): Promise<MrpDeviceInfoMessage> {
    await this.connect();
    const info = await this.exchangeDeviceInfo(credentials ? credentials.clientId.toString('utf8') : randomUUID());
    if (credentials) await this.pairVerify(credentials);
    // Must be the first encrypted message: the device ignores us otherwise.
    this.send(createMrpMessage(MrpMessageType.SET_CONNECTION_STATE_MESSAGE, { state: MrpConnectionState.Connected }));
    const subscribed = await this.request(createMrpMessage(MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE, MRP_CLIENT_UPDATES_CONFIG));
    this.checkPaired(subscribed, credentials !== null);
    // pyatv sends it without the (string) extension; the device answers with a KEYBOARD_MESSAGE.
    await this.request(createMrpMessage(MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE));
    return info;
  }

  /**
   * pyatv never saw an MRP device insist on pairing (reference §4.4), but a device that does
   * says DeviceNotPaired; without this check the session would look connected and stay empty.
   */
  private checkPaired(reply: MrpDecodedMessage, verified: boolean): void {
    if (reply.errorCode !== MrpErrorCode.DeviceNotPaired) return;
    throw new AuthenticationError(
      verified
        ? `${this.endpoint} says we are not paired although pair-verify succeeded: pair again`
        : `${this.endpoint} only accepts paired remotes: pair MRP with it first and connect with the credentials`,
    );
  }

  /** DEVICE_INFO, the message a device needs before any other. `uniqueIdentifier` is our pairing id. */
  async exchangeDeviceInfo(uniqueIdentifier: string): Promise<MrpDeviceInfoMessage> {
    const name = this.options.name ?? DEFAULT_CLIENT_NAME;
    const reply = await this.request(createMrpMessage(MrpMessageType.DEVICE_INFO_MESSAGE, mrpClientDeviceInfo(name, uniqueIdentifier)));
    if (reply.type !== MrpMessageType.DEVICE_INFO_MESSAGE || !reply.payload) {
      throw new ProtocolError(`${this.endpoint} answered DEVICE_INFO with ${reply.typeName}: is this port an MRP service?`);
    }
    this.info = reply.payload;
    this.emit('deviceInfo', reply.payload);
    return reply.payload;
  }

  /**
   * HAP pair-verify (reference §4.6) with stored credentials; on success both directions
   * switch to the session cipher. The cipher is switched on synchronously as the device's M4
   * is read, because the device may send its first encrypted frame in the same TCP segment.
   */
  async pairVerify(credentials: HapCredentials): Promise<void> {
    const verifier = new PairVerifyClient(credentials);
    const m2 = await this.exchangePairing(verifier.m1(), false);
    const step = verifier.handle(m2);
    if (step.kind !== 'send') throw new ProtocolError(`${this.endpoint}: pair-verify ended early`);
    await this.exchangePairing(step.message, false, (m4) => {
      const done = verifier.handle(m4);
      if (done.kind !== 'verified') throw new ProtocolError(`${this.endpoint}: pair-verify did not complete`);
      this.connection.enableEncryption(deriveChannelKeys(done.sharedSecret, 'mrp'));
    });
  }

  /**
   * Sends one CRYPTO_PAIRING_MESSAGE carrying `tlv` and resolves with the pairingData of the
   * device's answer. `first` marks the first message of a pair-setup (state 2, §4.5).
   */
  async exchangePairing(tlv: Buffer, first: boolean, onReply?: (tlv: Buffer) => void): Promise<Buffer> {
    const message = createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, {
      pairingData: tlv,
      status: 0,
      isRetrying: false,
      isUsingSystemPairing: false,
      state: first ? 2 : 0,
    });
    const reply = await this.requestByType(message, MrpMessageType.CRYPTO_PAIRING_MESSAGE, {}, onReply && ((m) => onReply(pairingDataOf(m, this.endpoint))));
    return pairingDataOf(reply, this.endpoint);
  }

  /** Sends a message that expects no reply. */
  send(message: MrpMessage): void {
    if (this.closed) throw new ClosedError(`${this.endpoint}: the connection was closed`);
    this.connection.send(message);
  }

  /** Sends a request with a fresh identifier and resolves with the device's reply to it. */
  request(message: MrpMessage, options: MrpRequestOptions = {}): Promise<MrpDecodedMessage> {
    const identifier = newMrpIdentifier();
    const outgoing = { ...message, identifier } as MrpMessage;
    return this.wait(this.byIdentifier, identifier, outgoing, options);
  }

  /** Sends a message whose reply carries no identifier and is recognised by its type. */
  requestByType(
    message: MrpMessage,
    replyType: MrpMessageType,
    options: MrpRequestOptions = {},
    onReply?: (message: MrpDecodedMessage) => void,
  ): Promise<MrpDecodedMessage> {
    if (this.byType.has(replyType)) {
      return Promise.reject(new ProtocolError(`${this.endpoint}: a ${mrpMessageTypeName(replyType)} exchange is already in progress`));
    }
    return this.wait(this.byType, replyType, message, options, onReply);
  }

  private wait<K>(
    table: Map<K, Pending>,
    key: K,
    message: MrpMessage,
    options: MrpRequestOptions,
    onReply?: (message: MrpDecodedMessage) => void,
  ): Promise<MrpDecodedMessage> {
    if (this.closed) return Promise.reject(this.connection.error ?? new ClosedError(`${this.endpoint}: the connection was closed`));
    const what = mrpMessageTypeName(message.type);
    const timeout = options.timeout ?? this.options.timeout;
    return new Promise<MrpDecodedMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        table.delete(key);
        reject(new TimeoutError(`${this.endpoint}: no answer to ${what} within ${timeout} ms`));
      }, timeout);
      timer.unref();
      const pending: Pending = {
        resolve,
        reject,
        timer,
        ...(onReply && { onReply }),
      };
      table.set(key, pending);
      try {
        this.connection.send(message);
      } catch (err) {
        clearTimeout(timer);
        table.delete(key);
        reject(err instanceof AtvError ? err : new ProtocolError(String(err)));
      }
    });
  }

  private route(message: MrpDecodedMessage): void {
    // An empty identifier is none (as pyatv reads it): such a reply is matched by its type.
    const identifier = message.identifier || undefined;
    const pending = identifier !== undefined ? this.byIdentifier.get(identifier) : undefined;
    if (pending) {
      this.byIdentifier.delete(identifier!);
      this.settle(pending, message);
      return;
    }
    const byType = identifier === undefined ? this.byType.get(message.type) : undefined;
    if (byType) {
      this.byType.delete(message.type);
      this.settle(byType, message);
      return;
    }
    this.emit('message', message);
  }

  private settle(pending: Pending, message: MrpDecodedMessage): void {
    clearTimeout(pending.timer);
    // A reply's errorCode is left to the caller: pyatv ignores it, and which replies a real
    // device marks (and whether that means failure) is not documented.
    if (pending.onReply) {
      try {
        pending.onReply(message);
      } catch (err) {
        pending.reject(err instanceof AtvError ? err : new ProtocolError(String(err), { cause: err }));
        return;
      }
    }
    pending.resolve(message);
  }

  /**
   * Starts the heartbeat: a GENERIC_MESSAGE request every interval; a failed one is retried
   * at once, and when the retry fails too the connection is closed with a ConnectionLostError.
   */
  startHeartbeat(): void {
    if (this.closed || this.heartbeatTimer || this.heartbeatRunning) return;
    this.scheduleHeartbeat(this.options.heartbeatInterval ?? MRP_HEARTBEAT_INTERVAL);
  }

  private scheduleHeartbeat(delay: number): void {
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = null;
      void this.heartbeat();
    }, delay);
    this.heartbeatTimer.unref();
  }

  private async heartbeat(): Promise<void> {
    this.heartbeatRunning = true;
    let lastError: unknown;
    for (let attempt = 0; attempt <= MRP_HEARTBEAT_RETRIES; attempt++) {
      if (this.closed) return;
      try {
        await this.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
        this.heartbeatRunning = false;
        if (!this.closed) this.scheduleHeartbeat(this.options.heartbeatInterval ?? MRP_HEARTBEAT_INTERVAL);
        return;
      } catch (err) {
        lastError = err;
        this.logger.debug(`${this.endpoint}: heartbeat ${attempt + 1} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.heartbeatRunning = false;
    if (this.closed) return;
    this.logger.warn(`${this.endpoint}: the device stopped answering heartbeats; closing the connection`);
    this.fail(
      new ConnectionLostError(`${this.endpoint}: the device stopped answering (heartbeat failed ${MRP_HEARTBEAT_RETRIES + 1} times)`, {
        cause: lastError,
      }),
    );
  }

  /** Ends the connection with `error` (reported through `closed`). */
  fail(error: AtvError): void {
    this.connection.abort(error);
  }

  /** Ends the connection, rejecting every request in flight. Safe to call twice. */
  close(): void {
    this.connection.close();
  }

  private onClosed(error: AtvError | null): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const reason = error ?? new ClosedError(`${this.endpoint}: the connection was closed`);
    for (const table of [this.byIdentifier, this.byType] as Map<unknown, Pending>[]) {
      for (const pending of table.values()) {
        clearTimeout(pending.timer);
        pending.reject(reason);
      }
      table.clear();
    }
    this.emit('closed', error);
  }
}

function pairingDataOf(message: MrpDecodedMessage, endpoint: string): Buffer {
  const data = (message as MrpMessageOf<MrpMessageType.CRYPTO_PAIRING_MESSAGE>).payload?.pairingData;
  if (!data || data.length === 0) throw new ProtocolError(`${endpoint}: a pairing reply without pairing data`);
  // Fail here, with the transport named, rather than deep inside the HAP layer.
  try {
    decodeTlv8(data);
  } catch (err) {
    throw new ProtocolError(`${endpoint}: the device's pairing data is not valid TLV8`, { cause: err });
  }
  return data;
}
