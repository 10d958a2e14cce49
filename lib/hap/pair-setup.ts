/**
 * HAP pair-setup M1..M6 (pyatv: auth/hap_srp.py) as two pure state machines: `PairSetupClient` (the
 * controller: us) and `PairSetupServer` (the accessory: our simulator). They take and return
 * TLV8 bytes; the transport (MRP CryptoPairingMessage, AirPlay `/pair-setup` HTTP, Companion
 * PS_Start/PS_Next frames) carries them.
 *
 * Unlike pyatv, the client checks the device's SRP proof in M4 and its Ed25519 signature in
 * M6, so a device that does not know the PIN cannot complete a pairing.
 */
import { randomUUID } from 'node:crypto';
import { DecodeError, InvalidArgumentError, PairingError, ProtocolError } from '../errors';
import {
  decodeTlv8,
  decodeTlv8Message,
  encodeTlv8,
  expectTlv8State,
  HapMethod,
  HapPairingFlag,
  Tlv8ErrorCode,
  Tlv8Type,
  tlv8Require,
  tlv8State,
  tlv8Uint,
  type Tlv8Map,
} from '../codecs/tlv8';
import { hapCredentials, type HapCredentials } from './credentials';
import { throwIfHapDeviceError } from './device-errors';
import {
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  ED25519_KEY_LENGTH,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hapLabelNonce,
  hkdfDerive,
  randomKeyBytes,
} from './keys';
import { HapSrpClient, HapSrpServer, type SrpGroup } from './srp';

/** The HKDF salt/info pairs of pair-setup, applied to the SRP session key K. */
export const PAIR_SETUP_HKDF = {
  /** Key for the EncryptedData of M5 and M6. */
  encrypt: { salt: 'Pair-Setup-Encrypt-Salt', info: 'Pair-Setup-Encrypt-Info' },
  /** "iOSDeviceX", prefixed to what the controller signs in M5. */
  controllerSign: { salt: 'Pair-Setup-Controller-Sign-Salt', info: 'Pair-Setup-Controller-Sign-Info' },
  /** "AccessoryX", prefixed to what the accessory signs in M6. */
  accessorySign: { salt: 'Pair-Setup-Accessory-Sign-Salt', info: 'Pair-Setup-Accessory-Sign-Info' },
} as const;

/** Nonce labels of the two encrypted pair-setup messages. */
const M5_NONCE = 'PS-Msg05';
const M6_NONCE = 'PS-Msg06';

/** The fixed PIN of transient pair-setup (AirPlay to HomePods; pyatv: auth/hap_transient.py). */
export const HAP_TRANSIENT_PIN = '3939';

/** Longest pairing identifier we accept from a device (they are UUID strings, 36 bytes). */
const MAX_IDENTIFIER = 256;

/** A PIN as the device expects it: the decimal digits, zero-padded to at least 4. */
export function normalizeHapPin(pin: string | number): string {
  const text = typeof pin === 'number' ? (Number.isInteger(pin) && pin >= 0 ? String(pin) : '') : pin.trim();
  if (!/^\d{1,8}$/.test(text)) {
    throw new InvalidArgumentError('the PIN must be the digits shown on the device (1 to 8 digits)');
  }
  return text.padStart(4, '0');
}

function toBytes(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
}

/** Derives one of the PAIR_SETUP_HKDF keys from K. */
function setupKey(sessionKey: Buffer, which: keyof typeof PAIR_SETUP_HKDF): Buffer {
  const { salt, info } = PAIR_SETUP_HKDF[which];
  return hkdfDerive(sessionKey, salt, info);
}

/** The sub-TLV of M5/M6: who I am, my long-term key, and my signature binding both to K. */
function signedIdentity(sessionKey: Buffer, which: 'controllerSign' | 'accessorySign', id: Buffer, seed: Buffer, extra: [number, Buffer][]): Buffer {
  const ltpk = ed25519PublicKey(seed);
  const signature = ed25519Sign(seed, Buffer.concat([setupKey(sessionKey, which), id, ltpk]));
  return encodeTlv8([
    [Tlv8Type.Identifier, id],
    [Tlv8Type.PublicKey, ltpk],
    [Tlv8Type.Signature, signature],
    ...extra,
  ]);
}

interface VerifiedIdentity {
  id: Buffer;
  ltpk: Buffer;
  name: Buffer | undefined;
}

/**
 * Opens the EncryptedData of M5/M6 and checks the peer's signature. Returns undefined when
 * decryption or the signature fails (the caller picks the error), throws DecodeError when the
 * decrypted bytes are not a well-formed identity.
 */
function openSignedIdentity(
  sessionKey: Buffer,
  which: 'controllerSign' | 'accessorySign',
  nonceLabel: string,
  encrypted: Buffer,
  where: string,
): VerifiedIdentity | undefined {
  let plain: Buffer;
  try {
    plain = chacha20Poly1305Open(setupKey(sessionKey, 'encrypt'), hapLabelNonce(nonceLabel), encrypted);
  } catch {
    return undefined;
  }
  const inner = decodeTlv8(plain);
  const id = tlv8Require(inner, Tlv8Type.Identifier, where);
  const ltpk = tlv8Require(inner, Tlv8Type.PublicKey, where);
  const signature = tlv8Require(inner, Tlv8Type.Signature, where);
  if (id.length === 0 || id.length > MAX_IDENTIFIER) throw new DecodeError(`${where}: the identifier has ${id.length} bytes`);
  if (ltpk.length !== ED25519_KEY_LENGTH) throw new DecodeError(`${where}: the long-term public key has ${ltpk.length} bytes, expected 32`);
  const signed = Buffer.concat([setupKey(sessionKey, which), id, ltpk]);
  if (!ed25519Verify(ltpk, signed, signature)) return undefined;
  return { id: Buffer.from(id), ltpk: Buffer.from(ltpk), name: inner.has(Tlv8Type.Name) ? Buffer.from(inner.get(Tlv8Type.Name)!) : undefined };
}

// ---------------------------------------------------------------------------------------------
// Controller side

export interface PairSetupClientOptions {
  /** The PIN shown on the device; may instead be given later with `setPin` (it appears after M1). */
  pin?: string | number;
  /** Our pairing identifier; default: the ASCII bytes of a random UUID, as pyatv makes it. */
  pairingId?: Buffer | string;
  /** Our long-term Ed25519 secret key (32-byte seed); random by default. */
  seed?: Buffer;
  /**
   * Transient pair-setup (Flags 0x10): M1..M4 only, no long-term keys; the session keys then
   * come from the SRP key K. The PIN defaults to `HAP_TRANSIENT_PIN`.
   */
  transient?: boolean;
  /** Payload of the Name item (0x11) in M5; AirPlay and Companion put OPACK `{name}` there. */
  name?: Buffer;
  /** The SRP secret exponent a; random by default (pyatv uses the Ed25519 seed). */
  srpPrivateKey?: Buffer;
  /** Another SRP group, for tests; HAP always uses the default. */
  srpGroup?: SrpGroup;
}

/** What the client wants next: send `message`, or pairing is complete. */
export type PairSetupClientStep =
  | { kind: 'send'; message: Buffer }
  | { kind: 'paired'; credentials: HapCredentials }
  | { kind: 'transient'; sharedSecret: Buffer };

type ClientPhase = 'start' | 'm2' | 'm4' | 'm6' | 'done' | 'failed';

/**
 * The controller's pair-setup. `m1()` starts it (the device then shows a PIN); feed each
 * device reply to `handle()`, which returns the next message to send or the result. Device
 * errors arrive as typed errors: wrong PIN → PairingError, back-off → BackOffError.
 */
export class PairSetupClient {
  readonly pairingId: Buffer;
  readonly transient: boolean;
  private readonly seed: Buffer;
  private readonly options: PairSetupClientOptions;
  private pin: string | undefined;
  private phase: ClientPhase = 'start';
  private srp: HapSrpClient | undefined;

  constructor(options: PairSetupClientOptions = {}) {
    this.options = options;
    this.transient = options.transient === true;
    this.pairingId = options.pairingId === undefined ? Buffer.from(randomUUID(), 'ascii') : toBytes(options.pairingId);
    if (this.pairingId.length === 0 || this.pairingId.length > MAX_IDENTIFIER) {
      throw new InvalidArgumentError(`the pairing id must be 1..${MAX_IDENTIFIER} bytes`);
    }
    this.seed = options.seed === undefined ? randomKeyBytes(ED25519_KEY_LENGTH) : Buffer.from(options.seed);
    if (this.seed.length !== ED25519_KEY_LENGTH) throw new InvalidArgumentError('the Ed25519 seed must be 32 bytes');
    if (options.pin !== undefined) this.pin = normalizeHapPin(options.pin);
    else if (this.transient) this.pin = HAP_TRANSIENT_PIN;
  }

  /** Sets the PIN the user read off the screen; needed before the device's M2 is handled. */
  setPin(pin: string | number): void {
    this.pin = normalizeHapPin(pin);
  }

  /** M1: `{Method=PairSetup, State=1}` (+ `Flags=Transient`). */
  m1(): Buffer {
    if (this.phase !== 'start') throw new InvalidArgumentError('pair-setup M1 was already sent; start a new PairSetupClient');
    this.phase = 'm2';
    const items: [number, number][] = [
      [Tlv8Type.Method, HapMethod.PairSetup],
      [Tlv8Type.State, 1],
    ];
    if (this.transient) items.push([Tlv8Type.Flags, HapPairingFlag.Transient]);
    return encodeTlv8(items);
  }

  /** Handles the device's M2, M4 or M6. Any error ends this pair-setup. */
  handle(message: Uint8Array): PairSetupClientStep {
    if (this.phase === 'm2' && this.pin === undefined) {
      throw new InvalidArgumentError('pair-setup needs the PIN shown on the device: call setPin() before handling M2');
    }
    try {
      switch (this.phase) {
        case 'm2':
          return this.handleM2(decodeTlv8Message(message, 'pair-setup M2'));
        case 'm4':
          return this.handleM4(decodeTlv8Message(message, 'pair-setup M4'));
        case 'm6':
          return this.handleM6(decodeTlv8Message(message, 'pair-setup M6'));
        case 'start':
          throw new InvalidArgumentError('pair-setup: call m1() before handling replies');
        default:
          throw new InvalidArgumentError(`pair-setup is ${this.phase === 'done' ? 'complete' : 'over after an error'}; start a new one`);
      }
    } catch (err) {
      if (this.phase !== 'start') this.phase = 'failed';
      throw err;
    }
  }

  private handleM2(m2: Tlv8Map): PairSetupClientStep {
    throwIfHapDeviceError(m2, 'pair-setup M2');
    expectTlv8State(m2, 2, 'pair-setup M2');
    const salt = tlv8Require(m2, Tlv8Type.Salt, 'pair-setup M2');
    const serverPublicKey = tlv8Require(m2, Tlv8Type.PublicKey, 'pair-setup M2');
    const srp = new HapSrpClient(Buffer.from(salt), this.pin!, {
      ...(this.options.srpPrivateKey && { privateKey: this.options.srpPrivateKey }),
      ...(this.options.srpGroup && { group: this.options.srpGroup }),
    });
    srp.setServerPublicKey(Buffer.from(serverPublicKey));
    this.srp = srp;
    this.phase = 'm4';
    return {
      kind: 'send',
      message: encodeTlv8([
        [Tlv8Type.State, 3],
        [Tlv8Type.PublicKey, srp.publicKey],
        [Tlv8Type.Proof, srp.proof],
      ]),
    };
  }

  private handleM4(m4: Tlv8Map): PairSetupClientStep {
    throwIfHapDeviceError(m4, 'pair-setup M4');
    expectTlv8State(m4, 4, 'pair-setup M4');
    const proof = tlv8Require(m4, Tlv8Type.Proof, 'pair-setup M4');
    const srp = this.srp!;
    if (!srp.verifyServerProof(Buffer.from(proof))) {
      throw new PairingError(
        "the device's SRP proof is wrong: it does not know the PIN (not the device you meant, or tampered traffic); pairing aborted",
      );
    }
    const sessionKey = srp.sessionKey;
    if (this.transient) {
      this.phase = 'done';
      return { kind: 'transient', sharedSecret: Buffer.from(sessionKey) };
    }
    const extra: [number, Buffer][] = this.options.name ? [[Tlv8Type.Name, this.options.name]] : [];
    const inner = signedIdentity(sessionKey, 'controllerSign', this.pairingId, this.seed, extra);
    const encrypted = chacha20Poly1305Seal(setupKey(sessionKey, 'encrypt'), hapLabelNonce(M5_NONCE), inner);
    this.phase = 'm6';
    return {
      kind: 'send',
      message: encodeTlv8([
        [Tlv8Type.State, 5],
        [Tlv8Type.EncryptedData, encrypted],
      ]),
    };
  }

  private handleM6(m6: Tlv8Map): PairSetupClientStep {
    throwIfHapDeviceError(m6, 'pair-setup M6');
    expectTlv8State(m6, 6, 'pair-setup M6');
    const encrypted = tlv8Require(m6, Tlv8Type.EncryptedData, 'pair-setup M6');
    let device: VerifiedIdentity | undefined;
    try {
      device = openSignedIdentity(this.srp!.sessionKey, 'accessorySign', M6_NONCE, encrypted, 'pair-setup M6');
    } catch (err) {
      throw new ProtocolError(`pair-setup M6: ${(err as Error).message}`, { cause: err });
    }
    if (device === undefined) {
      throw new PairingError("the device's pair-setup M6 does not decrypt or its signature is invalid (tampered traffic?): pairing aborted");
    }
    this.phase = 'done';
    return {
      kind: 'paired',
      credentials: hapCredentials({ ltpk: device.ltpk, ltsk: this.seed, atvId: device.id, clientId: this.pairingId }),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Accessory side

export interface PairSetupServerOptions {
  pin: string | number;
  /** The device's pairing identifier (ASCII, e.g. a UUID string). */
  deviceId: Buffer | string;
  /** The device's long-term Ed25519 secret key (32-byte seed); random by default. */
  seed?: Buffer;
  /** A fixed SRP salt (16 bytes); random per attempt by default. */
  salt?: Buffer;
  /** A fixed SRP secret exponent b; random per attempt by default. */
  srpPrivateKey?: Buffer;
  srpGroup?: SrpGroup;
  /** Accept transient pair-setup (with `transientPin`); default true. */
  allowTransient?: boolean;
  transientPin?: string | number;
  /** Wrong-PIN attempts in a row before the device backs off; default 3. */
  maxFailures?: number;
  /** How long it backs off, in seconds; default 30. */
  backOffSeconds?: number;
  /** Failed attempts in total before it refuses for good (MaxTries); default 100, as HAP. */
  maxTries?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** A controller that completed pair-setup: remember `id` → `ltpk` for pair-verify. */
export interface PairedController {
  id: Buffer;
  ltpk: Buffer;
  /** The raw Name item the controller sent, if any (OPACK for AirPlay/Companion). */
  name: Buffer | undefined;
}

/** What to send back, and whether this reply ends the attempt. */
export type PairSetupServerStep =
  | { kind: 'reply'; message: Buffer }
  | { kind: 'paired'; message: Buffer; controller: PairedController }
  | { kind: 'transient'; message: Buffer; sharedSecret: Buffer }
  | { kind: 'rejected'; message: Buffer; reason: string };

/**
 * The accessory's pair-setup, for the simulator. One attempt at a time; an M1 starts a new
 * attempt. It never throws on bad input: every problem becomes a reply carrying a TLV Error
 * (kind `rejected`, with a reason for the log). It counts wrong PINs and backs off.
 */
export class PairSetupServer {
  readonly deviceId: Buffer;
  /** The device's long-term public key, as controllers will store it. */
  readonly ltpk: Buffer;
  private readonly seed: Buffer;
  private readonly pin: string;
  private readonly transientPin: string;
  private readonly options: PairSetupServerOptions;
  private readonly now: () => number;
  private expected: 1 | 3 | 5 = 1;
  private srp: HapSrpServer | undefined;
  private transient = false;
  private failuresInRow = 0;
  private failuresTotal = 0;
  private blockedUntil = 0;

  constructor(options: PairSetupServerOptions) {
    this.options = options;
    this.pin = normalizeHapPin(options.pin);
    this.transientPin = normalizeHapPin(options.transientPin ?? HAP_TRANSIENT_PIN);
    this.deviceId = toBytes(options.deviceId);
    if (this.deviceId.length === 0 || this.deviceId.length > MAX_IDENTIFIER) {
      throw new InvalidArgumentError(`the device id must be 1..${MAX_IDENTIFIER} bytes`);
    }
    this.seed = options.seed === undefined ? randomKeyBytes(ED25519_KEY_LENGTH) : Buffer.from(options.seed);
    this.ltpk = ed25519PublicKey(this.seed);
    this.now = options.now ?? Date.now;
  }

  handle(message: Uint8Array): PairSetupServerStep {
    let map: Tlv8Map;
    let state: number | undefined;
    try {
      map = decodeTlv8(message);
      state = tlv8State(map);
    } catch (err) {
      return this.reject(this.expected + 1, Tlv8ErrorCode.Unknown, `undecodable message: ${(err as Error).message}`);
    }
    try {
      if (state === 1) return this.handleM1(map);
      if (state === 3 && this.expected === 3) return this.handleM3(map);
      if (state === 5 && this.expected === 5) return this.handleM5(map);
      const reply = state !== undefined && state >= 1 && state <= 5 ? state + 1 : this.expected + 1;
      return this.reject(reply, Tlv8ErrorCode.Unknown, `unexpected state ${state ?? 'none'} (waiting for M${this.expected})`);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return this.reject((state ?? this.expected) + 1, Tlv8ErrorCode.Unknown, reason);
    }
  }

  private reject(replyState: number, code: number, reason: string, extra: [number, number][] = []): PairSetupServerStep {
    this.expected = 1;
    this.srp = undefined;
    return {
      kind: 'rejected',
      reason,
      message: encodeTlv8([[Tlv8Type.State, replyState], [Tlv8Type.Error, code], ...extra]),
    };
  }

  private handleM1(m1: Tlv8Map): PairSetupServerStep {
    const method = tlv8Uint(m1, Tlv8Type.Method);
    if (method !== HapMethod.PairSetup) return this.reject(2, Tlv8ErrorCode.Unknown, `unsupported pairing method ${method ?? 'none'}`);
    const maxTries = this.options.maxTries ?? 100;
    if (this.failuresTotal >= maxTries) return this.reject(2, Tlv8ErrorCode.MaxTries, `${this.failuresTotal} failed attempts`);
    const wait = Math.ceil((this.blockedUntil - this.now()) / 1000);
    if (wait > 0) {
      return this.reject(2, Tlv8ErrorCode.BackOff, `backing off for ${wait} s after wrong PINs`, [[Tlv8Type.BackOff, wait]]);
    }
    const flags = tlv8Uint(m1, Tlv8Type.Flags) ?? 0;
    this.transient = (flags & HapPairingFlag.Transient) !== 0;
    if (this.transient && this.options.allowTransient === false) {
      return this.reject(2, Tlv8ErrorCode.Unavailable, 'transient pairing is not allowed');
    }
    this.srp = new HapSrpServer(this.transient ? this.transientPin : this.pin, {
      ...(this.options.salt && { salt: this.options.salt }),
      ...(this.options.srpPrivateKey && { privateKey: this.options.srpPrivateKey }),
      ...(this.options.srpGroup && { group: this.options.srpGroup }),
    });
    this.expected = 3;
    return {
      kind: 'reply',
      message: encodeTlv8([
        [Tlv8Type.State, 2],
        [Tlv8Type.Salt, this.srp.salt],
        [Tlv8Type.PublicKey, this.srp.publicKey],
      ]),
    };
  }

  private handleM3(m3: Tlv8Map): PairSetupServerStep {
    const srp = this.srp!;
    srp.setClientPublicKey(Buffer.from(tlv8Require(m3, Tlv8Type.PublicKey, 'pair-setup M3')));
    if (!srp.verifyClientProof(Buffer.from(tlv8Require(m3, Tlv8Type.Proof, 'pair-setup M3')))) {
      this.failuresInRow++;
      this.failuresTotal++;
      if (this.failuresInRow >= (this.options.maxFailures ?? 3)) {
        this.blockedUntil = this.now() + (this.options.backOffSeconds ?? 30) * 1000;
        this.failuresInRow = 0;
      }
      return this.reject(4, Tlv8ErrorCode.Authentication, 'wrong PIN');
    }
    const message = encodeTlv8([
      [Tlv8Type.State, 4],
      [Tlv8Type.Proof, srp.proof],
    ]);
    if (this.transient) {
      this.expected = 1;
      this.failuresInRow = 0;
      return { kind: 'transient', message, sharedSecret: Buffer.from(srp.sessionKey) };
    }
    this.expected = 5;
    return { kind: 'reply', message };
  }

  private handleM5(m5: Tlv8Map): PairSetupServerStep {
    const sessionKey = this.srp!.sessionKey;
    const encrypted = tlv8Require(m5, Tlv8Type.EncryptedData, 'pair-setup M5');
    const controller = openSignedIdentity(sessionKey, 'controllerSign', M5_NONCE, encrypted, 'pair-setup M5');
    if (controller === undefined) return this.reject(6, Tlv8ErrorCode.Authentication, "M5 does not decrypt or the controller's signature is invalid");
    const inner = signedIdentity(sessionKey, 'accessorySign', this.deviceId, this.seed, []);
    const sealed = chacha20Poly1305Seal(setupKey(sessionKey, 'encrypt'), hapLabelNonce(M6_NONCE), inner);
    this.expected = 1;
    this.srp = undefined;
    this.failuresInRow = 0;
    return {
      kind: 'paired',
      controller,
      message: encodeTlv8([
        [Tlv8Type.State, 6],
        [Tlv8Type.EncryptedData, sealed],
      ]),
    };
  }
}
