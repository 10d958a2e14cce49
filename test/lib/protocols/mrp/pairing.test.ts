/**
 * MrpPairing against our HAP device side over loopback (pyatv: auth/hap_srp.py): the PIN flow, the
 * messages as they cross the wire, credentials that then verify on a fresh connection, and
 * the refusals a user must understand (wrong PIN, back-off, busy, dialog dismissed).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encodeTlv8, Tlv8ErrorCode, Tlv8Type } from '../../../../lib/codecs/tlv8';
import { pair } from '../../../../lib/core/pairing';
import { BackOffError, ClosedError, InvalidArgumentError, NotSupportedError, PairingError } from '../../../../lib/errors';
import { ed25519PublicKey } from '../../../../lib/hap/keys';
import { parseFullHapCredentials } from '../../../../lib/hap/credentials';
import { createMrpMessage, MrpMessageType } from '../../../../lib/protocols/mrp/messages';
import { MrpPairing } from '../../../../lib/protocols/mrp/pairing';
import { createMrpSession } from '../../../../lib/protocols/mrp/session';
import { FAKE_DEVICE_ID, FAKE_DEVICE_SEED, FakeMrpDevice } from './fake-device';
import { mrpConfig, mrpContext } from './helpers';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function device(options: Parameters<typeof FakeMrpDevice.start>[0] = {}): Promise<FakeMrpDevice> {
  const d = await FakeMrpDevice.start({ controllers: new Map(), ...options });
  cleanups.push(() => d.close());
  return d;
}

function pairing(d: FakeMrpDevice, extra: Partial<ConstructorParameters<typeof MrpPairing>[0]> = {}): MrpPairing {
  const p = new MrpPairing({ config: mrpConfig(d.port), timeout: 3000, ...extra });
  cleanups.push(() => p.close());
  return p;
}

const pairingState = (m: { payload?: unknown }) => (m.payload as { state?: number }).state;

describe('MrpPairing', () => {
  it('right PIN: credentials in pyatv format that verify on a fresh connection', async () => {
    const d = await device();
    const p = pairing(d, { name: 'My flow' });
    assert.equal(p.deviceProvidesPin, true);
    assert.equal(p.protocol, 'mrp');
    await p.begin();
    p.setPin('1111');
    const credentials = await p.finish();
    assert.match(credentials, /^[0-9a-f]{64}:[0-9a-f]{64}:[0-9a-f]+:[0-9a-f]+$/);
    const parsed = parseFullHapCredentials(credentials);
    assert.ok(parsed.ltpk.equals(ed25519PublicKey(FAKE_DEVICE_SEED)), "the device's long-term key");
    assert.equal(parsed.atvId.toString(), FAKE_DEVICE_ID);
    assert.match(parsed.clientId.toString(), /^[0-9a-f-]{36}$/, 'our id: the ASCII bytes of a UUID, as pyatv makes it');
    assert.ok(ed25519PublicKey(parsed.ltsk).equals(d.controllers.get(parsed.clientId.toString()) ?? Buffer.alloc(0)), 'the device stored our key');

    const conn = d.connections[0]!;
    const info = conn.messages(MrpMessageType.DEVICE_INFO_MESSAGE)[0]!.payload as { name: string; uniqueIdentifier: string };
    assert.equal(info.name, 'My flow');
    assert.equal(info.uniqueIdentifier, parsed.clientId.toString(), 'DEVICE_INFO names the id we pair with');
    const crypto = conn.messages(MrpMessageType.CRYPTO_PAIRING_MESSAGE);
    assert.equal(crypto.length, 5, 'setup M1, M3, M5, then verify M1, M3 on the same connection');
    assert.deepEqual(crypto.map(pairingState), [2, 0, 0, 0, 0]);
    assert.equal((crypto[0]!.payload as { pairingData: Buffer }).pairingData.toString('hex'), '000100060101');
    assert.ok(crypto.every((m) => m.identifier === undefined));
    assert.ok(conn.received.every((r) => !r.encrypted));
    await d.socketsClosed();

    const session = createMrpSession(mrpContext(d.port, credentials));
    cleanups.push(() => session.close());
    await session.connect();
    assert.ok(d.last.received.at(-1)!.encrypted, 'the new credentials switched on encryption');
    assert.equal((await session.nowPlaying()).title, 'Fake Title');
  });

  it('the PIN may be given up front (CLI --pin)', async () => {
    const d = await device();
    const p = pairing(d, { pin: '1111' });
    await p.begin();
    assert.ok(parseFullHapCredentials(await p.finish()));
  });

  it('wrong PIN: PairingError "wrong PIN", connection closed', async () => {
    const d = await device();
    const p = pairing(d);
    await p.begin();
    p.setPin('1234');
    await assert.rejects(p.finish(), (err: Error) => err instanceof PairingError && /wrong PIN/.test(err.message) && !err.message.includes('1234'));
    await d.socketsClosed();
    assert.equal(d.controllers.size, 0);
    await assert.rejects(p.finish(), ClosedError);
  });

  it('after wrong PINs the device backs off: BackOffError "wait N s" at begin()', async () => {
    const d = await device({ setup: { maxFailures: 1, backOffSeconds: 30 } });
    const first = pairing(d);
    await first.begin();
    first.setPin('9999');
    await assert.rejects(first.finish(), PairingError);
    const second = pairing(d);
    await assert.rejects(second.begin(), (err: Error) => err instanceof BackOffError && err.retryAfter === 30 && /wait 30 s/.test(err.message));
    await d.socketsClosed();
  });

  const refusals: [string, number, RegExp][] = [
    ['busy', Tlv8ErrorCode.Busy, /busy pairing with another controller/],
    ['unavailable', Tlv8ErrorCode.Unavailable, /does not accept pairing right now/],
    ['full', Tlv8ErrorCode.MaxPeers, /cannot store any more pairings/],
  ];
  for (const [name, code, message] of refusals) {
    it(`a device that refuses (${name}) fails begin() with a clear PairingError`, async () => {
      const d = await device();
      d.on(MrpMessageType.CRYPTO_PAIRING_MESSAGE, (conn) =>
        conn.send(
          createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, {
            pairingData: encodeTlv8([
              [Tlv8Type.State, 2],
              [Tlv8Type.Error, code],
            ]),
          }),
        ),
      );
      const p = pairing(d);
      await assert.rejects(p.begin(), (err: Error) => err instanceof PairingError && message.test(err.message));
      await d.socketsClosed();
    });
  }

  it('the device closing the connection while we wait for the PIN: PairingError "start again"', async () => {
    const d = await device();
    const p = pairing(d);
    await p.begin();
    d.last.destroy();
    await new Promise((r) => setTimeout(r, 20));
    p.setPin('1111');
    await assert.rejects(p.finish(), (err: Error) => err instanceof PairingError && /closed the connection during pairing/.test(err.message));
  });

  it('PIN checks and call order', async () => {
    const d = await device();
    const p = pairing(d);
    for (const bad of ['abc', '123', '12345', '']) assert.throws(() => p.setPin(bad), InvalidArgumentError);
    await assert.rejects(p.finish(), /begin\(\)/);
    await p.begin();
    await assert.rejects(p.begin(), /already begun/);
    await assert.rejects(p.finish(), /PIN/);
    await p.close();
    await p.close();
    await d.socketsClosed();
  });

  it('pair("mrp") makes an MrpPairing; a tvOS 15+ service or none is refused with the reason', () => {
    const p = pair('mrp', { config: mrpConfig(1), pin: '1111' });
    assert.ok(p instanceof MrpPairing);
    const disabled = mrpConfig(1, { enabled: false, disabledReason: 'tvOS 15 and later no longer accept direct MRP connections' });
    assert.throws(() => pair('mrp', { config: disabled }), (err: Error) => err instanceof NotSupportedError && /tvOS 15/.test(err.message));
    assert.throws(() => pair('mrp', { config: { ...mrpConfig(1), services: [] } }), /offers no MRP service/);
    assert.throws(() => pair('mrp', {}), InvalidArgumentError);
  });
});
