/**
 * The power, apps and keyboard nodes against a simulator serving MRP and Companion, paired
 * over both as a user would (the config node holds both credentials): turning the TV on and
 * off and hearing it change by itself, listing and launching apps and hearing the app change,
 * typing into a focused field and hearing focus change. Device-side effects are read from the
 * simulator's own state.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Simulator } from '../../lib/simulator';
import { pair } from '../../lib/core/pairing';
import { getLink } from '../../nodes/connections';
import { freePort } from './runtime';
import { ALL_NODES, flow, helper, isConnected, MRP_TEST_PIN, pairMrp, Recorder, startSimulator, until, waitForStatus, type FlowNode } from './support';

describe('power, apps and keyboard nodes over Companion', () => {
  let sim: Simulator;
  let credentials: { mrp: string; companion: string };

  before(async () => {
    await helper.startServer();
    // Fixed ports, so the restart test can bring the Companion service back where it was.
    sim = await startSimulator({
      name: 'Companion Node TV',
      protocols: ['mrp', 'companion'],
      pin: MRP_TEST_PIN,
      trackSeconds: 600,
      mrpPort: await freePort(),
      companionPort: await freePort(),
    });
    const pairing = pair('companion', { config: sim.config(), name: 'Node-RED tests', timeout: 10_000 });
    await pairing.begin();
    pairing.setPin(MRP_TEST_PIN);
    credentials = { mrp: await pairMrp(sim), companion: await pairing.finish() };
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await sim?.stop();
    await helper.stopServer();
  });

  async function load(nodes: FlowNode[]) {
    const device: FlowNode = {
      id: 'dev1',
      type: 'atvlink-device',
      name: 'Test TV',
      host: '127.0.0.1',
      mrpPort: String(sim.mrpPort),
      companionPort: String(sim.companionPort),
    };
    await helper.load(ALL_NODES, flow([device, ...nodes, { id: 'out', type: 'helper', z: 'f1', wires: [] }]), { dev1: credentials });
    const recorders = {
      out: new Recorder(helper.getNode('out')),
      statuses: new Recorder(helper.getNode('statuses')),
      caught: new Recorder(helper.getNode('caught')),
    };
    await waitForStatus(recorders.statuses, nodes.map((n) => n.id), isConnected, 'connected');
    await until(() => sim.server('companion')!.stats().verifiedSessions === 1, 'the Companion session');
    return recorders;
  }

  it('power: the state on deploy, on and off from msg.payload, and the device going to sleep by itself', async () => {
    sim.state.turnOn();
    const { out } = await load([{ id: 'n-power', type: 'atvlink-power', device: 'dev1', action: 'msg', changes: true, initial: true, wires: [['out']] }]);
    await out.waitFor((m) => m.payload === 'on' && m.topic === 'Test TV', 'the state on deploy');

    let mark = out.mark();
    helper.getNode('n-power').receive({ payload: 'off', marker: 1 } as never);
    const off = await out.waitFor((m) => m.marker === 1, 'the answer to off', 5000, mark);
    assert.equal(off.payload, 'off');
    assert.equal(sim.state.power, 'off');
    assert.equal(out.items.slice(mark).length, 1, 'one message for one change');

    mark = out.mark();
    sim.state.turnOn();
    await out.waitFor((m) => m.payload === 'on' && m.marker === undefined, 'the pushed change', 5000, mark);

    helper.getNode('n-power').receive({ payload: 1700000000000, marker: 2 } as never);
    assert.equal((await out.waitFor((m) => m.marker === 2, 'the read')).payload, 'on');
    helper.getNode('n-power').receive({ payload: 'toggle', marker: 3 } as never);
    assert.equal((await out.waitFor((m) => m.marker === 3, 'the toggle')).payload, 'off');
    assert.equal(sim.state.power, 'off');
    sim.state.turnOn();
  });

  it('apps: the list for a dropdown, launching from msg.payload or the node, the app changes, errors to Catch', async () => {
    const { out, caught } = await load([
      { id: 'n-list', type: 'atvlink-apps', device: 'dev1', action: 'list', wires: [['out']] },
      { id: 'n-launch', type: 'atvlink-apps', device: 'dev1', action: 'launch', app: '', wires: [['out']] },
      { id: 'n-music', type: 'atvlink-apps', device: 'dev1', action: 'launch', app: 'com.apple.TVMusic', wires: [['out']] },
      { id: 'n-changes', type: 'atvlink-apps', device: 'dev1', action: 'current', changes: true, wires: [['out']] },
    ]);
    helper.getNode('n-list').receive({ marker: 'list' } as never);
    const list = await out.waitFor((m) => m.marker === 'list', 'the list');
    const names = (list.payload as { name: string }[]).map((a) => a.name);
    assert.deepEqual(names, [...sim.state.apps.map((a) => a.name)].sort((a, b) => a.localeCompare(b)));
    assert.deepEqual((list as unknown as { options: unknown[] }).options[0], { label: names[0], value: sim.state.apps.find((a) => a.name === names[0])!.bundleId });

    const mark = out.mark();
    helper.getNode('n-launch').receive({ payload: 'com.netflix.Netflix', marker: 'launch' } as never);
    assert.equal((await out.waitFor((m) => m.marker === 'launch', 'the launch')).payload, 'com.netflix.Netflix');
    assert.equal(sim.state.app?.bundleId, 'com.netflix.Netflix');
    const change = await out.waitFor((m) => (m.payload as { bundleId?: string } | null)?.bundleId === 'com.netflix.Netflix' && m.marker === undefined, 'the app change', 5000, mark);
    assert.deepEqual(change.payload, { name: 'Netflix', bundleId: 'com.netflix.Netflix' });

    helper.getNode('n-changes').receive({ marker: 'current' } as never);
    assert.deepEqual((await out.waitFor((m) => m.marker === 'current', 'the current app')).payload, { name: 'Netflix', bundleId: 'com.netflix.Netflix' });
    helper.getNode('n-music').receive({ payload: 'ignored', marker: 'music' } as never);
    await out.waitFor((m) => m.marker === 'music', 'the configured launch');
    assert.equal(sim.state.app?.bundleId, 'com.apple.TVMusic');

    helper.getNode('n-launch').receive({ payload: 'com.example.missing' } as never);
    const error = await caught.waitFor(() => true, 'the refused launch');
    assert.match((error as unknown as { error: { message: string } }).error.message, /not installed/);
    helper.getNode('n-launch').receive({ payload: 42 } as never);
    await caught.waitFor((m) => /errors.noApp|what to launch/.test((m as unknown as { error: { message: string } }).error.message), 'no app given');
  });

  it('keyboard: focus changes, then set, append, read and clear the focused field', async () => {
    sim.state.unfocusTextField();
    const { out, caught } = await load([
      { id: 'n-focus', type: 'atvlink-keyboard', device: 'dev1', action: 'get', focus: true, wires: [['out']] },
      { id: 'n-type', type: 'atvlink-keyboard', device: 'dev1', action: 'set', text: '', wires: [['out']] },
      { id: 'n-more', type: 'atvlink-keyboard', device: 'dev1', action: 'append', text: ' now', wires: [['out']] },
      { id: 'n-clear', type: 'atvlink-keyboard', device: 'dev1', action: 'clear', wires: [['out']] },
    ]);
    helper.getNode('n-type').receive({ payload: 'too early' } as never);
    await caught.waitFor(() => true, 'typing with no focused field');

    sim.state.focusTextField('');
    const focused = await out.waitFor((m) => m.payload === 'focused', 'the focus event');
    assert.equal((focused as unknown as { focused: boolean }).focused, true);
    helper.getNode('n-type').receive({ payload: 'news', marker: 1 } as never);
    await out.waitFor((m) => m.marker === 1, 'typed');
    await until(() => sim.state.text === 'news', 'the typed text');
    helper.getNode('n-more').receive({ marker: 2 } as never);
    await out.waitFor((m) => m.marker === 2, 'appended');
    await until(() => sim.state.text === 'news now', 'the appended text');
    helper.getNode('n-focus').receive({ marker: 3 } as never);
    assert.equal((await out.waitFor((m) => m.marker === 3, 'read')).payload, 'news now');
    helper.getNode('n-clear').receive({ marker: 4 } as never);
    await out.waitFor((m) => m.marker === 4, 'cleared');
    await until(() => sim.state.text === '', 'the cleared field');
    sim.state.unfocusTextField();
    await out.waitFor((m) => m.payload === 'unfocused', 'the focus lost');
  });

  it('the Companion service restarting: the nodes reconnect and hear power changes over the new connection', async () => {
    sim.state.turnOn();
    const { out } = await load([{ id: 'n-power', type: 'atvlink-power', device: 'dev1', action: 'msg', changes: true, initial: false, wires: [['out']] }]);
    const server = sim.server('companion')!;
    const port = sim.companionPort;
    const verifications = server.stats().verifications;
    // An Apple TV restarting its Companion service keeps its pairings and keys: so does the server.
    await server.stop();
    await server.start();
    assert.equal(sim.companionPort, port);
    await until(() => (getLink('dev1')?.device?.protocols ?? []).includes('companion') && server.stats().verifiedSessions === 1, 'Companion back', 15_000);
    assert.ok(server.stats().verifications > verifications);
    const mark = out.mark();
    sim.state.turnOff();
    await out.waitFor((m) => m.payload === 'off', 'the power change over the new connection', 5000, mark);
    sim.state.turnOn();
    await out.waitFor((m) => m.payload === 'on', 'and back on', 5000, mark);
  });
});
