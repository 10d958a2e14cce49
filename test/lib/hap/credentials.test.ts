import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../lib/errors';
import { formatHapCredentials, parseFullHapCredentials, parseHapCredentials } from '../../../lib/hap/credentials';
import { ed25519PublicKey } from '../../../lib/hap/keys';
import { FAKE_DEVICE_ID, FAKE_DEVICE_SEED, readKeys } from './captures';

describe('HAP credentials strings', () => {
  const keys = readKeys();

  for (const protocol of ['mrp', 'companion', 'airplay'] as const) {
    it(`round-trips pyatv's ${protocol} credentials from keys.json`, () => {
      const text = keys.credentials_from_pairing[protocol];
      const parsed = parseHapCredentials(text);
      assert.equal(parsed.kind, 'hap');
      if (parsed.kind !== 'hap') return;
      assert.equal(formatHapCredentials(parsed), text);
      // the fake device: fixed key and id; our id: the ASCII of a lower-case UUID
      assert.ok(parsed.ltpk.equals(ed25519PublicKey(FAKE_DEVICE_SEED)));
      assert.equal(parsed.atvId.toString('ascii'), FAKE_DEVICE_ID);
      assert.match(parsed.clientId.toString('ascii'), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(parsed.ltsk.length, 32);
    });
  }

  it('accepts upper-case hex and surrounding blanks', () => {
    const text = keys.credentials_from_pairing.mrp;
    assert.equal(formatHapCredentials(parseFullHapCredentials(`  ${text.toUpperCase()}\n`)), text);
  });

  it('recognises legacy AirPlay credentials in both forms', () => {
    const id = 'aabbccddeeff0011';
    const seed = '11'.repeat(32);
    const two = parseHapCredentials(`${id}:${seed}`);
    assert.equal(two.kind, 'legacy');
    if (two.kind !== 'legacy') return;
    assert.equal(two.clientId.toString('hex'), id);
    assert.equal(two.seed.toString('hex'), seed);
    // pyatv writes them as 4 fields with the device fields empty
    assert.equal(formatHapCredentials(two), `:${seed}::${id}`);
    assert.deepEqual(parseHapCredentials(`:${seed}::${id}`), two);
  });

  it('recognises transient credentials', () => {
    assert.deepEqual(parseHapCredentials('transient'), { kind: 'transient' });
    const pyatvForm = '7472616e7369656e74:::';
    assert.deepEqual(parseHapCredentials(pyatvForm), { kind: 'transient' });
    assert.equal(formatHapCredentials({ kind: 'transient' }), pyatvForm);
    assert.throws(() => parseFullHapCredentials('transient'), InvalidArgumentError);
  });

  it('rejects malformed strings with a message that names the field and never echoes the secret', () => {
    const [ltpk, ltsk, atvId, clientId] = keys.credentials_from_pairing.mrp.split(':') as [string, string, string, string];
    const cases: [string, RegExp][] = [
      [`${ltpk}:${ltsk}:${atvId}`, /expected 4 colon-separated fields .* got 3/],
      [`${ltpk}:${ltsk.slice(2)}:${atvId}:${clientId}`, /field 2 of 4 \(our secret key\) must be 64 hex digits/],
      [`${ltpk}:${ltsk.slice(1)}:${atvId}:${clientId}`, /field 2 of 4 .* not an even number of hex digits/],
      [`${ltpk}:${ltsk.replace(/.$/, 'g')}:${atvId}:${clientId}`, /field 2 of 4/],
      [`${ltpk}:${ltsk}::${clientId}`, /field 3 of 4 \(device id\)/],
      [`${ltpk}:${ltsk}:${atvId}:${'ab'.repeat(300)}`, /field 4 of 4/],
      ['', /got 1/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseHapCredentials(text),
        (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message) && !err.message.includes(ltsk.slice(8, 40)),
        text.slice(0, 20),
      );
    }
  });
});
