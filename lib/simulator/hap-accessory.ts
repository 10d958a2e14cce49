/**
 * The device side of HAP pairing, the one every simulated protocol that pairs with HAP uses
 * (MRP, AirPlay, Companion), and what follows each step: pair-setup with the PIN the "screen"
 * shows (the 'pin' event), one remote at a time; pair-verify per connection against the
 * controllers paired before, every signature checked (unlike pyatv's fake device); AirPlay's
 * transient pair-setup (PIN 3939, nothing stored); the counters; the 'credentials' and
 * 'login' events. What a pairing leaves on the device is a record of the controller,
 * `<pairing id hex>:<ltpk hex>`, kept in the simulator's credential store under the protocol:
 * public data only, the controller's secret key never reaches the device. Each protocol only
 * carries the TLV8 messages (`HapPairingLink`).
 */
import { randomInt } from 'node:crypto';
import { decodeTlv8, encodeTlv8, HapPairingFlag, Tlv8ErrorCode, Tlv8Type, tlv8Uint } from '../codecs/tlv8';
import { decodeOpack } from '../codecs/opack';
import type { Protocol } from '../device/interfaces';
import { InvalidArgumentError } from '../errors';
import { ED25519_KEY_LENGTH, ed25519PublicKey, randomKeyBytes } from '../hap/keys';
import { HAP_TRANSIENT_PIN, PairSetupServer, type PairSetupServerOptions } from '../hap/pair-setup';
import { PairVerifyServer } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import { silentLogger, type Logger } from '../log';
import { companionDict, companionString } from '../protocols/companion/messages';
import { printableName } from './listen';
import type { CredentialStore, SimulatorServerSink } from './server';

/** A pair-setup left half-way blocks others only this long. */
const SETUP_STALE_MS = 120_000;

/** A random 4-digit PIN, as a TV shows for each pairing. */
export function randomDevicePin(): string {
  return String(randomInt(0, 10_000)).padStart(4, '0');
}

/** Refuses a PIN a device could not show: it shows 4 digits. */
export function checkDevicePin(pin: string, what = 'the pairing PIN'): void {
  if (!/^\d{4}$/.test(pin)) throw new InvalidArgumentError(`${what} must be 4 digits`);
}

/** The device's record of a paired controller (its pairing id and long-term public key, hex). */
export function formatPairingRecord(id: Buffer, ltpk: Buffer): string {
  return `${id.toString('hex')}:${ltpk.toString('hex')}`;
}

function parsePairingRecord(record: string): { id: string; ltpk: Buffer } | null {
  const m = /^([0-9a-f]{2,512}):([0-9a-f]{64})$/.exec(record);
  return m === null ? null : { id: m[1]!, ltpk: Buffer.from(m[2]!, 'hex') };
}

/** The pairing id of a record (hex), or null when `record` is not one. */
export function pairingRecordId(record: string): string | null {
  return parsePairingRecord(record)?.id ?? null;
}

/** One remote's connection, as pairing sees it. */
export interface HapPeer {
  /** Its login's and requests' session id. */
  readonly id: number;
  /** The name the remote gave itself; the name in its pair-setup M5 replaces it. */
  remoteName: string | null;
  /** Passed pair-verify (set here). */
  verified: boolean;
  /** The connection is gone (set by its transport): its pair-setup no longer blocks others. */
  closed: boolean;
}

/** How a protocol carries one peer's pairing. */
export interface HapPairingLink {
  /** Sends a pairing answer (TLV8) as the protocol frames it. */
  reply(tlv: Buffer): void;
  /**
   * Pair-verify (or a transient pair-setup) succeeded and its last answer went out in clear:
   * everything after it is encrypted, both ways, with keys from `sharedSecret`.
   */
  secure(sharedSecret: Buffer): void;
}

export interface HapAccessoryOptions {
  protocol: Protocol;
  /** How log lines name the protocol (`MRP`, `AirPlay`, `Companion`). */
  label: string;
  /** The 4-digit PIN shown for pair-setup; null: the device takes no PIN pairing (a HomePod). */
  pin: string | null;
  /**
   * The PIN appears when a remote starts pair-setup (default), or only on `showPin` (AirPlay,
   * whose senders ask for it with /pair-pin-start first).
   */
  showPinOnSetup?: boolean;
  /** The device's pairing identifier (e.g. a UUID string). */
  pairingId: string;
  credentials: CredentialStore;
  /** The server whose 'pin', 'credentials' and 'login' events these are. */
  events: Pick<SimulatorServerSink, 'emit'>;
  logger?: Logger;
  /** The device's long-term Ed25519 secret (32-byte seed); random by default. */
  seed?: Buffer;
  /** Another SRP group, for fast tests; real devices and clients use HAP's. */
  srpGroup?: SrpGroup;
  /**
   * Fixed only in tests that replay recorded sessions: the SRP salt and secret of pair-setup
   * (default random per attempt) and the ephemeral X25519 key of pair-verify (default random
   * per verify).
   */
  srpSalt?: Buffer;
  srpPrivateKey?: Buffer;
  verifyEphemeralKey?: Buffer;
}

export interface HapAccessoryCounters {
  /** Completed PIN pair-setups, refused attempts (wrong PIN, back-off, busy, garbage). */
  pairings: number;
  failedPairings: number;
  /** Successful pair-verifies, refused ones (unknown controller, bad signature, garbage). */
  verifications: number;
  failedVerifications: number;
  /** Transient pair-setups (AirPlay); refused ones count as failed verifications. */
  transientPairings: number;
}

/** The device-side pairing of one protocol. */
export class HapAccessory {
  readonly pairingId: string;
  /** The PIN a remote must enter (null: no PIN pairing). */
  readonly pin: string | null;
  readonly counters: HapAccessoryCounters = { pairings: 0, failedPairings: 0, verifications: 0, failedVerifications: 0, transientPairings: 0 };
  private readonly options: HapAccessoryOptions;
  private readonly logger: Logger;
  private readonly seed: Buffer;
  private readonly setup: PairSetupServer | null;
  private readonly verifiers = new WeakMap<HapPeer, PairVerifyServer>();
  /** Each sender's own transient pair-setup (nothing of it is shared or stored). */
  private readonly transients = new WeakMap<HapPeer, PairSetupServer>();
  private setupOwner: HapPeer | null = null;
  private setupStartedAt = 0;

  constructor(options: HapAccessoryOptions) {
    if (options.pin !== null) checkDevicePin(options.pin, `the ${options.label} pairing PIN`);
    if (options.seed !== undefined && options.seed.length !== ED25519_KEY_LENGTH) {
      throw new InvalidArgumentError(`the ${options.label} device seed must be 32 bytes`);
    }
    this.options = options;
    this.pairingId = options.pairingId;
    this.pin = options.pin;
    this.logger = options.logger ?? silentLogger;
    this.seed = options.seed ?? randomKeyBytes(ED25519_KEY_LENGTH);
    this.setup = options.pin === null ? null : new PairSetupServer({ ...this.setupOptions(options.pin), allowTransient: false });
  }

  /** The device's long-term public key, as paired controllers store it. */
  get ltpk(): Buffer {
    return ed25519PublicKey(this.seed);
  }

  /** The PIN appears on "screen" for `peer` (nothing when the device takes no PIN). */
  showPin(peer: HapPeer): void {
    if (this.pin === null) return;
    this.logger.debug(`${this.options.label} simulator: ${peer.remoteName ?? 'a remote'} started pairing; the PIN is on screen`);
    this.options.events.emit('pin', { protocol: this.options.protocol, pin: this.pin, remoteName: peer.remoteName });
  }

  /**
   * One pair-setup message from `peer`. Another remote's attempt in progress makes an M1
   * Busy; a later message of an attempt that is not this remote's is refused without
   * disturbing it.
   */
  pairSetup(peer: HapPeer, data: Buffer, link: HapPairingLink): void {
    const state = tlvState(data);
    const setup = this.setup;
    if (setup === null) {
      this.refuseSetup(link, state, Tlv8ErrorCode.Unavailable, 'this device pairs only transiently');
      return;
    }
    const now = Date.now();
    const owner = this.setupOwner;
    const busy = owner !== null && owner !== peer && !owner.closed && now - this.setupStartedAt < SETUP_STALE_MS;
    if (state === 1 && busy) {
      this.refuseSetup(link, state, Tlv8ErrorCode.Busy, 'another remote is pairing');
      return;
    }
    if (state !== 1 && owner !== peer) {
      this.refuseSetup(link, state, Tlv8ErrorCode.Unknown, 'a pair-setup message out of turn');
      return;
    }
    if (state === 1) {
      this.setupOwner = peer;
      this.setupStartedAt = now;
    }
    const step = setup.handle(data);
    if (step.kind !== 'reply') this.setupOwner = null;
    link.reply(step.message);
    switch (step.kind) {
      case 'reply':
        if (state === 1 && this.options.showPinOnSetup !== false) this.showPin(peer);
        return;
      case 'paired': {
        const record = formatPairingRecord(step.controller.id, step.controller.ltpk);
        this.options.credentials.add(this.options.protocol, record);
        peer.remoteName = pairingName(step.controller.name) ?? peer.remoteName;
        this.counters.pairings += 1;
        this.logger.debug(`${this.options.label} simulator: paired with ${peer.remoteName ?? 'a remote'}`);
        this.options.events.emit('credentials', { protocol: this.options.protocol, credentials: record, remoteName: peer.remoteName });
        return;
      }
      default:
        // 'rejected' (wrong PIN, back-off, garbage); 'transient' cannot happen (not allowed).
        this.counters.failedPairings += 1;
        this.logger.debug(`${this.options.label} simulator: pair-setup refused: ${step.kind === 'rejected' ? step.reason : 'transient pairing'}`);
    }
  }

  /** One pair-verify message from `peer`; M1 starts a new verification for it. */
  pairVerify(peer: HapPeer, data: Buffer, link: HapPairingLink): void {
    let verifier = this.verifiers.get(peer);
    if (tlvState(data) === 1 || verifier === undefined) {
      verifier = new PairVerifyServer({
        seed: this.seed,
        deviceId: this.pairingId,
        controllers: (id) => this.controllerKey(id),
        ...(this.options.verifyEphemeralKey !== undefined && { ephemeralPrivateKey: this.options.verifyEphemeralKey }),
      });
      this.verifiers.set(peer, verifier);
    }
    const step = verifier.handle(data);
    if (step.kind !== 'reply') this.verifiers.delete(peer);
    link.reply(step.message);
    switch (step.kind) {
      case 'reply':
        return;
      case 'rejected':
        this.counters.failedVerifications += 1;
        this.logger.debug(`${this.options.label} simulator: pair-verify refused: ${step.reason}`);
        return;
      case 'verified':
        link.secure(step.sharedSecret);
        peer.verified = true;
        this.counters.verifications += 1;
        this.options.events.emit('login', { protocol: this.options.protocol, sessionId: peer.id, method: 'pair-verify' });
        return;
    }
  }

  /**
   * One message of a transient pair-setup (AirPlay's `X-Apple-HKP: 4`, PIN 3939, M1..M4):
   * the SRP session key keys the connection; nothing is stored and `peer` is not verified.
   */
  transientSetup(peer: HapPeer, data: Buffer, link: HapPairingLink): void {
    const state = tlvState(data);
    if (state === 1) {
      if (((tlv8Uint(decodeTlv8(data), Tlv8Type.Flags) ?? 0) & HapPairingFlag.Transient) === 0) {
        this.transients.delete(peer);
        this.refuseTransient(link, state, 'an M1 without the transient flag');
        return;
      }
      this.transients.set(peer, new PairSetupServer(this.setupOptions(HAP_TRANSIENT_PIN)));
    }
    const setup = this.transients.get(peer);
    if (setup === undefined) {
      this.refuseTransient(link, state, 'a transient pair-setup message out of turn');
      return;
    }
    const step = setup.handle(data);
    switch (step.kind) {
      case 'reply':
        link.reply(step.message);
        return;
      case 'transient':
        this.transients.delete(peer);
        link.reply(step.message);
        link.secure(step.sharedSecret);
        this.counters.transientPairings += 1;
        this.options.events.emit('login', { protocol: this.options.protocol, sessionId: peer.id, method: 'transient' });
        return;
      case 'rejected':
        this.transients.delete(peer);
        link.reply(step.message);
        this.countTransientRefusal(step.reason);
        return;
      case 'paired':
        // Only a non-transient M1 leads here, and that was refused above.
        this.transients.delete(peer);
        this.refuseTransient(link, state, 'not a transient pairing');
        return;
    }
  }

  /** Whether `peer` is half-way through a pair-verify (its M3 is due). */
  verifying(peer: HapPeer): boolean {
    return this.verifiers.has(peer);
  }

  /** The connection is gone: its attempts no longer block others. */
  forget(peer: HapPeer): void {
    if (this.setupOwner === peer) this.setupOwner = null;
    this.verifiers.delete(peer);
    this.transients.delete(peer);
  }

  private setupOptions(pin: string): PairSetupServerOptions {
    const o = this.options;
    return {
      pin,
      deviceId: this.pairingId,
      seed: this.seed,
      ...(o.srpGroup !== undefined && { srpGroup: o.srpGroup }),
      ...(o.srpSalt !== undefined && { salt: o.srpSalt }),
      ...(o.srpPrivateKey !== undefined && { srpPrivateKey: o.srpPrivateKey }),
    };
  }

  private refuseSetup(link: HapPairingLink, state: number | undefined, code: number, reason: string): void {
    link.reply(refusal(state, code));
    this.counters.failedPairings += 1;
    this.logger.debug(`${this.options.label} simulator: pair-setup refused: ${reason}`);
  }

  private refuseTransient(link: HapPairingLink, state: number | undefined, reason: string): void {
    link.reply(refusal(state, Tlv8ErrorCode.Unknown));
    this.countTransientRefusal(reason);
  }

  private countTransientRefusal(reason: string): void {
    this.counters.failedVerifications += 1;
    this.logger.debug(`${this.options.label} simulator: transient pairing refused: ${reason}`);
  }

  /** The long-term key of a paired controller (the newest pairing of that id wins). */
  private controllerKey(id: Buffer): Buffer | undefined {
    const wanted = id.toString('hex');
    let found: Buffer | undefined;
    for (const record of this.options.credentials.list(this.options.protocol)) {
      const parsed = parsePairingRecord(record);
      if (parsed !== null && parsed.id === wanted) found = parsed.ltpk;
    }
    return found;
  }
}

/** A TLV8 error answer to a message in `state` (its reply state: M2..M6). */
function refusal(state: number | undefined, code: number): Buffer {
  return encodeTlv8([
    [Tlv8Type.State, Math.min(6, Math.max(2, (state ?? 1) + 1))],
    [Tlv8Type.Error, code],
  ]);
}

/** The State item of a TLV8 message, or undefined when it is not readable TLV8. */
function tlvState(data: Buffer): number | undefined {
  try {
    return tlv8Uint(decodeTlv8(data), Tlv8Type.State);
  } catch {
    return undefined;
  }
}

/** The `name` of the OPACK `{name}` a controller put in its pair-setup M5 (AirPlay, Companion), safe for a log line. */
function pairingName(raw: Buffer | undefined): string | null {
  if (raw === undefined) return null;
  try {
    return printableName(companionString(companionDict(decodeOpack(raw, { integers: 'unsigned' }))?.get('name')));
  } catch {
    return null;
  }
}
