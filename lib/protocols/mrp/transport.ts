/**
 * How MRP messages reach a device. The message exchange (protocol.ts), the session and the
 * now-playing model run on any `MrpTransport`; two exist:
 *  - `MrpTcpTransport` (here): MRP's own TCP port (Apple TV 4/4K up to tvOS 14), varint
 *    frames on the shared channel, pair-verify with the stored credentials after DEVICE_INFO
 *    and ChaCha20-Poly1305 from then on, TCP keep-alive and MRP's own heartbeat;
 *  - the AirPlay 2 tunnel (protocols/airplay), where the same messages travel inside an
 *    already encrypted AirPlay data stream: no second pair-verify, no MRP heartbeat.
 *
 * A transport hands on decoded messages and takes messages to encode; anything undecodable
 * from the device ends it with a ProtocolError (the stream cannot be trusted after that).
 */
import { EventEmitter } from 'node:events';
import type { Protocol } from '../../device/interfaces';
import { AtvError, ClosedError, ProtocolError } from '../../errors';
import { CounterNonceCipher } from '../../hap/channel';
import { parseFullHapCredentials, type HapCredentials } from '../../hap/credentials';
import { hapPairVerify, type HapExchange } from '../../hap/pairing';
import { deriveChannelKeys, type HapCipherKeys } from '../../hap/pair-verify';
import { silentLogger, type Logger } from '../../log';
import { FramedChannel } from '../../support/channel';
import { VARINT_FRAMES } from '../../support/frames';
import { MRP_MAX_FRAME_BYTES } from './framing';
import { decodeMrpMessage, encodeMrpMessage, mrpMessageTypeName, type MrpDecodedMessage, type MrpMessage } from './messages';

export interface MrpTransportEvents {
  /** A decoded message from the device, in arrival order. Listeners run synchronously. */
  message: [message: MrpDecodedMessage];
  /** The transport ended: `error` is null after close(), the reason otherwise. Emitted once, only after open() succeeded. */
  closed: [error: AtvError | null];
}

export interface MrpTransport {
  /** Names the device and the path to it in errors, e.g. `MRP 10.0.0.2:49152`. */
  readonly endpoint: string;
  readonly isOpen: boolean;
  /** Why the transport ended (null while open or after a plain close()). */
  readonly error: AtvError | null;
  /** Our pairing id to introduce ourselves with in DEVICE_INFO (null: a random one). */
  readonly pairingId: string | null;
  /** Whether MRP's own heartbeat is needed to notice a dead device. */
  readonly needsHeartbeat: boolean;
  /** The protocol the messages travel inside, when not MRP's own port (the AirPlay tunnel). */
  readonly via?: Protocol;
  /** Opens the path to the device. */
  open(): Promise<void>;
  /**
   * Runs after DEVICE_INFO, before the session starts, with the MRP pairing exchange: a
   * transport that must authenticate does it here. Resolves true when the device knows who
   * we are (pair-verified, on this transport or below it).
   */
  secure(exchange: HapExchange): Promise<boolean>;
  send(message: MrpMessage): void;
  /** Ends the transport; `closed` is emitted with null. Safe to call twice. */
  close(): void;
  /** Ends the transport for `reason`, e.g. a failed heartbeat. */
  abort(reason: AtvError): void;
  on<E extends keyof MrpTransportEvents>(event: E, listener: (...args: MrpTransportEvents[E]) => void): this;
  off<E extends keyof MrpTransportEvents>(event: E, listener: (...args: MrpTransportEvents[E]) => void): this;
}

/** Decodes one received MRP message body; a failure is a ProtocolError naming the endpoint. */
export function decodeMrpFrame(body: Buffer, endpoint: string, encrypted: boolean): MrpDecodedMessage {
  try {
    return decodeMrpMessage(body);
  } catch (err) {
    const context = encrypted ? `${endpoint}: an encrypted frame could not be read` : `${endpoint}: a frame could not be read`;
    if (err instanceof ProtocolError) throw new ProtocolError(`${context}: ${err.message}`, { cause: err });
    throw new ProtocolError(`${context}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * TCP keep-alive idle time before the first probe. pyatv sets 1 s (with 5 s between probes):
 * an Apple TV that goes to sleep or off the network is then noticed within seconds, which the
 * heartbeat alone would not do.
 */
export const MRP_KEEPALIVE_DELAY = 1000;

export interface MrpTcpTransportOptions {
  host: string;
  port: number;
  /** Connect timeout in ms. */
  timeout: number;
  /** The stored credentials (pyatv's string form), or null to connect unpaired. */
  credentials: string | null;
  logger?: Logger;
  /** Largest frame accepted from the device (default MRP_MAX_FRAME_BYTES). */
  maxFrameBytes?: number;
}

export class MrpTcpTransport extends EventEmitter<MrpTransportEvents> implements MrpTransport {
  readonly endpoint: string;
  readonly needsHeartbeat = true;
  private readonly options: MrpTcpTransportOptions;
  private readonly logger: Logger;
  /** A logger was given: every message is logged (the line is not even built otherwise). */
  private readonly tracing: boolean;
  private credentials: HapCredentials | null = null;
  private channel: FramedChannel | null = null;
  private state: 'idle' | 'opening' | 'open' | 'closed' = 'idle';
  private closeReason: AtvError | null = null;
  private readonly opening = new AbortController();

  constructor(options: MrpTcpTransportOptions) {
    super();
    this.options = options;
    this.endpoint = `MRP ${options.host}:${options.port}`;
    this.logger = options.logger ?? silentLogger;
    this.tracing = this.logger !== silentLogger;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get error(): AtvError | null {
    return this.closeReason;
  }

  get encrypted(): boolean {
    return this.channel?.encrypted ?? false;
  }

  get pairingId(): string | null {
    return this.credentials ? this.credentials.clientId.toString('utf8') : null;
  }

  /** Parses the credentials (before any byte is sent), then connects. */
  async open(): Promise<void> {
    if (this.state !== 'idle') {
      throw this.state === 'closed' ? new ClosedError(`${this.endpoint}: the connection was closed`) : new ClosedError(`${this.endpoint}: already connected`);
    }
    this.state = 'opening';
    try {
      this.credentials = this.options.credentials ? parseFullHapCredentials(this.options.credentials) : null;
      this.channel = await FramedChannel.connect(
        {
          host: this.options.host,
          port: this.options.port,
          timeout: this.options.timeout,
          endpoint: this.endpoint,
          format: VARINT_FRAMES,
          keepAlive: MRP_KEEPALIVE_DELAY,
          logger: this.logger,
          maxFrameBytes: this.options.maxFrameBytes ?? MRP_MAX_FRAME_BYTES,
        },
        this.opening.signal,
      );
    } catch (err) {
      this.state = 'closed';
      throw err;
    }
    if ((this.state as string) === 'closed') {
      this.channel.close();
      throw new ClosedError(`${this.endpoint}: closed while connecting`);
    }
    this.state = 'open';
    const channel = this.channel;
    channel.on('frame', ({ payload }) => {
      let message: MrpDecodedMessage;
      try {
        message = decodeMrpFrame(payload, this.endpoint, channel.encrypted);
      } catch (err) {
        channel.abort(err as AtvError);
        return;
      }
      if (this.tracing) this.logger.debug(`${this.endpoint} << ${message.typeName}${message.identifier ? ` (${message.identifier})` : ''}`);
      this.emit('message', message);
    });
    channel.on('closed', (reason) => {
      this.state = 'closed';
      this.closeReason = reason;
      this.emit('closed', reason);
    });
  }

  async secure(exchange: HapExchange): Promise<boolean> {
    const credentials = this.credentials;
    if (!credentials) return false;
    // The cipher goes on as M4 is read: the device's first encrypted frame may share its TCP segment.
    await hapPairVerify(credentials, exchange, (secret) => this.enableEncryption(deriveChannelKeys(secret, 'mrp')));
    return true;
  }

  /** Switches both directions to the session cipher; every later frame is sealed/opened. */
  enableEncryption(keys: HapCipherKeys): void {
    this.channel?.switchTo(VARINT_FRAMES, new CounterNonceCipher(keys, 'zeros-then-counter'));
  }

  send(message: MrpMessage): void {
    const channel = this.channel;
    if (this.state !== 'open' || channel === null) throw this.closeReason ?? new ClosedError(`${this.endpoint}: not connected`);
    channel.send(encodeMrpMessage(message));
    if (this.tracing) this.logger.debug(`${this.endpoint} >> ${mrpMessageTypeName(message.type)}${message.identifier ? ` (${message.identifier})` : ''}`);
  }

  close(): void {
    if (this.state === 'opening' || this.state === 'idle') {
      this.state = 'closed';
      this.opening.abort();
      return;
    }
    this.channel?.close();
  }

  abort(reason: AtvError): void {
    if (this.state !== 'open') {
      this.close();
      return;
    }
    this.channel?.abort(reason);
  }
}
