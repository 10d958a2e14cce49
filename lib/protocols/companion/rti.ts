/**
 * The on-screen keyboard over Companion (RTI, "remote text input"): NSKeyedArchiver binary
 * plists, as pure functions. The device describes its text session in the `_tiD` of a
 * `_tiStart` reply or a `_tiStarted` event (the session UUID, and the text before the cursor
 * in `documentState.docSt.contextBeforeInput`); a remote edits it with `_tiC` events whose
 * `_tiD` is an archived RTITextOperations: `textToAssert: ""` clears the field,
 * `keyboardOutput.insertionText` types text. pyatv builds the two operations byte for byte
 * (protocols/companion/plist_payloads/rti_text_operations.py); ours produce the same bytes.
 *
 * Reading follows `UID` references through `$objects` along a fixed path (pyatv's
 * keyed_archiver.read_archive_properties): bounded by the path length, and every value is
 * checked for its type before use.
 */
import { BplistUid, decodeBplist, encodeBplist, isBplistDict, type BplistDict, type BplistInput, type BplistValue } from '../../codecs/bplist';
import { DecodeError } from '../../errors';

/** Decoding limits for archives from the peer: a text session is a few hundred bytes. */
const ARCHIVE_LIMITS = { maxDepth: 16, maxObjects: 10_000, maxBytes: 1024 * 1024 } as const;

const CLASS_CHAIN = (name: string): BplistInput => new Map<string, BplistInput>([['$classname', name], ['$classes', [name, 'NSObject']]]);

function archive(objects: BplistInput[]): Buffer {
  return encodeBplist(
    new Map<string, BplistInput>([
      ['$version', 100000],
      ['$archiver', 'RTIKeyedArchiver'],
      ['$top', new Map([['textOperations', new BplistUid(1)]])],
      ['$objects', objects],
    ]),
    { sortKeys: false },
  );
}

function uuidObject(sessionUuid: Uint8Array): BplistInput {
  return new Map<string, BplistInput>([['NS.uuidbytes', Buffer.from(sessionUuid)], ['$class', new BplistUid(6)]]);
}

/** The `_tiD` of a `_tiC` event that types `text` into the session's field. */
export function rtiInsertTextArchive(sessionUuid: Uint8Array, text: string): Buffer {
  return archive([
    '$null',
    new Map<string, BplistInput>([['keyboardOutput', new BplistUid(2)], ['$class', new BplistUid(7)], ['targetSessionUUID', new BplistUid(5)]]),
    new Map<string, BplistInput>([['insertionText', new BplistUid(3)], ['$class', new BplistUid(4)]]),
    text,
    CLASS_CHAIN('TIKeyboardOutput'),
    uuidObject(sessionUuid),
    CLASS_CHAIN('NSUUID'),
    CLASS_CHAIN('RTITextOperations'),
  ]);
}

/** The `_tiD` of a `_tiC` event that empties the session's field. */
export function rtiClearTextArchive(sessionUuid: Uint8Array): Buffer {
  return archive([
    '$null',
    new Map<string, BplistInput>([
      ['$class', new BplistUid(7)],
      ['targetSessionUUID', new BplistUid(5)],
      ['keyboardOutput', new BplistUid(2)],
      ['textToAssert', new BplistUid(4)],
    ]),
    new Map<string, BplistInput>([['$class', new BplistUid(3)]]),
    CLASS_CHAIN('TIKeyboardOutput'),
    '',
    uuidObject(sessionUuid),
    CLASS_CHAIN('NSUUID'),
    CLASS_CHAIN('RTITextOperations'),
  ]);
}

/**
 * The `_tiD` a device sends for its text session (the simulator's side): the session UUID
 * and the text in the field, where a remote reads them.
 */
export function rtiSessionArchive(sessionUuid: Uint8Array, text: string): Buffer {
  return encodeBplist(
    new Map<string, BplistInput>([
      ['$version', 100000],
      ['$archiver', 'RTIKeyedArchiver'],
      ['$top', new Map([['sessionUUID', new BplistUid(1)], ['documentState', new BplistUid(2)]])],
      ['$objects', ['$null', Buffer.from(sessionUuid), new Map([['docSt', new BplistUid(3)]]), new Map([['contextBeforeInput', new BplistUid(4)]]), text]],
    ]),
    { sortKeys: false },
  );
}

function readArchive(data: Uint8Array): { top: BplistDict; objects: BplistValue[] } {
  const root = decodeBplist(data, ARCHIVE_LIMITS);
  const top = isBplistDict(root) ? root.$top : undefined;
  const objects = isBplistDict(root) ? root.$objects : undefined;
  if (!isBplistDict(top) || !Array.isArray(objects)) throw new DecodeError('a text-input archive has no $top dict and $objects array');
  return { top, objects };
}

/** Follows `path` from `$top`, resolving every UID through `$objects`; undefined when a step is missing. */
function follow(top: BplistDict, objects: BplistValue[], path: readonly string[]): BplistValue | undefined {
  let element: BplistValue | undefined = top;
  for (const key of path) {
    if (!isBplistDict(element) || !Object.prototype.hasOwnProperty.call(element, key)) return undefined;
    element = element[key];
    if (element instanceof BplistUid) element = objects[element.value];
  }
  return element;
}

/** Session UUID bytes, whether archived as raw data or as an NSUUID object. */
function uuidBytes(value: BplistValue | undefined, objects: BplistValue[]): Buffer | null {
  if (Buffer.isBuffer(value)) return value;
  if (isBplistDict(value)) {
    const inner = value['NS.uuidbytes'];
    const bytes = inner instanceof BplistUid ? objects[inner.value] : inner;
    if (Buffer.isBuffer(bytes)) return bytes;
  }
  return null;
}

export interface RtiSession {
  /** The session's UUID (16 bytes on a real device), which every edit must name. */
  sessionUuid: Buffer;
  /** The text before the cursor, or null when the archive does not say. */
  text: string | null;
}

/** Reads the device's text session (`_tiD`); a DecodeError when it is not one. */
export function readRtiSession(data: Uint8Array): RtiSession {
  const { top, objects } = readArchive(data);
  const sessionUuid = uuidBytes(follow(top, objects, ['sessionUUID']), objects);
  if (!sessionUuid) throw new DecodeError('a text-input session without a session UUID');
  const text = follow(top, objects, ['documentState', 'docSt', 'contextBeforeInput']);
  return { sessionUuid, text: typeof text === 'string' ? text : null };
}

export interface RtiTextOperations {
  /** The session the edit is for. */
  sessionUuid: Buffer | null;
  /** Text the field must hold before the edit (`""` clears it), or null. */
  textToAssert: string | null;
  /** Text typed, or null. */
  insertionText: string | null;
}

/** Reads a remote's edit (`_tiD` of `_tiC`); a DecodeError when it is not an archive. */
export function readRtiTextOperations(data: Uint8Array): RtiTextOperations {
  const { top, objects } = readArchive(data);
  const target = follow(top, objects, ['textOperations', 'targetSessionUUID']);
  const assert = follow(top, objects, ['textOperations', 'textToAssert']);
  const insertion = follow(top, objects, ['textOperations', 'keyboardOutput', 'insertionText']);
  return {
    sessionUuid: uuidBytes(target, objects),
    textToAssert: typeof assert === 'string' ? assert : null,
    insertionText: typeof insertion === 'string' ? insertion : null,
  };
}
