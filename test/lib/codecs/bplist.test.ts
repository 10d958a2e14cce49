import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  BplistReal,
  BplistUid,
  decodeBplist,
  encodeBplist,
  isBplistDict,
  type BplistInput,
  type BplistValue,
} from '../../../lib/codecs/bplist';
import { DecodeError, InvalidArgumentError } from '../../../lib/errors';
import { prng } from '../../../lib/support/prng';
import { fixture } from '../../support/paths';

// ---------------------------------------------------------------------------------------
// The vectors' typed-JSON notation (test/fixtures/README.md) ⇄ our values

type Typed = null | boolean | number | string | Typed[] | { [key: string]: Typed };

interface Vector {
  name: string;
  value: Typed;
  hex: string;
  mode: 'dumps' | 'loads';
  sort_keys?: boolean;
  note?: string;
}

const vectors: Vector[] = readFileSync(fixture('plistlib', 'bplist-vectors.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Vector);
const vector = (name: string): Vector => vectors.find((v) => v.name === name) ?? assert.fail(`no vector ${name}`);

/**
 * `input`: what a caller passes to encode (tagged floats as BplistReal, `$dict` as a Map);
 * `lossless`: what `decodeBplist(buf, { lossless: true })` returns (every dict a Map);
 * `plain`: what `decodeBplist(buf)` returns (reals as numbers, dicts as objects).
 */
type Flavour = 'input' | 'lossless' | 'plain';

function isTag(json: { [key: string]: Typed }): string | undefined {
  const keys = Object.keys(json);
  return keys.length === 1 && keys[0]!.startsWith('$') ? keys[0] : undefined;
}

function pairsOf(json: { [key: string]: Typed }): [string, Typed][] {
  if (isTag(json) === '$dict') return json.$dict as [string, Typed][];
  return Object.entries(json);
}

function fromTyped(json: Typed, flavour: Flavour): BplistValue {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map((item) => fromTyped(item, flavour));
  const tag = isTag(json);
  const content = tag === undefined ? undefined : json[tag];
  switch (tag) {
    case '$int': {
      const n = BigInt(content as string);
      return n >= -BigInt(Number.MAX_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case '$float64':
    case '$float32': {
      const x = typeof content === 'string' ? Number(content) : (content as number);
      return flavour === 'plain' ? x : new BplistReal(x, tag === '$float32' ? 32 : 64);
    }
    case '$bytes':
      return Buffer.from(content as string, 'hex');
    case '$uid':
      return new BplistUid(content as number);
    case '$date':
      return new Date(content as string);
    case '$dict':
    case undefined:
      break;
    default:
      assert.fail(`typed JSON tag ${tag} has no plist counterpart`);
  }
  const pairs = pairsOf(json).map(([key, item]): [string, BplistValue] => [key, fromTyped(item, flavour)]);
  if (flavour === 'lossless' || (flavour === 'input' && tag === '$dict')) return new Map(pairs);
  return Object.fromEntries(pairs) as BplistValue;
}

/** The key order of every dict, depth first, to compare what deepStrictEqual does not. */
function keyOrder(value: BplistValue): unknown {
  if (Array.isArray(value)) return value.map(keyOrder);
  if (value instanceof Map) return [...value].map(([key, item]) => [key, keyOrder(item)]);
  return null;
}

function typedKeyOrder(json: Typed): unknown {
  if (json === null || typeof json !== 'object') return null;
  if (Array.isArray(json)) return json.map(typedKeyOrder);
  const tag = isTag(json);
  if (tag !== undefined && tag !== '$dict') return null;
  return pairsOf(json).map(([key, item]) => [key, typedKeyOrder(item)]);
}

// ---------------------------------------------------------------------------------------
// Hand-built plists for hostile input

interface Layout {
  top?: number;
  refSize?: number;
  offsetSize?: number;
  count?: bigint;
  tableOffset?: bigint;
  /** Replaces the offset of object i. */
  offsets?: Record<number, number>;
}

/** Header, the objects (hex) back to back, their offset table and the trailer, any field overridable. */
function assemble(objects: string[], layout: Layout = {}): Buffer {
  const body = objects.map((hex) => Buffer.from(hex, 'hex'));
  const offsets: number[] = [];
  let at = 8;
  for (const b of body) {
    offsets.push(layout.offsets?.[offsets.length] ?? at);
    at += b.length;
  }
  const offsetSize = layout.offsetSize ?? 2;
  const table = Buffer.alloc(offsets.length * offsetSize);
  offsets.forEach((o, i) => table.writeUIntBE(o, i * offsetSize, Math.min(offsetSize, 6)));
  const trailer = Buffer.alloc(32);
  trailer[6] = offsetSize;
  trailer[7] = layout.refSize ?? 1;
  trailer.writeBigUInt64BE(layout.count ?? BigInt(body.length), 8);
  trailer.writeBigUInt64BE(BigInt(layout.top ?? 0), 16);
  trailer.writeBigUInt64BE(layout.tableOffset ?? BigInt(at), 24);
  return Buffer.concat([Buffer.from('bplist00'), ...body, table, trailer]);
}

function rejects(bytes: Buffer, reason: RegExp, options?: Parameters<typeof decodeBplist>[1]): void {
  assert.throws(
    () => decodeBplist(bytes, options),
    (err: unknown) => {
      assert.ok(err instanceof DecodeError, `expected a DecodeError, got ${String(err)}`);
      assert.match(err.message, reason);
      return true;
    },
  );
}

// ---------------------------------------------------------------------------------------

describe('binary plist codec', () => {
  it('reads all 97 plistlib vectors (89 written by plistlib, 8 by Apple devices)', () => {
    assert.equal(vectors.length, 97);
    assert.equal(vectors.filter((v) => v.mode === 'dumps').length, 89);
    assert.equal(vectors.filter((v) => v.mode === 'loads').length, 8);
  });

  describe('writes what plistlib.dumps writes and reads it back', () => {
    for (const v of vectors.filter((x) => x.mode === 'dumps' && x.name !== 'quirk-zero-and-negative-zero')) {
      it(v.name, () => {
        const sortKeys = v.sort_keys ?? true;
        const encoded = encodeBplist(fromTyped(v.value, 'input'), { sortKeys });
        assert.equal(encoded.toString('hex'), v.hex);
        const bytes = Buffer.from(v.hex, 'hex');
        const lossless = decodeBplist(bytes, { lossless: true });
        assert.deepStrictEqual(lossless, fromTyped(v.value, 'lossless'));
        if (!sortKeys) assert.deepStrictEqual(keyOrder(lossless), typedKeyOrder(v.value));
        assert.deepStrictEqual(decodeBplist(bytes), fromTyped(v.value, 'plain'));
      });
    }
  });

  describe('reads what Apple devices wrote', () => {
    for (const v of vectors.filter((x) => x.mode === 'loads')) {
      it(v.name, () => {
        const bytes = Buffer.from(v.hex, 'hex');
        const lossless = decodeBplist(bytes, { lossless: true });
        assert.deepStrictEqual(lossless, fromTyped(v.value, 'lossless'));
        assert.deepStrictEqual(keyOrder(lossless), typedKeyOrder(v.value), 'keys in the order of the bytes');
        assert.deepStrictEqual(decodeBplist(bytes), fromTyped(v.value, 'plain'));
        // Written again in the device's key order, the value survives; not byte-identical, as
        // Apple's writer does not share equal scalars the way plistlib does.
        assert.deepStrictEqual(decodeBplist(encodeBplist(lossless, { sortKeys: false }), { lossless: true }), lossless);
      });
    }
  });

  it('writes an Apple TV reply with one key, or none, exactly as the device did', () => {
    for (const name of ['doc-appletv-setup-event-reply', 'doc-appletv-feedback-reply', 'doc-appletv-data-rply-payload']) {
      const v = vector(name);
      assert.equal(encodeBplist(fromTyped(v.value, 'input')).toString('hex'), v.hex, name);
    }
  });

  it('keeps -0.0, where plistlib merges it with 0.0 (quirk-zero-and-negative-zero)', () => {
    const v = vector('quirk-zero-and-negative-zero');
    // plistlib's bytes hold one 0.0 referenced twice; reading them gives two zeros, as loads does.
    const theirs = decodeBplist(Buffer.from(v.hex, 'hex'), { lossless: true }) as BplistReal[];
    assert.deepStrictEqual(theirs, [new BplistReal(0), new BplistReal(0)]);
    // We write 0.0 and -0.0 as two objects, so the sign survives the round trip.
    const ours = encodeBplist([new BplistReal(0), new BplistReal(-0)]);
    assert.notEqual(ours.toString('hex'), v.hex);
    assert.equal(ours.readBigUInt64BE(ours.length - 24), 3n, 'array, 0.0 and -0.0');
    assert.ok(Object.is((decodeBplist(ours) as number[])[1], -0));
    assert.ok(Object.is((decodeBplist(encodeBplist([0, -0])) as number[])[1], -0), 'a plain -0 is a real too');
  });

  it('writes an array as plistlib writes a tuple (quirk-tuple-as-array: JavaScript has no tuples)', () => {
    const v = vector('quirk-tuple-as-array');
    assert.equal(encodeBplist([1, 2]).toString('hex'), v.hex);
    assert.deepStrictEqual(decodeBplist(Buffer.from(v.hex, 'hex')), [1, 2]);
  });

  describe('JavaScript values', () => {
    it('takes and gives plain objects, numbers, strings and Buffers', () => {
      assert.equal(encodeBplist({ eventPort: 49338 }).toString('hex'), vector('ap2-setup-event-reply').hex);
      const reply = decodeBplist(Buffer.from(vector('doc-appletv-setup-data-stream-reply').hex, 'hex'));
      assert.ok(isBplistDict(reply));
      const streams = reply.streams as BplistValue[];
      assert.ok(isBplistDict(streams[0]));
      assert.equal(streams[0].dataPort, 49326);
      const payload = decodeBplist(encodeBplist({ params: { data: Buffer.from('0801', 'hex') } }));
      assert.ok(isBplistDict(payload) && isBplistDict(payload.params));
      assert.ok(Buffer.isBuffer(payload.params.data));
      assert.equal(payload.params.data.toString('hex'), '0801');
      assert.equal(isBplistDict(new Map()), false);
      assert.equal(isBplistDict([]), false);
    });

    it('writes whole numbers as ints, BplistReal and other numbers as reals, and big values as bigint', () => {
      assert.deepStrictEqual(decodeBplist(encodeBplist([3, new BplistReal(3), 2.5, -0, NaN, 2 ** 60]), { lossless: true }), [
        3,
        new BplistReal(3),
        new BplistReal(2.5),
        new BplistReal(-0),
        new BplistReal(NaN),
        new BplistReal(2 ** 60),
      ]);
      assert.deepStrictEqual(decodeBplist(encodeBplist([2n ** 60n, 5n, -(2n ** 63n), 2n ** 64n - 1n])), [2n ** 60n, 5, -(2n ** 63n), 2n ** 64n - 1n]);
      assert.equal(new BplistReal(1.5).valueOf() * 2, 3);
      assert.equal(+new BplistUid(7), 7);
    });

    it('reads and writes 32-bit floats when asked', () => {
      const bytes = encodeBplist(new BplistReal(1.5, 32));
      assert.equal(bytes.subarray(8, 13).toString('hex'), '223fc00000');
      assert.equal(decodeBplist(bytes), 1.5);
      assert.deepStrictEqual(decodeBplist(bytes, { lossless: true }), new BplistReal(1.5, 32));
    });

    it('keeps insertion order with sortKeys false, and in a Map even for index-like keys', () => {
      const map = new Map<string, BplistInput>([
        ['b', 1],
        ['10', 2],
        ['a', 3],
      ]);
      const decoded = decodeBplist(encodeBplist(map, { sortKeys: false }), { lossless: true });
      assert.deepStrictEqual([...(decoded as Map<string, BplistValue>).keys()], ['b', '10', 'a']);
      const sorted = decodeBplist(encodeBplist(map), { lossless: true });
      assert.deepStrictEqual([...(sorted as Map<string, BplistValue>).keys()], ['10', 'a', 'b']);
    });

    it('skips dict entries whose value is undefined, as JSON does', () => {
      assert.equal(encodeBplist({ eventPort: 49338, extra: undefined }).toString('hex'), vector('ap2-setup-event-reply').hex);
    });

    it('writes a container referenced twice once, like plistlib (equal but separate ones twice)', () => {
      const shared = [1];
      const once = encodeBplist([shared, shared]);
      const twice = encodeBplist([[1], [1]]);
      assert.equal(once.readBigUInt64BE(once.length - 24), 3n);
      assert.equal(twice.readBigUInt64BE(twice.length - 24), 4n);
      assert.deepStrictEqual(decodeBplist(once), [[1], [1]]);
    });

    it('round-trips sets, long UTF-16 strings with astral and lone surrogates, dates and Uint8Arrays', () => {
      const long = '🎵 é 日本 '.repeat(10) + '\ud800x';
      const value = [new Set<BplistInput>(['a', 1]), long, 'short 🎵', new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999))];
      assert.deepStrictEqual(decodeBplist(encodeBplist(value)), value);
      assert.deepStrictEqual(decodeBplist(encodeBplist(new Uint8Array([1, 2, 3]))), Buffer.from([1, 2, 3]));
      const asUint8 = new Uint8Array(encodeBplist({ a: 1 }));
      assert.deepStrictEqual(decodeBplist(asUint8), { a: 1 });
    });

    it('keeps a __proto__ key as an ordinary key', () => {
      const decoded = decodeBplist(encodeBplist(new Map([['__proto__', { polluted: true }]])));
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
      assert.deepStrictEqual(Object.keys(decoded as object), ['__proto__']);
      assert.equal(({} as { polluted?: boolean }).polluted, undefined);
    });

    it('refuses what a plist cannot hold with an InvalidArgumentError', () => {
      const cyclic: BplistInput[] = [];
      cyclic.push(cyclic);
      let deep: BplistInput = [];
      for (let i = 0; i < 200; i++) deep = [deep];
      const bad: [string, () => unknown][] = [
        ['undefined', () => encodeBplist(undefined as unknown as BplistInput)],
        ['undefined in an array', () => encodeBplist([undefined] as unknown as BplistInput)],
        ['a function', () => encodeBplist((() => 1) as unknown as BplistInput)],
        ['a symbol', () => encodeBplist(Symbol('x') as unknown as BplistInput)],
        ['a class instance', () => encodeBplist(new URL('http://127.0.0.1/') as unknown as BplistInput)],
        ['an int above 2^64 - 1', () => encodeBplist(2n ** 64n)],
        ['an int below -2^63', () => encodeBplist(-(2n ** 63n) - 1n)],
        ['a non-string key', () => encodeBplist(new Map([[1, 2]]) as unknown as BplistInput)],
        ['an invalid date', () => encodeBplist(new Date(NaN))],
        ['a cycle', () => encodeBplist(cyclic)],
        ['deep nesting', () => encodeBplist(deep)],
        ['a negative UID', () => new BplistUid(-1)],
      ];
      for (const [what, encode] of bad) assert.throws(encode, InvalidArgumentError, what);
      assert.ok(encodeBplist(deep, { maxDepth: 300 }).length > 0);
    });
  });

  describe('hostile input: only DecodeErrors', () => {
    it('checks the header and the trailer', () => {
      const ok = assemble(['09']);
      assert.equal(decodeBplist(ok), true);
      rejects(ok.subarray(0, 41), /at least 42 bytes/);
      rejects(Buffer.concat([Buffer.from('bplist01'), ok.subarray(8)]), /no bplist00 header/);
      const trailerByte = (at: number, byte: number): Buffer => {
        const bytes = Buffer.from(ok);
        bytes[bytes.length - 32 + at] = byte;
        return bytes;
      };
      rejects(trailerByte(6, 0), /offset width 0/);
      rejects(trailerByte(6, 9), /offset width 9/);
      rejects(trailerByte(7, 0), /reference width 0/);
      rejects(trailerByte(7, 9), /reference width 9/);
      rejects(assemble(['09'], { count: 0n }), /no objects/);
      rejects(assemble(['09'], { count: 2n ** 64n - 1n }), /does not fit/);
      rejects(assemble(['09'], { count: 2n }), /does not fit/);
      rejects(assemble(['09'], { top: 1 }), /top object 1/);
      rejects(assemble(['09'], { tableOffset: 8n }), /outside the file/);
      rejects(assemble(['09'], { tableOffset: 2n ** 63n }), /outside the file/);
      rejects(assemble(['09'], { tableOffset: 11n }), /does not fit/);
    });

    it('keeps every object inside the object area', () => {
      rejects(assemble(['09'], { offsets: { 0: 9 } }), /outside the object area/);
      rejects(assemble(['09'], { offsets: { 0: 7 } }), /outside the object area/);
      rejects(assemble(['09'], { offsets: { 0: 60_000 } }), /outside the object area/);
      rejects(assemble(['1300000000']), /runs into the offset table/);
      rejects(assemble(['23000000']), /runs into the offset table/);
      rejects(assemble(['330000']), /runs into the offset table/);
      rejects(assemble(['82']), /runs into the offset table/);
      rejects(assemble(['4f']), /runs into the offset table/);
      rejects(assemble(['4f10']), /runs into the offset table/);
      rejects(assemble(['5341']), /runs into the offset table/);
      rejects(assemble(['62004100']), /runs into the offset table/);
      rejects(assemble(['a209']), /runs into the offset table/);
      rejects(assemble(['d101']), /runs into the offset table/);
    });

    it('checks a count against the bytes left before allocating for it', () => {
      rejects(assemble(['4f137fffffffffffffff']), /runs into the offset table/);
      rejects(assemble(['af13000fffffffffffff']), /runs into the offset table/);
      rejects(assemble(['df12ffffffff']), /runs into the offset table/);
      rejects(assemble(['6f1340000000000000000000']), /runs into the offset table/);
      rejects(assemble(['4f13ffffffffffffffff']), /negative length/);
      rejects(assemble(['4f5141']), /malformed length/);
      rejects(assemble(['4f140000000000000000000000000000000001']), /malformed length/);
    });

    it('refuses references beyond the object count, cycles, and non-string keys', () => {
      rejects(assemble(['a105']), /reference 5 is beyond its 1 objects/);
      rejects(assemble(['a100']), /contains itself/);
      rejects(assemble(['a101', 'a100']), /contains itself/);
      rejects(assemble(['d10100', '5161']), /contains itself/);
      rejects(assemble(['d10001']), /contains itself/);
      rejects(assemble(['d10101', '10ff']), /key that is not a string/);
      rejects(assemble(['a20101', 'a100'], { refSize: 2 }), /contains itself|beyond/);
    });

    it('refuses unknown markers and values outside the value model', () => {
      for (const marker of ['0f', '01', '0c', '15', '21', '24', '34', '70', '88', '90', 'b0', 'e0', 'f0']) {
        rejects(assemble([`${marker}000000000000000000000000000000000000`]), /unknown marker/);
      }
      rejects(assemble(['5280ff']), /non-ASCII byte/);
      rejects(assemble(['87002000000000000000']), /UID .* beyond 2\^53/);
      rejects(assemble(['1400000000000000010000000000000000']), /beyond the 64-bit range/);
      rejects(assemble(['14ffffffffffffffff7fffffffffffffff']), /beyond the 64-bit range/);
      rejects(assemble(['337ff8000000000000']), /date .* out of range/);
      rejects(assemble(['337fefffffffffffff']), /date .* out of range/);
    });

    it('limits nesting depth', () => {
      const chain = (levels: number): Buffer =>
        assemble(
          Array.from({ length: levels }, (_, i) => (i === levels - 1 ? '09' : `a1${(i + 1).toString(16).padStart(4, '0')}`)),
          { refSize: 2, offsetSize: 4 },
        );
      assert.ok(decodeBplist(chain(128)));
      rejects(chain(129), /deeper than 128 levels/);
      rejects(chain(100_000), /deeper than 128 levels/);
      assert.ok(decodeBplist(chain(129), { maxDepth: 129 }));
    });

    it('counts a shared object at each reference, so a small file cannot expand into a huge tree', () => {
      // 60 arrays, each holding the next twice: 2^60 values if expanded.
      const levels = 60;
      const laughs = assemble(Array.from({ length: levels }, (_, i) => (i === levels - 1 ? '09' : `a2${(i + 1).toString(16).padStart(2, '0').repeat(2)}`)));
      rejects(laughs, /more than 1000000 values/);
      const small = assemble(Array.from({ length: 11 }, (_, i) => (i === 10 ? '09' : `a2${(i + 1).toString(16).padStart(2, '0').repeat(2)}`)));
      assert.ok(decodeBplist(small));
      rejects(small, /more than 2000 values/, { maxObjects: 2000 });
      // 100 references to one 1000-byte data object: 100,000 bytes if expanded.
      const data = `4f1103e8${'ab'.repeat(1000)}`;
      const blobs = assemble([`af1064${'01'.repeat(100)}`, data]);
      assert.equal((decodeBplist(blobs) as Buffer[]).length, 100);
      rejects(blobs, /more than 50000 bytes/, { maxBytes: 50_000 });
    });

    it('survives 20,000 random mutations and truncations of the vectors', () => {
      // Seeded, so a failing round can be replayed.
      const next = prng(0xb9115);
      const pick = (n: number): number => Math.floor(next() * n);
      const interesting = [0x00, 0x0f, 0x10, 0x13, 0x14, 0x4f, 0x5f, 0x6f, 0x7f, 0x80, 0x87, 0xaf, 0xdf, 0xff];
      const sources = vectors.map((v) => Buffer.from(v.hex, 'hex'));
      let decoded = 0;
      for (let round = 0; round < 20_000; round++) {
        const source = sources[pick(sources.length)]!;
        let bytes = Buffer.from(source);
        switch (pick(5)) {
          case 0:
            for (let i = 1 + pick(4); i > 0; i--) bytes[pick(bytes.length)] = pick(256);
            break;
          case 1:
            bytes = bytes.subarray(0, pick(bytes.length));
            break;
          case 2:
            bytes[bytes.length - 1 - pick(26)] = pick(256);
            break;
          case 3:
            bytes[pick(bytes.length)] = interesting[pick(interesting.length)]!;
            break;
          default: {
            const cut = 8 + pick(bytes.length - 8);
            bytes = Buffer.concat([bytes.subarray(0, cut), bytes.subarray(cut + 1 + pick(4))]);
          }
        }
        try {
          const value = decodeBplist(bytes, { lossless: true });
          decoded++;
          // Whatever decodes is a value the encoder takes and that survives the round trip.
          assert.deepStrictEqual(decodeBplist(encodeBplist(value, { sortKeys: false }), { lossless: true }), value, `round ${round}`);
          decodeBplist(bytes);
        } catch (err) {
          if (!(err instanceof DecodeError)) assert.fail(`round ${round}: ${bytes.toString('hex')} threw ${String(err)}`);
        }
      }
      assert.ok(decoded > 1000, `only ${decoded} mutations decoded`);
    });
  });
});
