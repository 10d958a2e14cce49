/**
 * The whole library path over MRP: `pair('mrp')` against the simulator (PIN from its 'pin'
 * event, as a user reads it off the TV), then `connect()` with the credentials it produced,
 * and the Device API end to end. Every value asserted crossed a real loopback socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMANDS } from '../../../lib/device/commands';
import { MRP_COMMAND_ACTIONS } from '../../../lib/protocols/mrp/session';
import { connect, type Device } from '../../../lib/core/facade';
import { pair } from '../../../lib/core/pairing';
import type { NowPlaying } from '../../../lib/device/state';
import { AuthenticationError, PairingError } from '../../../lib/errors';
import { formatHapCredentials, parseFullHapCredentials } from '../../../lib/hap/credentials';
import { ED25519_KEY_LENGTH, randomKeyBytes } from '../../../lib/hap/keys';
import { Simulator, type SimulatorPinRequest } from '../../../lib/simulator/index';
import type { KeyPress } from '../../../lib/simulator/state';
import { until } from '../../support/wait';

const PIN = '2468';

describe('Device over MRP against the simulator', () => {
  let sim: Simulator;
  let device: Device;
  let credentials: string;
  const pins: SimulatorPinRequest[] = [];

  before(async () => {
    sim = new Simulator({ name: 'MRP Facade TV', protocols: ['mrp'], pin: PIN, trackSeconds: 60 });
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    const pairing = pair('mrp', { config: sim.config(), name: 'Facade Remote', timeout: 5000 });
    await pairing.begin();
    assert.equal(pins.length, 1, 'the device showed a PIN when pairing began');
    pairing.setPin(pins[0]!.pin);
    credentials = await pairing.finish();
    device = await connect(sim.config(), { credentials: { mrp: credentials } });
  });

  after(async () => {
    await device?.close();
    await sim?.stop();
  });

  it('paired with the PIN the device showed, under the name we gave', () => {
    assert.deepEqual(pins[0], { protocol: 'mrp', pin: PIN, remoteName: 'Facade Remote' });
    const parsed = parseFullHapCredentials(credentials);
    assert.deepEqual(parsed.ltpk, sim.server('mrp')!.ltpk);
    assert.equal(sim.server('mrp')!.stats().pairings, 1);
  });

  it('connects over MRP and reads the state the simulator holds', async () => {
    assert.deepEqual(device.protocols, ['mrp']);
    const state = await device.nowPlaying();
    const expected = sim.state.nowPlaying();
    assert.equal(state.title, expected.title);
    assert.equal(state.artist, expected.artist);
    assert.equal(state.album, expected.album);
    assert.equal(state.deviceState, expected.deviceState);
    assert.equal(state.totalTime, expected.totalTime);
    assert.equal(state.app?.bundleId, 'com.apple.TVMusic');
    assert.equal(device.powerState(), 'on');
  });

  it('sends every transport, navigation, arrow and volume command of the table', async () => {
    const before = sim.state.keys.length;
    for (const spec of COMMANDS.filter((c) => c.group !== 'power' && MRP_COMMAND_ACTIONS[c.name].kind !== 'unsupported')) {
      await device.command(spec.name);
    }
    const keys = sim.state.keys.slice(before).map((k) => k.name);
    for (const key of ['up', 'down', 'left', 'right', 'select', 'menu', 'topMenu', 'home']) assert.ok(keys.includes(key as never), `${key} arrived`);
    await device.command('select', { action: 'hold' });
    assert.deepEqual(sim.state.lastKey && [sim.state.lastKey.name, sim.state.lastKey.action], ['select', 'hold']);
  });

  it('never interleaves concurrent key presses: each press, hold and double press arrives whole, in call order', async () => {
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
    await device.command('turnOff');
    assert.equal(sim.state.power, 'off');
    await until(() => device.powerState() === 'off', 'power off reported');
    await device.command('turnOn');
    assert.equal(sim.state.power, 'on');
    await until(() => device.powerState() === 'on', 'power on reported');
  });

  it('delivers a push update when the device changes', async () => {
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
    const state = await pushed;
    assert.equal(state.title, sim.state.nowPlaying().title);
    device.stopPushUpdates();
  });

  it('sets every property and returns what the device reports', async () => {
    if (sim.state.status === 'stopped') sim.state.play();
    assert.equal(await device.setProperty('volume', 30), 30);
    assert.equal(sim.state.volume, 30);
    assert.equal(await device.setProperty('shuffle', 'songs'), 'songs');
    assert.equal(sim.state.shuffle, 'songs');
    assert.equal(await device.setProperty('repeat', 'all'), 'all');
    assert.equal(sim.state.repeat, 'all');
    const position = await device.setProperty('position', 5);
    assert.ok(Math.abs(position - 5) <= 1, `position ${position}`);
    assert.ok(Math.abs((sim.state.position ?? 0) - 5) <= 1);
  });

  it('fetches artwork as a PNG of the asked size through the playback-queue request', async () => {
    const art = await device.artwork({ width: 64, height: 48 });
    assert.ok(art);
    assert.equal(art.mimeType, 'image/png');
    assert.equal(art.bytes.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(art.width, 64);
    assert.equal(art.height, 48);
  });

  it('refuses credentials the device never paired, with an actionable error', async () => {
    const forged = formatHapCredentials({ ...parseFullHapCredentials(credentials), ltsk: randomKeyBytes(ED25519_KEY_LENGTH) });
    await assert.rejects(connect(sim.config(), { credentials: { mrp: forged } }), (err: unknown) => {
      assert.ok(err instanceof AuthenticationError, String(err));
      assert.ok(!err.message.includes(forged.split(':')[1]!));
      return true;
    });
  });

  it('fails pairing with a wrong PIN', async () => {
    const pairing = pair('mrp', { config: sim.config(), timeout: 5000 });
    await pairing.begin();
    pairing.setPin('0000');
    await assert.rejects(pairing.finish(), (err: unknown) => err instanceof PairingError && /wrong PIN/i.test(err.message));
    await pairing.close();
  });
});


describe('Device against a simulator serving DMAP and MRP', () => {
  it('pairs MRP, then opens both protocols with MRP first, on one shared state', async () => {
    const sim = new Simulator({ name: 'Both Protocols TV', protocols: ['dmap', 'mrp'], trackSeconds: 60 });
    let device: Device | undefined;
    try {
      await sim.start();
      const pairing = pair('mrp', { config: sim.config(), timeout: 5000 });
      await pairing.begin();
      pairing.setPin(sim.pin!);
      device = await connect(sim.config(), { credentials: { mrp: await pairing.finish() } });
      assert.deepEqual(device.protocols, ['mrp', 'dmap']);
      await device.command('play');
      assert.equal(sim.state.status, 'playing');
      assert.equal((await device.nowPlaying()).deviceState, 'playing');
      assert.equal(sim.server('mrp')!.stats().verifiedSessions, 1);
    } finally {
      await device?.close();
      await sim.stop();
    }
  });
});
