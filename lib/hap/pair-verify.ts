/**
 * HAP pair-verify M1..M4 (pyatv: auth/hap_srp.py): both sides prove their long-term keys over an
 * ephemeral X25519 exchange, whose shared secret then keys the session. Pure state machines:
 * the transport (MRP, AirPlay `/pair-verify`, Companion PV_Start/PV_Next) carries the TLV8.
 *
 * Also the one table of per-channel HKDF strings that turn the shared secret into session
 * keys, since every protocol derives them the same way with its own strings.
 */
import { AuthenticationError, InvalidArgumentError } from '../errors';
import {
  decodeTlv8,
  decodeTlv8Message,
  encodeTlv8,
  expectTlv8State,
  Tlv8ErrorCode,
  Tlv8Type,
  tlv8Require,
  tlv8State,
  type Tlv8Map,
} from '../codecs/tlv8';
import type { HapCredentials } from './credentials';
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
  X25519_KEY_LENGTH,
  x25519KeyPair,
  x25519SharedSecret,
  type X25519KeyPair,
} from './keys';

/** HKDF strings for the key of pair-verify's own EncryptedData (M2, M3). */
export const PAIR_VERIFY_HKDF = { salt: 'Pair-Verify-Encrypt-Salt', info: 'Pair-Verify-Encrypt-Info' } as const;
const M2_NONCE = 'PV-Msg02';
const M3_NONCE = 'PV-Msg03';

export interface HapSessionKeySpec {
  salt: string;
  /** Info of the controller → accessory key. */
  writeInfo: string;
  /** Info of the accessory → controller key. */
  readInfo: string;
  /** The salt ends with a per-stream seed in unsigned decimal (AirPlay data stream). */
  saltTakesSeed?: true;
}

/**
 * Session-key HKDF strings of every HAP-encrypted channel, seen from the controller. The
 * AirPlay event channel is deliberately reversed: the receiver "owns" that connection, so the
 * controller writes with the key named Read (pyatv: auth/hap_srp.py).
 */
export const HAP_SESSION_KEY_SPECS = {
  mrp: { salt: 'MediaRemote-Salt', writeInfo: 'MediaRemote-Write-Encryption-Key', readInfo: 'MediaRemote-Read-Encryption-Key' },
  companion: { salt: '', writeInfo: 'ClientEncrypt-main', readInfo: 'ServerEncrypt-main' },
  airplayControl: { salt: 'Control-Salt', writeInfo: 'Control-Write-Encryption-Key', readInfo: 'Control-Read-Encryption-Key' },
  airplayEvents: { salt: 'Events-Salt', writeInfo: 'Events-Read-Encryption-Key', readInfo: 'Events-Write-Encryption-Key' },
  airplayDataStream: {
    salt: 'DataStream-Salt',
    writeInfo: 'DataStream-Output-Encryption-Key',
    readInfo: 'DataStream-Input-Encryption-Key',
    saltTakesSeed: true,
  },
} as const satisfies Record<string, HapSessionKeySpec>;
export type HapSessionChannel = keyof typeof HAP_SESSION_KEY_SPECS;

/** Session keys seen from the controller: write = controller → accessory. */
export interface HapSessionKeys {
  writeKey: Buffer;
  readKey: Buffer;
}

/** Keys for one side of a channel: what it encrypts with, what it decrypts with. */
export interface HapCipherKeys {
  encryptKey: Buffer;
  decryptKey: Buffer;
}

/** HKDF-SHA512(shared, salt, info) for both directions, 32 bytes each. */
export function deriveSessionKeys(sharedSecret: Buffer, salt: string, writeInfo: string, readInfo: string): HapSessionKeys {
  return { writeKey: hkdfDerive(sharedSecret, salt, writeInfo), readKey: hkdfDerive(sharedSecret, salt, readInfo) };
}

export interface ChannelKeyOptions {
  /** Which side we are; default the controller. */
  role?: 'controller' | 'accessory';
  /** The data stream's seed (0..2^64-1), required for `airplayDataStream`. */
  seed?: bigint;
}

/** The cipher keys of `channel` for our side, from a pair-verify (or transient SRP) shared secret. */
export function deriveChannelKeys(sharedSecret: Buffer, channel: HapSessionChannel, options: ChannelKeyOptions = {}): HapCipherKeys {
  const spec: HapSessionKeySpec = HAP_SESSION_KEY_SPECS[channel];
  let salt = spec.salt;
  if (spec.saltTakesSeed) {
    const seed = options.seed;
    if (seed === undefined || seed < 0n || seed > 0xffffffffffffffffn) {
      throw new InvalidArgumentError(`the ${channel} channel needs its 64-bit unsigned seed`);
    }
    salt += seed.toString(10);
  }
  const keys = deriveSessionKeys(sharedSecret, salt, spec.writeInfo, spec.readInfo);
  return options.role === 'accessory'
    ? { encryptKey: keys.readKey, decryptKey: keys.writeKey }
    : { encryptKey: keys.writeKey, decryptKey: keys.readKey };
}

function verifyKey(sharedSecret: Buffer): Buffer {
  return hkdfDerive(sharedSecret, PAIR_VERIFY_HKDF.salt, PAIR_VERIFY_HKDF.info);
}

// ---------------------------------------------------------------------------------------------
// Controller side

export interface PairVerifyClientOptions {
  /** Our ephemeral X25519 private key; random by default (fixed only in tests). */
  ephemeralPrivateKey?: Buffer;
}

export type PairVerifyClientStep = { kind: 'send'; message: Buffer } | { kind: 'verified'; sharedSecret: Buffer };

/**
 * The controller's pair-verify with stored credentials. `m1()`, then `handle(m2)` → M3, then
 * `handle(m4)` → the shared secret (feed it to `deriveChannelKeys`). A device that is not the
 * one the credentials were made with, or that rejects them, is an `AuthenticationError`.
 */
export class PairVerifyClient {
  private readonly credentials: HapCredentials;
  private readonly ephemeral: X25519KeyPair;
  private phase: 'start' | 'm2' | 'm4' | 'done' | 'failed' = 'start';
  private sharedSecret: Buffer | undefined;

  constructor(credentials: HapCredentials, options: PairVerifyClientOptions = {}) {
    if (credentials.kind !== 'hap') throw new InvalidArgumentError('pair-verify needs full HAP credentials: pair first');
    this.credentials = credentials;
    this.ephemeral = x25519KeyPair(options.ephemeralPrivateKey);
  }

  /** M1: `{State=1, PublicKey=our ephemeral X25519 key}`. */
  m1(): Buffer {
    if (this.phase !== 'start') throw new InvalidArgumentError('pair-verify M1 was already sent; start a new PairVerifyClient');
    this.phase = 'm2';
    return encodeTlv8([
      [Tlv8Type.State, 1],
      [Tlv8Type.PublicKey, this.ephemeral.publicKey],
    ]);
  }

  handle(message: Uint8Array): PairVerifyClientStep {
    try {
      if (this.phase === 'm2') return this.handleM2(decodeTlv8Message(message, 'pair-verify M2'));
      if (this.phase === 'm4') return this.handleM4(decodeTlv8Message(message, 'pair-verify M4'));
      throw new InvalidArgumentError(this.phase === 'start' ? 'pair-verify: call m1() first' : 'pair-verify is over; start a new one');
    } catch (err) {
      if (this.phase !== 'start') this.phase = 'failed';
      throw err;
    }
  }

  private handleM2(m2: Tlv8Map): PairVerifyClientStep {
    throwIfHapDeviceError(m2, 'pair-verify M2');
    expectTlv8State(m2, 2, 'pair-verify M2');
    const devicePublic = Buffer.from(tlv8Require(m2, Tlv8Type.PublicKey, 'pair-verify M2'));
    const encrypted = tlv8Require(m2, Tlv8Type.EncryptedData, 'pair-verify M2');
    const shared = x25519SharedSecret(this.ephemeral.privateKey, devicePublic);
    const key = verifyKey(shared);
    const inner = decodeTlv8Message(chacha20Poly1305Open(key, hapLabelNonce(M2_NONCE), encrypted), 'pair-verify M2 (decrypted)');
    const identifier = tlv8Require(inner, Tlv8Type.Identifier, 'pair-verify M2');
    const signature = tlv8Require(inner, Tlv8Type.Signature, 'pair-verify M2');
    if (!identifier.equals(this.credentials.atvId)) {
      throw new AuthenticationError(
        'pair-verify: the device identifies as a different device than these credentials were made for: check the address, or pair again',
      );
    }
    if (!ed25519Verify(this.credentials.ltpk, Buffer.concat([devicePublic, identifier, this.ephemeral.publicKey]), signature)) {
      throw new AuthenticationError(
        "pair-verify: the device's signature does not match its stored key (it was reset, or this is not the paired device): pair again",
      );
    }
    const proof = ed25519Sign(this.credentials.ltsk, Buffer.concat([this.ephemeral.publicKey, this.credentials.clientId, devicePublic]));
    const sealed = chacha20Poly1305Seal(
      key,
      hapLabelNonce(M3_NONCE),
      encodeTlv8([
        [Tlv8Type.Identifier, this.credentials.clientId],
        [Tlv8Type.Signature, proof],
      ]),
    );
    this.sharedSecret = shared;
    this.phase = 'm4';
    return {
      kind: 'send',
      message: encodeTlv8([
        [Tlv8Type.State, 3],
        [Tlv8Type.EncryptedData, sealed],
      ]),
    };
  }

  private handleM4(m4: Tlv8Map): PairVerifyClientStep {
    // pyatv ignores M4; a device that rejects our M3 signature says so here.
    throwIfHapDeviceError(m4, 'pair-verify M4');
    expectTlv8State(m4, 4, 'pair-verify M4');
    this.phase = 'done';
    return { kind: 'verified', sharedSecret: this.sharedSecret! };
  }
}

// ---------------------------------------------------------------------------------------------
// Accessory side

/** Paired controllers: id (as a UTF-8 string) → Ed25519 long-term public key, or a lookup. */
export type PairedControllerLookup = ReadonlyMap<string, Uint8Array> | ((id: Buffer) => Uint8Array | undefined);

export interface PairVerifyServerOptions {
  /** The device's long-term Ed25519 secret key (32-byte seed). */
  seed: Buffer;
  /** The device's pairing identifier. */
  deviceId: Buffer | string;
  controllers: PairedControllerLookup;
  /** The ephemeral X25519 private key; random by default (fixed only in tests). */
  ephemeralPrivateKey?: Buffer;
}

interface VerifySession {
  ephemeral: X25519KeyPair;
  clientPublic: Buffer;
  shared: Buffer;
}

export type PairVerifyServerStep =
  | { kind: 'reply'; message: Buffer }
  | { kind: 'verified'; message: Buffer; sharedSecret: Buffer; controllerId: Buffer }
  | { kind: 'rejected'; message: Buffer; reason: string };

/**
 * The accessory's pair-verify, for the simulator. Unlike pyatv's fake device it checks the
 * controller's M3 signature against the key stored at pair-setup: an unknown controller or a
 * bad signature gets `Error=Authentication`, as a real device answers. Never throws on input.
 */
export class PairVerifyServer {
  private readonly seed: Buffer;
  private readonly deviceId: Buffer;
  private readonly controllers: PairedControllerLookup;
  private readonly fixedEphemeral: Buffer | undefined;
  private session: VerifySession | undefined;

  constructor(options: PairVerifyServerOptions) {
    if (options.seed.length !== ED25519_KEY_LENGTH) throw new InvalidArgumentError('the device seed must be 32 bytes');
    this.seed = Buffer.from(options.seed);
    this.deviceId = typeof options.deviceId === 'string' ? Buffer.from(options.deviceId, 'utf8') : Buffer.from(options.deviceId);
    this.controllers = options.controllers;
    this.fixedEphemeral = options.ephemeralPrivateKey;
  }

  /** The device's long-term public key. */
  get ltpk(): Buffer {
    return ed25519PublicKey(this.seed);
  }

  handle(message: Uint8Array): PairVerifyServerStep {
    let map: Tlv8Map;
    let state: number | undefined;
    try {
      map = decodeTlv8(message);
      state = tlv8State(map);
    } catch (err) {
      return this.reject(this.session ? 4 : 2, Tlv8ErrorCode.Unknown, `undecodable message: ${(err as Error).message}`);
    }
    try {
      if (state === 1) return this.handleM1(map);
      if (state === 3 && this.session) return this.handleM3(map, this.session);
      return this.reject((state ?? 1) + 1, Tlv8ErrorCode.Unknown, `unexpected state ${state ?? 'none'}`);
    } catch (err) {
      return this.reject((state ?? 1) + 1, Tlv8ErrorCode.Authentication, err instanceof Error ? err.message : String(err));
    }
  }

  private reject(replyState: number, code: number, reason: string): PairVerifyServerStep {
    this.session = undefined;
    return {
      kind: 'rejected',
      reason,
      message: encodeTlv8([
        [Tlv8Type.State, replyState],
        [Tlv8Type.Error, code],
      ]),
    };
  }

  private lookup(id: Buffer): Uint8Array | undefined {
    return typeof this.controllers === 'function' ? this.controllers(id) : this.controllers.get(id.toString('utf8'));
  }

  private handleM1(m1: Tlv8Map): PairVerifyServerStep {
    const clientPublic = Buffer.from(tlv8Require(m1, Tlv8Type.PublicKey, 'pair-verify M1'));
    if (clientPublic.length !== X25519_KEY_LENGTH) {
      return this.reject(2, Tlv8ErrorCode.Unknown, `the controller's X25519 key has ${clientPublic.length} bytes`);
    }
    const ephemeral = x25519KeyPair(this.fixedEphemeral);
    const shared = x25519SharedSecret(ephemeral.privateKey, clientPublic);
    const signature = ed25519Sign(this.seed, Buffer.concat([ephemeral.publicKey, this.deviceId, clientPublic]));
    const sealed = chacha20Poly1305Seal(
      verifyKey(shared),
      hapLabelNonce(M2_NONCE),
      encodeTlv8([
        [Tlv8Type.Identifier, this.deviceId],
        [Tlv8Type.Signature, signature],
      ]),
    );
    this.session = { ephemeral, clientPublic, shared };
    return {
      kind: 'reply',
      message: encodeTlv8([
        [Tlv8Type.State, 2],
        [Tlv8Type.PublicKey, ephemeral.publicKey],
        [Tlv8Type.EncryptedData, sealed],
      ]),
    };
  }

  private handleM3(m3: Tlv8Map, session: VerifySession): PairVerifyServerStep {
    const encrypted = tlv8Require(m3, Tlv8Type.EncryptedData, 'pair-verify M3');
    const inner = decodeTlv8(chacha20Poly1305Open(verifyKey(session.shared), hapLabelNonce(M3_NONCE), encrypted));
    const id = Buffer.from(tlv8Require(inner, Tlv8Type.Identifier, 'pair-verify M3'));
    const signature = tlv8Require(inner, Tlv8Type.Signature, 'pair-verify M3');
    const ltpk = this.lookup(id);
    if (ltpk === undefined) return this.reject(4, Tlv8ErrorCode.Authentication, 'unknown controller (not paired)');
    if (!ed25519Verify(ltpk, Buffer.concat([session.clientPublic, id, session.ephemeral.publicKey]), signature)) {
      return this.reject(4, Tlv8ErrorCode.Authentication, "the controller's signature is invalid");
    }
    this.session = undefined;
    return { kind: 'verified', message: encodeTlv8([[Tlv8Type.State, 4]]), sharedSecret: session.shared, controllerId: id };
  }
}
