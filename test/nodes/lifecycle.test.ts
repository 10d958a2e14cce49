import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SessionFactory } from '../../lib/device/interfaces';
import { DMAP_PROTOCOL } from '../../lib/protocols/dmap/descriptor';
import { DmapSession } from '../../lib/protocols/dmap/session';
import type { Simulator } from '../../lib/simulator';
import {
  ALL_NODES,
  deviceConfig,
  demoCredentials,
  dmapStats,
  flow,
  helper,
  isConnected,
  latestStatus,
  Recorder,
  startSimulator,
  until,
  waitForStatus,
  type FlowNode,
} from './support';

/** Ten flow nodes of every kind on one device config. */
function tenNodes(): FlowNode[] {
  return [
    { id: 'c1', type: 'atvlink-command', device: 'dev1', command: 'play', wires: [['out']] },
    { id: 'c2', type: 'atvlink-command', device: 'dev1', command: 'pause' },
    { id: 'c3', type: 'atvlink-command', device: 'dev1', command: '' },
    { id: 'p1', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg' },
    { id: 'p2', type: 'atvlink-property', device: 'dev1', property: 'shuffle', value: 'payload', valueType: 'msg' },
    { id: 'a1', type: 'atvlink-artwork', device: 'dev1', output: 'buffer' },
    { id: 'a2', type: 'atvlink-artwork', device: 'dev1', output: 'dataUri' },
    { id: 's1', type: 'atvlink-playstatus', device: 'dev1', initial: true },
    { id: 's2', type: 'atvlink-playstatus', device: 'dev1', initial: false },
    { id: 's3', type: 'atvlink-playstatus', device: 'dev1', fields: ['title'] },
    { id: 'out', type: 'helper' },
  ];
}
const IDS = tenNodes()
  .filter((n) => n.type !== 'helper')
  .map((n) => n.id);

describe('one shared connection per device config', () => {
  let sim: Simulator;
  const logins: number[] = [];

  before(async () => {
    await helper.startServer();
    sim = await startSimulator();
    sim.on('login', (login) => logins.push(login.sessionId));
  });
  after(async () => {
    await helper.unload();
    await sim.stop();
    await helper.stopServer();
  });

  it('ten flow nodes on one device config log in exactly once', async () => {
    await helper.load(ALL_NODES, flow([deviceConfig(sim), ...tenNodes()]), demoCredentials());
    const statuses = new Recorder(helper.getNode('statuses'));
    await waitForStatus(statuses, IDS, isConnected, 'connected');
    // let any stray second login (a bug) arrive before counting
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(logins.length, 1, `logins: ${logins.join(', ')}`);
    assert.equal(dmapStats(sim).logins, 1);
  });

  it('a redeploy closes the old connection and opens exactly one new one', async () => {
    const before = dmapStats(sim);
    assert.ok(before.openConnections >= 1);
    await helper.unload();
    // Node-RED awaited every close handler: nothing of the old connection may be left
    await until(() => dmapStats(sim).openConnections === 0 && dmapStats(sim).pendingPolls === 0, 'the old connections to close', 2000);
    await helper.load(ALL_NODES, flow([deviceConfig(sim), ...tenNodes()]), demoCredentials());
    const statuses = new Recorder(helper.getNode('statuses'));
    await waitForStatus(statuses, IDS, isConnected, 'connected');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(dmapStats(sim).logins, 2, 'one new login');
    assert.equal(logins.length, 2);
    assert.notEqual(logins[0], logins[1], 'a new session');
  });

  it('a simulator restart shows disconnected, then the nodes reconnect by themselves', async () => {
    const statuses = new Recorder(helper.getNode('statuses'));
    const port = sim.dmapPort;
    const since = statuses.mark();
    await sim.stop();
    await waitForStatus(statuses, IDS, (t) => t === 'atvlink-device.status.disconnected', 'disconnected', 8000, since);
    const restarted = statuses.mark();
    sim = await startSimulator({ dmapPort: port });
    sim.on('login', (login) => logins.push(login.sessionId));
    await waitForStatus(statuses, IDS, isConnected, 'connected again', 10_000, restarted);
    for (const id of IDS) assert.ok(isConnected(latestStatus(statuses, id) ?? ''), `${id}: ${latestStatus(statuses, id)}`);
    assert.equal(dmapStats(sim).logins, 1, 'one login on the restarted simulator');

    // and the shared connection works again
    const out = new Recorder(helper.getNode('out'));
    sim.state.pause();
    helper.getNode('c1').receive({ payload: 'x' } as never);
    await out.waitFor(() => true, 'the acknowledged command');
    assert.equal(sim.state.status, 'playing');
  });
});

describe('a device that stops answering (TCP open, no bytes)', () => {
  let sim: Simulator;
  // The table entry the facade opens DMAP sessions from, swapped for the test's bounds.
  const entry = DMAP_PROTOCOL as { createSession?: SessionFactory };
  const original = entry.createSession;

  before(async () => {
    // The library's bound is LIVENESS_TIMEOUT_MS (30 s); the same mechanism with 1.5 s here.
    entry.createSession = (context) => new DmapSession(context, { liveness: { timeout: 1500, probeAfter: 1000 } });
    await helper.startServer();
    sim = await startSimulator();
  });
  after(async () => {
    entry.createSession = original;
    await helper.unload();
    await sim.stop();
    await helper.stopServer();
  });

  it('shows disconnected within the liveness bound, then reconnects by itself once it answers again', async () => {
    await helper.load(ALL_NODES, flow([deviceConfig(sim), ...tenNodes()]), demoCredentials());
    const statuses = new Recorder(helper.getNode('statuses'));
    await waitForStatus(statuses, IDS, isConnected, 'connected');
    const since = statuses.mark();
    sim.server('dmap')!.hang();
    await waitForStatus(statuses, IDS, (t) => t === 'atvlink-device.status.disconnected', 'disconnected', 8000, since);
    const recovered = statuses.mark();
    sim.server('dmap')!.recover();
    await waitForStatus(statuses, IDS, isConnected, 'connected again', 10_000, recovered);

    const out = new Recorder(helper.getNode('out'));
    sim.state.pause();
    helper.getNode('c1').receive({ payload: 'x' } as never);
    await out.waitFor(() => true, 'the acknowledged command');
    assert.equal(sim.state.status, 'playing');
  });
});
