/**
 * The Node-RED nodes through the AirPlay tunnel: the config node takes an AirPlay port and
 * AirPlay credentials (fields the protocol table gives it), and every flow node works over
 * the MRP session inside the tunnel of a simulated tvOS 18 Apple TV; without credentials the
 * status says to pair AirPlay; the receiver restarting reconnects by itself; a HomePod needs
 * no credentials. Device-side assertions read the simulator's own state and counters.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { NowPlaying } from '../../lib/device/state';
import { pair } from '../../lib/core/pairing';
import type { Simulator } from '../../lib/simulator';
import { getLink } from '../../nodes/connections';
import { freePort } from './runtime';
import { ALL_NODES, flow, helper, isConnected, latestStatus, Recorder, startSimulator, until, waitForStatus, type FlowNode } from './support';

const PIN = '9753';

async function pairAirPlay(sim: Simulator): Promise<string> {
  const pairing = pair('airplay', { config: sim.config(), name: 'Node-RED tests', pin: PIN, timeout: 10_000 });
  try {
    await pairing.begin();
    return await pairing.finish();
  } finally {
    await pairing.close();
  }
}

const airplayConfig = (sim: Simulator, id = 'dev1'): FlowNode => ({ id, type: 'atvlink-device', name: 'AirPlay TV', host: '127.0.0.1', airplayPort: String(sim.airplayPort) });

describe('flow nodes through the AirPlay tunnel of a tvOS 18 Apple TV', () => {
  let sim: Simulator;
  let credentials: string;
  const stats = () => sim.server('airplay')!.stats();

  before(async () => {
    await helper.startServer();
    // A fixed AirPlay port, so the restart test brings the receiver back where it was.
    sim = await startSimulator({ name: 'AirPlay Sim TV', protocols: ['airplay'], pin: PIN, airplayPort: await freePort(), trackSeconds: 60 });
    credentials = await pairAirPlay(sim);
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await sim?.stop();
    await helper.stopServer();
  });

  async function load(nodes: FlowNode[], creds: Record<string, Record<string, string>> = { dev1: { airplay: credentials } }) {
    await helper.load(ALL_NODES, flow([airplayConfig(sim), ...nodes, { id: 'out', type: 'helper', z: 'f1', wires: [] }]), creds);
    return {
      out: new Recorder(helper.getNode('out')),
      statuses: new Recorder(helper.getNode('statuses')),
      caught: new Recorder(helper.getNode('caught')),
    };
  }

  it('connects MRP through one tunnel; commands, keys, properties and artwork reach the device', async () => {
    const { out, statuses } = await load([
      { id: 'cmd', type: 'atvlink-command', device: 'dev1', command: '', action: 'single', wires: [['out']] },
      { id: 'vol', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg', wires: [['out']] },
      { id: 'art', type: 'atvlink-artwork', device: 'dev1', output: 'buffer', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['cmd', 'vol', 'art'], isConnected, 'connected');
    assert.deepEqual(getLink('dev1')?.device?.protocols, ['mrp', 'airplay']);
    // the status says how: "connected (AirPlay)" (each node's own text replaces it once it acted)
    assert.equal(latestStatus(statuses, 'art'), 'atvlink-device.status.connectedVia');
    await until(() => stats().tunnels === 1, 'one tunnel');

    sim.state.pause();
    helper.getNode('cmd').receive({ payload: 'play', marker: 1 } as never);
    await out.waitFor((m) => m.marker === 1, 'the play command');
    assert.equal(sim.state.status, 'playing');
    const keys = sim.state.keys.length;
    helper.getNode('cmd').receive({ payload: 'menu', action: 'hold', marker: 2 } as never);
    await out.waitFor((m) => m.marker === 2, 'the held menu', 8000);
    assert.deepEqual(sim.state.keys.slice(keys).map((k) => [k.name, k.action]), [['menu', 'hold']]);

    helper.getNode('vol').receive({ payload: 33, marker: 3 } as never);
    const set = await out.waitFor((m) => m.marker === 3, 'the volume');
    assert.equal(set.payload, 33);
    assert.equal(sim.state.volume, 33);

    helper.getNode('art').receive({ marker: 4 } as never);
    const art = await out.waitFor((m) => m.marker === 4, 'the artwork');
    assert.ok(Buffer.isBuffer(art.payload) && (art.payload as Buffer).subarray(1, 4).toString('latin1') === 'PNG');
    assert.equal(stats().tunnels, 1, 'everything went through the one tunnel');
  });

  it('playstatus: the state on deploy, then what the device pushes through the tunnel', async () => {
    sim.state.pause();
    const { out } = await load([{ id: 'ps', type: 'atvlink-playstatus', device: 'dev1', initial: true, wires: [['out']] }]);
    const first = await out.waitFor(() => true, 'the state on deploy');
    assert.equal((first.payload as NowPlaying).title, sim.state.nowPlaying().title);
    const since = out.mark();
    sim.state.next();
    const pushed = await out.waitFor((m: NodeMessage) => (m.payload as NowPlaying).title === sim.state.nowPlaying().title, 'the pushed change', 5000, since);
    assert.ok(pushed);
  });

  it('play URL: plays msg.payload (a local file, served to the device) to the end, then sends msg.playback "ended"; msg.stop stops one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atvlink-node-play-'));
    const file = join(dir, 'flow clip.mp4');
    writeFileSync(file, Buffer.alloc(4096, 1));
    try {
      const { out, statuses } = await load([{ id: 'play', type: 'atvlink-play', device: 'dev1', url: 'payload', urlType: 'msg', position: 'position', positionType: 'msg', wires: [['out']] }]);
      await waitForStatus(statuses, ['play'], isConnected, 'connected');
      // A played URL lasts 60 s in this simulator: start a second before the end.
      helper.getNode('play').receive({ payload: file, position: 59, marker: 1 } as never);
      const ended = await out.waitFor((m) => m.marker === 1, 'the end of playback', 8000);
      assert.equal(ended.playback, 'ended');
      assert.match(sim.server('airplay')!.playbacks.at(-1)!.url, /\/flow%20clip\.mp4$/);

      helper.getNode('play').receive({ payload: file, marker: 2 } as never);
      await until(() => sim.state.playingUrl !== null, 'the device plays it');
      helper.getNode('play').receive({ stop: true } as never);
      const stopped = await out.waitFor((m) => m.marker === 2, 'the stopped playback');
      assert.equal(stopped.playback, 'stopped');
      await until(() => sim.state.playingUrl === null, 'the device stopped it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('play URL: a bad URL or file reaches a Catch node', async () => {
    const { caught, statuses } = await load([{ id: 'play', type: 'atvlink-play', device: 'dev1' }]);
    await waitForStatus(statuses, ['play'], isConnected, 'connected');
    helper.getNode('play').receive({ payload: 'ftp://example.com/a.mp4' } as never);
    await caught.waitFor(() => true, 'the caught error');
  });

  it('no AirPlay credentials: "unpaired: AIRPLAY", and a command error reaches a Catch node', async () => {
    const { statuses, caught } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }], {});
    await waitForStatus(statuses, ['cmd'], (t) => t === 'atvlink-device.status.pairingRequiredFor', 'unpaired');
    helper.getNode('cmd').receive({ payload: 'x' } as never);
    const error = await caught.waitFor(() => true, 'the caught error');
    assert.ok(error);
  });

  it('the AirPlay receiver restarting: disconnected, then the nodes reconnect by themselves', async () => {
    const ids = ['c1'];
    const { statuses, out } = await load([{ id: 'c1', type: 'atvlink-command', device: 'dev1', command: 'play', wires: [['out']] }]);
    await waitForStatus(statuses, ids, isConnected, 'connected');
    const server = sim.server('airplay')!;
    const port = sim.airplayPort;
    const since = statuses.mark();
    // A receiver restarting keeps its pairings and keys: so does the server.
    await server.stop();
    await waitForStatus(statuses, ids, (t) => t === 'atvlink-device.status.disconnected', 'disconnected', 8000, since);
    const restarted = statuses.mark();
    await server.start();
    assert.equal(sim.airplayPort, port);
    await waitForStatus(statuses, ids, isConnected, 'connected again', 10_000, restarted);
    assert.ok(isConnected(latestStatus(statuses, 'c1') ?? ''));
    sim.state.pause();
    helper.getNode('c1').receive({ payload: 'x' } as never);
    await out.waitFor(() => true, 'the acknowledged command');
    assert.equal(sim.state.status, 'playing', 'the new tunnel works');
    await until(() => server.stats().tunnels === 1, 'one tunnel again');
  });
});

describe('flow nodes against a HomePod (no credentials)', () => {
  let sim: Simulator;

  before(async () => {
    await helper.startServer();
    sim = await startSimulator({ name: 'AirPlay Sim HomePod', device: 'homepod', trackSeconds: 60 });
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await sim?.stop();
    await helper.stopServer();
  });

  it('connects through a transient tunnel with an empty credentials field, and plays', async () => {
    await helper.load(
      ALL_NODES,
      flow([airplayConfig(sim), { id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }]),
      {},
    );
    const statuses = new Recorder(helper.getNode('statuses'));
    const out = new Recorder(helper.getNode('out'));
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    helper.getNode('cmd').receive({ payload: 'x' } as never);
    await out.waitFor(() => true, 'the acknowledged command');
    assert.equal(sim.state.status, 'playing');
    assert.equal(sim.server('airplay')!.stats().transientPairings, 1);
  });
});

describe('the config node finds the AirPlay port by multicast DNS-SD', () => {
  const skip = process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)';
  let sim: Simulator;
  let credentials: string;

  before(async () => {
    if (skip) return;
    await helper.startServer();
    sim = await startSimulator({ name: 'Multicast AirPlay TV', protocols: ['mrp', 'airplay'], pin: PIN, multicast: true });
    credentials = await pairAirPlay(sim);
  });
  after(async () => {
    if (skip) return;
    await helper.unload();
    await sim?.stop();
    await helper.stopServer();
  });

  it('a tvOS 18 device by identifier: its stale MRP service is passed over and MRP goes through AirPlay', { skip }, async () => {
    const device: FlowNode = { id: 'dev1', type: 'atvlink-device', name: '', identifier: sim.config().identifier!, host: '' };
    await helper.load(
      ALL_NODES,
      flow([device, { id: 'ps', type: 'atvlink-playstatus', device: 'dev1', initial: true, wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }]),
      { dev1: { airplay: credentials } },
    );
    const out = new Recorder(helper.getNode('out'));
    const msg = await out.waitFor(() => true, 'the state on deploy', 15_000);
    assert.equal((msg.payload as NowPlaying).title, sim.state.track!.title);
    assert.deepEqual(getLink('dev1')?.device?.protocols, ['mrp', 'airplay']);
    assert.equal(sim.server('mrp')!.stats().totalConnections, 0);
  });
});
