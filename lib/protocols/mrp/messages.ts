/**
 * MRP messages: the one map from ProtocolMessage `type` to the extension field carrying its
 * content, and encode/decode of whole messages (one frame's plaintext each).
 *
 * The schema is our own .proto files (proto/), parsed at build time into proto.json (with
 * protobufjs, a build-time tool here) and loaded on first use; protobuf.ts checks, writes and
 * reads messages from plans made of it, so requiring the library stays cheap and so does the
 * first message. Decoding is strict about structure and lenient about novelty:
 *  - truncated input, invalid wire types, field number 0, runaway nesting, and a known field
 *    arriving with the wrong wire type are DecodeErrors;
 *  - unknown fields are ignored, and an enum value our schema does not list is kept as its
 *    number (newer tvOS versions add values; dropping them would turn, say, an unknown
 *    failure status into "absent", which reads as success);
 *  - a field that arrives twice keeps its last value (a message field is merged), as the
 *    protobuf encoding guide says.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError, InvalidArgumentError } from '../../errors';
import { decodeProtobuf, encodeProtobuf, PayloadError, schemaPlan, WireError, type MessagePlan, type ProtoJson } from './protobuf';
import { MrpErrorCode, MrpMessageType, type MrpExtensionPayloads, type MrpProtocolMessage } from './proto-types';

export { MrpMessageType } from './proto-types';

/**
 * THE type -> extension map (pyatv: protocols/mrp/messages.py). DEVICE_INFO_MESSAGE and
 * DEVICE_INFO_UPDATE_MESSAGE share one extension. Types not listed here still decode (with
 * their name) but carry no payload we read.
 */
export const MRP_EXTENSION_BY_TYPE = {
  [MrpMessageType.SEND_COMMAND_MESSAGE]: 'sendCommandMessage',
  [MrpMessageType.SEND_COMMAND_RESULT_MESSAGE]: 'sendCommandResultMessage',
  [MrpMessageType.SET_STATE_MESSAGE]: 'setStateMessage',
  [MrpMessageType.SET_ARTWORK_MESSAGE]: 'setArtworkMessage',
  [MrpMessageType.REGISTER_HID_DEVICE_MESSAGE]: 'registerHIDDeviceMessage',
  [MrpMessageType.REGISTER_HID_DEVICE_RESULT_MESSAGE]: 'registerHIDDeviceResultMessage',
  [MrpMessageType.SEND_HID_EVENT_MESSAGE]: 'sendHIDEventMessage',
  [MrpMessageType.NOTIFICATION_MESSAGE]: 'notificationMessage',
  [MrpMessageType.DEVICE_INFO_MESSAGE]: 'deviceInfoMessage',
  [MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE]: 'deviceInfoMessage',
  [MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE]: 'clientUpdatesConfigMessage',
  [MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE]: 'volumeControlAvailabilityMessage',
  [MrpMessageType.KEYBOARD_MESSAGE]: 'keyboardMessage',
  [MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE]: 'getKeyboardSessionMessage',
  [MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE]: 'playbackQueueRequestMessage',
  [MrpMessageType.CRYPTO_PAIRING_MESSAGE]: 'cryptoPairingMessage',
  [MrpMessageType.SET_CONNECTION_STATE_MESSAGE]: 'setConnectionStateMessage',
  [MrpMessageType.SEND_BUTTON_EVENT_MESSAGE]: 'sendButtonEventMessage',
  [MrpMessageType.WAKE_DEVICE_MESSAGE]: 'wakeDeviceMessage',
  [MrpMessageType.GENERIC_MESSAGE]: 'genericMessage',
  [MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE]: 'setNowPlayingClientMessage',
  [MrpMessageType.SET_NOW_PLAYING_PLAYER_MESSAGE]: 'setNowPlayingPlayerMessage',
  [MrpMessageType.MODIFY_OUTPUT_CONTEXT_REQUEST_MESSAGE]: 'modifyOutputContextRequestMessage',
  [MrpMessageType.GET_VOLUME_MESSAGE]: 'getVolumeMessage',
  [MrpMessageType.GET_VOLUME_RESULT_MESSAGE]: 'getVolumeResultMessage',
  [MrpMessageType.SET_VOLUME_MESSAGE]: 'setVolumeMessage',
  [MrpMessageType.VOLUME_DID_CHANGE_MESSAGE]: 'volumeDidChangeMessage',
  [MrpMessageType.REMOVE_CLIENT_MESSAGE]: 'removeClientMessage',
  [MrpMessageType.REMOVE_PLAYER_MESSAGE]: 'removePlayerMessage',
  [MrpMessageType.UPDATE_CLIENT_MESSAGE]: 'updateClientMessage',
  [MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE]: 'updateContentItemMessage',
  [MrpMessageType.UPDATE_CONTENT_ITEM_ARTWORK_MESSAGE]: 'updateContentItemArtworkMessage',
  [MrpMessageType.VOLUME_CONTROL_CAPABILITIES_DID_CHANGE_MESSAGE]: 'volumeControlCapabilitiesDidChangeMessage',
  [MrpMessageType.UPDATE_OUTPUT_DEVICE_MESSAGE]: 'updateOutputDeviceMessage',
  [MrpMessageType.REMOVE_OUTPUT_DEVICES_MESSAGE]: 'removeOutputDevicesMessage',
  [MrpMessageType.SET_DEFAULT_SUPPORTED_COMMANDS_MESSAGE]: 'setDefaultSupportedCommandsMessage',
  [MrpMessageType.CONFIGURE_CONNECTION_MESSAGE]: 'configureConnectionMessage',
} as const satisfies { readonly [T in MrpMessageType]?: keyof MrpExtensionPayloads };

/** Message types whose payload we define. */
export type MrpMappedType = keyof typeof MRP_EXTENSION_BY_TYPE;
/** Message types we know by name but whose payload we do not read. */
export type MrpUnmappedType = Exclude<MrpMessageType, MrpMappedType>;
/** The payload (extension content) of a message type. */
export type MrpPayload<T extends MrpMappedType> = MrpExtensionPayloads[(typeof MRP_EXTENSION_BY_TYPE)[T]];

/** The envelope fields every message has (ProtocolMessage minus type and extensions). */
export interface MrpEnvelope {
  /** Set on requests that expect a reply; the reply carries the same value. */
  identifier?: string;
  /** 0 (NoError) normally; a device sets another MrpErrorCode when it refuses a request. */
  errorCode: MrpErrorCode;
  errorDescription?: string;
  uniqueIdentifier?: string;
  timestamp?: number;
  authenticationToken?: string;
}

/** The message of one type (of each type, for a union). */
export type MrpMessageOf<T extends MrpMessageType> = T extends MrpMappedType
  ? MrpEnvelope & { type: T; payload: MrpPayload<T> | undefined }
  : MrpEnvelope & { type: T; payload: undefined };

/** Any message: discriminated by `type`, so `if (m.type === MrpMessageType.SET_STATE_MESSAGE)` types `m.payload`. */
export type MrpMessage = MrpMessageOf<MrpMessageType>;

/** Type guard for code that holds the wanted type in a variable. */
export function isMrpMessageOf<T extends MrpMessageType>(message: MrpMessage, type: T): message is MrpMessage & MrpMessageOf<T> {
  return message.type === type;
}

export interface MrpDecodedInfo {
  /** `type` as it was on the wire; differs from `type` (then UNKNOWN_MESSAGE) for a type we do not know. */
  typeNumber: number;
  /** `SET_STATE_MESSAGE`, ... or `UNKNOWN(<number>)`. */
  typeName: string;
  /** The whole decoded ProtocolMessage, extensions under their plain names (for logs and debugging). */
  raw: MrpProtocolMessage & Partial<MrpExtensionPayloads>;
}

/** What decodeMrpMessage returns. */
export type MrpDecodedMessage = MrpMessage & MrpDecodedInfo;

export interface MrpCreateOptions {
  /** Correlates a request with its reply: set one (see newMrpIdentifier) when a reply is expected, or echo the request's in a reply. */
  identifier?: string;
}

/** A fresh request identifier: an upper-case UUID, as Apple's clients and pyatv send. */
export function newMrpIdentifier(): string {
  return randomUUID().toUpperCase();
}

/** The name of a message type number (`SET_STATE_MESSAGE`), or `UNKNOWN(<number>)`. */
export function mrpMessageTypeName(type: number): string {
  return MrpMessageType[type] ?? `UNKNOWN(${type})`;
}

/** The extension field a type's payload travels in, if we define one. */
export function mrpExtensionOf(type: number): keyof MrpExtensionPayloads | undefined {
  return (MRP_EXTENSION_BY_TYPE as Partial<Record<number, keyof MrpExtensionPayloads>>)[type];
}

/**
 * A new outgoing message. Like pyatv (protocols/mrp/messages.py) every message gets a random
 * uniqueIdentifier and errorCode 0; `identifier` only when given.
 */
export function createMrpMessage<T extends MrpMessageType>(
  type: T,
  payload?: T extends MrpMappedType ? MrpPayload<T> : undefined,
  options: MrpCreateOptions = {},
): MrpMessageOf<T> {
  const message: MrpEnvelope & { type: T; payload: unknown } = {
    type,
    errorCode: MrpErrorCode.NoError,
    uniqueIdentifier: newMrpIdentifier(),
    payload,
  };
  if (options.identifier !== undefined) message.identifier = options.identifier;
  return message as unknown as MrpMessageOf<T>;
}

// ---- schema (lazy) ----

/** ProtocolMessage's wire plan (extensions under their plain names), made on first use. */
let schema: MessagePlan | undefined;

function loadSchema(): MessagePlan {
  if (schema) return schema;
  const path = join(__dirname, 'proto.json');
  let json: ProtoJson;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as ProtoJson;
  } catch (err) {
    throw new Error(`the MRP protobuf schema ${path} is missing or unreadable: the package was not built (npm run build)`, {
      cause: err,
    });
  }
  schema = schemaPlan(json, 'mrp.ProtocolMessage');
  return schema;
}

// ---- encode ----

/** The envelope fields (every ProtocolMessage field but type and the extensions). */
const ENVELOPE_KEYS = ['identifier', 'authenticationToken', 'errorCode', 'timestamp', 'errorDescription', 'uniqueIdentifier'] as const;

/** The protobuf bytes of a message (one frame's plaintext). Invalid payloads throw InvalidArgumentError. */
export function encodeMrpMessage(message: MrpMessage): Buffer {
  const plan = loadSchema();
  const plain: Record<string, unknown> = { type: message.type };
  for (const key of ENVELOPE_KEYS) {
    if (message[key] !== undefined) plain[key] = message[key];
  }
  if (message.payload !== undefined) {
    const extension = mrpExtensionOf(message.type);
    if (extension === undefined) {
      throw new InvalidArgumentError(`MRP ${mrpMessageTypeName(message.type)} carries no payload, but one was given`);
    }
    plain[extension] = message.payload;
  }
  try {
    return encodeProtobuf(plain, plan);
  } catch (err) {
    if (err instanceof PayloadError || err instanceof WireError) {
      throw new InvalidArgumentError(`invalid MRP ${mrpMessageTypeName(message.type)}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

// ---- decode ----

/**
 * Decodes one message (a frame's plaintext). Throws DecodeError for anything that is not a
 * well-formed ProtocolMessage; never anything else.
 */
export function decodeMrpMessage(bytes: Uint8Array): MrpDecodedMessage {
  const plan = loadSchema();
  let raw: Record<string, unknown>;
  try {
    raw = decodeProtobuf(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), plan);
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new DecodeError(`malformed MRP message (${bytes.length} bytes): ${reason}`, { cause: err });
  }
  const typeNumber = typeof raw.type === 'number' ? raw.type : MrpMessageType.UNKNOWN_MESSAGE;
  const known = MrpMessageType[typeNumber] !== undefined;
  const extension = mrpExtensionOf(typeNumber);
  const message: MrpEnvelope & MrpDecodedInfo & { type: number; payload: unknown } = {
    type: known ? typeNumber : MrpMessageType.UNKNOWN_MESSAGE,
    typeNumber,
    typeName: mrpMessageTypeName(typeNumber),
    errorCode: typeof raw.errorCode === 'number' ? raw.errorCode : MrpErrorCode.NoError,
    payload: extension === undefined ? undefined : raw[extension],
    raw: raw as MrpDecodedInfo['raw'],
  };
  for (const key of ['identifier', 'authenticationToken', 'timestamp', 'errorDescription', 'uniqueIdentifier'] as const) {
    if (raw[key] !== undefined) (message as unknown as Record<string, unknown>)[key] = raw[key];
  }
  return message as unknown as MrpDecodedMessage;
}
