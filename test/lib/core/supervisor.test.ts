/**
 * The device supervisor from plain Node (no Node-RED): one connection shared by its users,
 * kept up across a device restart, against the simulator over real loopback TCP.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Device } from '../../../lib/core/facade';
import { DeviceSupervisor, type SupervisorStatus } from '../../../lib/core/supervisor';
import { manualConfig } from '../../../lib/device/config';
import type { NowPlaying } from '../../../lib/device/state';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../../../lib/simulator';
import { until } from '../../support/wait';

describe('DeviceSupervisor', () => {
  it('connects for its users, hears the device, and reconnects by itself after the device restarts', async () => {
    let sim = new Simulator({ name: 'Supervised TV', homeSharing: false });
    await sim.start();
    const port = sim.dmapPort;
    const config = manualConfig({ address: '127.0.0.1', services: [{ protocol: 'dmap', port }] });
    let devices = 0;
    const supervisor = new DeviceSupervisor({
      resolve: async () => config,
      createDevice: (c, only) => {
        devices++;
        return new Device(c, { credentials: { dmap: DEMO_DMAP_CREDENTIALS }, ...(only ? { protocols: only } : {}) });
      },
      retry: { initial: 250, max: 500 },
    });
    const states: SupervisorStatus['state'][] = [];
    const seen: NowPlaying[] = [];
    const user = {};
    supervisor.register(user, { status: (s) => states.push(s.state), nowPlaying: (n) => seen.push(n) });
    try {
      await until(() => states.includes('connected') && seen.length > 0, 'the first connection and state');
      assert.equal(devices, 1);
      assert.equal(seen.at(-1)!.title, sim.state.track?.title, 'the now-playing state came from the device');
      await (await supervisor.ready()).command('next');
      await until(() => seen.at(-1)?.title === sim.state.track?.title, 'the next title pushed');

      await sim.stop();
      await until(() => states.at(-1) === 'disconnected', 'the drop');
      sim = new Simulator({ name: 'Supervised TV', homeSharing: false, dmapPort: port });
      await sim.start();
      await until(() => states.at(-1) === 'connected', 'the reconnection', 10_000);
      assert.ok(devices >= 2, 'a fresh device for the new connection');
      assert.equal((await (await supervisor.ready()).nowPlaying()).title, sim.state.track?.title);
    } finally {
      await supervisor.deregister(user);
      await supervisor.close();
      await sim.stop();
    }
  });
  it("tells its users the device's volume with the first state, then every change made on the device (DMAP)", async () => {
    const sim = new Simulator({ name: 'Volume TV', homeSharing: false });
    await sim.start();
    sim.state.setVolume(35);
    const config = manualConfig({ address: '127.0.0.1', services: [{ protocol: 'dmap', port: sim.dmapPort }] });
    const supervisor = new DeviceSupervisor({
      resolve: async () => config,
      createDevice: (c) => new Device(c, { credentials: { dmap: DEMO_DMAP_CREDENTIALS } }),
      retry: { initial: 250, max: 500 },
    });
    const heard: string[] = [];
    const volumes: (number | null)[] = [];
    supervisor.register({}, {
      readings: (r, changed, initial) => {
        heard.push(`readings:${changed.join(',')}${initial ? ' (initial)' : ''}`);
        volumes.push(r.volume);
      },
      nowPlaying: () => heard.push('nowPlaying'),
    });
    try {
      await until(() => heard.includes('nowPlaying'), 'the first state');
      // The readings come first, so a playstatus node's first message has the volume.
      assert.equal(heard[0], 'readings:volume,power,app,textFocus (initial)');
      assert.equal(volumes[0], 35);
      assert.equal(supervisor.snapshot().readings.volume, 35);
      // The TV's own remote turns it up: the DMAP long poll ends, the session reads the volume again.
      sim.state.setVolume(60);
      await until(() => volumes.at(-1) === 60, 'the new volume', 5000);
      assert.equal(heard.at(-1), 'readings:volume', heard.join(' '));
      // Set through the device: heard too, once.
      await (await supervisor.ready()).setProperty('volume', 20);
      await until(() => volumes.at(-1) === 20, 'the volume set by a flow', 5000);
    } finally {
      await supervisor.close();
      await sim.stop();
    }
  });
});
