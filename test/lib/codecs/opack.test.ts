import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeOpack,
  encodeOpack,
  OpackFloat,
  OpackUuid,
  type OpackDecodeOptions,
  type OpackObject,
  type OpackValue,
} from '../../../lib/codecs/opack';
import { DecodeError, InvalidArgumentError } from '../../../lib/errors';
import { readCapture, stream } from '../../support/pyatv-captures';
import { fromTypedJson, readOpackQuirks, readOpackVectors, toTypedJson, type OpackQuirk } from '../../support/typed-json-opack';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const encodeHex = (value: OpackValue, options?: Parameters<typeof encodeOpack>[1]): string => encodeOpack(value, options).toString('hex');
/** pyatv reads and writes 0x30..0x33 unsigned; its vectors are read and written that way. */
const PYATV = { integers: 'unsigned' } as const;

const vectors = readOpackVectors();
const packVectors = vectors.filter((v) => v.mode === 'pack');

/** The pack vectors where pyatv writes a positive integer with the top bit of its width set (Apple reads those as negative). */
const SIGN_BIT_VECTORS = ['int-255', 'int-65535', 'int-2^32-1', 'int-2^63', 'int-2^64-1', 'companion-_systemInfo'];

function assertDecodeError(bytes: Buffer, what: string, options?: OpackDecodeOptions): DecodeError {
  try {
    decodeOpack(bytes, options);
  } catch (err) {
    assert.ok(err instanceof DecodeError, `${what}: expected a DecodeError, got ${String(err)}`);
    return err;
  }
  assert.fail(`${what}: decoded without error`);
}

describe('OPACK codec', () => {
  describe('pyatv 0.16.1 vectors', () => {
    it('has the 141 pack and 31 unpack cases the fixture README describes', () => {
      assert.equal(packVectors.length, 141);
      assert.equal(vectors.length - packVectors.length, 31);
      assert.equal(packVectors.filter((v) => v.name.startsWith('companion-')).length, 20);
    });

    it("writes pyatv's bytes for every pack vector with integers: 'unsigned'", () => {
      for (const v of packVectors) {
        assert.equal(encodeHex(fromTypedJson(v.value), PYATV), v.hex, v.name);
      }
    });

    it("decodes every vector, pack and unpack, to its value with integers: 'unsigned'", () => {
      for (const v of vectors) {
        assert.deepEqual(toTypedJson(decodeOpack(hex(v.hex), PYATV)), v.value, v.name);
      }
    });

    it('re-encodes what it decodes: pack vectors byte for byte, unpack vectors (non-minimal forms) to the same value', () => {
      for (const v of vectors) {
        const again = encodeOpack(decodeOpack(hex(v.hex), PYATV), PYATV);
        if (v.mode === 'pack') assert.equal(again.toString('hex'), v.hex, v.name);
        else assert.deepEqual(toTypedJson(decodeOpack(again, PYATV)), v.value, v.name);
      }
    });

    it("by default (Apple's signed integers) agrees with pyatv everywhere but on positive integers with their width's sign bit set", () => {
      const differ: string[] = [];
      for (const v of packVectors) {
        const value = fromTypedJson(v.value);
        let same = false;
        try {
          same = encodeHex(value) === v.hex;
        } catch (err) {
          assert.ok(err instanceof InvalidArgumentError, v.name);
        }
        if (!same) differ.push(v.name);
        else assert.deepEqual(toTypedJson(decodeOpack(hex(v.hex))), v.value, v.name);
      }
      assert.deepEqual(differ, SIGN_BIT_VECTORS);
      // What Apple writes instead (and pyatv reads correctly too): one width up.
      assert.equal(encodeHex(255), '31ff00');
      assert.equal(encodeHex(65535), '32ffff0000');
      assert.equal(encodeHex(0xffffffff), '33ffffffff00000000');
      assert.throws(() => encodeOpack(2n ** 63n), InvalidArgumentError);
      // ... and how Apple reads pyatv's bytes.
      assert.equal(decodeOpack(hex('30ff')), -1);
      assert.equal(decodeOpack(hex('33ffffffffffffffff')), -1);
      const systemInfo = packVectors.find((v) => v.name === 'companion-_systemInfo')!;
      const asApple = decodeOpack(hex(systemInfo.hex)) as { _c: { _clFl: number } };
      assert.equal(asApple._c._clFl, -128, "pyatv's _clFl 128 as 30 80 is -128 to a signed reader");
      const ours = encodeOpack(fromTypedJson(systemInfo.value));
      assert.equal((decodeOpack(ours) as { _c: { _clFl: number } })._c._clFl, 128);
      assert.equal((decodeOpack(ours, PYATV) as { _c: { _clFl: number } })._c._clFl, 128, 'our bytes read the same both ways');
    });

    it('decodes the payloads an Apple TV and an iPhone wrote, and re-encodes them byte for byte', () => {
      const apple = vectors.filter((v) => v.name.startsWith('doc-'));
      assert.equal(apple.length, 10);
      for (const v of apple) {
        assert.deepEqual(toTypedJson(decodeOpack(hex(v.hex))), v.value, v.name);
        assert.equal(encodeHex(decodeOpack(hex(v.hex))), v.hex, `${v.name} re-encodes byte for byte`);
      }
    });
  });

  it('decodes every pairing frame of the recorded Companion pairing, both directions, and re-encodes it exactly', () => {
    const chunks = readCapture('companion-pair.jsonl');
    const frames: { dir: string; type: number; payload: Buffer }[] = [];
    for (const dir of ['c2s', 's2c'] as const) {
      // Companion frame: type byte, 24-bit big-endian length, payload.
      const bytes = stream(chunks, dir);
      for (let at = 0; at < bytes.length; ) {
        const length = bytes.readUIntBE(at + 1, 3);
        frames.push({ dir, type: bytes[at]!, payload: bytes.subarray(at + 4, at + 4 + length) });
        at += 4 + length;
      }
    }
    assert.deepEqual(
      frames.map((f) => `${f.dir} ${f.type}`),
      ['c2s 3', 'c2s 4', 'c2s 4', 's2c 4', 's2c 4', 's2c 4'],
      'pair-setup M1, M3, M5 and the answers M2, M4, M6',
    );
    for (const { dir, payload } of frames) {
      const message = decodeOpack(payload, PYATV) as { _pd: Buffer; _x?: number };
      assert.ok(Buffer.isBuffer(message._pd) && message._pd.length > 0, dir);
      assert.equal(message._x !== undefined, dir === 'c2s', 'pyatv numbers its frames, its fake device does not');
      assert.equal(encodeOpack(message, PYATV).toString('hex'), payload.toString('hex'));
    }
  });

  describe('integers', () => {
    it("reads Apple's own integer bytes: _clFl 128 from an Apple TV, _ec -6714 that pyatv shows as 58822", () => {
      // {_clFl: 128} as an Apple TV sent it in its _systemInfo reply (bytes quoted in pyatv issue #1461).
      const clFl = hex('e1 45 5f636c466c 31 8000');
      assert.deepEqual(decodeOpack(clFl), { _clFl: 128 });
      assert.equal(encodeHex({ _clFl: 128 }), clFl.toString('hex'), 'written as the Apple TV writes it');
      // pyatv's docs give _ec 58822 as an example error code: -6714 (kNotHandledErr) read unsigned.
      const ec = hex('e1 43 5f6563 31 c6e5');
      assert.deepEqual(decodeOpack(ec), { _ec: -6714 });
      assert.deepEqual(decodeOpack(ec, PYATV), { _ec: 58822 });
      assert.equal(encodeHex({ _ec: -6714 }), ec.toString('hex'));
    });

    it('writes every width at its signed boundaries and reads it back', () => {
      const cases: [number | bigint, string][] = [
        [-1, '07'],
        [0, '08'],
        [39, '2f'],
        [40, '3028'],
        [127, '307f'],
        [128, '318000'],
        [-2, '30fe'],
        [-128, '3080'],
        [-129, '317fff'],
        [32767, '31ff7f'],
        [32768, '3200800000'],
        [-32768, '310080'],
        [-32769, '32ff7fffff'],
        [2147483647, '32ffffff7f'],
        [2147483648, '330000008000000000'],
        [-2147483648, '3200000080'],
        [-2147483649, '33ffffff7fffffffff'],
        [Number.MAX_SAFE_INTEGER, '33ffffffffffff1f00'],
        [Number.MIN_SAFE_INTEGER, '33010000000000e0ff'],
        [2n ** 63n - 1n, '33ffffffffffffff7f'],
        [-(2n ** 63n), '330000000000000080'],
      ];
      for (const [value, bytes] of cases) {
        assert.equal(encodeHex(value), bytes, String(value));
        assert.equal(decodeOpack(hex(bytes)), value, bytes);
      }
      assert.equal(encodeHex(5n), '0d', 'a small bigint is an ordinary small integer');
      assert.equal(decodeOpack(hex('33 0000000000002000')), 2n ** 53n, 'beyond 2^53 decodes as bigint');
      assert.throws(() => encodeOpack(-(2n ** 63n) - 1n), InvalidArgumentError);
    });

    it("with integers: 'unsigned' writes and reads pyatv's forms, -1 as 0x07, and refuses other negatives", () => {
      assert.equal(encodeHex(128, PYATV), '3080');
      assert.equal(encodeHex(2n ** 64n - 1n, PYATV), '33ffffffffffffffff');
      assert.equal(encodeHex(-1, PYATV), '07');
      assert.equal(decodeOpack(hex('07'), PYATV), -1);
      assert.throws(() => encodeOpack(-2, PYATV), InvalidArgumentError);
      assert.throws(() => encodeOpack(2n ** 64n, PYATV), InvalidArgumentError);
    });

    it('reads the 16-byte form 0x34 (never written) signed, or unsigned on request', () => {
      const minusOne = hex(`34${'ff'.repeat(16)}`);
      assert.equal(decodeOpack(minusOne), -1);
      assert.equal(decodeOpack(minusOne, PYATV), 2n ** 128n - 1n);
      assert.equal(decodeOpack(hex(`34 0000000000000080 0000000000000000`)), 2n ** 63n);
    });

    it('writes only safe integers as integers: other numbers are float64, bigints are integers', () => {
      assert.equal(encodeHex(2 ** 53), '360000000000004043');
      assert.equal(encodeHex(0.5), '36000000000000e03f');
      assert.equal(encodeHex(-0), '08');
    });
  });

  describe('the value model', () => {
    it("encodes a Companion message from a literal, floats through OpackFloat (pyatv's _touchStart bytes)", () => {
      const touchStart = packVectors.find((v) => v.name === 'companion-_touchStart')!;
      const message = { _i: '_touchStart', _t: 2, _c: { _height: new OpackFloat(1000), _tFl: 0, _width: new OpackFloat(1000) }, _x: 32548 };
      assert.equal(encodeHex(message), touchStart.hex);
      const decoded = decodeOpack(hex(touchStart.hex)) as { _c: { _height: OpackFloat; _width: OpackFloat } };
      assert.ok(decoded._c._height instanceof OpackFloat);
      assert.equal(decoded._c._height.value, 1000);
      assert.equal(Number(decoded._c._width) * 2, 2000, 'an OpackFloat works as a number');
      assert.equal(JSON.stringify(decoded._c), '{"_height":1000,"_tFl":0,"_width":1000}');
      assert.equal(decoded._c._height, decoded._c._width, 'a back-reference is the object it points at');
      assert.equal(encodeHex(1000), '31e803', 'a plain 1000 is an integer');
    });

    it('writes float32 on request and decodes 0x35 as a 32-bit OpackFloat', () => {
      assert.equal(encodeHex(new OpackFloat(1.5, 32)), '350000c03f');
      assert.equal(new OpackFloat(0.1, 32).value, Math.fround(0.1));
      const decoded = decodeOpack(hex('35cdcccc3d'));
      assert.deepEqual(decoded, new OpackFloat(Math.fround(0.1), 32));
      assert.throws(() => new OpackFloat(1, 16 as 32), InvalidArgumentError);
      assert.equal(encodeHex(new OpackFloat(NaN)), '36000000000000f87f');
      assert.ok(Object.is((decodeOpack(hex('360000000000000080')) as OpackFloat).value, -0));
    });

    it('takes UUIDs as text or bytes and prints them canonically', () => {
      const uuid = new OpackUuid('1910A70F-DBC0-4242-AF95-115DB30604E1');
      assert.equal(uuid.toString(), '1910a70f-dbc0-4242-af95-115db30604e1');
      assert.ok(new OpackUuid('1910a70fdbc04242af95115db30604e1').equals(uuid));
      assert.ok(new OpackUuid(uuid.bytes).equals(uuid));
      assert.equal(encodeHex(uuid), '051910a70fdbc04242af95115db30604e1');
      assert.deepEqual(decodeOpack(encodeOpack(uuid)), uuid);
      assert.equal(JSON.stringify({ uuid }), '{"uuid":"1910a70f-dbc0-4242-af95-115db30604e1"}');
      assert.throws(() => new OpackUuid('not-a-uuid'), InvalidArgumentError);
      assert.throws(() => new OpackUuid(Buffer.alloc(15)), InvalidArgumentError);
    });

    it('writes dates as float64 seconds since 2001-01-01 and reads them back to the millisecond', () => {
      assert.equal(encodeHex(new Date('2001-01-01T00:00:00Z')), '060000000000000000');
      assert.equal(encodeHex(new Date('2001-01-01T00:00:01.5Z')), '06000000000000f83f');
      assert.equal(encodeHex(new Date('2000-12-31T23:59:59Z')), '06000000000000f0bf');
      for (const iso of ['2024-08-07T19:48:34.307Z', '1970-01-01T00:00:00.001Z', '2999-12-31T23:59:59.999Z', '1900-02-03T04:05:06.789Z']) {
        const date = new Date(iso);
        assert.equal((decodeOpack(encodeOpack(date)) as Date).toISOString(), iso);
      }
      assert.throws(() => encodeOpack(new Date(NaN)), InvalidArgumentError);
    });

    it('decodes dicts with string keys to plain objects, others to Maps, and writes both in their order', () => {
      assert.deepEqual(decodeOpack(hex('e2 4161 09 4162 0a')), { a: 1, b: 2 });
      const mixed = decodeOpack(hex('e2 4161 14 02 04'));
      assert.deepEqual(mixed, new Map<OpackValue, OpackValue>([['a', 12], [false, null]]));
      const indexLike = decodeOpack(hex('e2 4131 4178 4130 4179')) as Map<OpackValue, OpackValue>;
      assert.ok(indexLike instanceof Map, 'keys a JS object would reorder keep their order in a Map');
      assert.deepEqual([...indexLike.keys()], ['1', '0']);
      assert.equal(encodeHex(indexLike), 'e24131417841304179');
      assert.equal(encodeHex(new Map([[1, 'x']])), 'e1094178');
      assert.equal(encodeHex({ a: 1, skipped: undefined, b: 2 } as OpackObject), 'e241610941620a', 'undefined members are left out');
    });

    it('decodes a "__proto__" key as a member, never as the prototype', () => {
      const bytes = hex('e1 495f5f70726f746f5f5f e1 4178 01');
      const decoded = decodeOpack(bytes) as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
      assert.deepEqual(Object.keys(decoded), ['__proto__']);
      assert.equal(({} as Record<string, unknown>).x, undefined);
      assert.equal(encodeOpack(decoded as OpackObject).toString('hex'), bytes.toString('hex'));
    });

    it('returns data as Buffer views and takes any Uint8Array', () => {
      const input = new Uint8Array(hex('d2 7201ff 72abcd'));
      const decoded = decodeOpack(input) as Buffer[];
      assert.ok(Buffer.isBuffer(decoded[0]));
      assert.deepEqual(decoded, [hex('01ff'), hex('abcd')]);
      assert.equal(decoded[0]!.buffer, input.buffer);
      assert.equal(encodeHex([new Uint8Array([1, 0xff]), hex('abcd')]), 'd27201ff72abcd');
    });

    it('keeps what JavaScript strings hold: NUL, a leading BOM, astral characters', () => {
      for (const text of ['a\u0000b', '\ufeffbom', '🎵 music', 'é'.repeat(40)]) {
        assert.equal(decodeOpack(encodeOpack(text)), text);
      }
      assert.equal(decodeOpack(hex('6f e697a5 00')), '日', 'a NUL-terminated string (0x6F) is read to its NUL');
    });

    it('refuses what OPACK cannot carry with an InvalidArgumentError', () => {
      const cyclic: unknown[] = [];
      cyclic.push(cyclic);
      const bad: unknown[] = [
        undefined,
        [1, undefined],
        () => 1,
        Symbol('s'),
        new (class Thing {})(),
        new Set([1]),
        cyclic,
        new Map([[1, undefined]]),
      ];
      for (const value of bad) {
        assert.throws(() => encodeOpack(value as OpackValue), InvalidArgumentError, String(value));
      }
      assert.throws(() => encodeOpack([[[1]]], { maxDepth: 2 }), InvalidArgumentError);
      assert.equal(encodeHex([[1]], { maxDepth: 2 }), 'd1d109');
      assert.throws(() => encodeOpack(1, { integers: 'both' as 'signed' }), InvalidArgumentError);
      assert.throws(() => decodeOpack(hex('08'), { maxDepth: -1 }), InvalidArgumentError);
      assert.throws(() => decodeOpack(hex('08'), { maxDepth: 1_000_000 }), InvalidArgumentError, 'a depth the stack cannot take');
      assert.throws(() => decodeOpack('08' as unknown as Uint8Array), InvalidArgumentError);
    });
  });

  describe('back-references', () => {
    it('numbers every multi-byte scalar, never containers or one-byte values, the same way on both sides', () => {
      const value: OpackValue = [[1, 2], 'abc', '', 'abc', { k: 'abc' }, new OpackFloat(40), 40, 'k', new OpackFloat(40), 40];
      const bytes = encodeOpack(value);
      // table: 0 "abc", 1 "k", 2 40.0, 3 40 ("" and the containers take no index)
      assert.equal(bytes.toString('hex'), 'da d2090a 43616263 40 a0 e1 416b a0 360000000000004440 3028 a1 a2 a3'.replace(/ /g, ''));
      assert.deepEqual(decodeOpack(bytes), value);
    });

    it('writes indexes 0..32 in the tag, then 1, 2, 4 bytes', () => {
      const strings = Array.from({ length: 65537 }, (_, i) => `s${i}`);
      const bytes = encodeOpack([...strings, 's32', 's33', 's255', 's256', 's65535', 's65536']);
      const tail = bytes.subarray(bytes.length - 1 - (1 + 2 + 2 + 3 + 3 + 5)).toString('hex');
      assert.equal(tail, 'c0' + 'c121' + 'c1ff' + 'c20001' + 'c2ffff' + 'c300000100' + '03');
      const decoded = decodeOpack(bytes) as string[];
      assert.deepEqual(decoded.slice(-6), ['s32', 's33', 's255', 's256', 's65535', 's65536']);
    });

    it('reads the 8-byte index form 0xC4', () => {
      assert.deepEqual(decodeOpack(hex('df 3001 3002 c4 0100000000000000 03')), [1, 2, 2]);
    });

    it('refuses references to objects not decoded yet', () => {
      assertDecodeError(hex('a0'), 'reference first');
      assertDecodeError(hex('d2 4161 a1'), 'one past the table');
      assertDecodeError(hex('d2 d10a a0'), 'a container is not referenceable');
      assertDecodeError(hex('d2 09 a0'), 'a one-byte integer is not referenceable');
      assertDecodeError(hex('d2 4161 c4 ffffffffffffffff'), 'a huge index');
    });
  });

  describe("pyatv's quirks (opack-pyatv-quirks.jsonl) are not copied", () => {
    const quirks = new Map(readOpackQuirks().map((q) => [q.name, q]));
    const quirk = (name: string): OpackQuirk => {
      const q = quirks.get(name);
      assert.ok(q, `quirk line ${name}`);
      return q;
    };
    /** Our bytes for the quirk's value, checked to decode back to the value. */
    const ourBytes = (q: OpackQuirk): string => {
      const bytes = encodeOpack(fromTypedJson(q.value!));
      assert.deepEqual(toTypedJson(decodeOpack(bytes)), q.value, q.name);
      return bytes.toString('hex');
    };
    const handled: string[] = [];
    const check = (name: string, fn: (q: OpackQuirk) => void): void => {
      handled.push(name);
      it(name, () => fn(quirk(name)));
    };

    check('negative-1', (q) => {
      assert.equal(ourBytes(q), '07', 'the same byte pyatv writes by accident ...');
      assert.equal(decodeOpack(hex(q.pack!)), -1, '... and, unlike pyatv, read back');
    });
    check('negative-8', (q) => {
      assert.equal(ourBytes(q), '30f8');
      assertDecodeError(hex(q.pack!), "pyatv's 0x00");
    });
    check('negative-9', (q) => assert.equal(ourBytes(q), '30f7'));
    check('int-2^64', (q) => {
      assert.throws(() => encodeOpack(fromTypedJson(q.value!)), InvalidArgumentError);
      assert.throws(() => encodeOpack(fromTypedJson(q.value!), PYATV), InvalidArgumentError);
    });
    check('datetime', (q) => assert.equal(ourBytes(q), '060000000000000000'));
    check('date-0x06', (q) => {
      const decoded = decodeOpack(hex(q.hex!));
      assert.ok(decoded instanceof Date, `a Date, not pyatv's integer ${String(q.unpack)}`);
      assert.equal(decoded.toISOString(), '2001-01-01T00:00:00.000Z', 'the smallest float64 after 2001-01-01');
    });
    check('container-shifts-ref-index', (q) => {
      assert.notEqual(ourBytes(q), q.pack);
      assert.equal(ourBytes(q), 'd3d2090a43616263a0');
      assertDecodeError(hex(q.pack!), "pyatv's reference past the table");
    });
    check('container-shifts-ref-index-silently', (q) => {
      assert.equal(ourBytes(q), 'e34161d109416241784163a2');
      assert.notEqual(ourBytes(q), q.pack);
    });
    check('identical-containers', (q) => {
      assert.equal(ourBytes(q), 'd2d2090ad2090a', 'containers are written again, never referenced');
      assertDecodeError(hex(q.pack!), "pyatv's reference to a container");
    });
    check('empty-string-counted-by-unpack', (q) => {
      assert.equal(ourBytes(q), q.pack);
      assert.notDeepEqual(toTypedJson(decodeOpack(hex(q.pack!))), q.unpack);
    });
    check('equal-values-deduplicated-by-unpack', (q) => {
      assert.equal(ourBytes(q), q.pack, '40 and 40.0 are two entries on both sides');
    });
    check('c3-ref-width', (q) => {
      assertDecodeError(hex(q.hex!), '0xC3 takes a 4-byte index (as pyatv writes it), not 3');
      assert.deepEqual(decodeOpack(hex('df 3001 3002 c3 01000000 03')), [1, 2, 2]);
    });
    check('c4-ref-width', (q) => {
      assertDecodeError(hex(q.hex!), '0xC4 takes an 8-byte index, not 4');
      assert.deepEqual(decodeOpack(hex('df 3001 3002 c4 0100000000000000 03')), [1, 2, 2]);
    });
    check('null-terminated-string-0x6f', (q) => {
      assert.equal(decodeOpack(hex(q.hex!)), 'foo');
      assert.deepEqual(decodeOpack(hex('d2 6f666f6f00 a0')), ['foo', 'foo'], 'and it takes an index');
    });
    check('int-0x34-16-bytes', (q) => assert.equal(decodeOpack(hex(q.hex!)), q.unpack));

    it('covers every quirk line', () => {
      assert.deepEqual([...quirks.keys()].sort(), [...handled].sort());
    });
  });

  describe('hostile input', () => {
    it('answers malformed bytes with a DecodeError naming the offset', () => {
      const cases: [string, string][] = [
        ['', 'empty input'],
        ['00', 'reserved 0x00'],
        ['37', 'unassigned integer tag'],
        ['65', 'unassigned string tag'],
        ['9f 7101 03', 'endless data (not supported)'],
        ['c5', 'unassigned reference tag'],
        ['f0', 'unassigned 0xF0'],
        ['03', 'terminator at the top'],
        ['d2 09 03', 'terminator in a counted array'],
        ['ef 4161 03', 'terminator where a dict value belongs'],
        ['05 0102', 'truncated UUID'],
        ['06 00000000', 'truncated date'],
        ['33 01020304', 'truncated integer'],
        ['36 0000', 'truncated float64'],
        ['61', 'string length missing'],
        ['62 ff', 'string length cut'],
        ['45 6162', 'string shorter than its tag'],
        ['64 ffffffff 61', 'string length beyond the input'],
        ['94 ffffffffffffffff 00', 'data length of 2^64-1'],
        ['93 00000001 00', 'data length beyond the input'],
        ['6f 616263', 'NUL-terminated string without NUL'],
        ['42 c328', 'invalid UTF-8'],
        ['43 eda080', 'UTF-8 encoded surrogate'],
        ['df 09 09 09', 'endless array never closed'],
        ['ef 4161 09 4162', 'endless dict ends inside a pair'],
        ['d3 09 09', 'counted array short of items'],
        ['09 09', 'bytes after the value'],
        ['06 000000000000f07f', 'date at infinity'],
        ['06 000000000000f87f', 'date NaN'],
        ['06 00000000000000c3', 'date beyond a JS Date'],
      ];
      for (const [bytes, what] of cases) {
        const err = assertDecodeError(hex(bytes), what);
        assert.equal(typeof err.offset, 'number', what);
        assert.equal(err.code, 'PROTOCOL');
      }
    });

    it('stops at the depth limit instead of overflowing the stack', () => {
      const deep = Buffer.concat([Buffer.alloc(100_000, 0xd1), Buffer.from([0x09])]);
      assert.match(assertDecodeError(deep, 'nesting').message, /deeper than 32/);
      const endless = Buffer.alloc(100_000, 0xdf);
      assertDecodeError(endless, 'endless nesting');
      const nested = (n: number): Buffer => Buffer.concat([Buffer.alloc(n, 0xd1), Buffer.from([0x09])]);
      assert.equal(JSON.stringify(decodeOpack(nested(32))), `${'['.repeat(32)}1${']'.repeat(32)}`);
      assertDecodeError(nested(33), '33 levels');
      assert.doesNotThrow(() => decodeOpack(nested(33), { maxDepth: 33 }));
      assertDecodeError(deep, 'the deepest allowed limit', { maxDepth: 1000 });
      const cyclic: OpackValue[] = [];
      cyclic.push(cyclic);
      assert.throws(() => encodeOpack(cyclic, { maxDepth: 1000 }), InvalidArgumentError);
    });

    it('caps the number of objects', () => {
      const many = Buffer.concat([Buffer.from([0xdf]), Buffer.alloc(2000, 0x09), Buffer.from([0x03])]);
      assert.equal((decodeOpack(many) as number[]).length, 2000);
      assert.match(assertDecodeError(many, 'objects', { maxObjects: 1000 }).message, /more than 1000 objects/);
    });

    it('survives 20 000 random mutations and truncations of the vectors: a value or a DecodeError', () => {
      let seed = 0x5eed;
      const random = (n: number): number => {
        // mulberry32: a fixed seed keeps a failure reproducible.
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
      };
      const samples = vectors.map((v) => hex(v.hex)).filter((b) => b.length <= 4096);
      const outcomes = { decoded: 0, refused: 0 };
      for (let round = 0; round < 20_000; round++) {
        const bytes = Buffer.from(samples[Math.floor(random(samples.length))]!);
        let input: Buffer = bytes;
        const kind = Math.floor(random(4));
        if (kind === 0) input = bytes.subarray(0, Math.floor(random(bytes.length)));
        else {
          const flips = 1 + Math.floor(random(4));
          for (let i = 0; i < flips; i++) {
            const at = Math.floor(random(bytes.length));
            bytes[at] = kind === 1 ? Math.floor(random(256)) : bytes[at]! ^ (1 << Math.floor(random(8)));
          }
          if (kind === 3) input = Buffer.concat([bytes, bytes.subarray(0, Math.floor(random(8)))]);
        }
        const options: OpackDecodeOptions = round % 2 === 0 ? {} : PYATV;
        let value: OpackValue;
        try {
          value = decodeOpack(input, options);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw new Error(`round ${round}, input ${input.toString('hex')}: ${String(err)}`);
          outcomes.refused++;
          continue;
        }
        outcomes.decoded++;
        // Whatever decodes re-encodes (bar integers beyond 64 bits) to bytes that are stable from then on.
        let again: Buffer;
        try {
          again = encodeOpack(value, options);
        } catch (err) {
          assert.ok(err instanceof InvalidArgumentError, `round ${round}: ${String(err)}`);
          continue;
        }
        const stable = encodeOpack(decodeOpack(again, options), options);
        assert.equal(stable.toString('hex'), again.toString('hex'), `round ${round}, input ${input.toString('hex')}`);
      }
      assert.ok(outcomes.decoded > 1000 && outcomes.refused > 1000, JSON.stringify(outcomes));
    });
  });
});
