/**
 * The simulator's MRP server: what an Apple TV 4K on tvOS 14 answers on its
 * `_mediaremotetv._tcp` port (pyatv: protocols/mrp). Plain TCP with varint-framed protobuf,
 * ChaCha20-Poly1305 after pair-verify; every message is handled by the device endpoint
 * (`mrp-device.ts`), which the AirPlay tunnel reuses. This file is the TCP side: a
 * `HapTcpServer` (listener, channel per connection, pairing, counters) whose connections
 * are the device's clients, and the encryption switch.
 */
import { ProtocolError } from '../errors';
import { CounterNonceCipher } from '../hap/channel';
import { deriveChannelKeys } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import type { FramedChannel } from '../support/channel';
import { VARINT_FRAMES, type Frame } from '../support/frames';
import { HapTcpServer, type HapServerStats } from './hap-server';
import { MrpDevice, type MrpDeviceClient } from './mrp-device';
import type { MrpDeviceIdentity } from './mrp-messages';
import { APPLE_TV_TVOS14, type SimulatorDeviceProfile } from './profiles';
import { derivedUuid, type ServerAdvertisement, type SimulatorServer, type SimulatorServerContext, type SimulatorTcpServerEvents } from './server';

/**
 * What the device remembers of a paired controller (its pairing id and long-term public
 * key, hex), as kept in the simulator's credential store under 'mrp'.
 */
export { formatPairingRecord as formatMrpPairingRecord } from './hap-accessory';
export { MrpDevice, type MrpDeviceClient, type MrpDeviceLink, type MrpDeviceOptions } from './mrp-device';
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

/** The MRP server's counters. */
export type MrpServerStats = HapServerStats;

export type MrpServerEvents = SimulatorTcpServerEvents;

export class MrpSimulatorServer extends HapTcpServer<MrpDeviceClient> implements SimulatorServer {
  readonly protocol = 'mrp' as const;
  readonly identity: MrpDeviceIdentity;
  /** The MRP device endpoint every connection talks to. */
  readonly device: MrpDevice;

  private readonly profile: SimulatorDeviceProfile;

  constructor(options: MrpSimulatorOptions) {
    // Default: an Apple TV 4K on tvOS 14.7.
    const profile = options.profile ?? APPLE_TV_TVOS14;
    const identity = mrpDeviceIdentity(options.name, options.deviceId, profile);
    super({
      protocol: 'mrp',
      label: 'MRP',
      host: options.host,
      port: options.port,
      credentials: options.credentials,
      ...(options.logger !== undefined && { logger: options.logger }),
      pin: options.pin,
      pairingId: identity.uniqueIdentifier,
      ...(options.seed !== undefined && { seed: options.seed }),
      ...(options.srpGroup !== undefined && { srpGroup: options.srpGroup }),
      format: VARINT_FRAMES,
      maxFrameBytes: MRP_SIMULATOR_MAX_REQUEST_BYTES,
      maxQueuedWriteBytes: MAX_PENDING_OUTPUT,
    });
    this.profile = profile;
    this.identity = identity;
    this.device = new MrpDevice({
      state: options.state,
      identity,
      events: this,
      protocol: 'mrp',
      pairing: this.accessory,
      logger: this.logger,
      ...(options.holdMs !== undefined && { holdMs: options.holdMs }),
    });
  }

  protected override started(): void {
    this.device.start();
  }

  protected override stopping(): void {
    this.device.stop();
  }

  advertisements(): ServerAdvertisement[] {
    return [
      {
        type: '_mediaremotetv._tcp',
        instance: this.identity.name,
        port: this.port,
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
      `MRP on ${this.host}:${this.port} (id ${this.identity.uniqueIdentifier}, ${this.profile.model}, tvOS build ${this.profile.build})`,
      '  pairing: HAP with a 4-digit PIN, shown when a remote starts pairing',
    ];
  }

  // -------------------------------------------------------------------------------------
  // Connections: each is a client of the device

  protected connection(id: number, channel: FramedChannel): MrpDeviceClient {
    return this.device.attach(
      {
        name: channel.endpoint,
        get isOpen() {
          return channel.isOpen;
        },
        send: (message) => channel.send(message),
        drop: (reason) => channel.abort(new ProtocolError(reason)),
        secure: (secret) =>
          channel.switchTo(VARINT_FRAMES, new CounterNonceCipher(deriveChannelKeys(secret, 'mrp', { role: 'accessory' }), 'zeros-then-counter')),
      },
      { id, verified: false },
    );
  }

  protected receive(conn: MrpDeviceClient, { payload }: Frame): void {
    if (this.device.receive(conn, payload)) this.counters.messages += 1;
  }

  protected override closed(conn: MrpDeviceClient): void {
    this.device.detach(conn);
  }
}

/** Creates the MRP server from the simulator's shared context. */
export function createMrpServer(context: SimulatorServerContext & Omit<MrpSimulatorOptions, keyof SimulatorServerContext>): MrpSimulatorServer {
  return new MrpSimulatorServer(context);
}
