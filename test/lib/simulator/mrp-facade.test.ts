/**
 * The whole library path over MRP: `pair('mrp')` against the simulator (PIN from its 'pin'
 * event, as a user reads it off the TV), then `connect()` with the credentials it produced,
 * and the Device API end to end. Every value asserted crossed a real loopback socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type Device } from '../../../lib/core/facade';
import { pair } from '../../../lib/core/pairing';
import { parseFullHapCredentials } from '../../../lib/hap/credentials';
import { Simulator, type SimulatorPinRequest } from '../../../lib/simulator/index';
import { itDrivesEveryMrpFeature, itRefusesForeignCredentialsAndWrongPins } from './mrp-features';

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

  it('connects over MRP only', () => {
    assert.deepEqual(device.protocols, ['mrp']);
  });

  itDrivesEveryMrpFeature(() => ({ device, sim }));

  itRefusesForeignCredentialsAndWrongPins('mrp', () => ({ sim, credentials }));
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
