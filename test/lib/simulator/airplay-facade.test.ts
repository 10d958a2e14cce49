/**
 * The whole library path through the AirPlay 2 tunnel: `pair('airplay')` against the
 * simulator playing a tvOS 18 Apple TV (PIN from its 'pin' event, as a user reads it off the
 * TV), then `connect()` with those credentials, and every MRP feature of the Device API
 * through the tunnel; then a HomePod with no pairing at all. Every value asserted crossed
 * real loopback sockets (control, event and data connections).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { manualConfig } from '../../../lib/device/config';
import { connect, type Device } from '../../../lib/core/facade';
import { pair } from '../../../lib/core/pairing';
import { AuthenticationError, NotSupportedError } from '../../../lib/errors';
import { parseFullHapCredentials } from '../../../lib/hap/credentials';
import { Simulator, type SimulatorPinRequest } from '../../../lib/simulator/index';
import { itDrivesEveryMrpFeature, itRefusesForeignCredentialsAndWrongPins } from './mrp-features';
import { until } from '../../support/wait';

const PIN = '7305';

async function pairAirPlay(sim: Simulator, name = 'Tunnel Remote'): Promise<string> {
  const pins: SimulatorPinRequest[] = [];
  const onPin = (p: SimulatorPinRequest) => pins.push(p);
  sim.on('pin', onPin);
  try {
    const pairing = pair('airplay', { config: sim.config(), name, timeout: 5000 });
    await pairing.begin();
    assert.equal(pins.length, 1, 'the Apple TV showed a PIN when pairing began');
    pairing.setPin(pins[0]!.pin);
    return await pairing.finish();
  } finally {
    sim.off('pin', onPin);
  }
}

describe('Device through the AirPlay tunnel of a simulated tvOS 18 Apple TV', () => {
  let sim: Simulator;
  let device: Device;
  let credentials: string;
  const pins: SimulatorPinRequest[] = [];

  before(async () => {
    sim = new Simulator({ name: 'Tunnel TV', protocols: ['airplay'], pin: PIN, trackSeconds: 60 });
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    credentials = await pairAirPlay(sim);
    device = await connect(sim.config(), { credentials: { airplay: credentials } });
  });

  after(async () => {
    await device?.close();
    await sim?.stop();
  });

  it('is discovered as an Apple TV 4K on tvOS 18 whose AirPlay pairing is mandatory', () => {
    const config = sim.config();
    assert.equal(config.deviceInfo.rawModel, 'AppleTV14,1');
    assert.equal(config.deviceInfo.osVersion, '18.1');
    assert.equal(config.deviceInfo.operatingSystem, 'tvOS');
    const airplay = config.services.find((s) => s.protocol === 'airplay')!;
    assert.equal(airplay.port, sim.airplayPort);
    assert.equal(airplay.pairing, 'mandatory');
    assert.equal(airplay.properties['pk'], sim.server('airplay')!.ltpk.toString('hex'));
  });

  it('paired with the PIN the TV showed; the credentials hold the key the TXT advertises', () => {
    assert.deepEqual(pins[0], { protocol: 'airplay', pin: PIN, remoteName: null });
    const parsed = parseFullHapCredentials(credentials);
    assert.deepEqual(parsed.ltpk, sim.server('airplay')!.ltpk);
    assert.equal(parsed.atvId.toString('utf8'), sim.server('airplay')!.identity.pairingId);
    assert.equal(sim.server('airplay')!.stats().pairings, 1);
  });

  it('relays MRP through the tunnel: an MRP session via AirPlay, over one verified control connection', () => {
    assert.deepEqual(device.protocols, ['mrp', 'airplay']);
    assert.deepEqual(device.routes, [
      { protocol: 'mrp', via: 'airplay' },
      { protocol: 'airplay', via: null },
    ]);
    const stats = sim.server('airplay')!.stats();
    assert.equal(stats.tunnels, 1);
    // The pairing's own check, then the session's.
    assert.equal(stats.verifications, 2);
    assert.equal(stats.eventReplies, 1, 'the updateInfo event was answered');
    assert.ok(stats.syncs >= 4, 'DEVICE_INFO, SET_CONNECTION_STATE, CLIENT_UPDATES_CONFIG, GET_KEYBOARD_SESSION went as syncs');
    assert.ok(stats.replies >= 1, 'the device syncs were answered');
  });

  itDrivesEveryMrpFeature(() => ({ device, sim }));

  itRefusesForeignCredentialsAndWrongPins('airplay', () => ({ sim, credentials }));

  it('without AirPlay credentials: an AuthenticationError saying to pair AirPlay', async () => {
    await assert.rejects(connect(sim.config()), (err: unknown) => err instanceof AuthenticationError && /pair AirPlay/.test(err.message));
  });

  it('legacy AirPlay credentials: an AuthenticationError saying they cannot open the tunnel', async () => {
    const legacy = `${'11'.repeat(8)}:${'22'.repeat(32)}`;
    await assert.rejects(connect(sim.config(), { credentials: { airplay: legacy } }), (err: unknown) => err instanceof AuthenticationError && /legacy/.test(err.message));
  });

  it('a host given by hand: the session learns model and OS from GET /info and opens the tunnel', async () => {
    const manual = manualConfig({ address: '127.0.0.1', services: [{ protocol: 'airplay', port: sim.airplayPort }] });
    const other = await connect(manual, { credentials: { airplay: credentials } });
    try {
      assert.deepEqual(other.protocols, ['mrp', 'airplay']);
      assert.equal((await other.nowPlaying()).title, sim.state.nowPlaying().title);
    } finally {
      await other.close();
    }
  });
});

describe('Device against a tvOS 18 Apple TV serving direct MRP and AirPlay', () => {
  it('discovery marks direct MRP unusable; AirPlay credentials alone connect MRP through the tunnel', async () => {
    const sim = new Simulator({ name: 'Both Ways TV', protocols: ['mrp', 'airplay'], pin: PIN, trackSeconds: 60 });
    let device: Device | undefined;
    try {
      await sim.start();
      const config = sim.config();
      const mrp = config.services.find((s) => s.protocol === 'mrp')!;
      assert.equal(mrp.enabled, false);
      assert.match(mrp.disabledReason ?? '', /AirPlay/);
      assert.equal(config.deviceInfo.buildNumber, '22J580');
      device = await connect(config, { credentials: { airplay: await pairAirPlay(sim) } });
      assert.deepEqual(device.protocols, ['mrp', 'airplay']);
      await device.command('play');
      assert.equal(sim.state.status, 'playing');
      assert.equal(sim.server('mrp')!.stats().totalConnections, 0, 'the stale MRP port was never tried');
      assert.equal(sim.server('airplay')!.stats().tunnels, 1);
    } finally {
      await device?.close();
      await sim.stop();
    }
  });

  it('the tunnel drops (the device goes away): the device reports the lost connection', async () => {
    const sim = new Simulator({ name: 'Vanishing TV', protocols: ['airplay'], pin: PIN, trackSeconds: 60 });
    await sim.start();
    const device = await connect(sim.config(), { credentials: { airplay: await pairAirPlay(sim) } });
    try {
      const lost = new Promise<Error>((resolve) => device.once('connectionLost', resolve));
      await sim.stop();
      const error = await lost;
      assert.equal((error as { code?: string }).code, 'CONNECTION_LOST');
      await until(() => !device.connected, 'the device closed');
    } finally {
      await device.close();
    }
  });
});

describe('Device against a simulated HomePod (transient pairing, no credentials)', () => {
  let sim: Simulator;
  let device: Device;

  before(async () => {
    sim = new Simulator({ name: 'Kitchen HomePod', device: 'homepod', trackSeconds: 60 });
    await sim.start();
    device = await connect(sim.config());
  });

  after(async () => {
    await device?.close();
    await sim?.stop();
  });

  it('is discovered as a HomePod mini serving AirPlay only, with no PIN and no video', () => {
    assert.deepEqual(sim.protocols, ['airplay']);
    assert.equal(sim.pin, null);
    const config = sim.config();
    assert.equal(config.deviceInfo.rawModel, 'AudioAccessory5,1');
    assert.equal(config.deviceInfo.model, 'HomePod mini');
    assert.ok(sim.state.tracks.every((t) => t.mediaType === 'music'));
  });

  it('connects MRP through a transient tunnel, without any pairing', async () => {
    assert.deepEqual(device.protocols, ['mrp', 'airplay']);
    const stats = sim.server('airplay')!.stats();
    assert.equal(stats.transientPairings, 1);
    assert.equal(stats.pairings, 0);
    assert.equal(stats.tunnels, 1);
  });

  it('plays, pauses and skips, and reads what plays', async () => {
    await device.command('play');
    assert.equal(sim.state.status, 'playing');
    await device.command('next');
    assert.equal((await device.nowPlaying()).title, sim.state.nowPlaying().title);
    await device.command('pause');
    assert.equal(sim.state.status, 'paused');
  });

  it('sets the volume', async () => {
    assert.equal(await device.setProperty('volume', 42), 42);
    assert.equal(sim.state.volume, 42);
  });

  it('cannot be paired with a PIN (it needs none)', () => {
    assert.throws(() => pair('airplay', { config: sim.config() }), (err: unknown) => err instanceof NotSupportedError && /HomePod/.test(err.message));
  });

  it('a HomePod given by hand: GET /info says it is one, and the transient tunnel opens', async () => {
    const manual = manualConfig({ address: '127.0.0.1', services: [{ protocol: 'airplay', port: sim.airplayPort }] });
    const other = await connect(manual);
    try {
      assert.deepEqual(other.protocols, ['mrp', 'airplay']);
    } finally {
      await other.close();
    }
  });
});
