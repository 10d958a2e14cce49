/**
 * The HAP crypto primitives on Node's built-in crypto: Ed25519 and X25519 with raw 32-byte
 * keys (the form every Apple protocol sends), HKDF, and ChaCha20-Poly1305 with a 16-byte tag.
 * Pure functions; keys in and out are plain Buffers.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { InvalidArgumentError, ProtocolError } from '../errors';

export const ED25519_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;
export const X25519_KEY_LENGTH = 32;
export const CHACHA20_POLY1305_KEY_LENGTH = 32;
export const CHACHA20_POLY1305_NONCE_LENGTH = 12;
export const CHACHA20_POLY1305_TAG_LENGTH = 16;

// DER prefixes that wrap a raw 32-byte key into PKCS#8 (private) or SPKI (public) for the
// OIDs 1.3.101.112 (Ed25519) and 1.3.101.110 (X25519); Node 20 imports no raw OKP keys.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) throw new InvalidArgumentError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

function rawPublic(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

function ed25519Private(seed: Uint8Array): KeyObject {
  checkLength(seed, ED25519_KEY_LENGTH, 'an Ed25519 secret key (seed)');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
}

function ed25519Public(publicKey: Uint8Array): KeyObject {
  checkLength(publicKey, ED25519_KEY_LENGTH, 'an Ed25519 public key');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' });
}

/** A fresh random 32-byte secret (Ed25519 seed, X25519 private key, SRP private value). */
export function randomKeyBytes(length = 32): Buffer {
  return randomBytes(length);
}

/** The Ed25519 public key (32 bytes) of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Buffer {
  return rawPublic(createPublicKey(ed25519Private(seed)));
}

/** Signs `message` with the Ed25519 key of `seed`; returns the 64-byte signature. */
export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Buffer {
  return sign(null, message, ed25519Private(seed));
}

/**
 * True when `signature` is `publicKey`'s signature of `message`. Malformed keys or
 * signatures (wrong length, not a curve point) are simply not valid: false, never a throw,
 * since both come from the network.
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_KEY_LENGTH || signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  try {
    return verify(null, message, ed25519Public(publicKey), signature);
  } catch {
    return false;
  }
}

export interface X25519KeyPair {
  privateKey: Buffer;
  publicKey: Buffer;
}

/** An X25519 key pair from a 32-byte private key (random when omitted). */
export function x25519KeyPair(privateKey: Uint8Array = randomKeyBytes()): X25519KeyPair {
  checkLength(privateKey, X25519_KEY_LENGTH, 'an X25519 private key');
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, privateKey]), format: 'der', type: 'pkcs8' });
  return { privateKey: Buffer.from(privateKey), publicKey: rawPublic(createPublicKey(key)) };
}

/**
 * X25519(privateKey, peerPublicKey). The peer's key comes from the network: a wrong length
 * or a low-order point (all-zero result) is a `ProtocolError`.
 */
export function x25519SharedSecret(privateKey: Uint8Array, peerPublicKey: Uint8Array): Buffer {
  checkLength(privateKey, X25519_KEY_LENGTH, 'an X25519 private key');
  if (peerPublicKey.length !== X25519_KEY_LENGTH) {
    throw new ProtocolError(`the peer's X25519 public key has ${peerPublicKey.length} bytes, expected 32`);
  }
  try {
    const shared = diffieHellman({
      privateKey: createPrivateKey({ key: Buffer.concat([X25519_PKCS8, privateKey]), format: 'der', type: 'pkcs8' }),
      publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPublicKey]), format: 'der', type: 'spki' }),
    });
    if (shared.every((b) => b === 0)) throw new Error('all-zero shared secret');
    return shared;
  } catch (err) {
    throw new ProtocolError("the peer's X25519 public key is unusable (low-order point)", { cause: err });
  }
}

export type HkdfHash = 'sha512' | 'sha256' | 'sha1';

/**
 * HKDF (RFC 5869) extract-and-expand. HAP uses SHA-512 with ASCII salt and info strings and
 * 32-byte outputs, the defaults here.
 */
export function hkdfDerive(
  ikm: Uint8Array,
  salt: Uint8Array | string,
  info: Uint8Array | string,
  length = 32,
  hash: HkdfHash = 'sha512',
): Buffer {
  const saltBytes = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : salt;
  const infoBytes = typeof info === 'string' ? Buffer.from(info, 'utf8') : info;
  return Buffer.from(hkdfSync(hash, ikm, saltBytes, infoBytes, length));
}

/** The 12-byte nonce HAP pairing uses for one message: 4 zero bytes then an 8-byte ASCII label such as `PS-Msg05`. */
export function hapLabelNonce(label: string): Buffer {
  const ascii = Buffer.from(label, 'latin1');
  if (ascii.length !== 8) throw new InvalidArgumentError(`a HAP nonce label has 8 characters, got "${label}"`);
  return Buffer.concat([Buffer.alloc(4), ascii]);
}

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  checkLength(key, CHACHA20_POLY1305_KEY_LENGTH, 'a ChaCha20-Poly1305 key');
  checkLength(nonce, CHACHA20_POLY1305_NONCE_LENGTH, 'a ChaCha20-Poly1305 nonce');
}

/** ChaCha20-Poly1305 encryption; returns ciphertext ‖ 16-byte tag. */
export function chacha20Poly1305Seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  checkKeyAndNonce(key, nonce);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: CHACHA20_POLY1305_TAG_LENGTH });
  if (aad !== undefined) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([head, tail, cipher.getAuthTag()]);
}

/** Thrown (as a ProtocolError) when a sealed message does not authenticate. */
export const DECRYPTION_FAILED_MESSAGE = 'decryption failed — wrong keys or corrupted data';

/**
 * Opens ciphertext ‖ tag. A wrong key, nonce, AAD or any flipped bit is a `ProtocolError`
 * ("decryption failed — wrong keys or corrupted data"); nothing is returned unauthenticated.
 */
export function chacha20Poly1305Open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer {
  checkKeyAndNonce(key, nonce);
  if (sealed.length < CHACHA20_POLY1305_TAG_LENGTH) {
    throw new ProtocolError(`${DECRYPTION_FAILED_MESSAGE} (${sealed.length} bytes is shorter than the 16-byte tag)`);
  }
  const data = asBuffer(sealed);
  const body = data.subarray(0, data.length - CHACHA20_POLY1305_TAG_LENGTH);
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: CHACHA20_POLY1305_TAG_LENGTH });
  decipher.setAuthTag(data.subarray(data.length - CHACHA20_POLY1305_TAG_LENGTH));
  if (aad !== undefined) decipher.setAAD(aad, { plaintextLength: body.length });
  try {
    const head = decipher.update(body);
    return Buffer.concat([head, decipher.final()]);
  } catch (err) {
    throw new ProtocolError(DECRYPTION_FAILED_MESSAGE, { cause: err });
  }
}
