/**
 * The one encrypted framed channel: a TCP socket plus a `FrameCodec` (framing and, once a
 * pair-verify gave keys, a session cipher). Every protocol connection of the library and of
 * the simulator runs on it, as client or as server: MRP over TCP (varint frames), the
 * AirPlay 2 control, event and data connections (plain bytes, then HAP blocks) and Companion
 * (typed frames). It turns bytes into frames and back; what a frame means is the protocol's
 * business.
 *
 * Anything hostile from the peer (a bad length, a frame that does not open) ends the channel
 * with a ProtocolError: the stream cannot be resynchronised. A peer that stops reading while
 * we write ends it too, before our memory grows without bound. Nothing here throws from a
 * socket callback; a frame listener that throws is logged and the channel lives on.
 *
 * Frames written in one turn of the event loop leave in one system call: the socket is
 * corked at the first write and uncorked on the next tick (a device answering a command
 * with the new state and the result sends both at once, and the peer wakes up once).
 */
import { EventEmitter } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { AtvError, ClosedError, ConnectionLostError, networkError, ProtocolError, TimeoutError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { FrameCodec, type Frame, type FrameFormat, type FrameSealer } from './frames';

/** Unsent bytes queued before the peer counts as gone (it stopped reading). */
export const MAX_QUEUED_WRITE_BYTES = 8 * 1024 * 1024;

export interface FramedChannelOptions {
  /** How the peer and its address are named in errors and logs, e.g. `MRP 10.0.0.2:49152`. */
  endpoint: string;
  format: FrameFormat;
  logger?: Logger;
  /** Largest frame body accepted from the peer. */
  maxFrameBytes?: number;
  /** Unsent bytes tolerated before the channel closes (default MAX_QUEUED_WRITE_BYTES). */
  maxQueuedWriteBytes?: number;
}

export interface ConnectOptions extends FramedChannelOptions {
  host: string;
  port: number;
  /** Connect timeout in ms. */
  timeout: number;
  /**
   * TCP keep-alive idle time before the first probe, in ms (0: off). pyatv sets 1 s on MRP,
   * so a device that leaves the network is noticed within seconds.
   */
  keepAlive?: number;
}

export interface FramedChannelEvents {
  /** A frame from the peer, in arrival order; listeners run synchronously. */
  frame: [frame: Frame];
  /** The channel ended: `error` is null after close(), the reason otherwise. Emitted once. */
  closed: [error: AtvError | null];
}

export class FramedChannel extends EventEmitter<FramedChannelEvents> {
  readonly endpoint: string;
  readonly codec: FrameCodec;
  private readonly logger: Logger;
  private readonly maxQueued: number;
  private socket: Socket | null;
  private state: 'open' | 'closed' = 'open';
  private closeReason: AtvError | null = null;
  /** Writes of this tick are being gathered (the socket is corked until `flush`). */
  private gathering = false;

  /** Wraps a connected socket (an accepted one on the server side). */
  constructor(socket: Socket, options: FramedChannelOptions) {
    super();
    this.endpoint = options.endpoint;
    this.logger = options.logger ?? silentLogger;
    this.maxQueued = options.maxQueuedWriteBytes ?? MAX_QUEUED_WRITE_BYTES;
    this.codec = new FrameCodec(options.format, options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {});
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', (err) => this.shutdown(networkError(err, this.endpoint)));
    socket.on('close', () => this.shutdown(new ConnectionLostError(`${this.endpoint}: the connection was closed by the other side`)));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  /**
   * Opens a TCP connection and wraps it. Refused or unreachable: UnreachableError; no answer
   * within `timeout`: TimeoutError; `signal` aborts the attempt.
   */
  static connect(options: ConnectOptions, signal?: AbortSignal): Promise<FramedChannel> {
    return new Promise<FramedChannel>((resolve, reject) => {
      const socket = tcpConnect({ host: options.host, port: options.port });
      const done = (err: AtvError | null) => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        socket.removeListener('connect', onConnect);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          socket.on('error', () => undefined);
          socket.destroy();
          reject(err);
        }
      };
      const onConnect = () => {
        done(null);
        if (options.keepAlive) socket.setKeepAlive(true, options.keepAlive);
        resolve(new FramedChannel(socket, options));
      };
      const onError = (err: Error) => done(networkError(err, options.endpoint));
      const onAbort = () => done(new ClosedError(`${options.endpoint}: closed while connecting`));
      const timer = setTimeout(() => done(new TimeoutError(`${options.endpoint} did not accept the connection within ${options.timeout} ms`)), options.timeout);
      timer.unref();
      socket.once('connect', onConnect);
      socket.once('error', onError);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get encrypted(): boolean {
    return this.codec.encrypted;
  }

  /** Why the channel ended (null while open or after a plain close()). */
  get error(): AtvError | null {
    return this.closeReason;
  }

  /** The local address of the socket (the address that reaches the peer), when open. */
  get localAddress(): string | undefined {
    return this.socket?.localAddress;
  }

  /** From the next frame on, both directions use `format` and `cipher` (see FrameCodec.switchTo). */
  switchTo(format: FrameFormat, cipher: FrameSealer | null): void {
    this.codec.switchTo(format, cipher);
  }

  /** Seals (when encrypted), frames and writes one payload. Throws when the channel is closed. */
  send(payload: Uint8Array, type = 0): void {
    this.write(this.codec.encode(payload, type));
  }

  /** Writes bytes that are already framed (or a plain byte stream under RAW_BYTES). */
  write(bytes: Uint8Array): void {
    const socket = this.socket;
    if (this.state !== 'open' || socket === null) throw this.closeReason ?? new ClosedError(`${this.endpoint}: not connected`);
    if (!this.gathering) {
      this.gathering = true;
      socket.cork();
      process.nextTick(this.flush);
    }
    socket.write(bytes);
  }

  /** Sends what this tick wrote; what the kernel would not take counts against the peer. */
  private readonly flush = (): void => {
    this.gathering = false;
    const socket = this.socket;
    if (socket === null) return;
    socket.uncork();
    if (socket.writableLength > this.maxQueued) {
      this.shutdown(new ConnectionLostError(`${this.endpoint}: the other side stopped reading (${socket.writableLength} bytes unsent)`));
    }
  };

  /** Ends the channel; `closed` is emitted with null. Safe to call at any time, twice. */
  close(): void {
    this.shutdown(null);
  }

  /** Ends the channel for `reason` (emitted with `closed`), e.g. a failed heartbeat. */
  abort(reason: AtvError): void {
    this.shutdown(reason);
  }

  private receive(chunk: Buffer): void {
    if (this.state !== 'open') return;
    try {
      this.codec.push(chunk, (frame) => {
        try {
          this.emit('frame', frame);
        } catch (err) {
          // A handler's bug must not take the process down: this frame is lost, the channel lives on.
          this.logger.warn(`${this.endpoint}: handling a frame failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
    } catch (err) {
      const cause = err instanceof AtvError ? err : new ProtocolError(String(err), { cause: err });
      this.shutdown(cause instanceof ProtocolError ? new ProtocolError(`${this.endpoint}: ${cause.message}`, { cause }) : cause);
    }
  }

  private shutdown(reason: AtvError | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.codec.halt();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      // What was written this tick still goes out, as it would have without the gathering.
      if (this.gathering) socket.uncork();
      this.gathering = false;
      socket.removeAllListeners('data');
      // Errors after we gave up on the socket (a late ECONNRESET) have nobody to tell.
      socket.on('error', () => undefined);
      socket.destroy();
    }
    if (reason) this.logger.debug(`${this.endpoint}: closed: ${reason.message}`);
    this.emit('closed', reason);
  }
}
