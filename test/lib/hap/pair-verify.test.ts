import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTlv8, encodeTlv8, Tlv8ErrorCode, Tlv8Type, tlv8Uint } from '../../../lib/codecs/tlv8';
import { AuthenticationError, BackOffError, InvalidArgumentError, ProtocolError } from '../../../lib/errors';
import { hapCredentials, type HapCredentials } from '../../../lib/hap/credentials';
import { ed25519PublicKey, hkdfDerive, randomKeyBytes } from '../../../lib/hap/keys';
import {
  deriveChannelKeys,
  deriveSessionKeys,
  HAP_SESSION_KEY_SPECS,
  PairVerifyClient,
  PairVerifyServer,
  type PairVerifyServerOptions,
} from '../../../lib/hap/pair-verify';

const DEVICE_ID = 'device-5D797FD3';
const deviceSeed = randomKeyBytes(32);
const controllerSeed = randomKeyBytes(32);
const controllerId = Buffer.from('0a1b2c3d-controller');

const credentials: HapCredentials = hapCredentials({
  ltpk: ed25519PublicKey(deviceSeed),
  ltsk: controllerSeed,
  atvId: Buffer.from(DEVICE_ID),
  clientId: controllerId,
});

function device(overrides: Partial<PairVerifyServerOptions> = {}): PairVerifyServer {
  return new PairVerifyServer({
    seed: deviceSeed,
    deviceId: DEVICE_ID,
    controllers: new Map([[controllerId.toString(), ed25519PublicKey(controllerSeed)]]),
    ...overrides,
  });
}

function flipInEncrypted(message: Buffer, at: number): Buffer {
  const map = decodeTlv8(message);
  const data = Buffer.from(map.get(Tlv8Type.EncryptedData)!);
  data[at]! ^= 1;
  map.set(Tlv8Type.EncryptedData, data);
  return encodeTlv8(map);
}

describe('HAP pair-verify', () => {
  it('verifies both ways and yields the same shared secret on both sides', () => {
    const server = device();
    const client = new PairVerifyClient(credentials);
    const m1 = client.m1();
    const m1map = decodeTlv8(m1);
    assert.equal(tlv8Uint(m1map, Tlv8Type.State), 1);
    assert.equal(m1map.get(Tlv8Type.PublicKey)!.length, 32);
    const m2 = server.handle(m1);
    assert.equal(m2.kind, 'reply');
    const m2map = decodeTlv8(m2.message);
    assert.equal(tlv8Uint(m2map, Tlv8Type.State), 2);
    assert.equal(m2map.get(Tlv8Type.PublicKey)!.length, 32);
    assert.ok(m2map.has(Tlv8Type.EncryptedData));
    const m3 = client.handle(m2.message);
    assert.equal(m3.kind, 'send');
    if (m3.kind !== 'send') return;
    const m4 = server.handle(m3.message);
    assert.equal(m4.kind, 'verified');
    const done = client.handle(m4.message);
    assert.equal(done.kind, 'verified');
    if (done.kind !== 'verified' || m4.kind !== 'verified') return;
    assert.ok(done.sharedSecret.equals(m4.sharedSecret));
    assert.ok(m4.controllerId.equals(controllerId));
  });

  it('device side: an unknown controller gets Error=Authentication, which the client reports as AuthenticationError', () => {
    const server = device({ controllers: new Map() });
    const client = new PairVerifyClient(credentials);
    const m3 = client.handle(server.handle(client.m1()).message);
    if (m3.kind !== 'send') throw new Error('no M3');
    const m4 = server.handle(m3.message);
    assert.equal(m4.kind, 'rejected');
    assert.equal(tlv8Uint(decodeTlv8(m4.message), Tlv8Type.Error), Tlv8ErrorCode.Authentication);
    assert.throws(() => client.handle(m4.message), (err: unknown) => err instanceof AuthenticationError && /pair again/.test(err.message));
  });

  it("device side: checks the controller's M3 signature against the stored key (pyatv's fake does not)", () => {
    // the controller id is known, but it was paired with another key
    const server = device({ controllers: (id) => (id.equals(controllerId) ? ed25519PublicKey(randomKeyBytes(32)) : undefined) });
    const client = new PairVerifyClient(credentials);
    const m3 = client.handle(server.handle(client.m1()).message);
    if (m3.kind !== 'send') throw new Error('no M3');
    const m4 = server.handle(m3.message);
    assert.equal(m4.kind, 'rejected');
    if (m4.kind === 'rejected') assert.match(m4.reason, /signature is invalid/);
  });

  it('device side: a tampered M3 is rejected, not thrown', () => {
    const server = device();
    const client = new PairVerifyClient(credentials);
    const m3 = client.handle(server.handle(client.m1()).message);
    if (m3.kind !== 'send') throw new Error('no M3');
    const m4 = server.handle(flipInEncrypted(m3.message, 5));
    assert.equal(m4.kind, 'rejected');
    assert.equal(tlv8Uint(decodeTlv8(m4.message), Tlv8Type.State), 4);
    for (const garbage of [Buffer.from([1]), encodeTlv8([[Tlv8Type.State, 3]]), encodeTlv8([[Tlv8Type.State, 1], [Tlv8Type.PublicKey, Buffer.alloc(5)]])]) {
      assert.equal(device().handle(garbage).kind, 'rejected');
    }
  });

  it("client: a tampered M2 (device signature/ciphertext) is an error, never accepted", () => {
    const server = device();
    const client = new PairVerifyClient(credentials);
    const m2 = server.handle(client.m1());
    assert.throws(() => client.handle(flipInEncrypted(m2.message, 3)), ProtocolError);
  });

  it('client: a device signing with another long-term key is an AuthenticationError', () => {
    const impostor = device({ seed: randomKeyBytes(32) });
    const client = new PairVerifyClient(credentials);
    assert.throws(
      () => client.handle(impostor.handle(client.m1()).message),
      (err: unknown) => err instanceof AuthenticationError && /signature does not match/.test(err.message),
    );
  });

  it('client: a device with another identifier is an AuthenticationError', () => {
    const other = device({ deviceId: 'some-other-device' });
    const client = new PairVerifyClient(credentials);
    assert.throws(
      () => client.handle(other.handle(client.m1()).message),
      (err: unknown) => err instanceof AuthenticationError && /different device/.test(err.message),
    );
  });

  it('client: device errors in M2 and M4 become typed errors', () => {
    const c1 = new PairVerifyClient(credentials);
    c1.m1();
    assert.throws(
      () => c1.handle(encodeTlv8([[Tlv8Type.State, 2], [Tlv8Type.Error, Tlv8ErrorCode.BackOff], [Tlv8Type.BackOff, 5]])),
      (err: unknown) => err instanceof BackOffError && err.retryAfter === 5,
    );
    const c2 = new PairVerifyClient(credentials);
    c2.m1();
    assert.throws(() => c2.handle(encodeTlv8([[Tlv8Type.State, 2], [Tlv8Type.Error, Tlv8ErrorCode.Busy]])), AuthenticationError);
    assert.throws(() => new PairVerifyClient({ kind: 'transient' } as unknown as HapCredentials), InvalidArgumentError);
  });

  describe('session keys', () => {
    it('has the per-channel strings pyatv uses (auth/hap_srp.py), with the event channel reversed', () => {
      assert.deepEqual(HAP_SESSION_KEY_SPECS.mrp, {
        salt: 'MediaRemote-Salt',
        writeInfo: 'MediaRemote-Write-Encryption-Key',
        readInfo: 'MediaRemote-Read-Encryption-Key',
      });
      assert.deepEqual(HAP_SESSION_KEY_SPECS.companion, { salt: '', writeInfo: 'ClientEncrypt-main', readInfo: 'ServerEncrypt-main' });
      assert.equal(HAP_SESSION_KEY_SPECS.airplayControl.writeInfo, 'Control-Write-Encryption-Key');
      assert.equal(HAP_SESSION_KEY_SPECS.airplayEvents.writeInfo, 'Events-Read-Encryption-Key');
      assert.equal(HAP_SESSION_KEY_SPECS.airplayEvents.readInfo, 'Events-Write-Encryption-Key');
    });

    it('derives HKDF-SHA512 keys per direction; the accessory sees them swapped', () => {
      const shared = randomKeyBytes(32);
      const keys = deriveSessionKeys(shared, 'Control-Salt', 'Control-Write-Encryption-Key', 'Control-Read-Encryption-Key');
      assert.ok(keys.writeKey.equals(hkdfDerive(shared, 'Control-Salt', 'Control-Write-Encryption-Key', 32, 'sha512')));
      const controller = deriveChannelKeys(shared, 'airplayControl');
      const accessory = deriveChannelKeys(shared, 'airplayControl', { role: 'accessory' });
      assert.ok(controller.encryptKey.equals(keys.writeKey));
      assert.ok(controller.decryptKey.equals(keys.readKey));
      assert.ok(accessory.encryptKey.equals(keys.readKey));
      assert.ok(accessory.decryptKey.equals(keys.writeKey));
    });

    it('appends the data stream seed in unsigned decimal and requires it', () => {
      const shared = randomKeyBytes(32);
      const seed = 0xfedcba9876543210n;
      const keys = deriveChannelKeys(shared, 'airplayDataStream', { seed });
      assert.ok(keys.encryptKey.equals(hkdfDerive(shared, `DataStream-Salt${seed.toString()}`, 'DataStream-Output-Encryption-Key')));
      assert.ok(keys.decryptKey.equals(hkdfDerive(shared, 'DataStream-Salt18364758544493064720', 'DataStream-Input-Encryption-Key')));
      assert.throws(() => deriveChannelKeys(shared, 'airplayDataStream'), InvalidArgumentError);
      assert.throws(() => deriveChannelKeys(shared, 'airplayDataStream', { seed: -1n }), InvalidArgumentError);
      assert.throws(() => deriveChannelKeys(shared, 'airplayDataStream', { seed: 1n << 64n }), InvalidArgumentError);
    });
  });
});
