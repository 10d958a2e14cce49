/**
 * The MRP features of the Device API against the simulator, the same whichever way MRP
 * travels (its own port, or the AirPlay tunnel): now playing, every command of the table, key
 * actions, power, push updates, properties and artwork, each checked in the simulator's state;
 * and the refusals of the HAP pairing MRP travels under (MRP's own, or AirPlay's).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { connect, type Device } from '../../../lib/core/facade';
import { pair } from '../../../lib/core/pairing';
import { COMMANDS } from '../../../lib/device/commands';
import { AuthenticationError, PairingError } from '../../../lib/errors';
import { formatHapCredentials, parseFullHapCredentials } from '../../../lib/hap/credentials';
import { ED25519_KEY_LENGTH, randomKeyBytes } from '../../../lib/hap/keys';
import type { NowPlaying } from '../../../lib/device/state';
import { MRP_COMMAND_ACTIONS } from '../../../lib/protocols/mrp/session';
import type { Simulator } from '../../../lib/simulator/index';
import type { KeyPress } from '../../../lib/simulator/state';
import { until } from '../../support/wait';

/** Registers the tests; `under` gives the connected device and its simulator once `before` ran. */
export function itDrivesEveryMrpFeature(under: () => { device: Device; sim: Simulator }): void {
  it('reads the state the simulator holds, with the app and the power state', async () => {
    const { device, sim } = under();
    const state = await device.nowPlaying();
    const expected = sim.state.nowPlaying();
    for (const field of ['title', 'artist', 'album', 'deviceState', 'totalTime'] as const) assert.equal(state[field], expected[field], field);
    assert.equal(state.app?.bundleId, 'com.apple.TVMusic');
    assert.equal(device.powerState(), 'on');
  });

  it('sends every transport, navigation, arrow and volume command of the table', async () => {
    const { device, sim } = under();
    const before = sim.state.keys.length;
    // every command MRP sends (the rest, e.g. guide, only Companion has)
    for (const spec of COMMANDS.filter((c) => c.group !== 'power' && MRP_COMMAND_ACTIONS[c.name].kind !== 'unsupported')) await device.command(spec.name);
    const keys = sim.state.keys.slice(before).map((k) => k.name);
    for (const key of ['up', 'down', 'left', 'right', 'select', 'menu', 'topMenu', 'home']) assert.ok(keys.includes(key as never), `${key} arrived`);
  });

  it('presses keys single, double and hold', async () => {
    const { device, sim } = under();
    const before = sim.state.keys.length;
    await device.command('select', { action: 'double' });
    // MRP sends a double press as two presses in a row.
    assert.deepEqual(
      sim.state.keys.slice(before).map((k) => [k.name, k.action]),
      [
        ['select', 'single'],
        ['select', 'single'],
      ],
    );
    await device.command('menu', { action: 'hold' });
    assert.deepEqual(sim.state.lastKey && [sim.state.lastKey.name, sim.state.lastKey.action], ['menu', 'hold']);
  });

  it('never interleaves concurrent key presses: each press, hold and double press arrives whole, in call order', async () => {
    const { device, sim } = under();
    const keys: string[] = [];
    const onKey = (press: KeyPress): void => void keys.push(`${press.name}:${press.action}`);
    sim.state.on('key', onKey);
    try {
      // A hold keeps its key down for a second: unqueued, the presses sent meanwhile would
      // land inside it (and a double press's two halves could be split by another key).
      await Promise.all([
        device.command('select', { action: 'hold' }),
        device.command('up'),
        device.command('down', { action: 'double' }),
        device.command('left'),
        device.command('menu', { action: 'double' }),
        device.command('right'),
      ]);
      assert.deepEqual(keys, ['select:hold', 'up:single', 'down:single', 'down:single', 'left:single', 'menu:single', 'menu:single', 'right:single']);
    } finally {
      sim.state.off('key', onKey);
    }
  });

  it('turns the device off and on', async () => {
    const { device, sim } = under();
    await device.command('turnOff');
    assert.equal(sim.state.power, 'off');
    await until(() => device.powerState() === 'off', 'power off reported');
    await device.command('turnOn');
    assert.equal(sim.state.power, 'on');
    await until(() => device.powerState() === 'on', 'power on reported');
  });

  it('delivers a push update when the device changes', async () => {
    const { device, sim } = under();
    await device.command('play');
    device.startPushUpdates();
    const expected = sim.state.tracks[(sim.state.index + 1) % sim.state.tracks.length]!.title;
    const pushed = new Promise<NowPlaying>((resolve) => {
      const listener = (state: NowPlaying): void => {
        if (state.title === expected) {
          device.off('nowPlaying', listener);
          resolve(state);
        }
      };
      device.on('nowPlaying', listener);
    });
    sim.state.next();
    assert.equal((await pushed).title, sim.state.nowPlaying().title);
    device.stopPushUpdates();
  });

  it('sets volume, shuffle, repeat and position, and returns what the device reports', async () => {
    const { device, sim } = under();
    if (sim.state.status === 'stopped') sim.state.play();
    assert.equal(await device.setProperty('volume', 30), 30);
    assert.equal(sim.state.volume, 30);
    assert.equal(await device.getProperty('volume'), 30);
    assert.equal(await device.setProperty('shuffle', 'songs'), 'songs');
    assert.equal(sim.state.shuffle, 'songs');
    assert.equal(await device.setProperty('repeat', 'all'), 'all');
    assert.equal(sim.state.repeat, 'all');
    const position = await device.setProperty('position', 5);
    assert.ok(Math.abs(position - 5) <= 1, `position ${position}`);
    assert.ok(Math.abs((sim.state.position ?? 0) - 5) <= 1);
  });

  it('fetches artwork as a PNG of the asked size through the playback-queue request', async () => {
    const { device } = under();
    const art = await device.artwork({ width: 64, height: 48 });
    assert.ok(art);
    assert.equal(art.mimeType, 'image/png');
    assert.equal(art.bytes.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(art.width, 64);
    assert.equal(art.height, 48);
  });
}

/** Registers the refusals of `protocol`'s pairing; `under` gives the simulator and credentials it paired once `before` ran. */
export function itRefusesForeignCredentialsAndWrongPins(protocol: 'mrp' | 'airplay', under: () => { sim: Simulator; credentials: string }): void {
  it('refuses credentials the device never paired, with an actionable error that shows no secret', async () => {
    const { sim, credentials } = under();
    const forged = formatHapCredentials({ ...parseFullHapCredentials(credentials), ltsk: randomKeyBytes(ED25519_KEY_LENGTH) });
    await assert.rejects(connect(sim.config(), { credentials: { [protocol]: forged } }), (err: unknown) => {
      assert.ok(err instanceof AuthenticationError, String(err));
      assert.ok(!err.message.includes(forged.split(':')[1]!));
      return true;
    });
  });

  it('fails pairing with a wrong PIN', async () => {
    const pairing = pair(protocol, { config: under().sim.config(), timeout: 5000 });
    await pairing.begin();
    pairing.setPin('0000');
    await assert.rejects(pairing.finish(), (err: unknown) => err instanceof PairingError && /wrong PIN/i.test(err.message));
    await pairing.close();
  });
}
