/**
 * What the simulator's TCP servers of HAP-paired protocols (MRP, Companion) share: the
 * listener, one framed channel per remote (bounded: frame size, unread output, number of
 * remotes), device-side pairing through `HapAccessory` and what follows each pairing step
 * (the PIN on "screen", the stored record, the session cipher after pair-verify), counters
 * and the request log. A protocol adds how it reads frames and what it answers.
 */
import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import type { Protocol } from '../device/interfaces';
import { ProtocolError } from '../errors';
import type { SrpGroup } from '../hap/srp';
import { silentLogger, type Logger } from '../log';
import { FramedChannel } from '../support/channel';
import type { Frame, FrameFormat } from '../support/frames';
import { HapAccessory, type HapAccessoryStep } from './hap-accessory';
import { listenOn } from './listen';
import type { CredentialStore, SimulatorRequest, SimulatorServerEvents } from './server';

const MAX_CONNECTIONS = 64;
const REQUEST_LOG_LIMIT = 1000;

/** The part of a remote's connection the shared server looks after. */
export interface HapServerConnection {
  readonly id: number;
  readonly channel: FramedChannel;
  /** Set once pair-verify succeeded: everything after is encrypted. */
  verified: boolean;
  closed: boolean;
  remoteName: string | null;
}

export interface HapServerStats {
  /** TCP connections open right now. */
  openConnections: number;
  /** TCP connections accepted since start. */
  totalConnections: number;
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

export interface HapServerEvents extends SimulatorServerEvents {
  connection: [open: number];
  disconnect: [open: number];
}

export interface HapServerOptions {
  protocol: Protocol;
  /** How the protocol is named in logs and the request log (`MRP`, `Companion`). */
  label: string;
  host: string;
  /** 0: any free port. */
  port: number;
  credentials: CredentialStore;
  logger?: Logger;
  /** The 4-digit PIN shown when a remote starts pair-setup. */
  pin: string;
  /** The device's pairing identifier. */
  pairingId: string;
  /** The device's long-term Ed25519 secret (32-byte seed); random per server by default. */
  seed?: Buffer;
  srpGroup?: SrpGroup;
  /** The framing of the protocol, and what a remote may send and leave unread. */
  format: FrameFormat;
  maxFrameBytes: number;
  maxQueuedWriteBytes: number;
}

export abstract class HapTcpServer<C extends HapServerConnection> extends EventEmitter<HapServerEvents> {
  abstract readonly protocol: Protocol;
  /** The last 1000 requests handled after pairing (no pairing data), oldest first. */
  readonly requests: SimulatorRequest[] = [];
  protected readonly logger: Logger;
  protected readonly accessory: HapAccessory<C>;
  protected readonly connections = new Set<C>();
  protected readonly counters = { totalConnections: 0, verifications: 0, failedVerifications: 0, pairings: 0, failedPairings: 0, messages: 0 };
  private readonly setup: HapServerOptions;
  private server: net.Server | null = null;
  private boundPort = 0;
  private nextId = 1;

  constructor(setup: HapServerOptions) {
    super();
    this.setup = setup;
    this.logger = setup.logger ?? silentLogger;
    this.accessory = new HapAccessory<C>({
      protocol: setup.protocol,
      pin: setup.pin,
      deviceId: setup.pairingId,
      credentials: setup.credentials,
      ...(setup.seed !== undefined ? { seed: setup.seed } : {}),
      ...(setup.srpGroup !== undefined ? { srpGroup: setup.srpGroup } : {}),
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** The PIN a remote must enter (shown, like on a TV, through the 'pin' event). */
  get pin(): string {
    return this.setup.pin;
  }

  /** The device's long-term public key, as paired controllers store it. */
  get ltpk(): Buffer {
    return this.accessory.ltpk;
  }

  stats(): HapServerStats {
    let verified = 0;
    for (const c of this.connections) if (c.verified) verified++;
    return { ...this.counters, openConnections: this.connections.size, verifiedSessions: verified };
  }

  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    try {
      this.boundPort = await listenOn(server, this.setup.host, this.setup.port, `${this.setup.label} simulator`, this.logger);
    } catch (err) {
      this.server = null;
      throw err;
    }
    this.started();
    this.logger.debug(`${this.setup.label} simulator listening on ${this.setup.host}:${this.boundPort}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.stopping();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.channel.close();
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

  private accept(socket: Socket): void {
    if (this.server === null || this.connections.size >= MAX_CONNECTIONS) {
      socket.destroy();
      return;
    }
    const id = this.nextId++;
    const channel = new FramedChannel(socket, {
      endpoint: `${this.setup.label} simulator connection ${id}`,
      format: this.setup.format,
      maxFrameBytes: this.setup.maxFrameBytes,
      maxQueuedWriteBytes: this.setup.maxQueuedWriteBytes,
      logger: this.logger,
    });
    const conn = this.connection(id, channel);
    this.connections.add(conn);
    this.counters.totalConnections += 1;
    channel.on('frame', (frame) => {
      if (!conn.closed) this.receive(conn, frame);
    });
    channel.on('closed', (reason) => {
      if (reason) this.logger.debug(`${this.setup.label} simulator: connection ${conn.id}: ${reason.message}`);
      conn.closed = true;
      this.connections.delete(conn);
      this.accessory.forget(conn);
      this.emit('disconnect', this.connections.size);
    });
    this.emit('connection', this.connections.size);
  }

  /** Ends one connection over its own bad input; the others carry on. */
  protected drop(conn: C, reason: string): void {
    if (conn.closed) return;
    this.logger.debug(`${this.setup.label} simulator: closing connection ${conn.id}: ${reason}`);
    conn.channel.abort(new ProtocolError(reason));
  }

  protected record(conn: C, path: string, status: number, query: Record<string, string> = {}): void {
    const entry: SimulatorRequest = { protocol: this.protocol, at: Date.now(), method: this.setup.label, path, query, status, sessionId: conn.id };
    this.requests.push(entry);
    if (this.requests.length > REQUEST_LOG_LIMIT) this.requests.shift();
    this.emit('request', entry);
  }

  /**
   * What follows a pairing step once its reply went out: the PIN shown, the pairing stored
   * and announced, or the session cipher switched on (`secure`, with the shared secret:
   * M4 went out in clear, everything after it is encrypted both ways).
   */
  protected afterPairing(conn: C, step: HapAccessoryStep, setup: boolean, secure: (sharedSecret: Buffer) => void, name?: string | null): void {
    switch (step.kind) {
      case 'reply':
        if (step.pinShown) {
          this.logger.debug(`${this.setup.label} simulator: ${conn.remoteName ?? 'a remote'} started pairing; the PIN is on screen`);
          this.emit('pin', { protocol: this.protocol, pin: this.setup.pin, remoteName: conn.remoteName });
        }
        return;
      case 'paired':
        conn.remoteName = name ?? conn.remoteName;
        this.counters.pairings += 1;
        this.logger.debug(`${this.setup.label} simulator: paired with ${conn.remoteName ?? 'a remote'}`);
        this.emit('credentials', { protocol: this.protocol, credentials: step.record, remoteName: conn.remoteName });
        return;
      case 'verified':
        secure(step.sharedSecret);
        conn.verified = true;
        this.counters.verifications += 1;
        this.emit('login', { protocol: this.protocol, sessionId: conn.id, method: 'pair-verify' });
        return;
      case 'refused':
        if (setup) this.counters.failedPairings += 1;
        else this.counters.failedVerifications += 1;
        this.logger.debug(`${this.setup.label} simulator: ${setup ? 'pair-setup' : 'pair-verify'} refused: ${step.reason}`);
        return;
    }
  }
}
