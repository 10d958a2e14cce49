/**
 * The device side of HAP pairing for a simulated protocol (Companion here; MRP and AirPlay
 * pair the same way): pair-setup with the PIN the "screen" shows, one remote at a time, and
 * pair-verify per connection against the controllers paired before, every signature checked
 * (unlike pyatv's fake device). What a pairing leaves on the device is a record of the
 * controller, `<pairing id hex>:<ltpk hex>`, kept in the simulator's credential store under
 * the protocol: public data only, the controller's secret key never reaches the device.
 */
import { decodeTlv8, encodeTlv8, Tlv8ErrorCode, Tlv8Type, tlv8Uint } from '../codecs/tlv8';
import type { Protocol } from '../device/interfaces';
import { InvalidArgumentError } from '../errors';
import { ED25519_KEY_LENGTH, randomKeyBytes } from '../hap/keys';
import { PairSetupServer } from '../hap/pair-setup';
import { PairVerifyServer } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import type { CredentialStore } from './server';

/** A pair-setup left half-way blocks others only this long. */
const SETUP_STALE_MS = 120_000;

/** The device's record of a paired controller (its pairing id and long-term public key, hex). */
export function formatPairingRecord(id: Buffer, ltpk: Buffer): string {
  return `${id.toString('hex')}:${ltpk.toString('hex')}`;
}

function parsePairingRecord(record: string): { id: string; ltpk: Buffer } | null {
  const m = /^([0-9a-f]{2,512}):([0-9a-f]{64})$/.exec(record);
  return m === null ? null : { id: m[1]!, ltpk: Buffer.from(m[2]!, 'hex') };
}

export interface HapAccessoryOptions {
  protocol: Protocol;
  /** The 4-digit PIN shown when a remote starts pair-setup. */
  pin: string;
  /** The device's pairing identifier (e.g. a UUID string). */
  deviceId: string;
  credentials: CredentialStore;
  /** The device's long-term Ed25519 secret (32-byte seed); random by default. */
  seed?: Buffer;
  /** Another SRP group, for fast tests. */
  srpGroup?: SrpGroup;
}

/** What to answer, and what happened. */
export type HapAccessoryStep =
  /** `pinShown`: this answer started a pair-setup, so the screen shows the PIN now. */
  | { kind: 'reply'; message: Buffer; pinShown: boolean }
  | { kind: 'paired'; message: Buffer; record: string; name: Buffer | undefined }
  | { kind: 'verified'; message: Buffer; sharedSecret: Buffer }
  | { kind: 'refused'; message: Buffer; reason: string };

/** Device-side pairing of one protocol; `C` identifies a connection. */
export class HapAccessory<C extends object> {
  readonly deviceId: string;
  private readonly protocol: Protocol;
  private readonly store: CredentialStore;
  private readonly seed: Buffer;
  private readonly setup: PairSetupServer;
  private readonly verifiers = new WeakMap<C, PairVerifyServer>();
  private setupOwner: C | null = null;
  private setupStartedAt = 0;

  constructor(options: HapAccessoryOptions) {
    if (!/^\d{4}$/.test(options.pin)) throw new InvalidArgumentError('the pairing PIN must be 4 digits');
    if (options.seed !== undefined && options.seed.length !== ED25519_KEY_LENGTH) throw new InvalidArgumentError('the device seed must be 32 bytes');
    this.protocol = options.protocol;
    this.deviceId = options.deviceId;
    this.store = options.credentials;
    this.seed = options.seed ?? randomKeyBytes(ED25519_KEY_LENGTH);
    this.setup = new PairSetupServer({
      pin: options.pin,
      deviceId: options.deviceId,
      seed: this.seed,
      allowTransient: false,
      ...(options.srpGroup !== undefined ? { srpGroup: options.srpGroup } : {}),
    });
  }

  /** The device's long-term public key, as paired controllers store it. */
  get ltpk(): Buffer {
    return Buffer.from(this.setup.ltpk);
  }

  /**
   * One pair-setup message from `client`. Another remote's attempt in progress makes an M1
   * Busy; a later message of an attempt that is not this remote's is refused without
   * disturbing it. `isOpen` tells whether a connection still exists (a dropped owner frees
   * the device at once).
   */
  pairSetup(client: C, data: Buffer, isOpen: (client: C) => boolean): HapAccessoryStep {
    const state = tlvState(data);
    const now = Date.now();
    const owner = this.setupOwner;
    const busy = owner !== null && owner !== client && isOpen(owner) && now - this.setupStartedAt < SETUP_STALE_MS;
    if (state === 1 && busy) {
      return { kind: 'refused', message: encodeTlv8([[Tlv8Type.State, 2], [Tlv8Type.Error, Tlv8ErrorCode.Busy]]), reason: 'another remote is pairing' };
    }
    if (state !== 1 && owner !== client) {
      const reply = Math.min(6, Math.max(2, (state ?? 1) + 1));
      return {
        kind: 'refused',
        message: encodeTlv8([[Tlv8Type.State, reply], [Tlv8Type.Error, Tlv8ErrorCode.Unknown]]),
        reason: 'a pair-setup message out of turn',
      };
    }
    if (state === 1) {
      this.setupOwner = client;
      this.setupStartedAt = now;
    }
    const step = this.setup.handle(data);
    switch (step.kind) {
      case 'reply':
        return { kind: 'reply', message: step.message, pinShown: state === 1 };
      case 'paired': {
        this.setupOwner = null;
        const record = formatPairingRecord(step.controller.id, step.controller.ltpk);
        this.store.add(this.protocol, record);
        return { kind: 'paired', message: step.message, record, name: step.controller.name };
      }
      case 'rejected':
        this.setupOwner = null;
        return { kind: 'refused', message: step.message, reason: step.reason };
      default:
        // Transient pairing is not allowed here, so the state machine never gets there.
        this.setupOwner = null;
        return { kind: 'refused', message: step.message, reason: 'transient pairing' };
    }
  }

  /** One pair-verify message from `client`; M1 starts a new verification for it. */
  pairVerify(client: C, data: Buffer): HapAccessoryStep {
    let verifier = this.verifiers.get(client);
    if (tlvState(data) === 1 || verifier === undefined) {
      verifier = new PairVerifyServer({ seed: this.seed, deviceId: this.deviceId, controllers: (id) => this.controllerKey(id) });
      this.verifiers.set(client, verifier);
    }
    const step = verifier.handle(data);
    switch (step.kind) {
      case 'reply':
        return { kind: 'reply', message: step.message, pinShown: false };
      case 'verified':
        this.verifiers.delete(client);
        return { kind: 'verified', message: step.message, sharedSecret: step.sharedSecret };
      case 'rejected':
        this.verifiers.delete(client);
        return { kind: 'refused', message: step.message, reason: step.reason };
    }
  }

  /** Whether `client` is half-way through a pair-verify (its M3 is due). */
  verifying(client: C): boolean {
    return this.verifiers.has(client);
  }

  /** The connection is gone: its attempt no longer blocks others. */
  forget(client: C): void {
    if (this.setupOwner === client) this.setupOwner = null;
    this.verifiers.delete(client);
  }

  /** The long-term key of a paired controller (the newest pairing of that id wins). */
  private controllerKey(id: Buffer): Buffer | undefined {
    const wanted = id.toString('hex');
    let found: Buffer | undefined;
    for (const record of this.store.list(this.protocol)) {
      const parsed = parsePairingRecord(record);
      if (parsed !== null && parsed.id === wanted) found = parsed.ltpk;
    }
    return found;
  }
}

/** The State item of a TLV8 message, or undefined when it is not readable TLV8. */
function tlvState(data: Buffer): number | undefined {
  try {
    return tlv8Uint(decodeTlv8(data), Tlv8Type.State);
  } catch {
    return undefined;
  }
}
