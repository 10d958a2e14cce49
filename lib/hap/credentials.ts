/**
 * The credentials a HAP pairing produces, and pyatv's string form of them so users can paste
 * credentials from pyatv (pyatv: auth/hap_pairing.py): `ltpk:ltsk:atv_id:client_id`, every field hex,
 * the two ids being hex of their ASCII bytes. Also understood: AirPlay's legacy credentials,
 * as `client_id:seed` or as pyatv writes them (`:seed::client_id`), and transient pairing (pyatv writes it as hex of "transient" followed by
 * three empty fields; the bare word is accepted too). Errors never echo the input, which
 * holds a secret key.
 */
import { InvalidArgumentError } from '../errors';
import { ED25519_KEY_LENGTH } from './keys';

/** What a completed pair-setup leaves us: enough to pair-verify with that device later. */
export interface HapCredentials {
  readonly kind: 'hap';
  /** The device's long-term Ed25519 public key (32 bytes). */
  readonly ltpk: Buffer;
  /** Our long-term Ed25519 secret key, as its 32-byte seed. */
  readonly ltsk: Buffer;
  /** The device's pairing identifier (ASCII bytes, e.g. a UUID string). */
  readonly atvId: Buffer;
  /** Our pairing identifier (ASCII bytes of a UUID string when we made it). */
  readonly clientId: Buffer;
}

/** AirPlay's legacy (pre-HAP) pairing: an 8-byte identifier and a 32-byte seed. */
export interface LegacyAirPlayCredentials {
  readonly kind: 'legacy';
  readonly clientId: Buffer;
  readonly seed: Buffer;
}

/** Transient pairing: nothing is stored, a fixed PIN is used on every connection. */
export interface TransientCredentials {
  readonly kind: 'transient';
}

export type HapPairingCredentials = HapCredentials | LegacyAirPlayCredentials | TransientCredentials;

const TRANSIENT_WORD = 'transient';
const TRANSIENT_HEX = Buffer.from(TRANSIENT_WORD, 'ascii').toString('hex');
/** Identifiers are short ASCII strings; anything far longer is not a credential. */
const MAX_ID_BYTES = 256;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

const FORMAT_HINT =
  'HAP credentials are 4 colon-separated hex fields (device public key : our secret key : device id : our id), ' +
  'as pair-setup or pyatv produce them';

function hexField(field: string, index: number, count: number, what: string): Buffer {
  if (!HEX.test(field)) {
    throw new InvalidArgumentError(`invalid credentials: field ${index} of ${count} (${what}) is not an even number of hex digits; ${FORMAT_HINT}`);
  }
  return Buffer.from(field, 'hex');
}

function keyField(field: string, index: number, count: number, what: string): Buffer {
  const bytes = hexField(field, index, count, what);
  if (bytes.length !== ED25519_KEY_LENGTH) {
    throw new InvalidArgumentError(
      `invalid credentials: field ${index} of ${count} (${what}) must be ${ED25519_KEY_LENGTH * 2} hex digits, has ${field.length}`,
    );
  }
  return bytes;
}

function idField(field: string, index: number, count: number, what: string): Buffer {
  const bytes = hexField(field, index, count, what);
  if (bytes.length === 0 || bytes.length > MAX_ID_BYTES) {
    throw new InvalidArgumentError(`invalid credentials: field ${index} of ${count} (${what}) must be 1..${MAX_ID_BYTES} bytes of hex, has ${bytes.length}`);
  }
  return bytes;
}

/** Builds checked `HapCredentials` (lengths as pair-setup produces them). */
export function hapCredentials(fields: { ltpk: Buffer; ltsk: Buffer; atvId: Buffer; clientId: Buffer }): HapCredentials {
  const check = (bytes: Buffer, ok: boolean, what: string): Buffer => {
    if (!ok) throw new InvalidArgumentError(`invalid HAP credentials: ${what} has ${bytes.length} bytes`);
    return Buffer.from(bytes);
  };
  return {
    kind: 'hap',
    ltpk: check(fields.ltpk, fields.ltpk.length === ED25519_KEY_LENGTH, 'the device public key'),
    ltsk: check(fields.ltsk, fields.ltsk.length === ED25519_KEY_LENGTH, 'our secret key'),
    atvId: check(fields.atvId, fields.atvId.length > 0 && fields.atvId.length <= MAX_ID_BYTES, 'the device id'),
    clientId: check(fields.clientId, fields.clientId.length > 0 && fields.clientId.length <= MAX_ID_BYTES, 'our id'),
  };
}

/**
 * Parses a credentials string (HAP 4-field, legacy AirPlay 2-field, or transient). Anything
 * else is an `InvalidArgumentError` saying which field is wrong, without repeating it.
 */
export function parseHapCredentials(text: string): HapPairingCredentials {
  const value = text.trim();
  if (value.toLowerCase() === TRANSIENT_WORD) return { kind: 'transient' };
  const fields = value.split(':');
  if (fields.length === 4) {
    if (fields[0]!.toLowerCase() === TRANSIENT_HEX && fields.slice(1).every((f) => f === '')) return { kind: 'transient' };
    // pyatv writes legacy AirPlay credentials with the device fields left empty.
    if (fields[0] === '' && fields[2] === '') {
      return { kind: 'legacy', clientId: idField(fields[3]!, 4, 4, 'our id'), seed: keyField(fields[1]!, 2, 4, 'our secret key') };
    }
    return {
      kind: 'hap',
      ltpk: keyField(fields[0]!, 1, 4, 'device public key'),
      ltsk: keyField(fields[1]!, 2, 4, 'our secret key'),
      atvId: idField(fields[2]!, 3, 4, 'device id'),
      clientId: idField(fields[3]!, 4, 4, 'our id'),
    };
  }
  if (fields.length === 2) {
    return {
      kind: 'legacy',
      clientId: idField(fields[0]!, 1, 2, 'our id'),
      seed: keyField(fields[1]!, 2, 2, 'our secret key'),
    };
  }
  throw new InvalidArgumentError(
    `invalid credentials: expected 4 colon-separated fields (or 2 for legacy AirPlay), got ${fields.length}; ${FORMAT_HINT}`,
  );
}

/** Parses a string that must hold full HAP credentials (what MRP, Companion and AirPlay 2 pair-verify need). */
export function parseFullHapCredentials(text: string): HapCredentials {
  const parsed = parseHapCredentials(text);
  if (parsed.kind !== 'hap') {
    throw new InvalidArgumentError(`these are ${parsed.kind} credentials; this protocol needs full HAP credentials: pair again`);
  }
  return parsed;
}

/** The string form, byte-compatible with pyatv's `str(HapCredentials)` (lower-case hex). */
export function formatHapCredentials(credentials: HapPairingCredentials): string {
  switch (credentials.kind) {
    case 'hap':
      return [credentials.ltpk, credentials.ltsk, credentials.atvId, credentials.clientId].map((b) => b.toString('hex')).join(':');
    case 'legacy':
      return `:${credentials.seed.toString('hex')}::${credentials.clientId.toString('hex')}`;
    case 'transient':
      return `${TRANSIENT_HEX}:::`;
  }
}
