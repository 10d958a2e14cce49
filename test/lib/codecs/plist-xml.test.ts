/**
 * The XML plist codec against Python's plistlib (test/fixtures/plistlib/xml-plist-vectors.jsonl:
 * the `/playback-info` shapes AirPlay receivers answer with, every value type, escapes,
 * Unicode, data and dates), round trips through our own encoder, and hostile input.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { encodeBplist } from '../../../lib/codecs/bplist';
import { decodePlistBody, decodeXmlPlist, encodeXmlPlist, XML_PLIST_MAX_DEPTH } from '../../../lib/codecs/plist-xml';
import { DecodeError, InvalidArgumentError } from '../../../lib/errors';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/paths';
import { randomInt, seededRandom } from '../../support/random';

interface Vector {
  name: string;
  value: unknown;
  xml: string;
}

// Made for this repository (not in the shared fixtures): see test/fixtures/PROVENANCE.md.
const vectors = readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'plistlib', 'xml-plist-vectors.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Vector);

/** The README's typed JSON to our value model. */
function fromTyped(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromTyped);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('$float64' in o) return o['$float64'];
    if ('$int' in o) return BigInt(o['$int'] as string);
    if ('$bytes' in o) return Buffer.from(o['$bytes'] as string, 'hex');
    if ('$date' in o) return new Date(o['$date'] as string);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, fromTyped(x)]));
  }
  return v;
}

describe('XML plist codec', () => {
  it(`decodes the ${vectors.length} plists Python's plistlib wrote to the values it was given`, () => {
    assert.ok(vectors.length >= 10);
    for (const v of vectors) assert.deepEqual(decodeXmlPlist(Buffer.from(v.xml, 'utf8')), fromTyped(v.value), v.name);
  });

  it('round-trips every vector through our encoder', () => {
    for (const v of vectors) {
      const value = fromTyped(v.value) as Parameters<typeof encodeXmlPlist>[0];
      assert.deepEqual(decodeXmlPlist(encodeXmlPlist(value)), value, v.name);
    }
  });

  it('decodePlistBody reads both forms', () => {
    const value = { duration: 12.5, readyToPlay: true };
    assert.deepEqual(decodePlistBody(encodeBplist(value)), value);
    assert.deepEqual(decodePlistBody(encodeXmlPlist(value)), value);
  });

  it('refuses what it cannot hold when encoding', () => {
    assert.throws(() => encodeXmlPlist(null), InvalidArgumentError);
    assert.throws(() => encodeXmlPlist(new Map() as never), InvalidArgumentError);
  });

  const hostile: Array<[string, string]> = [
    ['no <plist>', '<dict></dict>'],
    ['an unclosed dict', '<plist><dict><key>a</key><true/>'],
    ['a dict value without a key', '<plist><dict><true/></dict></plist>'],
    ['markup inside a string', '<plist><string>a<b/>c</string></plist>'],
    ['an unknown element', '<plist><foo/></plist>'],
    ['an unknown entity', '<plist><string>&nbsp;</string></plist>'],
    ['a surrogate character reference', '<plist><string>&#xD800;</string></plist>'],
    ['a non-numeric integer', '<plist><integer>12a</integer></plist>'],
    ['an integer beyond 64 bits', '<plist><integer>99999999999999999999</integer></plist>'],
    ['a real that is no number', '<plist><real>one</real></plist>'],
    ['a date in another form', '<plist><date>yesterday</date></plist>'],
    ['data that is not base64', '<plist><data>!!!</data></plist>'],
    ['data after the plist', '<plist><true/></plist><plist/>'],
    ['an unterminated comment', '<!-- <plist><true/></plist>'],
    ['attributes on a value', '<plist><string x="1">a</string></plist>'],
    ['CDATA', '<plist><string><![CDATA[x]]></string></plist>'],
  ];
  for (const [label, text] of hostile) {
    it(`refuses ${label}`, () => assert.throws(() => decodeXmlPlist(Buffer.from(text)), DecodeError));
  }

  it(`refuses nesting deeper than ${XML_PLIST_MAX_DEPTH} and input over the size limit`, () => {
    const deep = `<plist>${'<array>'.repeat(XML_PLIST_MAX_DEPTH + 1)}${'</array>'.repeat(XML_PLIST_MAX_DEPTH + 1)}</plist>`;
    assert.throws(() => decodeXmlPlist(Buffer.from(deep)), DecodeError);
    assert.throws(() => decodeXmlPlist(Buffer.alloc(2 * 1024 * 1024, 0x20)), DecodeError);
  });

  it('only ever returns a value or throws DecodeError: 2000 mutations of the vectors', () => {
    const random = seededRandom(11);
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(vectors[randomInt(random, vectors.length)]!.xml, 'utf8');
      const mutated = Buffer.from(bytes);
      for (let n = 1 + randomInt(random, 4); n > 0; n--) {
        const at = randomInt(random, mutated.length);
        mutated[at] = randomInt(random, 3) === 0 ? 0x3c : randomInt(random, 256);
      }
      try {
        decodeXmlPlist(mutated.subarray(0, randomInt(random, 2) === 0 ? mutated.length : randomInt(random, mutated.length)));
      } catch (err) {
        assert.ok(err instanceof DecodeError, `${String(err)}`);
      }
    }
  });
});
