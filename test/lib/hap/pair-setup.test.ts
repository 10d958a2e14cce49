import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SRP } from 'fast-srp-hap';
import { decodeTlv8, encodeTlv8, Tlv8ErrorCode, Tlv8Type, tlv8Uint } from '../../../lib/codecs/tlv8';
import { BackOffError, InvalidArgumentError, PairingError, ProtocolError } from '../../../lib/errors';
import { hapDeviceError } from '../../../lib/hap/device-errors';
import {
  chacha20Poly1305Seal,
  ed25519PublicKey,
  ed25519Sign,
  hapLabelNonce,
  hkdfDerive,
  randomKeyBytes,
} from '../../../lib/hap/keys';
import {
  HAP_TRANSIENT_PIN,
  normalizeHapPin,
  PAIR_SETUP_HKDF,
  PairSetupClient,
  PairSetupServer,
  type PairSetupClientStep,
  type PairSetupServerStep,
} from '../../../lib/hap/pair-setup';
import { deriveChannelKeys, PairVerifyClient, PairVerifyServer } from '../../../lib/hap/pair-verify';
import { HapSrpServer, type SrpGroup } from '../../../lib/hap/srp';

/**
 * The error-path tests run on a small group so they stay fast; the protocol logic does not
 * depend on the group size. The happy paths use the real 3072-bit HAP group.
 */
const FAST_GROUP: SrpGroup = { ...SRP.params[1024], hash: 'sha512' };
const DEVICE_ID = 'B8:27:EB:00:00:01-device';

interface Outcome {
  client: PairSetupClientStep;
  server: PairSetupServerStep;
}

/** Runs client ↔ server in memory until the client finishes (or throws). */
function pairInMemory(client: PairSetupClient, server: PairSetupServer, tamper?: (step: number, msg: Buffer) => Buffer): Outcome {
  let message = client.m1();
  for (let step = 2; ; step += 2) {
    const reply = server.handle(message);
    const c = client.handle(tamper ? tamper(step, reply.message) : reply.message);
    if (c.kind !== 'send') return { client: c, server: reply };
    message = c.message;
  }
}

/**
 * Plays the device by hand up to M6 (it knows the PIN), signing M6 over the HKDF output
 * named by `signWith`; the correct one is `accessorySign`.
 */
function handMadeDevice(signWith: 'accessorySign' | 'controllerSign'): PairSetupClientStep {
  const srp = new HapSrpServer('1111', { group: FAST_GROUP });
  const client = new PairSetupClient({ pin: 1111, srpGroup: FAST_GROUP });
  client.m1();
  const m3 = client.handle(encodeTlv8([[Tlv8Type.State, 2], [Tlv8Type.Salt, srp.salt], [Tlv8Type.PublicKey, srp.publicKey]]));
  if (m3.kind !== 'send') throw new Error('no M3');
  const m3map = decodeTlv8(m3.message);
  srp.setClientPublicKey(m3map.get(Tlv8Type.PublicKey)!);
  assert.equal(srp.verifyClientProof(m3map.get(Tlv8Type.Proof)!), true);
  assert.equal(client.handle(encodeTlv8([[Tlv8Type.State, 4], [Tlv8Type.Proof, srp.proof]])).kind, 'send');

  const K = srp.sessionKey;
  const key = (which: keyof typeof PAIR_SETUP_HKDF) => hkdfDerive(K, PAIR_SETUP_HKDF[which].salt, PAIR_SETUP_HKDF[which].info);
  const seed = randomKeyBytes(32);
  const id = Buffer.from(DEVICE_ID);
  const ltpk = ed25519PublicKey(seed);
  const inner = encodeTlv8([
    [Tlv8Type.Identifier, id],
    [Tlv8Type.PublicKey, ltpk],
    [Tlv8Type.Signature, ed25519Sign(seed, Buffer.concat([key(signWith), id, ltpk]))],
  ]);
  const sealed = chacha20Poly1305Seal(key('encrypt'), hapLabelNonce('PS-Msg06'), inner);
  return client.handle(encodeTlv8([[Tlv8Type.State, 6], [Tlv8Type.EncryptedData, sealed]]));
}

function flip(buf: Buffer, at: number): Buffer {
  const out = Buffer.from(buf);
  out[at]! ^= 0x01;
  return out;
}

describe('HAP pair-setup', () => {
  it('pairs with the right PIN on the HAP group; the credentials then pass pair-verify on both sides', () => {
    const deviceSeed = randomKeyBytes(32);
    const server = new PairSetupServer({ pin: '2271', deviceId: DEVICE_ID, seed: deviceSeed });
    const client = new PairSetupClient();
    const m1 = client.m1();
    assert.deepEqual([...decodeTlv8(m1)], [
      [Tlv8Type.Method, Buffer.from([0])],
      [Tlv8Type.State, Buffer.from([1])],
    ]);
    const m2 = server.handle(m1);
    assert.equal(m2.kind, 'reply');
    const m2map = decodeTlv8(m2.message);
    assert.equal(m2map.get(Tlv8Type.Salt)!.length, 16);
    assert.equal(m2map.get(Tlv8Type.PublicKey)!.length, 384);
    client.setPin(2271);
    const m3 = client.handle(m2.message);
    assert.equal(m3.kind, 'send');
    if (m3.kind !== 'send') return;
    const m3map = decodeTlv8(m3.message);
    assert.equal(tlv8Uint(m3map, Tlv8Type.State), 3);
    assert.equal(m3map.get(Tlv8Type.PublicKey)!.length, 384);
    assert.equal(m3map.get(Tlv8Type.Proof)!.length, 64);
    const m4 = server.handle(m3.message);
    const m5 = client.handle(m4.message);
    assert.equal(m5.kind, 'send');
    if (m5.kind !== 'send') return;
    const m6 = server.handle(m5.message);
    assert.equal(m6.kind, 'paired');
    const done = client.handle(m6.message);
    assert.equal(done.kind, 'paired');
    if (done.kind !== 'paired' || m6.kind !== 'paired') return;

    const creds = done.credentials;
    assert.ok(creds.ltpk.equals(ed25519PublicKey(deviceSeed)));
    assert.equal(creds.atvId.toString(), DEVICE_ID);
    assert.ok(creds.clientId.equals(client.pairingId));
    assert.match(creds.clientId.toString('ascii'), /^[0-9a-f-]{36}$/);
    assert.ok(m6.controller.id.equals(creds.clientId));
    assert.ok(m6.controller.ltpk.equals(ed25519PublicKey(creds.ltsk)));
    assert.equal(m6.controller.name, undefined);

    // What the device remembered lets this controller pair-verify, with matching session keys.
    const verifyServer = new PairVerifyServer({
      seed: deviceSeed,
      deviceId: DEVICE_ID,
      controllers: new Map([[m6.controller.id.toString(), m6.controller.ltpk]]),
    });
    const verifyClient = new PairVerifyClient(creds);
    const v2 = verifyServer.handle(verifyClient.m1());
    const v3 = verifyClient.handle(v2.message);
    assert.equal(v3.kind, 'send');
    if (v3.kind !== 'send') return;
    const v4 = verifyServer.handle(v3.message);
    assert.equal(v4.kind, 'verified');
    const verified = verifyClient.handle(v4.message);
    assert.equal(verified.kind, 'verified');
    if (verified.kind !== 'verified' || v4.kind !== 'verified') return;
    assert.ok(verified.sharedSecret.equals(v4.sharedSecret));
    const ours = deriveChannelKeys(verified.sharedSecret, 'mrp');
    const theirs = deriveChannelKeys(v4.sharedSecret, 'mrp', { role: 'accessory' });
    assert.ok(ours.encryptKey.equals(theirs.decryptKey));
    assert.ok(ours.decryptKey.equals(theirs.encryptKey));
  });

  it('carries the caller-supplied Name payload (OPACK for AirPlay/Companion) to the device in M5', () => {
    const name = Buffer.from('e1446e616d6545707961747600', 'hex');
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP });
    const client = new PairSetupClient({ pin: '1111', name, srpGroup: FAST_GROUP, pairingId: 'controller-1' });
    const { client: c, server: s } = pairInMemory(client, server);
    assert.equal(c.kind, 'paired');
    assert.equal(s.kind, 'paired');
    if (s.kind !== 'paired') return;
    assert.ok(s.controller.name?.equals(name));
    assert.equal(s.controller.id.toString(), 'controller-1');
  });

  it('reports a wrong PIN as a PairingError saying so', () => {
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP });
    const client = new PairSetupClient({ pin: 1234, srpGroup: FAST_GROUP });
    assert.throws(
      () => pairInMemory(client, server),
      (err: unknown) => err instanceof PairingError && /^wrong PIN/.test(err.message) && !err.message.includes('1234') && !err.message.includes('1111'),
    );
    // the attempt is over
    assert.throws(() => client.handle(Buffer.alloc(0)), InvalidArgumentError);
  });

  it('backs off after repeated wrong PINs: BackOffError with the seconds to wait, then accepts again', () => {
    let now = 1_000_000;
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP, maxFailures: 2, backOffSeconds: 30, now: () => now });
    for (let i = 0; i < 2; i++) {
      assert.throws(() => pairInMemory(new PairSetupClient({ pin: 9999, srpGroup: FAST_GROUP }), server), /wrong PIN/);
    }
    now += 4_000;
    assert.throws(
      () => pairInMemory(new PairSetupClient({ pin: 1111, srpGroup: FAST_GROUP }), server),
      (err: unknown) => err instanceof BackOffError && err.retryAfter === 26 && err.code === 'BACKOFF' && /wait 26 s/.test(err.message),
    );
    now += 26_000;
    assert.equal(pairInMemory(new PairSetupClient({ pin: 1111, srpGroup: FAST_GROUP }), server).client.kind, 'paired');
  });

  it('refuses for good after maxTries failures (MaxTries)', () => {
    let now = 0;
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP, maxFailures: 1, backOffSeconds: 1, maxTries: 2, now: () => now });
    for (let i = 0; i < 2; i++) {
      assert.throws(() => pairInMemory(new PairSetupClient({ pin: 2222, srpGroup: FAST_GROUP }), server), /wrong PIN/);
      now += 2_000;
    }
    assert.throws(() => pairInMemory(new PairSetupClient({ pin: 1111, srpGroup: FAST_GROUP }), server), (err: unknown) => err instanceof PairingError && /too many failed pairing attempts/.test(err.message));
  });

  it("aborts when the device's SRP proof in M4 is wrong (pyatv does not check it)", () => {
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP });
    const client = new PairSetupClient({ pin: 1111, srpGroup: FAST_GROUP });
    const tamper = (step: number, msg: Buffer) => {
      if (step !== 4) return msg;
      const map = decodeTlv8(msg);
      map.set(Tlv8Type.Proof, flip(map.get(Tlv8Type.Proof)!, 3));
      return encodeTlv8(map);
    };
    assert.throws(() => pairInMemory(client, server, tamper), (err: unknown) => err instanceof PairingError && /SRP proof is wrong/.test(err.message));
  });

  it('aborts when M6 is tampered with', () => {
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP });
    const client = new PairSetupClient({ pin: 1111, srpGroup: FAST_GROUP });
    const tamper = (step: number, msg: Buffer) => {
      if (step !== 6) return msg;
      const map = decodeTlv8(msg);
      map.set(Tlv8Type.EncryptedData, flip(map.get(Tlv8Type.EncryptedData)!, 20));
      return encodeTlv8(map);
    };
    assert.throws(() => pairInMemory(client, server, tamper), (err: unknown) => err instanceof PairingError && /M6/.test(err.message));
  });

  it("rejects a device whose M6 signature does not match its key (hand-made device that knows the PIN)", () => {
    const signedWrong = () => handMadeDevice('controllerSign');
    assert.throws(signedWrong, (err: unknown) => err instanceof PairingError && /signature is invalid/.test(err.message));
    // the same device signing the right bytes is accepted, so the rejection was the signature
    assert.equal(handMadeDevice('accessorySign').kind, 'paired');
  });

  it('does transient pair-setup (Flags 0x10, PIN 3939, no M5/M6) with the SRP key as shared secret', () => {
    assert.equal(HAP_TRANSIENT_PIN, '3939');
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP });
    const client = new PairSetupClient({ transient: true, srpGroup: FAST_GROUP });
    const m1 = decodeTlv8(client.m1());
    assert.equal(tlv8Uint(m1, Tlv8Type.Flags), 0x10);
    assert.equal(tlv8Uint(m1, Tlv8Type.Method), 0);
    const fresh = new PairSetupClient({ transient: true, srpGroup: FAST_GROUP });
    const { client: c, server: s } = pairInMemory(fresh, server);
    assert.equal(c.kind, 'transient');
    assert.equal(s.kind, 'transient');
    if (c.kind !== 'transient' || s.kind !== 'transient') return;
    assert.equal(c.sharedSecret.length, 64);
    assert.ok(c.sharedSecret.equals(s.sharedSecret));
    // a device that refuses transient pairing says Unavailable
    const strict = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP, allowTransient: false });
    assert.throws(() => pairInMemory(new PairSetupClient({ transient: true, srpGroup: FAST_GROUP }), strict), /does not accept pairing right now/);
  });

  it('waits for the PIN: handling M2 without one is an InvalidArgumentError that does not end the attempt', () => {
    const server = new PairSetupServer({ pin: 4321, deviceId: DEVICE_ID, srpGroup: FAST_GROUP });
    const client = new PairSetupClient({ srpGroup: FAST_GROUP });
    const m2 = server.handle(client.m1());
    assert.throws(() => client.handle(m2.message), (err: unknown) => err instanceof InvalidArgumentError && /setPin/.test(err.message));
    client.setPin(' 4321 ');
    const m3 = client.handle(m2.message);
    assert.equal(m3.kind, 'send');
  });

  it('normalises PINs and refuses non-digits', () => {
    assert.equal(normalizeHapPin(7), '0007');
    assert.equal(normalizeHapPin('0123'), '0123');
    assert.equal(normalizeHapPin(12345), '12345');
    for (const bad of ['12a4', '', '-1', 1.5, -3, '123456789']) {
      assert.throws(() => normalizeHapPin(bad), (err: unknown) => err instanceof InvalidArgumentError && !err.message.includes(String(bad) || '§'));
    }
  });

  it('maps every device error code to an error the user can act on', () => {
    const m = (code: number, step: Parameters<typeof hapDeviceError>[2], backOff?: number) => hapDeviceError(code, backOff, step);
    assert.ok(m(Tlv8ErrorCode.Authentication, 'pair-setup M4') instanceof PairingError);
    assert.equal((m(Tlv8ErrorCode.BackOff, 'pair-setup M2', 60) as BackOffError).retryAfter, 60);
    assert.match(m(Tlv8ErrorCode.MaxPeers, 'pair-setup M2').message, /remove an old pairing/);
    assert.match(m(Tlv8ErrorCode.MaxTries, 'pair-setup M2').message, /restart/);
    assert.match(m(Tlv8ErrorCode.Unavailable, 'pair-setup M2').message, /does not accept pairing right now/);
    assert.match(m(Tlv8ErrorCode.Busy, 'pair-setup M2').message, /busy pairing with another controller/);
    assert.match(m(Tlv8ErrorCode.Unknown, 'pair-setup M6').message, /Unknown.*M6/);
    assert.match(m(42, 'pair-setup M2').message, /code 42/);
    const verify = m(Tlv8ErrorCode.Authentication, 'pair-verify M4');
    assert.equal(verify.code, 'AUTH');
    assert.match(verify.message, /pair again/);
    // A Busy reply to M1 arrives as such
    const client = new PairSetupClient({ pin: 1 });
    client.m1();
    assert.throws(() => client.handle(encodeTlv8([[Tlv8Type.State, 2], [Tlv8Type.Error, Tlv8ErrorCode.Busy]])), /busy/);
  });

  it('turns garbage from the device into a ProtocolError, never a crash', () => {
    const garbage = [Buffer.from([0x06]), Buffer.from('060105', 'hex'), encodeTlv8([[Tlv8Type.State, 2]]), Buffer.from('06010202ff00', 'hex')];
    for (const reply of garbage) {
      const client = new PairSetupClient({ pin: 1111 });
      client.m1();
      assert.throws(() => client.handle(reply), (err: unknown) => err instanceof ProtocolError, reply.toString('hex'));
    }
  });

  it('device side: answers garbage and out-of-order messages with TLV errors instead of throwing', () => {
    const server = new PairSetupServer({ pin: 1111, deviceId: DEVICE_ID, srpGroup: FAST_GROUP });
    const cases = [
      Buffer.from([0xff]),
      encodeTlv8([[Tlv8Type.State, 3], [Tlv8Type.PublicKey, Buffer.alloc(4)]]),
      encodeTlv8([[Tlv8Type.State, 5], [Tlv8Type.EncryptedData, Buffer.alloc(40)]]),
      encodeTlv8([[Tlv8Type.Method, 7], [Tlv8Type.State, 1]]),
    ];
    for (const msg of cases) {
      const step = server.handle(msg);
      assert.equal(step.kind, 'rejected');
      assert.ok(decodeTlv8(step.message).has(Tlv8Type.Error));
    }
    // an invalid SRP public key in M3 is rejected, not thrown
    server.handle(encodeTlv8([[Tlv8Type.Method, 0], [Tlv8Type.State, 1]]));
    const bad = server.handle(encodeTlv8([[Tlv8Type.State, 3], [Tlv8Type.PublicKey, Buffer.alloc(128)], [Tlv8Type.Proof, Buffer.alloc(64)]]));
    assert.equal(bad.kind, 'rejected');
    assert.equal(tlv8Uint(decodeTlv8(bad.message), Tlv8Type.State), 4);
    // and a garbage M5 after a good M3 gets Error=Authentication at state 6
    const client = new PairSetupClient({ pin: 1111, srpGroup: FAST_GROUP });
    const m3 = client.handle(server.handle(client.m1()).message);
    if (m3.kind !== 'send') throw new Error('no M3');
    client.handle(server.handle(m3.message).message);
    const m6 = server.handle(encodeTlv8([[Tlv8Type.State, 5], [Tlv8Type.EncryptedData, randomKeyBytes(100)]]));
    assert.equal(m6.kind, 'rejected');
    assert.deepEqual([tlv8Uint(decodeTlv8(m6.message), Tlv8Type.State), tlv8Uint(decodeTlv8(m6.message), Tlv8Type.Error)], [6, Tlv8ErrorCode.Authentication]);
  });
});
