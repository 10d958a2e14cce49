import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DMAP_TAGS } from '../../../lib/codecs/dmap-tags';
import {
  decodeDmap,
  dmapNumber,
  dmapString,
  dmapToObject,
  encodeDmap,
  encodeTag,
  findAllDmap,
  findDmap,
} from '../../../lib/codecs/dmap';
import { DecodeError } from '../../../lib/errors';
import { fixture } from '../../support/paths';

const OWNTONE = fixture('owntone-29.3');

/** Every OwnTone response body that is a non-empty DMAP document. */
function owntoneDmapBodies(): { name: string; body: Buffer }[] {
  return readdirSync(OWNTONE)
    .filter((f) => f.endsWith('.headers'))
    .map((f) => f.slice(0, -'.headers'.length))
    .filter((name) => /content-type:\s*application\/x-dmap-tagged/i.test(readFileSync(`${OWNTONE}/${name}.headers`, 'latin1')))
    .map((name) => ({ name, body: readFileSync(`${OWNTONE}/${name}.bin`) }))
    .filter(({ body }) => body.length > 0);
}

describe('DMAP codec', () => {
  it('decodes the known playstatus response exactly', () => {
    const bytes = Buffer.from('636d7374000000186d73747400000004000000c8636d73720000000400000019', 'hex');
    assert.deepEqual(dmapToObject(decodeDmap(bytes)), { cmst: { mstt: 200, cmsr: 25 } });
  });

  it('knows every tag pyatv knows (pyatv: protocols/dmap/tag_definitions.py), with the containers marked', () => {
    const pyatvTags =
      'aelb aels aeFP aeGs aeSV apro asai asal asar asgr astm ated caar caas caci cafe cafs cana cang canl cann canp cant ' +
      'capr caps carp cash cast casu cavc cave cavs ceGS ceQR ceSD cmcp cmmk cmnm cmpa cmpg cmpr cmsr cmst cmty mdcl miid ' +
      'minm mlcl mlid mlit mlog mpro mrco msal msbr msdc msed msex msix mslr mspi msqy msrv mstc mstm msto mstt msup mtco ' +
      'aead aeFR aeSX asse atCV atSV caks caov capl casa casc cass ceQA ceQU ceMQ ceNQ ceNR ceQu cmbe cmcc cmce cmcv cmik ' +
      'cmsb cmsc cmsp cmsv cmte mscu';
    const codes = pyatvTags.split(' ');
    assert.equal(codes.length, 98);
    for (const code of codes) assert.ok(DMAP_TAGS[code], `missing tag ${code}`);
    for (const c of ['caci', 'ceQR', 'cmcp', 'cmpa', 'cmst', 'mdcl', 'mlcl', 'mlit', 'mlog', 'msrv']) {
      assert.equal(DMAP_TAGS[c]!.type, 'container', c);
    }
  });

  describe('every OwnTone 29.3 DMAP body', () => {
    const bodies = owntoneDmapBodies();
    it('finds the recorded bodies', () => assert.ok(bodies.length >= 20, `only ${bodies.length} bodies`));
    for (const { name, body } of bodies) {
      it(`${name}: decodes with no unknown tag and re-encodes byte for byte`, () => {
        const nodes = decodeDmap(body);
        const unknown: string[] = [];
        const walk = (list: typeof nodes): void => {
          for (const n of list) {
            if (!DMAP_TAGS[n.tag]) unknown.push(n.tag);
            if (Array.isArray(n.value)) walk(n.value);
          }
        };
        walk(nodes);
        assert.deepEqual(unknown, []);
        assert.equal(nodes.length, 1, 'one top-level container');
        assert.equal(nodes[0]!.type, 'container');
        assert.equal(dmapNumber(nodes, nodes[0]!.tag, 'mstt'), 200);
        assert.ok(encodeDmap(nodes).equals(body));
      });
    }
  });

  it('decodes the OwnTone structures into their real shape', () => {
    const read = (name: string) => decodeDmap(readFileSync(`${OWNTONE}/${name}.bin`));

    const playing = read('playstatusupdate-2-playing');
    assert.equal(dmapNumber(playing, 'cmst', 'caps'), 4);
    assert.equal(dmapString(playing, 'cmst', 'cann'), 'Sine A440');
    assert.equal(dmapString(playing, 'cmst', 'cana'), 'Test Artist');
    assert.equal(dmapNumber(playing, 'cmst', 'cast'), 30040);
    assert.ok(Buffer.isBuffer(findDmap(playing, 'cmst', 'canp')?.value), 'canp stays raw ids');

    const ctrl = read('ctrl-int');
    assert.equal(findDmap(ctrl, 'caci', 'mlcl', 'mlit', 'capr')?.value, '2.0.5');
    assert.equal(findDmap(ctrl, 'caci', 'mlcl', 'mlit', 'ceSX')?.value, 3n);

    const items = read('daap-items');
    const tracks = findAllDmap(items, 'apso', 'mlcl', 'mlit');
    assert.equal(tracks.length, 5);
    assert.deepEqual(
      tracks.map((t) => dmapString(t.value as never, 'minm')),
      ['Sine A440', 'Sine C523', 'Sine E659', 'Sine G784', 'Sine E330'],
    );

    const queue = read('playqueue-contents');
    const sections = findAllDmap(queue, 'ceQR', 'mlcl', 'ceQS', 'mlit');
    assert.deepEqual(
      sections.map((s) => dmapString(s.value as never, 'ceQk')),
      ['hist', 'curr', 'main'],
    );
    assert.equal(dmapNumber(sections[0]!.value as never, 'ceQi'), -200, 'signed section start');

    const speakers = read('getspeakers');
    assert.equal(dmapString(speakers, 'casp', 'mdcl', 'minm'), 'Dummy');
    assert.equal(dmapNumber(speakers, 'casp', 'mdcl', 'cmvo'), 100);

    const props = read('getproperty-initial');
    assert.deepEqual(dmapToObject(props), {
      cmgt: { mstt: 200, cmvo: 50, caps: 2, cash: 0, carp: 0, caas: 2, caar: 6 },
    });

    const server = read('server-info');
    assert.equal(dmapString(server, 'msrv', 'minm'), 'OwnTone Loopback Peer');
    assert.equal(findDmap(server, 'msrv', 'mpro')?.value, '2.0.10');
    assert.equal(findDmap(server, 'msrv', 'mslr')?.value, true);

    const albums = read('daap-albums');
    assert.equal(findAllDmap(albums, 'agal', 'mshl', 'mlit').length, 3);
    assert.equal(typeof findDmap(albums, 'agal', 'mlcl', 'mlit', 'mper')?.value, 'bigint');
  });

  it('decodes the pairing answer recorded against OwnTone', () => {
    const body = Buffer.from(
      '636d706100000031636d706700000008feedfacecafebeef636d6e6d0000000b46616b652052656d6f7465636d7479000000066950686f6e65',
      'hex',
    );
    assert.deepEqual(dmapToObject(decodeDmap(body)), {
      cmpa: { cmpg: 0xfeedfacecafebeefn, cmnm: 'Fake Remote', cmty: 'iPhone' },
    });
    const rebuilt = encodeTag('cmpa', [encodeTag('cmpg', 0xfeedfacecafebeefn), encodeTag('cmnm', 'Fake Remote'), encodeTag('cmty', 'iPhone')]);
    assert.ok(rebuilt.equals(body));
  });

  it('keeps unknown tags as raw bytes', () => {
    const body = Buffer.concat([encodeTag('zzzz', Buffer.from([1, 2, 3])), encodeTag('mstt', 200)]);
    const nodes = decodeDmap(body);
    assert.equal(nodes[0]!.tag, 'zzzz');
    assert.equal(nodes[0]!.type, 'raw');
    assert.deepEqual([...(nodes[0]!.value as Buffer)], [1, 2, 3]);
    assert.equal(nodes[1]!.value, 200);
  });

  it('reads mlit as text where a server sends strings in a listing', () => {
    const body = encodeTag('abar', [encodeTag('mlcl', [encodeTag('mlit', 'Test Artist'), encodeTag('mlit', 'Other Artist')])]);
    const names = findAllDmap(decodeDmap(body), 'abar', 'mlcl', 'mlit').map((n) => n.value);
    assert.deepEqual(names, ['Test Artist', 'Other Artist']);
  });

  describe('malformed input', () => {
    const good = Buffer.from('636d7374000000186d73747400000004000000c8636d73720000000400000019', 'hex');

    it('a truncated body is a DecodeError, at every cut', () => {
      for (let cut = 1; cut < good.length; cut++) {
        assert.throws(() => decodeDmap(good.subarray(0, cut)), DecodeError, `cut at ${cut}`);
      }
    });

    it('a length past the end names the tag and offset, without allocating it', () => {
      const huge = Buffer.from('636d7374ffffffff6d737474', 'hex');
      assert.throws(() => decodeDmap(huge), (err: unknown) => {
        assert.ok(err instanceof DecodeError);
        assert.equal(err.code, 'PROTOCOL');
        assert.equal(err.offset, 0);
        assert.match(err.message, /'cmst'.*4294967295 bytes/);
        return true;
      });
    });

    it('a wrong inner length is caught inside the container', () => {
      const bad = Buffer.from(good);
      bad.writeUInt32BE(100, 12); // mstt claims 100 bytes inside a 24-byte cmst
      assert.throws(() => decodeDmap(bad), (err: unknown) => err instanceof DecodeError && err.offset === 8);
    });

    it('deep nesting is refused, not a stack overflow', () => {
      let body = encodeTag('mstt', 1);
      for (let i = 0; i < 100; i++) body = encodeTag('mlcl', [body]);
      assert.throws(() => decodeDmap(body), DecodeError);
      assert.doesNotThrow(() => decodeDmap(body, { maxDepth: 200 }));
    });

    it('random bytes never throw anything but DecodeError', () => {
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
      for (let round = 0; round < 2000; round++) {
        const bytes = Buffer.from(Array.from({ length: rand() % 64 }, rand));
        if (round % 2 === 0) bytes.write('cmst', 0, 'latin1');
        try {
          decodeDmap(bytes);
        } catch (err) {
          assert.ok(err instanceof DecodeError, String(err));
        }
      }
    });
  });

  describe('encoding', () => {
    it('uses the table widths and types', () => {
      assert.equal(encodeTag('caps', 4).toString('hex'), '636170730000000104');
      assert.equal(encodeTag('mstt', 200).toString('hex'), '6d73747400000004000000c8');
      assert.equal(encodeTag('cavc', true).toString('hex'), '636176630000000101');
      assert.equal(encodeTag('cmcc', 0x30).toString('hex'), '636d63630000000130');
      assert.equal(encodeTag('caps', 4, 4).toString('hex'), '636170730000000400000004');
    });

    it('refuses values that do not fit', () => {
      assert.throws(() => encodeTag('caps', 256), /does not fit/);
      assert.throws(() => encodeTag('mstt', -1), /does not fit/);
      assert.throws(() => encodeTag('toolong', 1), /4 characters/);
    });
  });
});
