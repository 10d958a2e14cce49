/**
 * MRP messages: the one map from ProtocolMessage `type` to the extension field carrying its
 * content, and encode/decode of whole messages (one frame's plaintext each).
 *
 * The schema is our own .proto files (proto/), parsed at build time into proto.json and
 * loaded here with protobufjs' light build on first use, so requiring the library stays
 * cheap. Decoding is strict about structure and lenient about novelty:
 *  - truncated input, invalid wire types, field number 0, runaway nesting, and a known field
 *    arriving with the wrong wire type are DecodeErrors;
 *  - unknown fields are ignored, and an enum value our schema does not list is kept as its
 *    number (newer tvOS versions add values; dropping them would turn, say, an unknown
 *    failure status into "absent", which reads as success).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as protobufjs from 'protobufjs/light';
import { DecodeError, InvalidArgumentError } from '../../errors';
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

interface Schema {
  protobuf: typeof protobufjs;
  protocolMessage: protobufjs.Type;
}

/** Extension fields are registered on ProtocolMessage under their full name. */
const EXTENSION_PREFIX = '.mrp.';
let schema: Schema | undefined;

function loadSchema(): Schema {
  if (schema) return schema;
  // Required here, not at the top, so loading the library does not pay for protobufjs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const protobuf = require('protobufjs/light') as typeof protobufjs;
  const path = join(__dirname, 'proto.json');
  let json: protobufjs.INamespace;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as protobufjs.INamespace;
  } catch (err) {
    throw new Error(`the MRP protobuf schema ${path} is missing or unreadable: the package was not built (npm run build)`, {
      cause: err,
    });
  }
  const root = protobuf.Root.fromJSON(json);
  schema = { protobuf, protocolMessage: root.lookupType('mrp.ProtocolMessage') };
  return schema;
}

// ---- encode ----

/** The protobuf bytes of a message (one frame's plaintext). Invalid payloads throw InvalidArgumentError. */
export function encodeMrpMessage(message: MrpMessage): Buffer {
  const { protocolMessage } = loadSchema();
  const wire: Record<string, unknown> = { type: message.type };
  for (const key of ['identifier', 'authenticationToken', 'errorCode', 'timestamp', 'errorDescription', 'uniqueIdentifier'] as const) {
    if (message[key] !== undefined) wire[key] = message[key];
  }
  if (message.payload !== undefined) {
    const extension = mrpExtensionOf(message.type);
    if (extension === undefined) {
      throw new InvalidArgumentError(`MRP ${mrpMessageTypeName(message.type)} carries no payload, but one was given`);
    }
    wire[EXTENSION_PREFIX + extension] = message.payload;
  }
  const problem = protocolMessage.verify(wire);
  if (problem) {
    throw new InvalidArgumentError(`invalid MRP ${mrpMessageTypeName(message.type)}: ${problem.replaceAll(EXTENSION_PREFIX, '')}`);
  }
  const bytes = protocolMessage.encode(protocolMessage.fromObject(wire)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

// ---- decode ----

interface DecodedNode {
  [field: string]: unknown;
  $unknowns?: Uint8Array[];
}

/** Wire type each field type travels with (packed repeated fields use 2 as well). */
function wireTypeOf(protobuf: typeof protobufjs, field: protobufjs.Field): number {
  if (field.resolvedType instanceof protobuf.Enum) return 0;
  if (field.resolvedType instanceof protobuf.Type) return 2;
  switch (field.type) {
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return 1;
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return 5;
    case 'string':
    case 'bytes':
      return 2;
    default:
      return 0;
  }
}

/** Low 32 bits of the varint at `offset` as a signed int32 (how enum values are read). */
function readInt32Varint(buf: Uint8Array, offset: number): number {
  let value = 0;
  for (let shift = 0, i = offset; i < buf.length && i < offset + 10; i++, shift += 7) {
    const byte = buf[i]!;
    if (shift < 32) value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
  }
  return value | 0;
}

function readTag(buf: Uint8Array): { id: number; wire: number; bytes: number } {
  let tag = 0;
  let i = 0;
  for (let shift = 0; i < buf.length && i < 5; i++, shift += 7) {
    tag += (buf[i]! & 0x7f) * 2 ** shift;
    if ((buf[i]! & 0x80) === 0) break;
  }
  return { id: Math.floor(tag / 8), wire: tag % 8, bytes: i + 1 };
}

/**
 * protobufjs sets aside, as unknown fields, both fields it does not know and known fields
 * whose value it could not take: a proto2 enum value missing from our schema, or the wrong
 * wire type. Put the first back as numbers; refuse the second.
 */
function reconcileUnknowns(protobuf: typeof protobufjs, node: DecodedNode, type: protobufjs.Type): void {
  for (const raw of node.$unknowns ?? []) {
    const tag = readTag(raw);
    const field = type.fieldsById[tag.id];
    if (field === undefined) continue;
    const name = field.name.startsWith(EXTENSION_PREFIX) ? field.name.slice(EXTENSION_PREFIX.length) : `${type.name}.${field.name}`;
    if (field.resolvedType instanceof protobuf.Enum && tag.wire === 0) {
      const value = readInt32Varint(raw, tag.bytes);
      if (field.repeated) ((node[field.name] as number[] | undefined) ?? (node[field.name] = [] as number[])).push(value);
      else node[field.name] = value;
      continue;
    }
    throw new DecodeError(
      `malformed MRP message: ${name} (field ${field.id}) arrived with wire type ${tag.wire}, expected ${wireTypeOf(protobuf, field)}`,
    );
  }
  for (const field of type.fieldsArray) {
    if (!(field.resolvedType instanceof protobuf.Type)) continue;
    const value = node[field.name];
    if (value === undefined || value === null) continue;
    for (const child of Array.isArray(value) ? value : [value]) {
      reconcileUnknowns(protobuf, child as DecodedNode, field.resolvedType);
    }
  }
}

/**
 * Decodes one message (a frame's plaintext). Throws DecodeError for anything that is not a
 * well-formed ProtocolMessage; never anything else.
 */
export function decodeMrpMessage(bytes: Uint8Array): MrpDecodedMessage {
  const { protobuf, protocolMessage } = loadSchema();
  let object: Record<string, unknown>;
  try {
    const reader = protobuf.Reader.create(bytes);
    reader.discardUnknown = false;
    const decoded = protocolMessage.decode(reader) as unknown as DecodedNode;
    reconcileUnknowns(protobuf, decoded, protocolMessage);
    object = protocolMessage.toObject(decoded as unknown as protobufjs.Message, { longs: Number });
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new DecodeError(`malformed MRP message (${bytes.length} bytes): ${reason}`, { cause: err });
  }

  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    raw[key.startsWith(EXTENSION_PREFIX) ? key.slice(EXTENSION_PREFIX.length) : key] = value;
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
