/**
 * The facade with the registered MRP session (SESSION_FACTORIES.mrp) against the replayed
 * pyatv fake device: the Device API works over MRP with no MRP-specific call, and a direct
 * MRP service that discovery disabled (tvOS 15+) is refused at once rather than timing out.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect, Device } from '../../../../lib/core/facade';
import type { NowPlaying } from '../../../../lib/device/state';
import { InvalidArgumentError, NotSupportedError } from '../../../../lib/errors';
import { MrpMessageType } from '../../../../lib/protocols/mrp/messages';
import { FakeMrpDevice, PYATV_CREDENTIALS } from './fake-device';
import { mrpConfig, sleep } from './helpers';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('Device facade over MRP', () => {
  it('connects with MRP credentials and relays commands, state, artwork, properties, pushes', async () => {
    const fake = await FakeMrpDevice.start();
    cleanups.push(() => fake.close());
    const device = await connect(mrpConfig(fake.port), { credentials: { mrp: PYATV_CREDENTIALS }, timeout: 3000 });
    cleanups.push(() => device.close());
    assert.deepEqual(device.protocols, ['mrp']);
    assert.equal((await device.nowPlaying()).title, 'Fake Title');
    assert.equal(device.feature('play'), 'available');
    assert.equal(device.feature('setShuffle'), 'unavailable');
    assert.equal(device.powerState(), 'on');
    await device.command('pause');
    await device.command('menu', { action: 'double' });
    assert.deepEqual(
      fake.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).map((m) => m.payload),
      [{ command: 2 }],
    );
    assert.equal(fake.last.messages(MrpMessageType.SEND_HID_EVENT_MESSAGE).length, 4);
    const art = await device.artwork({ width: 100 });
    assert.equal(art?.mimeType, 'image/png');
    assert.equal(await device.getProperty('volume'), 50);
    assert.equal(await device.setProperty('volume', '35'), 35);
    // Checked where it enters: nothing reaches the device.
    const sent = fake.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).length;
    await assert.rejects(device.setProperty('position', -5), InvalidArgumentError);
    await assert.rejects(device.command('skipBackward', { interval: -1 }), InvalidArgumentError);
    assert.equal(fake.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).length, sent);

    const events: NowPlaying[] = [];
    device.on('nowPlaying', (s) => events.push(s));
    device.startPushUpdates();
    await sleep(20);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.app?.bundleId, 'com.github.postlund.pyatv');
  });

  it('a lost MRP connection closes the device with connectionLost', async () => {
    const fake = await FakeMrpDevice.start();
    cleanups.push(() => fake.close());
    const device = new Device(mrpConfig(fake.port), { credentials: { mrp: PYATV_CREDENTIALS }, timeout: 3000 });
    cleanups.push(() => device.close());
    await device.connect();
    const lost: Error[] = [];
    device.on('connectionLost', (e) => lost.push(e));
    fake.last.destroy();
    for (let i = 0; i < 100 && lost.length === 0; i++) await sleep(10);
    assert.equal(lost.length, 1);
    assert.equal(device.connected, false);
  });

  it('a direct MRP service disabled by discovery (tvOS 15+) is refused at once, without a connection attempt', async () => {
    const fake = await FakeMrpDevice.start();
    cleanups.push(() => fake.close());
    const config = mrpConfig(fake.port, {
      enabled: false,
      disabledReason: 'tvOS 15 and later no longer accept direct MRP connections: pair AirPlay to control this Apple TV through the AirPlay tunnel',
    });
    const started = Date.now();
    await assert.rejects(connect(config, { credentials: { mrp: PYATV_CREDENTIALS }, timeout: 3000 }), (err: Error) => {
      assert.ok(err instanceof NotSupportedError, err.message);
      assert.match(err.message, /mrp/);
      assert.match(err.message, /tvOS 15 and later .* pair AirPlay/, 'the user learns why and what to do');
      return true;
    });
    assert.ok(Date.now() - started < 500, 'no timeout');
    assert.equal(fake.connections.length, 0);
  });
});
