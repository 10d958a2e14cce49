/**
 * The keyboard archives: our text operations are pyatv's bytes (plistlib vectors
 * `pyatv-rti-*`), both sides read each other's archives, and hostile plists give a
 * DecodeError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BplistUid, encodeBplist } from '../../../../lib/codecs/bplist';
import { DecodeError } from '../../../../lib/errors';
import {
  readRtiSession,
  readRtiTextOperations,
  rtiClearTextArchive,
  rtiInsertTextArchive,
  rtiSessionArchive,
} from '../../../../lib/protocols/companion/rti';
import { bplistVector } from '../../../support/bplist-vectors';
import { seededRandom, randomInt } from '../../../support/random';

const UUID = Buffer.from('12345678123456781234567812345678', 'hex');

describe('Companion keyboard archives (RTI)', () => {
  it("types and clears with pyatv's exact bytes", () => {
    assert.equal(rtiInsertTextArchive(UUID, 'hello').toString('hex'), bplistVector('pyatv-rti-input-text').bytes.toString('hex'));
    assert.equal(rtiClearTextArchive(UUID).toString('hex'), bplistVector('pyatv-rti-clear-text').bytes.toString('hex'));
  });

  it('reads an edit back: its session, what it clears and what it types', () => {
    assert.deepEqual(readRtiTextOperations(bplistVector('pyatv-rti-input-text').bytes), { sessionUuid: UUID, textToAssert: null, insertionText: 'hello' });
    assert.deepEqual(readRtiTextOperations(rtiClearTextArchive(UUID)), { sessionUuid: UUID, textToAssert: '', insertionText: null });
    assert.equal(readRtiTextOperations(rtiInsertTextArchive(UUID, 'é 日 😀')).insertionText, 'é 日 😀');
  });

  it("reads the device's text session, with the UUID as data or as an NSUUID", () => {
    assert.deepEqual(readRtiSession(rtiSessionArchive(UUID, 'search me')), { sessionUuid: UUID, text: 'search me' });
    const nsuuid = encodeBplist(
      {
        $top: { sessionUUID: new BplistUid(1), documentState: new BplistUid(3) },
        $objects: ['$null', { 'NS.uuidbytes': new BplistUid(2) }, UUID, { docSt: new BplistUid(4) }, {}],
      },
      { sortKeys: false },
    );
    assert.deepEqual(readRtiSession(nsuuid), { sessionUuid: UUID, text: null });
  });

  it('refuses archives without a session, and hostile plists, with a DecodeError', () => {
    const noUuid = encodeBplist({ $top: { sessionUUID: new BplistUid(9) }, $objects: ['$null'] });
    const notArchive = encodeBplist({ hello: 'world' });
    for (const bytes of [noUuid, notArchive, Buffer.from('not a plist at all, longer than a header'), Buffer.alloc(0)]) {
      assert.throws(() => readRtiSession(bytes), DecodeError);
    }
    const random = seededRandom(7);
    const seeds = [rtiSessionArchive(UUID, 'abc'), rtiInsertTextArchive(UUID, 'x'), rtiClearTextArchive(UUID)];
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(seeds[i % seeds.length]!);
      for (let n = 1 + randomInt(random, 3); n > 0; n--) bytes[randomInt(random, bytes.length)] = randomInt(random, 256);
      for (const read of [readRtiSession, readRtiTextOperations]) {
        try {
          read(bytes);
        } catch (err) {
          assert.ok(err instanceof DecodeError, String(err));
        }
      }
    }
  });
});
