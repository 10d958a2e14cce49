/**
 * What travels inside Companion frames (pyatv: protocols/companion/connection.py, protocol.py),
 * as pure functions: the frame types, the OPACK dict of a message (`_i` name, `_t` event /
 * request / response, `_c` content, `_x` transaction id, `_em`/`_ec`/`_ed` error) and the
 * dict that carries HAP pairing TLV8 (`_pd`, with `_pwTy`/`_auTy`). The framing and the
 * cipher are the shared channel's (COMPANION_FRAMES); no I/O here.
 *
 * Integers are read the unsigned way. Apple writes them signed (lib/codecs/opack.ts), so a
 * non-negative number reads the same either way, and pyatv (its client against our
 * simulator, its fake device against our client) writes 128..255 as `30 xx` and `_x` up to
 * 65 536 as `31 xx xx`, which a signed reader would turn negative. The only negative numbers
 * Apple sends are error codes, shown as pyatv shows them (58822 for -6714). We write signed,
 * Apple's form, which both readers agree on for every value we send.
 */
import { decodeOpack, encodeOpack, OpackFloat, type OpackValue } from '../../codecs/opack';
import { DecodeError, InvalidArgumentError } from '../../errors';

/** Companion frame types (pyatv: protocols/companion/connection.py FrameType). */
export const COMPANION_FRAME = {
  NoOp: 0x01,
  PS_Start: 0x03,
  PS_Next: 0x04,
  PV_Start: 0x05,
  PV_Next: 0x06,
  U_OPACK: 0x07,
  E_OPACK: 0x08,
  P_OPACK: 0x09,
  PA_Req: 0x0a,
  PA_Rsp: 0x0b,
  SessionStartRequest: 0x10,
  SessionStartResponse: 0x11,
  SessionData: 0x12,
  FamilyIdentityRequest: 0x20,
  FamilyIdentityResponse: 0x21,
  FamilyIdentityUpdate: 0x22,
} as const;

/** The frames that carry HAP pairing: a `_Start` opens pair-setup or pair-verify, every other message (replies too) is a `_Next`. */
export const COMPANION_AUTH_FRAMES: ReadonlySet<number> = new Set([
  COMPANION_FRAME.PS_Start,
  COMPANION_FRAME.PS_Next,
  COMPANION_FRAME.PV_Start,
  COMPANION_FRAME.PV_Next,
]);

/** `_t` of a message. */
export const COMPANION_MESSAGE_TYPES = { event: 1, request: 2, response: 3 } as const;
export type CompanionMessageKind = keyof typeof COMPANION_MESSAGE_TYPES;

const KIND_OF_TYPE = new Map<number, CompanionMessageKind>(
  (Object.entries(COMPANION_MESSAGE_TYPES) as [CompanionMessageKind, number][]).map(([kind, type]) => [type, kind]),
);

/** A message's content (`_c`): an OPACK dict with string keys, in the order it arrived. */
export type CompanionContent = ReadonlyMap<string, OpackValue>;

/** What a device says went wrong (`_em`, `_ec`, `_ed`). */
export interface CompanionErrorInfo {
  message: string;
  code: number | null;
  domain: string | null;
}

export interface CompanionMessage {
  kind: CompanionMessageKind;
  /** `_i`: the request or event name (`_launchApp`, `SystemStatus`); responses of a real device carry none. */
  name: string | null;
  /** `_x`: a request's transaction id, echoed by its response. */
  xid: number | null;
  content: CompanionContent;
  error: CompanionErrorInfo | null;
}

/** What one sends: content as a plain object or a Map. */
export interface CompanionOutgoing {
  kind: CompanionMessageKind;
  name?: string;
  xid: number;
  content?: OpackValue;
  error?: CompanionErrorInfo;
}

/** The error code a device answers an unknown request with (CoreUtils' kNotHandledErr, `No request handler`). */
export const COMPANION_NOT_HANDLED = -6714;

/** Largest `_x`: the counter wraps here, well inside what every reader takes as a plain number. */
const XID_LIMIT = 0x7fffffff;

export function isXid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= XID_LIMIT;
}

/** The next transaction id after `xid`. */
export function nextXid(xid: number): number {
  return xid >= XID_LIMIT ? 0 : xid + 1;
}

/**
 * A dict as an ordered Map with string keys: OPACK dicts decode to plain objects, or to Maps
 * when a key is not a plain string. Null when `value` is not a dict or has a non-string key.
 */
export function companionDict(value: OpackValue | undefined): CompanionContent | null {
  if (value instanceof Map) {
    for (const key of value.keys()) if (typeof key !== 'string') return null;
    return value as CompanionContent;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) return null;
  if (value instanceof Date || value instanceof OpackFloat || !isPlainObject(value)) return null;
  return new Map(Object.entries(value as Record<string, OpackValue>));
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A number carried as an integer or a float (`_vol`, `_width`), or null. */
export function companionNumber(value: OpackValue | undefined): number | null {
  if (typeof value === 'number') return value;
  if (value instanceof OpackFloat) return value.value;
  if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
  return null;
}

/** An integer of up to 64 bits as an unsigned bigint (session ids), or null. */
export function companionUint64(value: OpackValue | undefined): bigint | null {
  if (typeof value === 'bigint') return BigInt.asUintN(64, value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt.asUintN(64, BigInt(value));
  return null;
}

/**
 * An unsigned 64-bit value as we write it: OPACK integers are signed, so one of 2^63 or more
 * goes out as the negative number with the same 8 bytes (what both readers expect back).
 */
export function uint64ForOpack(value: bigint): bigint | number {
  const signed = BigInt.asIntN(64, value);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(signed) : signed;
}

/** A string field, or null. */
export function companionString(value: OpackValue | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

/** Encodes a message as the OPACK dict an E_OPACK frame carries. */
export function encodeCompanionMessage(message: CompanionOutgoing): Buffer {
  if (!isXid(message.xid)) throw new InvalidArgumentError(`a Companion transaction id is 0 to ${XID_LIMIT}, got ${String(message.xid)}`);
  const dict = new Map<string, OpackValue>();
  if (message.name !== undefined) dict.set('_i', message.name);
  dict.set('_t', COMPANION_MESSAGE_TYPES[message.kind]);
  if (message.error) {
    dict.set('_em', message.error.message);
    if (message.error.code !== null) dict.set('_ec', message.error.code);
    if (message.error.domain !== null) dict.set('_ed', message.error.domain);
  } else {
    dict.set('_c', message.content ?? {});
  }
  dict.set('_x', message.xid);
  return encodeOpack(dict);
}

/**
 * Decodes the OPACK dict of an E_OPACK (or U_OPACK) frame. Anything that is not such a dict
 * (another top type, `_t` missing or unknown, `_c` not a dict, `_i` not a string) is a
 * DecodeError: the peer's message cannot be acted on.
 */
export function decodeCompanionMessage(payload: Uint8Array): CompanionMessage {
  const top = companionDict(decodeOpack(payload, { integers: 'unsigned' }));
  if (!top) throw new DecodeError('a Companion message is not an OPACK dict with string keys');
  const type = top.get('_t');
  const kind = typeof type === 'number' ? KIND_OF_TYPE.get(type) : undefined;
  if (!kind) throw new DecodeError('a Companion message has no valid _t (1 event, 2 request, 3 response)');
  const name = top.get('_i');
  if (name !== undefined && typeof name !== 'string') throw new DecodeError('a Companion message has an _i that is not a string');
  const rawContent = top.get('_c');
  const content = rawContent === undefined || rawContent === null ? new Map<string, OpackValue>() : companionDict(rawContent);
  if (!content) throw new DecodeError(`the content (_c) of a Companion ${kind} is not a dict`);
  const xid = top.get('_x');
  const em = top.get('_em');
  const error: CompanionErrorInfo | null =
    em === undefined
      ? null
      : {
          message: typeof em === 'string' ? em : 'an error',
          code: companionNumber(top.get('_ec')),
          domain: companionString(top.get('_ed')),
        };
  return { kind, name: name ?? null, xid: isXid(xid) ? xid : null, content, error };
}

/** The extra keys of a pairing dict: pair-setup says the PIN kind, pair-verify's first message the auth kind. */
export interface CompanionPairingKeys {
  /** `_pwTy`: 1 = a PIN shown on screen (every pair-setup message). */
  passwordType?: number;
  /** `_auTy`: 4 (pair-verify M1). */
  authType?: number;
  /** `_x`: pyatv numbers its pairing frames too; an iPhone does not. */
  xid?: number;
}

/** Encodes a pairing dict: `{_pd: TLV8, _pwTy | _auTy, _x}` in pyatv's key order. */
export function encodeCompanionPairing(pairingData: Uint8Array, keys: CompanionPairingKeys = {}): Buffer {
  const dict = new Map<string, OpackValue>([['_pd', pairingData]]);
  if (keys.authType !== undefined) dict.set('_auTy', keys.authType);
  if (keys.passwordType !== undefined) dict.set('_pwTy', keys.passwordType);
  if (keys.xid !== undefined) {
    if (!isXid(keys.xid)) throw new InvalidArgumentError(`a Companion transaction id is 0 to ${XID_LIMIT}`);
    dict.set('_x', keys.xid);
  }
  return encodeOpack(dict);
}

/** The TLV8 bytes (`_pd`) of a pairing frame; a DecodeError when there are none. */
export function decodeCompanionPairing(payload: Uint8Array): Buffer {
  const top = companionDict(decodeOpack(payload, { integers: 'unsigned' }));
  const pd = top?.get('_pd');
  if (!(pd instanceof Uint8Array) || pd.length === 0) throw new DecodeError('a Companion pairing frame carries no pairing data (_pd)');
  return Buffer.from(pd);
}

/** The OPACK `{name}` dict AirPlay and Companion put in the Name item of pair-setup M5. */
export function companionPairingName(name: string): Buffer {
  return encodeOpack({ name });
}
