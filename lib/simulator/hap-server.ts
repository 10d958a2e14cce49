/**
 * What the simulator's TCP servers of HAP-paired protocols (MRP, Companion, AirPlay) share:
 * the listener, one framed channel per remote (bounded: frame size, unread output, number of
 * remotes), the device-side pairing (`HapAccessory`), the counters and the request log. A
 * protocol adds its connection record, how it reads frames and what it answers.
 */
import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import type { Protocol } from '../device/interfaces';
import { ProtocolError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { FramedChannel } from '../support/channel';
import type { Frame, FrameFormat } from '../support/frames';
import { HapAccessory, type HapAccessoryOptions, type HapPeer } from './hap-accessory';
import { listenOn } from './listen';
import { recordRequest, type SimulatorConnectionStats, type SimulatorRequest, type SimulatorTcpServerEvents } from './server';

const DEFAULT_MAX_CONNECTIONS = 64;

export interface HapServerStats extends SimulatorConnectionStats {
  /** Open connections that passed pair-verify (encrypted). */
  verifiedSessions: number;
  /** Successful pair-verifies since start. */
  verifications: number;
  /** Refused pair-verifies (unknown controller, bad signature, garbage). */
  failedVerifications: number;
  /** Completed pair-setups since start. */
  pairings: number;
  /** Refused pair-setup attempts (wrong PIN, back-off, busy, garbage). */
  failedPairings: number;
  /** Messages received (all connections). */
  messages: number;
}

export interface HapServerOptions extends Omit<HapAccessoryOptions, 'events' | 'logger'> {
  host: string;
  /** 0: any free port. */
  port: number;
  logger?: Logger;
  /** The framing of the protocol, and what a remote may send and leave unread (default: the channel's). */
  format: FrameFormat;
  maxFrameBytes?: number;
  maxQueuedWriteBytes?: number;
  /** Remotes served at once (default 64); more are hung up on. */
  maxConnections?: number;
}

export abstract class HapTcpServer<C extends HapPeer> extends EventEmitter<SimulatorTcpServerEvents> {
  abstract readonly protocol: Protocol;
  /** The last 1000 requests handled (no pairing data), oldest first. */
  readonly requests: SimulatorRequest[] = [];
  protected readonly host: string;
  protected readonly logger: Logger;
  protected readonly accessory: HapAccessory;
  /** Every open connection, with its channel. */
  protected readonly connections = new Map<C, FramedChannel>();
  protected readonly counters = { totalConnections: 0, messages: 0 };
  private readonly setup: HapServerOptions;
  private server: net.Server | null = null;
  private boundPort = 0;
  private nextId = 1;

  constructor(setup: HapServerOptions) {
    super();
    this.setup = setup;
    this.host = setup.host;
    this.logger = setup.logger ?? silentLogger;
    this.accessory = new HapAccessory({ ...setup, events: this, logger: this.logger });
  }

  get port(): number {
    return this.boundPort;
  }

  /** The PIN a remote must enter (shown, like on a TV, through the 'pin' event); null: none. */
  get pin(): string | null {
    return this.accessory.pin;
  }

  /** The device's long-term public key, as paired controllers store it. */
  get ltpk(): Buffer {
    return this.accessory.ltpk;
  }

  stats(): HapServerStats {
    let verified = 0;
    for (const c of this.connections.keys()) if (c.verified) verified++;
    const { pairings, failedPairings, verifications, failedVerifications } = this.accessory.counters;
    return {
      ...this.counters,
      pairings,
      failedPairings,
      verifications,
      failedVerifications,
      openConnections: this.connections.size,
      verifiedSessions: verified,
    };
  }

  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    try {
      this.boundPort = await listenOn(server, this.host, this.setup.port, `${this.setup.label} simulator`, this.logger);
    } catch (err) {
      this.server = null;
      throw err;
    }
    this.started();
    this.logger.debug(`${this.setup.label} simulator listening on ${this.host}:${this.boundPort}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.stopping();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const channel of this.connections.values()) channel.close();
    await closed;
  }

  /** After the listener is up: hook the shared state. */
  protected started(): void {}
  /** Before the listener closes: unhook it. */
  protected stopping(): void {}
  /** The connection record of a new remote. */
  protected abstract connection(id: number, channel: FramedChannel): C;
  /** One frame from a remote (its bad input: `drop`). */
  protected abstract receive(conn: C, frame: Frame): void;
  /** A connection ended (it is already out of `connections`). */
  protected closed(_conn: C): void {}

  private accept(socket: Socket): void {
    if (this.server === null || this.connections.size >= (this.setup.maxConnections ?? DEFAULT_MAX_CONNECTIONS)) {
      socket.destroy();
      return;
    }
    const id = this.nextId++;
    const channel = new FramedChannel(socket, {
      endpoint: `${this.setup.label} simulator connection ${id}`,
      format: this.setup.format,
      ...(this.setup.maxFrameBytes !== undefined && { maxFrameBytes: this.setup.maxFrameBytes }),
      ...(this.setup.maxQueuedWriteBytes !== undefined && { maxQueuedWriteBytes: this.setup.maxQueuedWriteBytes }),
      logger: this.logger,
    });
    const conn = this.connection(id, channel);
    this.connections.set(conn, channel);
    this.counters.totalConnections += 1;
    channel.on('frame', (frame) => {
      if (!conn.closed) this.receive(conn, frame);
    });
    channel.on('closed', (reason) => {
      if (reason) this.logger.debug(`${this.setup.label} simulator: connection ${conn.id}: ${reason.message}`);
      conn.closed = true;
      this.connections.delete(conn);
      this.accessory.forget(conn);
      this.closed(conn);
      this.emit('disconnect', this.connections.size);
    });
    this.emit('connection', this.connections.size);
  }

  /** Ends one connection over its own bad input; the others carry on. */
  protected drop(conn: C, reason: string): void {
    const channel = this.connections.get(conn);
    if (conn.closed || channel === undefined) return;
    this.logger.debug(`${this.setup.label} simulator: closing connection ${conn.id}: ${reason}`);
    channel.abort(new ProtocolError(reason));
  }

  /** Logs one request a remote made on `conn` (`method`: the protocol's label unless it has methods, as HTTP). */
  protected record(conn: C, path: string, status: number, query: Record<string, string> = {}, method = this.setup.label): void {
    recordRequest(this, { protocol: this.protocol, at: Date.now(), method, path, query, status, sessionId: conn.id });
  }
}
