/**
 * End to end against the project's MRP simulator (lib/simulator/mrp.ts), written by another
 * engineer from the same reference: MrpPairing with the PIN the simulator "shows", then the
 * Device facade with those credentials. Both sides are ours, but neither was written
 * against the other, so this is where interoperability problems show up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type Device } from '../../../../lib/core/facade';
import type { NowPlaying } from '../../../../lib/device/state';
import { AuthenticationError } from '../../../../lib/errors';
import { parseFullHapCredentials } from '../../../../lib/hap/credentials';
import { MrpPairing } from '../../../../lib/protocols/mrp/pairing';
import { Simulator, type SimulatorPinRequest } from '../../../../lib/simulator/index';
import { until } from '../../../support/wait';


describe('MRP client against the MRP simulator', () => {
  let sim: Simulator;
  let device: Device;
  let credentials: string;
  const pins: SimulatorPinRequest[] = [];

  before(async () => {
    sim = new Simulator({ name: 'MRP Interop TV', protocols: ['mrp'], trackSeconds: 120 });
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    const pairing = new MrpPairing({ config: sim.config(), name: 'Interop remote', timeout: 5000 });
    await pairing.begin();
    await until(() => pins.length === 1, 'the PIN on screen');
    pairing.setPin(pins[0]!.pin);
    credentials = await pairing.finish();
    device = await connect(sim.config(), { credentials: { mrp: credentials }, timeout: 3000 });
  });

  after(async () => {
    await device?.close();
    await sim?.stop();
  });

  it('paired: the device knows us under our name, the credentials hold its key', () => {
    assert.equal(pins[0]!.remoteName, 'Interop remote');
    assert.ok(parseFullHapCredentials(credentials).ltpk.equals(sim.server('mrp')!.ltpk));
    assert.equal(sim.server('mrp')!.stats().verifications >= 2, true, 'verified once while pairing, once on connect');
  });

  it('reads the state the simulator holds, with the app', async () => {
    const state = await device.nowPlaying();
    const truth = sim.state.nowPlaying();
    for (const field of ['deviceState', 'title', 'artist', 'album', 'genre', 'totalTime', 'shuffle', 'repeat'] as const) {
      assert.deepEqual(state[field], truth[field], field);
    }
    assert.equal(state.app?.bundleId, sim.state.app?.bundleId);
    assert.equal(device.powerState(), 'on');
  });

  it('transport commands change the device; their availability follows the device', async () => {
    assert.equal(device.feature('play'), 'available');
    await device.command('play');
    assert.equal(sim.state.status, 'playing');
    await until(() => device.feature('pause') === 'available', 'pause enabled while playing');
    const before = sim.state.index;
    await device.command('next');
    assert.notEqual(sim.state.index, before);
    await until(() => sim.state.index !== before, 'next');
    await device.command('pause');
    assert.equal(sim.state.status, 'paused');
    await device.command('playPause');
    assert.equal(sim.state.status, 'playing');
    const position = sim.state.position ?? 0;
    await device.command('skipForward', { interval: 20 });
    assert.ok((sim.state.position ?? 0) >= position + 19, `skipped to ${sim.state.position}`);
  });

  it('every HID key arrives as the key, single and hold', async () => {
    for (const key of ['up', 'down', 'left', 'right', 'select', 'menu', 'topMenu', 'home'] as const) {
      const count = sim.state.keys.length;
      await device.command(key);
      assert.deepEqual(sim.state.keys.slice(count).map((k) => [k.name, k.action]), [[key, 'single']], key);
    }
    const count = sim.state.keys.length;
    await device.command('menu', { action: 'double' });
    assert.deepEqual(sim.state.keys.slice(count).map((k) => [k.name, k.action]), [['menu', 'single'], ['menu', 'single']]);
    await device.command('select', { action: 'hold' });
    assert.deepEqual(sim.state.lastKey && [sim.state.lastKey.name, sim.state.lastKey.action], ['select', 'hold']);
  });

  it('properties: volume, shuffle, repeat, position come back as the device reports them', async () => {
    assert.equal(await device.setProperty('volume', 30), 30);
    assert.equal(sim.state.volume, 30);
    assert.equal(await device.getProperty('volume'), 30);
    await device.command('volumeUp');
    assert.equal(sim.state.volume > 30, true);
    assert.equal(device.feature('setShuffle'), 'available');
    assert.equal(device.feature('setRepeat'), 'available');
    assert.equal(device.feature('setPosition'), 'available');
    assert.equal(await device.setProperty('shuffle', 'songs'), 'songs');
    assert.equal(sim.state.shuffle, 'songs');
    assert.equal(await device.setProperty('repeat', 'all'), 'all');
    assert.equal(sim.state.repeat, 'all');
    const position = await device.setProperty('position', 7);
    assert.ok(Math.abs(position - 7) <= 1, `position ${position}`);
  });

  it('artwork: a PNG of the asked size through the playback-queue request', async () => {
    const art = await device.artwork({ width: 64, height: 48 });
    assert.ok(art);
    assert.equal(art.mimeType, 'image/png');
    assert.deepEqual([art.width, art.height, art.bytes.readUInt32BE(16), art.bytes.readUInt32BE(20)], [64, 48, 64, 48]);
  });

  it('push: the state on start, then every change the simulator makes', async () => {
    const events: NowPlaying[] = [];
    const listener = (s: NowPlaying) => events.push(s);
    device.on('nowPlaying', listener);
    device.startPushUpdates();
    await until(() => events.length >= 1, 'the first push');
    const before = events.length;
    sim.state.next();
    const expected = sim.state.nowPlaying().title;
    await until(() => events.slice(before).some((e) => e.title === expected), `a push with ${expected}`);
    sim.state.pause();
    await until(() => events.at(-1)?.deviceState === 'paused', 'a push with the pause');
    device.stopPushUpdates();
    device.off('nowPlaying', listener);
  });

  it('power: off by home-hold + select, on by WAKE_DEVICE, each reported back', async () => {
    const seen: string[] = [];
    device.on('power', (p) => seen.push(p));
    await device.command('turnOff');
    assert.equal(sim.state.power, 'off');
    await until(() => device.powerState() === 'off', 'power off reported');
    await device.command('turnOn');
    assert.equal(sim.state.power, 'on');
    await until(() => device.powerState() === 'on', 'power on reported');
    assert.deepEqual(seen, ['off', 'on']);
  });

  it('a remote that never paired is refused with an AuthenticationError', async () => {
    await assert.rejects(connect(sim.config(), { timeout: 3000 }), (err: Error) => err instanceof AuthenticationError && /pair/.test(err.message));
  });
});
