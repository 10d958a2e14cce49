/**
 * Our HAP layer against pyatv 0.16.1's recorded pairings (client and fake device are pyatv).
 * Three facts make the captures replayable: pyatv uses its Ed25519 seed (the ltsk in the
 * credentials) as its SRP secret a; the fake device uses 32 × 0xAA as its Ed25519 seed, its
 * SRP secret b and its X25519 key; and Ed25519 and ChaCha20-Poly1305 are deterministic. So our
 * client, given pyatv's secrets, must produce pyatv's messages byte for byte, and our device,
 * given the fake's, must accept pyatv's messages and derive the session keys in keys.json.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTlv8, Tlv8Type, tlv8Uint } from '../../../lib/codecs/tlv8';
import { formatHapCredentials, parseFullHapCredentials } from '../../../lib/hap/credentials';
import { ed25519PublicKey } from '../../../lib/hap/keys';
import { PairSetupClient, PairSetupServer } from '../../../lib/hap/pair-setup';
import { deriveChannelKeys, PairVerifyServer, type HapSessionChannel } from '../../../lib/hap/pair-verify';
import {
  companionPairingTlvs,
  FAKE_DEVICE_ID,
  FAKE_DEVICE_SEED,
  mrpPairingTlvs,
  readCapture,
  readKeys,
  splitHttp,
  stream,
} from './captures';

type Protocol = 'mrp' | 'companion' | 'airplay';

/** The pair-setup TLVs of each capture: [M1, M3, M5, (verify M1, M3)] and [M2, M4, M6, (verify M2, M4)]. */
function pairingTlvs(protocol: Protocol): { c2s: Buffer[]; s2c: Buffer[] } {
  if (protocol === 'mrp') return mrpPairingTlvs(readCapture('mrp-pair.jsonl'));
  if (protocol === 'companion') return companionPairingTlvs(readCapture('companion-pair.jsonl'));
  const chunks = readCapture('airplay-pair.jsonl');
  const requests = splitHttp(stream(chunks, 'c2s'));
  const responses = splitHttp(stream(chunks, 's2c'));
  const pairSetup = requests.map((r, i) => [r, responses[i]!] as const).filter(([r]) => r.startLine.startsWith('POST /pair-setup '));
  return { c2s: pairSetup.map(([r]) => r.body), s2c: pairSetup.map(([, s]) => s.body) };
}

const keys = readKeys();
const state = (tlv: Buffer) => tlv8Uint(decodeTlv8(tlv), Tlv8Type.State);

describe("pyatv's recorded HAP pairings", () => {
  it('MRP pair-setup M1..M6 and pair-verify M1..M4 have the structure pyatv gives them (auth/hap_srp.py)', () => {
    const { c2s, s2c } = pairingTlvs('mrp');
    assert.deepEqual(c2s.map(state), [1, 3, 5, 1, 3]);
    assert.deepEqual(s2c.map(state), [2, 4, 6, 2, 4]);
    const [m1, m3, m5, v1, v3] = c2s.map((t) => decodeTlv8(t));
    const [m2, m4, m6, v2, v4] = s2c.map((t) => decodeTlv8(t));
    assert.equal(tlv8Uint(m1!, Tlv8Type.Method), 0);
    assert.equal(m2!.get(Tlv8Type.Salt)!.length, 16);
    assert.equal(m2!.get(Tlv8Type.PublicKey)!.length, 384);
    assert.equal(m3!.get(Tlv8Type.PublicKey)!.length, 384);
    assert.equal(m3!.get(Tlv8Type.Proof)!.length, 64);
    assert.equal(m4!.get(Tlv8Type.Proof)!.length, 64);
    // M5/M6: Identifier (36) + PublicKey (32) + Signature (64) as TLV = 138, + 16-byte tag
    assert.equal(m5!.get(Tlv8Type.EncryptedData)!.length, 154);
    assert.equal(m6!.get(Tlv8Type.EncryptedData)!.length, 154);
    assert.equal(v1!.get(Tlv8Type.PublicKey)!.length, 32);
    assert.equal(v2!.get(Tlv8Type.PublicKey)!.length, 32);
    // Identifier (36) + Signature (64) as TLV = 104, + tag
    assert.equal(v2!.get(Tlv8Type.EncryptedData)!.length, 120);
    assert.equal(v3!.get(Tlv8Type.EncryptedData)!.length, 120);
    assert.deepEqual([...v4!.keys()], [Tlv8Type.State]);
  });

  for (const protocol of ['mrp', 'companion', 'airplay'] as const) {
    describe(`${protocol} pair-setup (PIN ${keys.pins[protocol]})`, () => {
      const credentials = parseFullHapCredentials(keys.credentials_from_pairing[protocol]);
      const { c2s, s2c } = pairingTlvs(protocol);

      /** Our device, made with the fake's secrets and the salt it drew. */
      const fakeDevice = () =>
        new PairSetupServer({
          pin: keys.pins[protocol],
          deviceId: FAKE_DEVICE_ID,
          seed: FAKE_DEVICE_SEED,
          srpPrivateKey: FAKE_DEVICE_SEED,
          salt: decodeTlv8(s2c[0]!).get(Tlv8Type.Salt)!,
        });

      /** The Name item pyatv put in M5 (read by our device), needed to rebuild M5 byte for byte. */
      let controllerName: Buffer | undefined | null = null;
      const nameFromM5 = (): Buffer | undefined => {
        if (controllerName === null) {
          const device = fakeDevice();
          device.handle(c2s[0]!);
          device.handle(c2s[1]!);
          const m6 = device.handle(c2s[2]!);
          controllerName = m6.kind === 'paired' ? m6.controller.name : undefined;
        }
        return controllerName;
      };

      it("our device accepts pyatv's M1, M3, M5, answers with the fake's salt, key and proof, and learns pyatv's id and key", () => {
        const device = fakeDevice();
        const m2 = device.handle(c2s[0]!);
        assert.equal(m2.kind, 'reply');
        const ours2 = decodeTlv8(m2.message);
        const theirs2 = decodeTlv8(s2c[0]!);
        assert.ok(ours2.get(Tlv8Type.PublicKey)!.equals(theirs2.get(Tlv8Type.PublicKey)!), 'B = k·v + g^b matches srptools');
        const m4 = device.handle(c2s[1]!);
        assert.equal(m4.kind, 'reply', "pyatv's SRP proof M1 verifies");
        assert.ok(decodeTlv8(m4.message).get(Tlv8Type.Proof)!.equals(decodeTlv8(s2c[1]!).get(Tlv8Type.Proof)!), 'same M2 proof');
        const m6 = device.handle(c2s[2]!);
        assert.equal(m6.kind, 'paired', "pyatv's M5 decrypts and its signature verifies");
        if (m6.kind !== 'paired') return;
        assert.ok(m6.controller.id.equals(credentials.clientId));
        assert.ok(m6.controller.ltpk.equals(ed25519PublicKey(credentials.ltsk)));
        controllerName = m6.controller.name;
        if (protocol === 'mrp') {
          assert.equal(m6.controller.name, undefined);
          assert.ok(m6.message.equals(s2c[2]!), "our M6 is the fake's, byte for byte");
        } else {
          // AirPlay and Companion name the controller with an OPACK dict {"name": "pyatv"}
          assert.ok(m6.controller.name?.includes('pyatv'));
        }
      });

      it("our client, given pyatv's secrets, sends pyatv's M1, M3, M5 byte for byte and verifies the device's proof and signature", () => {
        const name = nameFromM5();
        const client = new PairSetupClient({
          pin: keys.pins[protocol],
          seed: credentials.ltsk,
          srpPrivateKey: credentials.ltsk,
          pairingId: credentials.clientId,
          ...(name && { name }),
        });
        assert.ok(client.m1().equals(c2s[0]!));
        const m3 = client.handle(s2c[0]!);
        assert.ok(m3.kind === 'send' && m3.message.equals(c2s[1]!), 'M3: A and the proof');
        const m5 = client.handle(s2c[1]!);
        assert.ok(m5.kind === 'send' && m5.message.equals(c2s[2]!), 'M5: signature and ciphertext');
        const done = client.handle(s2c[2]!);
        assert.equal(done.kind, 'paired');
        if (done.kind === 'paired') assert.equal(formatHapCredentials(done.credentials), keys.credentials_from_pairing[protocol]);
      });

      it('with a wrong PIN our client would have been refused by our device', () => {
        const device = fakeDevice();
        device.handle(c2s[0]!);
        const client = new PairSetupClient({ pin: '0000', srpPrivateKey: credentials.ltsk });
        client.m1();
        const m3 = client.handle(s2c[0]!);
        if (m3.kind !== 'send') throw new Error('no M3');
        assert.throws(() => client.handle(device.handle(m3.message).message), /wrong PIN/);
      });
    });
  }

  describe("pair-verify: our device accepts pyatv's verify and derives the session keys pyatv used", () => {
    const cases: { file: string; protocol: 'mrp' | 'companion'; channel: HapSessionChannel }[] = [
      { file: 'mrp-pair.jsonl', protocol: 'mrp', channel: 'mrp' },
      { file: 'mrp-session-playing.jsonl', protocol: 'mrp', channel: 'mrp' },
      { file: 'mrp-session-pause.jsonl', protocol: 'mrp', channel: 'mrp' },
      { file: 'mrp-session-artwork_save.jsonl', protocol: 'mrp', channel: 'mrp' },
      { file: 'companion-session-power_state.jsonl', protocol: 'companion', channel: 'companion' },
      { file: 'companion-session-app_list.jsonl', protocol: 'companion', channel: 'companion' },
      { file: 'companion-session-launch_app_com.example.app.jsonl', protocol: 'companion', channel: 'companion' },
    ];
    for (const { file, protocol, channel } of cases) {
      it(file, () => {
        const credentials = parseFullHapCredentials(keys.credentials_from_pairing[protocol]);
        const tlvs = protocol === 'mrp' ? mrpPairingTlvs(readCapture(file)) : companionPairingTlvs(readCapture(file));
        const c2s = tlvs.c2s.slice(-2);
        const s2c = tlvs.s2c.slice(-2);
        assert.deepEqual([...c2s.map(state), ...s2c.map(state)], [1, 3, 2, 4]);
        const device = new PairVerifyServer({
          seed: FAKE_DEVICE_SEED,
          ephemeralPrivateKey: FAKE_DEVICE_SEED,
          deviceId: FAKE_DEVICE_ID,
          controllers: new Map([[credentials.clientId.toString(), ed25519PublicKey(credentials.ltsk)]]),
        });
        const m2 = device.handle(c2s[0]!);
        assert.ok(m2.message.equals(s2c[0]!), "our M2 is the fake's, byte for byte");
        const m4 = device.handle(c2s[1]!);
        assert.equal(m4.kind, 'verified', "pyatv's M3 signature verifies against its long-term key");
        if (m4.kind !== 'verified') return;
        assert.ok(m4.message.equals(s2c[1]!));
        assert.ok(m4.controllerId.equals(credentials.clientId));
        const session = keys.session_keys[file];
        if (session) {
          const derived = deriveChannelKeys(m4.sharedSecret, channel);
          assert.equal(derived.encryptKey.toString('hex'), session.client_write_key_client_to_device);
          assert.equal(derived.decryptKey.toString('hex'), session.client_read_key_device_to_client);
        }
      });
    }
  });
});
