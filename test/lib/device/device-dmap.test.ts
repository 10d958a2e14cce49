/**
 * The whole library path a user takes: a DeviceConfig from the simulator, `connect()` through
 * the facade and the protocol registry, then commands, state, push, properties and artwork —
 * every value asserted came back over a real loopback socket from the simulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DMAP_COMMAND_ACTIONS } from '../../../lib/protocols/dmap/session';
import { COMMANDS } from '../../../lib/device/commands';
import { connect, type Device } from '../../../lib/core/facade';
import { AuthenticationError, InvalidArgumentError, UnreachableError } from '../../../lib/errors';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../../../lib/simulator';
import type { NowPlaying } from '../../../lib/device/state';

describe('Device over DMAP against the simulator', () => {
  let sim: Simulator;
  let device: Device;

  before(async () => {
    sim = new Simulator({ name: 'Facade Test TV', homeSharing: false });
    await sim.start();
    device = await connect(sim.config(), { credentials: { dmap: DEMO_DMAP_CREDENTIALS } });
  });

  after(async () => {
    await device?.close();
    await sim?.stop();
  });

  it('picks DMAP and reads the state the simulator holds', async () => {
    assert.deepEqual(device.protocols, ['dmap']);
    const state = await device.nowPlaying();
    assert.equal(state.title, sim.state.nowPlaying().title);
    assert.equal(state.deviceState, sim.state.nowPlaying().deviceState);
  });

  it('sends every transport, navigation, arrow and volume command of the table', async () => {
    for (const spec of COMMANDS.filter((c) => DMAP_COMMAND_ACTIONS[c.name].kind !== 'unsupported')) {
      await device.command(spec.name);
    }
    const keys = sim.state.keys.map((k) => k.name);
    for (const key of ['up', 'down', 'left', 'right', 'select', 'menu', 'topMenu']) assert.ok(keys.includes(key as never), `${key} arrived`);
    await assert.rejects(device.command('home'), /cannot do "home"/);
  });

  it('delivers a push update when the device changes', async () => {
    await device.command('play');
    device.startPushUpdates();
    await new Promise((r) => setTimeout(r, 200));
    const pushed = new Promise<NowPlaying>((resolve) => device.once('nowPlaying', resolve));
    sim.state.next();
    const state = await pushed;
    assert.equal(state.title, sim.state.nowPlaying().title);
  });

  it('sets every property and returns what the device reports', async () => {
    assert.equal(await device.setProperty('volume', 30), 30);
    assert.equal(sim.state.volume, 30);
    assert.equal(await device.setProperty('shuffle', true), 'songs');
    assert.equal(await device.setProperty('repeat', 'all'), 'all');
    const position = await device.setProperty('position', 5);
    assert.ok(Math.abs(position - 5) <= 1, `position ${position}`);
    await assert.rejects(device.setProperty('volume', 150), InvalidArgumentError);
  });

  it('fetches artwork as a PNG of the asked size', async () => {
    await device.command('play');
    const art = await device.artwork({ width: 64, height: 48 });
    assert.ok(art);
    assert.equal(art.mimeType, 'image/png');
    assert.equal(art.bytes.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(art.width, 64);
    assert.equal(art.height, 48);
  });

  it('refuses wrong credentials with an actionable error that does not echo them', async () => {
    await assert.rejects(connect(sim.config(), { credentials: { dmap: '0x1111222233334444' } }), (err: unknown) => {
      assert.ok(err instanceof AuthenticationError);
      assert.ok(!err.message.includes('1111222233334444'));
      return true;
    });
  });

  it('reports an unreachable device', async () => {
    const config = sim.config();
    const closedPort = { ...config, services: config.services.map((s) => ({ ...s, port: 1 })) };
    await assert.rejects(connect(closedPort, { credentials: { dmap: DEMO_DMAP_CREDENTIALS } }), UnreachableError);
  });
});
