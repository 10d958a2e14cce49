/**
 * The MRP byte pipe (reference §4.1): one TCP socket with keep-alive, varint framing, and
 * from pair-verify on ChaCha20-Poly1305 over each frame body. It turns bytes into decoded
 * messages and back; request/response, the connection sequence and the heartbeat live in
 * protocol.ts.
 *
 * Anything hostile from the device (a bad length prefix, a frame that does not decrypt, one
 * that does not decode) ends the connection with a ProtocolError: the stream cannot be
 * resynchronised after any of them. Nothing here throws from a socket callback.
 */
import { EventEmitter } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { AtvError, ClosedError, ConnectionLostError, networkError, ProtocolError, TimeoutError } from '../../errors';
import { MrpSessionCipher } from '../../hap/channel';
import type { HapCipherKeys } from '../../hap/pair-verify';
import { silentLogger, type Logger } from '../../log';
import { encodeMrpFrame, MrpFrameDecoder, MRP_MAX_FRAME_BYTES } from './framing';
import { decodeMrpMessage, encodeMrpMessage, mrpMessageTypeName, type MrpDecodedMessage, type MrpMessage } from './messages';

/**
 * TCP keep-alive idle time before the first probe. pyatv sets 1 s (with 5 s between probes):
 * an Apple TV that goes to sleep or off the network is then noticed within seconds, which the
 * 30 s heartbeat alone would not do.
 */
export const MRP_KEEPALIVE_DELAY = 1000;

/**
 * Unsent bytes we queue before giving up: a device that stops reading while we keep
 * writing (a stuck app holding the socket) would otherwise grow our memory without bound.
 */
export const MRP_MAX_QUEUED_WRITE_BYTES = 8 * 1024 * 1024;

export interface MrpConnectionOptions {
  host: string;
  port: number;
  /** Connect timeout in ms. */
  timeout: number;
  logger?: Logger;
  /** Largest frame accepted from the device (default MRP_MAX_FRAME_BYTES). */
  maxFrameBytes?: number;
}

export interface MrpConnectionEvents {
  /** A decoded message from the device, in arrival order. Listeners run synchronously. */
  message: [message: MrpDecodedMessage];
  /** The connection ended: `error` is null after close(), the reason otherwise. Emitted once. */
  closed: [error: AtvError | null];
}

export class MrpConnection extends EventEmitter<MrpConnectionEvents> {
  readonly endpoint: string;
  private readonly options: MrpConnectionOptions;
  private readonly logger: Logger;
  private readonly decoder: MrpFrameDecoder;
  private socket: Socket | null = null;
  private cipher: MrpSessionCipher | null = null;
  private state: 'idle' | 'connecting' | 'open' | 'closed' = 'idle';
  private closeReason: AtvError | null = null;
  /** Settles a connect() in progress when the connection ends first. */
  private abortConnect: ((reason: AtvError) => void) | null = null;

  constructor(options: MrpConnectionOptions) {
    super();
    this.options = options;
    this.endpoint = `MRP ${options.host}:${options.port}`;
    this.logger = options.logger ?? silentLogger;
    this.decoder = new MrpFrameDecoder(options.maxFrameBytes ?? MRP_MAX_FRAME_BYTES);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get encrypted(): boolean {
    return this.cipher !== null;
  }

  /** Why the connection ended (null while open or after a plain close()). */
  get error(): AtvError | null {
    return this.closeReason;
  }

  connect(): Promise<void> {
    if (this.state !== 'idle') {
      return Promise.reject(this.state === 'closed' ? new ClosedError(`${this.endpoint}: the connection was closed`) : new ClosedError(`${this.endpoint}: already connected`));
    }
    this.state = 'connecting';
    return new Promise<void>((resolve, reject) => {
      const socket = tcpConnect({ host: this.options.host, port: this.options.port });
      this.socket = socket;
      const timer = setTimeout(() => {
        fail(new TimeoutError(`${this.endpoint} did not accept the connection within ${this.options.timeout} ms`));
      }, this.options.timeout);
      timer.unref();
      const fail = (err: AtvError) => {
        this.shutdown(err);
      };
      this.abortConnect = (reason) => {
        this.abortConnect = null;
        clearTimeout(timer);
        socket.removeListener('connect', onConnect);
        reject(reason);
      };
      const onConnect = () => {
        this.abortConnect = null;
        clearTimeout(timer);
        socket.removeListener('error', onEarlyError);
        this.state = 'open';
        socket.setKeepAlive(true, MRP_KEEPALIVE_DELAY);
        socket.setNoDelay(true);
        socket.on('error', (err) => this.shutdown(networkError(err, this.endpoint)));
        socket.on('close', () => this.shutdown(new ConnectionLostError(`${this.endpoint}: the device closed the connection`)));
        socket.on('data', (chunk: Buffer) => this.receive(chunk));
        resolve();
      };
      const onEarlyError = (err: Error) => fail(networkError(err, this.endpoint));
      socket.once('connect', onConnect);
      socket.once('error', onEarlyError);
    });
  }

  /** Switches both directions to the session cipher; every later frame is sealed/opened. */
  enableEncryption(keys: HapCipherKeys): void {
    this.cipher = new MrpSessionCipher(keys);
  }

  /** Encodes, (encrypts,) frames and writes one message. Throws ClosedError when not open. */
  send(message: MrpMessage): void {
    const socket = this.socket;
    if (this.state !== 'open' || socket === null) {
      throw this.closeReason ?? new ClosedError(`${this.endpoint}: not connected`);
    }
    const plain = encodeMrpMessage(message);
    this.writeFrame(this.cipher ? this.cipher.encrypt(plain) : plain);
    this.logger.debug(`${this.endpoint} >> ${mrpMessageTypeName(message.type)}${message.identifier ? ` (${message.identifier})` : ''}`);
  }

  private writeFrame(body: Buffer): void {
    const socket = this.socket!;
    socket.write(encodeMrpFrame(body));
    if (socket.writableLength > MRP_MAX_QUEUED_WRITE_BYTES) {
      this.shutdown(new ConnectionLostError(`${this.endpoint}: the device stopped reading (${socket.writableLength} bytes unsent)`));
    }
  }

  /** Ends the connection; `closed` is emitted with null. Safe to call at any time, twice. */
  close(): void {
    this.shutdown(null);
  }

  /** Ends the connection for `reason` (emitted with `closed`), e.g. a failed heartbeat. */
  abort(reason: AtvError): void {
    this.shutdown(reason);
  }

  private receive(chunk: Buffer): void {
    if (this.state !== 'open') return;
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.shutdown(asProtocolError(err, `${this.endpoint}: bad frame`));
      return;
    }
    for (const frame of frames) {
      // A listener may have closed the connection (or switched on encryption) while
      // handling the previous frame of this same chunk.
      if (this.state !== 'open') return;
      let message: MrpDecodedMessage;
      try {
        const plain = this.cipher ? this.cipher.decrypt(frame) : frame;
        message = decodeMrpMessage(plain);
      } catch (err) {
        this.shutdown(
          asProtocolError(
            err,
            this.cipher ? `${this.endpoint}: an encrypted frame could not be read` : `${this.endpoint}: a frame could not be read`,
          ),
        );
        return;
      }
      this.logger.debug(`${this.endpoint} << ${message.typeName}${message.identifier ? ` (${message.identifier})` : ''}`);
      try {
        this.emit('message', message);
      } catch (err) {
        // A bug in a handler must not take the process down; the message is lost, the
        // connection lives on.
        this.logger.warn(`${this.endpoint}: handling ${message.typeName} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private shutdown(reason: AtvError | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.cipher = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.removeAllListeners('data');
      // Errors after we gave up on the socket (a late ECONNRESET) have nobody to tell.
      socket.on('error', () => undefined);
      socket.destroy();
    }
    if (reason) this.logger.debug(`${this.endpoint}: closed: ${reason.message}`);
    if (this.abortConnect) {
      this.abortConnect(reason ?? new ClosedError(`${this.endpoint}: closed while connecting`));
      return;
    }
    this.emit('closed', reason);
  }
}

function asProtocolError(err: unknown, context: string): AtvError {
  if (err instanceof ProtocolError) return new ProtocolError(`${context}: ${err.message}`, { cause: err });
  if (err instanceof AtvError) return err;
  return new ProtocolError(`${context}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
