/**
 * The simulator's MRP server: what an Apple TV 4K on tvOS 14 answers on its
 * `_mediaremotetv._tcp` port (pyatv: protocols/mrp). Plain TCP with varint-framed protobuf,
 * ChaCha20-Poly1305 after pair-verify; every message is handled by the device endpoint
 * (`mrp-device.ts`), which the AirPlay tunnel reuses. This file is the TCP side: the
 * listener, one shared channel per connection, the encryption switch, the counters.
 */
import { createHash, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { ProtocolError } from '../errors';
import { CounterNonceCipher } from '../hap/channel';
import { deriveChannelKeys } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import { silentLogger, type Logger } from '../log';
import { FramedChannel } from '../support/channel';
import { VARINT_FRAMES } from '../support/frames';
import { MrpDevice, type MrpDeviceClient } from './mrp-device';
import type { MrpDeviceIdentity } from './mrp-messages';
import { APPLE_TV_TVOS14, type SimulatorDeviceProfile } from './profiles';
import { listenTcp, type ServerAdvertisement, type SimulatorRequest, type SimulatorServer, type SimulatorServerContext, type SimulatorServerEvents } from './server';

export { formatMrpPairingRecord, MrpDevice, type MrpDeviceClient, type MrpDeviceLink, type MrpDeviceOptions, type MrpDeviceCounters } from './mrp-device';
export {
  SIMULATOR_MRP_BOARD,
  SIMULATOR_MRP_BUILD,
  SIMULATOR_MRP_MODEL,
  type MrpDeviceIdentity,
} from './mrp-messages';

/** Remotes send small messages; a larger frame is garbage or an attack. */
export const MRP_SIMULATOR_MAX_REQUEST_BYTES = 256 * 1024;
/** A client that lets this much of our output pile up unread is dropped. */
const MAX_PENDING_OUTPUT = 32 * 1024 * 1024;
const MAX_CONNECTIONS = 64;

/** `AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE` from a hash of `seed`: stable per simulator. */
function derivedUuid(seed: string): string {
  const hex = createHash('md5').update(seed).digest('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The device's MRP identity, derived from the simulator's device id so it is stable across runs. */
export function mrpDeviceIdentity(name: string, deviceId: string, profile: SimulatorDeviceProfile = APPLE_TV_TVOS14): MrpDeviceIdentity {
  const bytes = Buffer.from(deviceId.slice(0, 12).padEnd(12, '0'), 'hex');
  // Locally administered, unicast: never a real vendor's address.
  bytes[0] = (bytes[0]! | 0x02) & 0xfe;
  return {
    name,
    uniqueIdentifier: derivedUuid(`atvlink-simulator-mrp:${deviceId}`),
    deviceUID: derivedUuid(`atvlink-simulator-mrp-output:${deviceId}`),
    macAddress: [...bytes].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
    profile,
  };
}

export interface MrpSimulatorOptions extends SimulatorServerContext {
  /** The 4-digit PIN the device "shows" when a remote starts pair-setup. */
  pin: string;
  /** The device's long-term Ed25519 secret (32-byte seed); random per server by default. */
  seed?: Buffer;
  /** Another SRP group, for fast tests; real devices and clients use HAP's. */
  srpGroup?: SrpGroup;
  /** A key held down at least this long is a hold (default 500 ms). */
  holdMs?: number;
}

export interface MrpServerStats {
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

export interface MrpServerEvents extends SimulatorServerEvents {
  connection: [open: number];
  disconnect: [open: number];
}

interface Connection {
  readonly channel: FramedChannel;
  readonly client: MrpDeviceClient;
}

export class MrpSimulatorServer extends EventEmitter<MrpServerEvents> implements SimulatorServer {
  readonly protocol = 'mrp' as const;
  readonly identity: MrpDeviceIdentity;
  /** The MRP device endpoint every connection talks to. */
  readonly device: MrpDevice;

  private readonly host: string;
  private readonly requestedPort: number;
  private readonly logger: Logger;
  private readonly pinCode: string;
  private readonly profile: SimulatorDeviceProfile;
  private server: net.Server | null = null;
  private boundPort = 0;
  private nextId = 1;
  private readonly connections = new Set<Connection>();
  private totalConnections = 0;

  constructor(options: MrpSimulatorOptions) {
    super();
    this.host = options.host;
    this.requestedPort = options.port;
    this.logger = options.logger ?? silentLogger;
    this.pinCode = options.pin;
    // Default: an Apple TV 4K on tvOS 14.7.
    this.profile = options.profile ?? APPLE_TV_TVOS14;
    this.identity = mrpDeviceIdentity(options.name, options.deviceId, this.profile);
    this.device = new MrpDevice({
      state: options.state,
      identity: this.identity,
      credentials: options.credentials,
      events: this,
      protocol: 'mrp',
      logger: this.logger,
      pin: options.pin,
      ...(options.seed !== undefined && { seed: options.seed }),
      ...(options.srpGroup !== undefined && { srpGroup: options.srpGroup }),
      ...(options.holdMs !== undefined && { holdMs: options.holdMs }),
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** The PIN a remote must enter (shown, like on a TV, through the 'pin' event). */
  get pin(): string {
    return this.pinCode;
  }

  /** The device's long-term public key, as paired controllers store it. */
  get ltpk(): Buffer {
    return this.device.ltpk;
  }

  /** The last 1000 messages handled after DEVICE_INFO (no pairing data), oldest first. */
  get requests(): SimulatorRequest[] {
    return this.device.requests;
  }

  stats(): MrpServerStats {
    let verified = 0;
    for (const c of this.connections) if (c.client.verified) verified++;
    return { ...this.device.counters, totalConnections: this.totalConnections, openConnections: this.connections.size, verifiedSessions: verified };
  }

  async start(): Promise<void> {
    if (this.server !== null) return;
    const { server, port } = await listenTcp(this.host, this.requestedPort, 'MRP simulator', this.logger, (socket) => this.accept(socket));
    this.server = server;
    this.boundPort = port;
    this.device.start();
    this.logger.debug(`MRP simulator listening on ${this.host}:${this.boundPort}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.device.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.channel.close();
    await closed;
  }

  advertisements(): ServerAdvertisement[] {
    return [
      {
        type: '_mediaremotetv._tcp',
        instance: this.identity.name,
        port: this.boundPort,
        txt: {
          Name: this.identity.name,
          UniqueIdentifier: this.identity.uniqueIdentifier,
          SystemBuildVersion: this.profile.build,
          AllowPairing: 'YES',
          ModelName: this.profile.localizedModelName,
          macAddress: this.identity.macAddress,
        },
      },
    ];
  }

  describe(): string[] {
    return [
      `MRP on ${this.host}:${this.boundPort} (id ${this.identity.uniqueIdentifier}, ${this.profile.model}, tvOS build ${this.profile.build})`,
      '  pairing: HAP with a 4-digit PIN, shown when a remote starts pairing',
    ];
  }

  // -------------------------------------------------------------------------------------
  // Connections

  private accept(socket: Socket): void {
    if (this.server === null || this.connections.size >= MAX_CONNECTIONS) {
      socket.destroy();
      return;
    }
    const id = this.nextId++;
    const channel = new FramedChannel(socket, {
      endpoint: `MRP simulator connection ${id}`,
      format: VARINT_FRAMES,
      maxFrameBytes: MRP_SIMULATOR_MAX_REQUEST_BYTES,
      maxQueuedWriteBytes: MAX_PENDING_OUTPUT,
      logger: this.logger,
    });
    const client = this.device.attach(
      {
        name: channel.endpoint,
        get isOpen() {
          return channel.isOpen;
        },
        send: (message) => channel.send(message),
        drop: (reason) => channel.abort(new ProtocolError(reason)),
        // The pair-verify M4 went out in clear; everything after it is encrypted, both ways.
        secure: (secret) =>
          channel.switchTo(VARINT_FRAMES, new CounterNonceCipher(deriveChannelKeys(secret, 'mrp', { role: 'accessory' }), 'zeros-then-counter')),
      },
      { verified: false },
    );
    const conn: Connection = { channel, client };
    this.connections.add(conn);
    this.totalConnections += 1;
    channel.on('frame', ({ payload }) => this.device.receive(client, payload));
    channel.on('closed', (reason) => {
      if (reason) this.logger.debug(`MRP simulator: connection ${client.id}: ${reason.message}`);
      this.device.detach(client);
      this.connections.delete(conn);
      this.emit('disconnect', this.connections.size);
    });
    this.emit('connection', this.connections.size);
  }
}

/** A random 4-digit PIN, as a TV shows for each pairing. */
export function randomMrpPin(): string {
  return String(randomInt(0, 10_000)).padStart(4, '0');
}

/** Creates the MRP server from the simulator's shared context. */
export function createMrpServer(context: SimulatorServerContext & Omit<MrpSimulatorOptions, keyof SimulatorServerContext>): MrpSimulatorServer {
  return new MrpSimulatorServer(context);
}
