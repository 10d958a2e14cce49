/**
 * MRP message exchange over an `MrpTransport` (direct TCP or the AirPlay tunnel):
 *  - request/response: a request gets a fresh `identifier` and waits (with a timeout naming
 *    the message) for the reply carrying it, whatever the reply's type. The device answers
 *    some requests with a bare type-0 message that only echoes the identifier, and answers an
 *    artwork request with a SET_STATE: matching by identifier before anything else keeps
 *    both from being taken for pushes;
 *  - crypto pairing replies carry no identifier and are matched by type (one exchange at a
 *    time);
 *  - everything else is a push, dispatched to the listeners of its type;
 *  - the connection sequence (pyatv's `MrpExchange.start`): DEVICE_INFO first, then whatever
 *    the transport needs to authenticate (direct TCP: pair-verify), SET_CONNECTION_STATE as
 *    the first message after it, CLIENT_UPDATES_CONFIG, GET_KEYBOARD_SESSION;
 *  - the heartbeat, on transports that need one: a GENERIC_MESSAGE when the device has been
 *    silent for a while, one immediate retry, then the transport is given up.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodeTlv8 } from '../../codecs/tlv8';
import { DEFAULT_CLIENT_NAME } from '../../device/interfaces';
import { AtvError, AuthenticationError, ClosedError, ConnectionLostError, ProtocolError } from '../../errors';
import type { HapExchange, HapExchangeStep } from '../../hap/pairing';
import { silentLogger, type Logger } from '../../log';
import { LIVENESS_PROBE_AFTER_MS, LIVENESS_TIMEOUT_MS, LivenessMonitor } from '../../support/liveness';
import { RequestTable } from '../../support/requests';
import type { MrpTransport } from './transport';
import {
  createMrpMessage,
  mrpMessageTypeName,
  newMrpIdentifier,
  type MrpDecodedMessage,
  type MrpMessage,
  type MrpMessageOf,
} from './messages';
import { MrpConnectionState, MrpDeviceClass, MrpErrorCode, MrpMessageType, type MrpDeviceInfoMessage } from './proto-types';

/**
 * Silence after which a heartbeat is sent: the library's liveness probe delay (lib/support/
 * liveness.ts). pyatv beats every 30 s whatever the traffic; here a device that pushes state
 * is never probed, an idle one once per 20 s.
 */
export const MRP_HEARTBEAT_INTERVAL = LIVENESS_PROBE_AFTER_MS;
/** Heartbeat retries after a failed one, sent at once (pyatv: one). */
export const MRP_HEARTBEAT_RETRIES = 1;
/** Each heartbeat's own timeout, so the attempt and its retry end within the liveness bound (30 s). */
export const MRP_HEARTBEAT_TIMEOUT = (LIVENESS_TIMEOUT_MS - LIVENESS_PROBE_AFTER_MS) / (MRP_HEARTBEAT_RETRIES + 1);

/** The updates we subscribe to (everything but the now-playing feed, which pyatv's MrpProtocol.start leaves off). */
export const MRP_CLIENT_UPDATES_CONFIG = {
  artworkUpdates: true,
  nowPlayingUpdates: false,
  volumeUpdates: true,
  keyboardUpdates: true,
  outputDeviceUpdates: true,
} as const;

/**
 * Our DEVICE_INFO: the values pyatv sends (protocols/mrp/messages.py), which tvOS is known to accept.
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

export interface MrpExchangeOptions {
  /** Per-request timeout in ms. */
  timeout: number;
  logger?: Logger;
  /** The name the device shows for us (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** Silence in ms after which a heartbeat is sent (default 20 s); only on transports that need one. */
  heartbeatInterval?: number;
}

export interface MrpExchangeEvents {
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

export interface MrpRequestOptions {
  /** Override the per-request timeout (ms). */
  timeout?: number;
}

export class MrpExchange extends EventEmitter<MrpExchangeEvents> {
  readonly transport: MrpTransport;
  private readonly options: MrpExchangeOptions;
  private readonly logger: Logger;
  private readonly byIdentifier: RequestTable<string, MrpDecodedMessage>;
  private readonly byType: RequestTable<number, MrpDecodedMessage>;
  private liveness: LivenessMonitor | null = null;
  private closed = false;
  private info: MrpDeviceInfoMessage | null = null;

  constructor(transport: MrpTransport, options: MrpExchangeOptions) {
    super();
    this.transport = transport;
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.byIdentifier = new RequestTable(transport.endpoint);
    this.byType = new RequestTable(transport.endpoint);
    transport.on('message', (message) => this.route(message));
    transport.on('closed', (error) => this.onClosed(error));
  }

  /** The device's DEVICE_INFO reply (null before the exchange). */
  get deviceInfo(): Readonly<MrpDeviceInfoMessage> | null {
    return this.info;
  }

  get endpoint(): string {
    return this.transport.endpoint;
  }

  get isOpen(): boolean {
    return this.transport.isOpen;
  }

  /** Why the connection ended, when it did not end by close(). */
  get error(): AtvError | null {
    return this.transport.error;
  }

  /** Opens the transport only. */
  async open(): Promise<void> {
    if (this.closed) throw new ClosedError(`${this.endpoint}: the connection was closed`);
    await this.transport.open();
  }

  /**
   * The whole connection sequence: DEVICE_INFO, the transport's authentication,
   * SET_CONNECTION_STATE, CLIENT_UPDATES_CONFIG, GET_KEYBOARD_SESSION; then the heartbeat
   * when the transport needs it. Resolves with the device's DEVICE_INFO.
   */
  async start(): Promise<MrpDeviceInfoMessage> {
    await this.open();
    const info = await this.exchangeDeviceInfo(this.transport.pairingId ?? randomUUID());
    const verified = await this.transport.secure(this.pairingExchange);
    // Must be the first message after pair-verify (the first encrypted one): the device ignores us otherwise.
    this.send(createMrpMessage(MrpMessageType.SET_CONNECTION_STATE_MESSAGE, { state: MrpConnectionState.Connected }));
    const subscribed = await this.request(createMrpMessage(MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE, MRP_CLIENT_UPDATES_CONFIG));
    this.checkPaired(subscribed, verified);
    // pyatv sends it without the (string) extension; the device answers with a KEYBOARD_MESSAGE.
    await this.request(createMrpMessage(MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE));
    if (this.transport.needsHeartbeat) this.startHeartbeat();
    return info;
  }

  /**
   * pyatv never saw an MRP device insist on pairing (its MRP code says pairing "has never
   * been enforced"), but a device that does says DeviceNotPaired; without this check the
   * session would look connected and stay empty.
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
   * HAP pairing over MRP: one CRYPTO_PAIRING_MESSAGE carrying the TLV8, answered by one
   * without an identifier (matched by type). A pair-setup's first message says so with
   * state 2; every other message has state 0.
   */
  readonly pairingExchange: HapExchange = async (tlv: Buffer, step: HapExchangeStep): Promise<Buffer> => {
    const message = createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, {
      pairingData: tlv,
      status: 0,
      isRetrying: false,
      isUsingSystemPairing: false,
      state: step.phase === 'setup' && step.state === 1 ? 2 : 0,
    });
    const onReply = step.onReply;
    const reply = await this.requestByType(
      message,
      MrpMessageType.CRYPTO_PAIRING_MESSAGE,
      {},
      onReply && ((m) => onReply(pairingDataOf(m, this.endpoint))),
    );
    return pairingDataOf(reply, this.endpoint);
  };

  /** Sends a message that expects no reply. */
  send(message: MrpMessage): void {
    if (this.closed) throw new ClosedError(`${this.endpoint}: the connection was closed`);
    this.transport.send(message);
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
    table: RequestTable<K, MrpDecodedMessage>,
    key: K,
    message: MrpMessage,
    options: MrpRequestOptions,
    onReply?: (message: MrpDecodedMessage) => void,
  ): Promise<MrpDecodedMessage> {
    if (this.closed) return Promise.reject(this.transport.error ?? new ClosedError(`${this.endpoint}: the connection was closed`));
    return table.request(key, () => this.transport.send(message), {
      timeout: options.timeout ?? this.options.timeout,
      what: mrpMessageTypeName(message.type),
      ...(onReply && { onReply }),
    });
  }

  private route(message: MrpDecodedMessage): void {
    this.liveness?.heard();
    // An empty identifier is none (as pyatv reads it): such a reply is matched by its type.
    // A reply's errorCode is left to the caller: pyatv ignores it, and which replies a real
    // device marks (and whether that means failure) is not documented.
    const identifier = message.identifier || undefined;
    if (identifier !== undefined && this.byIdentifier.settle(identifier, message)) return;
    if (identifier === undefined && this.byType.settle(message.type, message)) return;
    this.emit('message', message);
  }

  /**
   * Starts watching the device (transports that need it): every message it sends is a sign of
   * life; after `heartbeatInterval` of silence a GENERIC_MESSAGE request is sent, retried once
   * at once, and when the device stays silent through both the connection is closed with a
   * ConnectionLostError — within the library's liveness bound (30 s) with the defaults.
   */
  startHeartbeat(): void {
    if (this.closed || this.liveness) return;
    const probeAfter = this.options.heartbeatInterval ?? MRP_HEARTBEAT_INTERVAL;
    const beatTimeout = Math.min(this.options.timeout, MRP_HEARTBEAT_TIMEOUT);
    this.liveness = new LivenessMonitor({
      probeAfter,
      timeout: probeAfter + (MRP_HEARTBEAT_RETRIES + 1) * beatTimeout,
      probe: async () => {
        for (let attempt = 0; attempt <= MRP_HEARTBEAT_RETRIES && !this.closed; attempt++) {
          try {
            await this.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE), { timeout: beatTimeout });
            return;
          } catch (err) {
            this.logger.debug(`${this.endpoint}: heartbeat ${attempt + 1} failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      },
      onLost: (silent) => {
        if (this.closed) return;
        this.logger.warn(`${this.endpoint}: the device stopped answering heartbeats; closing the connection`);
        this.fail(
          new ConnectionLostError(
            `${this.endpoint}: the device stopped answering (silent for ${Math.round(silent / 1000)} s, heartbeat failed ${MRP_HEARTBEAT_RETRIES + 1} times)`,
          ),
        );
      },
    });
    this.liveness.start();
  }

  /** Ends the connection with `error` (reported through `closed`). */
  fail(error: AtvError): void {
    this.transport.abort(error);
  }

  /** Ends the connection, rejecting every request in flight. Safe to call twice. */
  close(): void {
    this.transport.close();
  }

  private onClosed(error: AtvError | null): void {
    if (this.closed) return;
    this.closed = true;
    this.liveness?.stop();
    this.liveness = null;
    const reason = error ?? new ClosedError(`${this.endpoint}: the connection was closed`);
    this.byIdentifier.rejectAll(reason);
    this.byType.rejectAll(reason);
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
