/**
 * The Node-RED nodes against an MRP device (the simulator serving MRP only, or MRP and DMAP
 * together), with flows exactly like the DMAP ones: only the config node differs (an MRP
 * port and MRP credentials). Credentials come from a real pairing with the simulator, once
 * per simulator (the SRP group is 3072-bit). Every assertion on the device side reads the
 * simulator's own state or counters, which changed because something crossed the socket.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { NowPlaying } from '../../lib/device/state';
import type { Simulator } from '../../lib/simulator';
import { getLink } from '../../nodes/connections';
import { freePort } from './runtime';
import {
  ALL_NODES,
  dmapStats,
  flow,
  helper,
  isConnected,
  latestStatus,
  mrpDeviceConfig,
  mrpStats,
  pairMrp,
  Recorder,
  startMrpSimulator,
  statusCalls,
  until,
  waitForStatus,
  type FlowNode,
} from './support';

interface Caught extends NodeMessage {
  error: { message: string; source: { id: string } };
}

const PAIRING_REQUIRED = 'atvlink-device.status.pairingRequiredFor';

/** Every string a test could find a credential in: statuses, caught errors, the runtime log. */
function everythingShown(statuses: Recorder, caught: Recorder): string {
  const logged = (helper as unknown as { log(): { args: unknown[][] } }).log().args;
  return JSON.stringify([statuses.items, caught.items, logged, statusCalls('dev1')]);
}

/** The credential's secret parts (our secret key and the device key), as they could leak. */
function secretParts(credentials: string): string[] {
  const [ltpk, ltsk] = credentials.split(':');
  return [ltpk!, ltsk!].flatMap((hex) => [hex.toLowerCase(), hex.toUpperCase(), Buffer.from(hex, 'hex').toString('base64')]);
}

describe('flow nodes against an MRP-only simulator', () => {
  let sim: Simulator;
  let credentials: string;

  before(async () => {
    await helper.startServer();
    // A fixed MRP port, so the restart test can bring the service back where it was.
    sim = await startMrpSimulator({ name: 'MRP Sim TV', mdnsPort: 0, mrpPort: await freePort() });
    credentials = await pairMrp(sim);
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await sim?.stop();
    await helper.stopServer();
  });

  function mrpCredentials(id = 'dev1'): Record<string, { mrp: string }> {
    return { [id]: { mrp: credentials } };
  }

  async function load(nodes: FlowNode[], creds: Record<string, Record<string, string>> = mrpCredentials(), device = mrpDeviceConfig(sim)) {
    await helper.load(ALL_NODES, flow([device, ...nodes, { id: 'out', type: 'helper', z: 'f1', wires: [] }]), creds);
    return {
      out: new Recorder(helper.getNode('out')),
      statuses: new Recorder(helper.getNode('statuses')),
      caught: new Recorder(helper.getNode('caught')),
    };
  }

  it('connects over MRP with one verified session, and only over MRP', async () => {
    const verifiedBefore = mrpStats(sim).verifications;
    const { statuses } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }]);
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    await until(() => mrpStats(sim).verifiedSessions === 1, 'one verified MRP session');
    assert.equal(mrpStats(sim).verifications, verifiedBefore + 1);
    assert.deepEqual(getLink('dev1')?.device?.protocols, ['mrp']);
  });

  it('command: transport commands, then the message goes on unchanged', async () => {
    const { out, statuses } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: '', action: 'single', wires: [['out']] }]);
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    sim.state.pause();
    helper.getNode('cmd').receive({ payload: 'play', topic: 'chain', extra: 42 } as never);
    const msg = await out.waitFor(() => true, 'the command message');
    assert.equal(msg.payload, 'play');
    assert.equal(msg.topic, 'chain');
    assert.equal(msg.extra, 42, 'the input message travels on');
    assert.equal(sim.state.status, 'playing', 'the simulator got the command before the message went on');

    const before = sim.state.index;
    helper.getNode('cmd').receive({ command: 'next', payload: 'ignored' } as never);
    await out.waitFor((m) => m.command === 'next', 'the next message');
    assert.equal(sim.state.index, before + 1);
  });

  it('command: single, double and hold presses of the navigation keys, and home', async () => {
    const { out, statuses } = await load([
      { id: 'cmd', type: 'atvlink-command', device: 'dev1', command: '', action: 'single', wires: [['out']] },
      { id: 'holder', type: 'atvlink-command', device: 'dev1', command: 'select', action: 'hold', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['cmd', 'holder'], isConnected, 'connected');
    let keys = sim.state.keys.length;
    helper.getNode('cmd').receive({ payload: 'up', marker: 1 } as never);
    await out.waitFor((m) => m.marker === 1, 'the single press');
    assert.deepEqual(
      sim.state.keys.slice(keys).map((k) => [k.name, k.action]),
      [['up', 'single']],
    );

    keys = sim.state.keys.length;
    helper.getNode('cmd').receive({ payload: 'down', action: 'double', marker: 2 } as never);
    await out.waitFor((m) => m.marker === 2, 'the double press');
    // MRP sends a double press as two presses in a row; the device tells them apart by timing.
    assert.deepEqual(
      sim.state.keys.slice(keys).map((k) => k.name),
      ['down', 'down'],
    );

    keys = sim.state.keys.length;
    helper.getNode('holder').receive({ payload: 'anything', marker: 3 } as never);
    await out.waitFor((m) => m.marker === 3, 'the held select', 8000);
    assert.deepEqual(
      sim.state.keys.slice(keys).map((k) => [k.name, k.action]),
      [['select', 'hold']],
      'the editor press (hold) reached the device as a hold',
    );

    keys = sim.state.keys.length;
    helper.getNode('cmd').receive({ payload: 'left', action: 'hold', marker: 4 } as never);
    await out.waitFor((m) => m.marker === 4, 'the held left', 8000);
    assert.deepEqual(
      sim.state.keys.slice(keys).map((k) => [k.name, k.action]),
      [['left', 'hold']],
      'msg.action hold',
    );

    keys = sim.state.keys.length;
    helper.getNode('cmd').receive({ payload: 'home', marker: 5 } as never);
    await out.waitFor((m) => m.marker === 5, 'home');
    assert.deepEqual(
      sim.state.keys.slice(keys).map((k) => k.name),
      ['home'],
      'home is an MRP key (DMAP has none)',
    );
  });

  it('command: turnOff and turnOn (MRP only) change the power state, one after the other', async () => {
    const { out, statuses } = await load([
      { id: 'off', type: 'atvlink-command', device: 'dev1', command: 'turnOff', wires: [['on']] },
      { id: 'on', type: 'atvlink-command', device: 'dev1', command: 'turnOn', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['off', 'on'], isConnected, 'connected');
    const powers: string[] = [];
    const onPower = (p: string) => powers.push(p);
    sim.state.on('power', onPower);
    try {
      helper.getNode('off').receive({ payload: 'bedtime' } as never);
      const msg = await out.waitFor(() => true, 'the chained turnOff → turnOn message', 8000);
      assert.equal(msg.payload, 'bedtime');
      assert.deepEqual(powers, ['off', 'on'], 'off was acknowledged before on was sent');
      assert.equal(sim.state.power, 'on');
    } finally {
      sim.state.off('power', onPower);
    }
  });

  it('property: all four properties; the value is what the device reports after', async () => {
    const { out, statuses } = await load([
      { id: 'vol', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg', wires: [['out']] },
      // the other three through one node that takes the property from msg.property
      { id: 'prop', type: 'atvlink-property', device: 'dev1', property: '', value: 'payload', valueType: 'msg', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['vol', 'prop'], isConnected, 'connected');
    sim.state.play();

    helper.getNode('vol').receive({ payload: '35', topic: 'slider' } as never);
    const volume = await out.waitFor((m) => m.property === 'volume', 'the volume message');
    assert.equal(volume.payload, 35);
    assert.equal(volume.topic, 'slider');
    assert.equal(sim.state.volume, 35);

    helper.getNode('prop').receive({ property: 'shuffle', payload: 'songs' } as never);
    const shuffle = await out.waitFor((m) => m.property === 'shuffle', 'the shuffle message');
    assert.equal(shuffle.payload, 'songs');
    assert.equal(sim.state.shuffle, 'songs');
    helper.getNode('prop').receive({ property: 'shuffle', payload: 'off' } as never);
    await out.waitFor((m) => m.property === 'shuffle' && m.payload === 'off', 'shuffle off');
    assert.equal(sim.state.shuffle, 'off');

    helper.getNode('prop').receive({ property: 'repeat', payload: 'all' } as never);
    const repeat = await out.waitFor((m) => m.property === 'repeat', 'the repeat message');
    assert.equal(repeat.payload, 'all');
    assert.equal(sim.state.repeat, 'all');

    helper.getNode('prop').receive({ property: 'position', payload: 12 } as never);
    const position = await out.waitFor((m) => m.property === 'position', 'the position message');
    assert.ok(Math.abs((position.payload as number) - 12) <= 1, `reported ${String(position.payload)}`);
    assert.ok(Math.abs((sim.state.position ?? 0) - 12) <= 1, `device at ${sim.state.position}`);
  });

  it('artwork: a PNG through the playback-queue request, as a Buffer or a data: URI', async () => {
    const { out, statuses } = await load([
      { id: 'art', type: 'atvlink-artwork', device: 'dev1', width: '64', height: '', output: 'buffer', wires: [['out']] },
      { id: 'uri', type: 'atvlink-artwork', device: 'dev1', width: 'width', widthType: 'msg', height: 'height', heightType: 'msg', output: 'dataUri', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['art', 'uri'], isConnected, 'connected');
    sim.state.play();
    const requestsBefore = sim.server('mrp')!.requests.length;
    helper.getNode('art').receive({ topic: 'cover' } as never);
    const art = await out.waitFor((m) => m.topic === 'cover', 'the artwork');
    assert.ok(Buffer.isBuffer(art.payload), 'a Buffer');
    const bytes = art.payload as Buffer;
    assert.equal(art.contentType, 'image/png');
    assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(art.byteLength, bytes.length);
    assert.equal(art.width, 64, 'the editor width');
    assert.ok(
      sim.server('mrp')!.requests.slice(requestsBefore).some((r) => r.path === 'PLAYBACK_QUEUE_REQUEST_MESSAGE'),
      'fetched with a playback-queue request',
    );

    helper.getNode('uri').receive({ topic: 'uri', width: 32, height: 32 } as never);
    const uri = await out.waitFor((m) => m.topic === 'uri', 'the data URI');
    assert.match(String(uri.payload), /^data:image\/png;base64,iVBORw0KGgo/);
    assert.equal(uri.width, 32);
    assert.equal(uri.height, 32);
  });

  it('artwork: payload null when nothing is playing', async () => {
    const { out, statuses } = await load([{ id: 'art', type: 'atvlink-artwork', device: 'dev1', output: 'buffer', wires: [['out']] }]);
    await waitForStatus(statuses, ['art'], isConnected, 'connected');
    sim.state.stop();
    try {
      // the device pushes the stop; a request sent before it arrives could still see the cover
      await until(() => ['idle', 'stopped'].includes(getLink('dev1')?.snapshot().nowPlaying?.deviceState ?? ''), 'the stop to be pushed');
      helper.getNode('art').receive({ topic: 'none' } as never);
      const msg = await out.waitFor((m) => m.topic === 'none', 'the empty artwork message');
      assert.equal(msg.payload, null);
      assert.equal(msg.contentType, null);
      assert.equal(msg.byteLength, 0);
    } finally {
      sim.state.play();
    }
  });

  it('playstatus: the current state on deploy (with the app), then one message per watched change, not per tick', async () => {
    sim.state.pause();
    const { out } = await load([
      { id: 'ps', type: 'atvlink-playstatus', device: 'dev1', initial: true, fields: [], wires: [['out']] },
      { id: 'quiet', type: 'atvlink-playstatus', device: 'dev1', initial: false, fields: ['title'], wires: [['out']] },
    ]);
    const first = await out.waitFor(() => true, 'the state on deploy');
    assert.equal(first.topic, 'Test TV', 'the config node name');
    const state = first.payload as NowPlaying;
    assert.equal(state.deviceState, 'paused');
    assert.equal(state.title, sim.state.track!.title, 'the real state, not an empty one before the first push');
    assert.equal(state.artist, sim.state.track!.artist);
    assert.deepEqual(state.app, { name: 'Music', bundleId: 'com.apple.TVMusic' });
    // let a second "initial" message (a bug) arrive before counting
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(out.items.length, 1, 'one message on deploy, from the node that asked for it');

    let since = out.mark();
    sim.state.play();
    const playing = await out.waitFor((m) => (m.payload as NowPlaying).deviceState === 'playing', 'the playing state', 5000, since);
    assert.deepEqual(playing.changed, ['deviceState']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(out.items.length - since, 1, 'one message for one change; the title-only node stayed quiet');

    since = out.mark();
    sim.state.next();
    await out.waitFor((m) => (m.changed as string[]).includes('title'), 'a title change', 5000, since);
    await new Promise((r) => setTimeout(r, 300));
    const titles = out.items.slice(since).map((m) => (m.payload as NowPlaying).title);
    assert.deepEqual(titles, [sim.state.track!.title, sim.state.track!.title], 'both nodes, once each, with the new title');

    since = out.mark();
    sim.state.setPosition(10);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(out.items.length, since, 'a position change alone sends nothing');

    helper.getNode('quiet').receive({ topic: 'ask' } as never);
    const asked = await out.waitFor((m) => m.topic === 'Test TV' && (m.payload as NowPlaying).position !== null && m.changed !== undefined, 'the state on demand', 5000, out.mark());
    assert.equal((asked.payload as NowPlaying).title, sim.state.track!.title);
  });

  it('discover: the MRP service with its port and pairing, and no credential', async () => {
    const { out } = await load([
      { id: 'disc', type: 'atvlink-discover', watch: false, hosts: '127.0.0.1', port: String(sim.mdnsPort), timeout: '1', wires: [['out']] },
    ]);
    helper.getNode('disc').receive({ topic: 'scan' } as never);
    const msg = await out.waitFor(() => true, 'the scan result', 8000);
    const devices = msg.payload as {
      name: string;
      identifier: string;
      deviceInfo: { model: string | null };
      services: { protocol: string; port: number; pairing: string; enabled: boolean; disabledReason: string | null }[];
    }[];
    const found = devices.find((d) => d.name === 'MRP Sim TV');
    assert.ok(found, JSON.stringify(devices));
    assert.equal(found.identifier, sim.config().identifier);
    const mrp = found.services.find((s) => s.protocol === 'mrp');
    assert.ok(mrp, JSON.stringify(found.services));
    assert.equal(mrp.port, sim.mrpPort);
    assert.equal(mrp.enabled, true);
    assert.equal(mrp.disabledReason, null);
    assert.equal(mrp.pairing, sim.config().services.find((s) => s.protocol === 'mrp')!.pairing, 'says whether pairing is needed');
    const json = JSON.stringify(devices);
    assert.ok(!/"credentials"|"properties"/.test(json), json);
    for (const part of secretParts(credentials)) assert.ok(!json.includes(part));
  });

  it('no MRP credentials: "unpaired: MRP", and the command error reaches a Catch node', async () => {
    const { statuses, caught, out } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play', wires: [['out']] }], {});
    await waitForStatus(statuses, ['cmd'], (t) => t === PAIRING_REQUIRED, 'pairing required');
    assert.deepEqual(getLink('dev1')?.snapshot().needsPairing, ['mrp'], 'the status names MRP');
    helper.getNode('cmd').receive({ payload: 1, topic: 'keep me' } as never);
    const msg = (await caught.waitFor(() => true, 'the error at the Catch node')) as Caught;
    assert.equal(msg.topic, 'keep me');
    assert.equal(msg.error.source.id, 'cmd');
    assert.match(msg.error.message, /Test TV is not connected: .*pair MRP/);
    assert.equal(out.items.length, 0);
    assert.equal(mrpStats(sim).verifiedSessions, 0, 'nothing got past the pairing check');
  });

  it('credentials the device does not know: "unpaired: MRP", and no credential shown anywhere', async () => {
    // our half of a pairing the device never made: right format, unknown to the device
    const [ltpk, , atvId, clientId] = credentials.split(':');
    const stranger = [ltpk, 'ab'.repeat(32), atvId, clientId!.replace(/^../, 'ff')].join(':');
    const { statuses, caught } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }], { dev1: { mrp: stranger } });
    await waitForStatus(statuses, ['cmd'], (t) => t === PAIRING_REQUIRED, 'pairing required');
    assert.deepEqual(getLink('dev1')?.snapshot().needsPairing, ['mrp']);
    helper.getNode('cmd').receive({ payload: 1 } as never);
    await caught.waitFor(() => true, 'the error');
    const shown = everythingShown(statuses, caught);
    for (const part of [...secretParts(stranger), ...secretParts(credentials)]) assert.ok(!shown.includes(part), 'a credential was shown');
  });

  it('malformed MRP credentials: a warning naming the field, not the value; the nodes say to check the config', async () => {
    const garbage = `${'cd'.repeat(32)}:not-hex:zz`;
    const { statuses, caught } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }], { dev1: { mrp: garbage } });
    await waitForStatus(statuses, ['cmd'], (t) => t === 'atvlink-device.status.invalid', 'check device config');
    const logged = JSON.stringify((helper as unknown as { log(): { args: unknown[][] } }).log().args);
    assert.match(logged, /badCredentials|MRP credentials cannot be used/);
    assert.match(logged, /expected 4 colon-separated fields/);
    assert.ok(!everythingShown(statuses, caught).includes('cd'.repeat(32)));
  });

  it('a redeploy closes the MRP connection and opens exactly one new one', async () => {
    const nodes: FlowNode[] = [
      { id: 'c1', type: 'atvlink-command', device: 'dev1', command: 'play' },
      { id: 'p1', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg' },
      { id: 'a1', type: 'atvlink-artwork', device: 'dev1' },
      { id: 's1', type: 'atvlink-playstatus', device: 'dev1', initial: true },
    ];
    const ids = nodes.map((n) => n.id);
    let { statuses } = await load(nodes);
    await waitForStatus(statuses, ids, isConnected, 'connected');
    await until(() => mrpStats(sim).openConnections === 1, 'one MRP connection');
    const before = mrpStats(sim);
    assert.equal(before.verifiedSessions, 1);

    await helper.unload();
    // Node-RED awaited every close handler: nothing of the old connection may be left
    await until(() => mrpStats(sim).openConnections === 0, 'the old connection to close', 2000);
    ({ statuses } = await load(nodes));
    await waitForStatus(statuses, ids, isConnected, 'connected');
    await new Promise((r) => setTimeout(r, 300));
    const afterRedeploy = mrpStats(sim);
    assert.equal(afterRedeploy.openConnections, 1, 'one new connection');
    assert.equal(afterRedeploy.verifiedSessions, 1);
    assert.equal(afterRedeploy.totalConnections, before.totalConnections + 1);
    assert.equal(afterRedeploy.verifications, before.verifications + 1);
  });

  it('the MRP service restarting: disconnected, then the nodes reconnect by themselves', async () => {
    const ids = ['c1', 's1'];
    const { statuses, out } = await load([
      { id: 'c1', type: 'atvlink-command', device: 'dev1', command: 'play', wires: [['out']] },
      { id: 's1', type: 'atvlink-playstatus', device: 'dev1', initial: false },
    ]);
    await waitForStatus(statuses, ids, isConnected, 'connected');
    const server = sim.server('mrp')!;
    const port = sim.mrpPort;
    const since = statuses.mark();
    // An Apple TV restarting its MRP service keeps its pairings and keys: so does the server.
    await server.stop();
    await waitForStatus(statuses, ids, (t) => t === 'atvlink-device.status.disconnected', 'disconnected', 8000, since);
    const verifications = mrpStats(sim).verifications;
    const restarted = statuses.mark();
    await server.start();
    assert.equal(sim.mrpPort, port);
    await waitForStatus(statuses, ids, isConnected, 'connected again', 10_000, restarted);
    for (const id of ids) assert.ok(isConnected(latestStatus(statuses, id) ?? ''), `${id}: ${latestStatus(statuses, id)}`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mrpStats(sim).verifications, verifications + 1, 'one new verified session');
    assert.equal(mrpStats(sim).openConnections, 1);

    sim.state.pause();
    helper.getNode('c1').receive({ payload: 'x' } as never);
    await out.waitFor(() => true, 'the acknowledged command');
    assert.equal(sim.state.status, 'playing', 'the shared connection works again');
  });
});

describe('one config node for a device with DMAP and MRP', () => {
  let sim: Simulator;
  let credentials: string;
  const DMAP_SECRET = '0x00000000B0A710AD';

  before(async () => {
    await helper.startServer();
    // No Home Sharing: DMAP logs in only with the credential the config node holds.
    // A fixed MRP port, so the MRP service can come back where it was.
    sim = await startMrpSimulator({ name: 'Dual TV', protocols: ['dmap', 'mrp'], homeSharing: false, credentials: [DMAP_SECRET], mrpPort: await freePort() });
    credentials = await pairMrp(sim);
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await sim?.stop();
    await helper.stopServer();
  });

  function dualConfig(): FlowNode {
    return mrpDeviceConfig(sim, 'dev1', { dmapPort: String(sim.dmapPort) });
  }

  const tenNodes = (): FlowNode[] => [
    { id: 'c1', type: 'atvlink-command', device: 'dev1', command: 'play', wires: [['out']] },
    { id: 'c2', type: 'atvlink-command', device: 'dev1', command: '', wires: [['out']] },
    { id: 'c3', type: 'atvlink-command', device: 'dev1', command: 'home' },
    { id: 'p1', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg', wires: [['out']] },
    { id: 'p2', type: 'atvlink-property', device: 'dev1', property: 'shuffle', value: 'payload', valueType: 'msg' },
    { id: 'a1', type: 'atvlink-artwork', device: 'dev1', output: 'buffer', wires: [['out']] },
    { id: 'a2', type: 'atvlink-artwork', device: 'dev1', output: 'dataUri' },
    { id: 's1', type: 'atvlink-playstatus', device: 'dev1', initial: true },
    { id: 's2', type: 'atvlink-playstatus', device: 'dev1', initial: false },
    { id: 's3', type: 'atvlink-playstatus', device: 'dev1', fields: ['title'] },
  ];

  it('both credentials: one MRP session and one DMAP login for ten nodes, and the requests go over MRP', async () => {
    await helper.load(ALL_NODES, flow([dualConfig(), ...tenNodes(), { id: 'out', type: 'helper', z: 'f1' }]), {
      dev1: { dmap: DMAP_SECRET, mrp: credentials },
    });
    const statuses = new Recorder(helper.getNode('statuses'));
    const out = new Recorder(helper.getNode('out'));
    const ids = tenNodes().map((n) => n.id);
    await waitForStatus(statuses, ids, isConnected, 'connected');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mrpStats(sim).verifiedSessions, 1, 'exactly one verified MRP session');
    assert.equal(mrpStats(sim).openConnections, 1);
    assert.equal(dmapStats(sim).logins, 1, 'and one DMAP session beside it');
    assert.deepEqual(getLink('dev1')?.device?.protocols, ['mrp', 'dmap']);

    const dmapRequests = dmapStats(sim).requests;
    const mrpMessages = mrpStats(sim).messages;
    sim.state.pause();
    helper.getNode('c1').receive({ payload: 'go', marker: 1 } as never);
    await out.waitFor((m) => m.marker === 1, 'play');
    assert.equal(sim.state.status, 'playing');
    helper.getNode('c2').receive({ payload: 'down', action: 'hold', marker: 2 } as never);
    await out.waitFor((m) => m.marker === 2, 'held down', 8000);
    assert.deepEqual(sim.state.lastKey && [sim.state.lastKey.name, sim.state.lastKey.action], ['down', 'hold']);
    helper.getNode('p1').receive({ payload: 42, marker: 3 } as never);
    const volume = await out.waitFor((m) => m.marker === 3, 'volume');
    assert.equal(volume.payload, 42);
    assert.equal(sim.state.volume, 42);
    helper.getNode('a1').receive({ marker: 4 } as never);
    const art = await out.waitFor((m) => m.marker === 4, 'artwork');
    assert.equal(art.contentType, 'image/png');
    assert.equal(dmapStats(sim).requests, dmapRequests, 'DMAP carried none of it');
    assert.ok(mrpStats(sim).messages > mrpMessages, 'MRP carried it');
  });

  it('DMAP credentials only: connected over DMAP; MRP-only commands fail to a Catch node', async () => {
    await helper.load(ALL_NODES, flow([dualConfig(), { id: 'c2', type: 'atvlink-command', device: 'dev1', command: '', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }]), {
      dev1: { dmap: DMAP_SECRET },
    });
    const statuses = new Recorder(helper.getNode('statuses'));
    const caught = new Recorder(helper.getNode('caught'));
    const out = new Recorder(helper.getNode('out'));
    await waitForStatus(statuses, ['c2'], (t) => t === 'atvlink-device.status.connectedPair', 'also pair MRP');
    assert.deepEqual(getLink('dev1')?.device?.protocols, ['dmap']);
    assert.deepEqual(getLink('dev1')?.snapshot().needsPairing, ['mrp']);
    const logged = (helper as unknown as { log(): { args: { level: number; id?: string; msg: unknown }[][] } }).log().args.map((a) => a[0]);
    const warnings = logged.filter((m) => m.level === 30 && m.id === 'dev1').map((m) => String(m.msg));
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0]!, /connected over DMAP; MRP: .*pair MRP/, 'the refused MRP session is warned about once');

    sim.state.pause();
    helper.getNode('c2').receive({ payload: 'play', marker: 1 } as never);
    await out.waitFor((m) => m.marker === 1, 'play over DMAP');
    assert.equal(sim.state.status, 'playing');
    helper.getNode('c2').receive({ payload: 'home', marker: 2 } as never);
    const msg = (await caught.waitFor((m) => m.marker === 2, 'the home error')) as Caught;
    // (the test runtime has no message catalogs: the hint shows as its key)
    assert.match(msg.error.message, /cannot do "home" over dmap; (MRP is not paired: pair it|atvlink-device\.errors\.unpairedProtocols)/);
  });

  it('MRP down at deploy: "without MRP" over DMAP, MRP retried in the background and used once it is back, DMAP undisturbed', async () => {
    const mrp = sim.server('mrp')!;
    await mrp.stop();
    let back = false;
    try {
      await helper.load(
        ALL_NODES,
        flow([dualConfig(), { id: 'c2', type: 'atvlink-command', device: 'dev1', command: '', wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }]),
        { dev1: { dmap: DMAP_SECRET, mrp: credentials } },
      );
      const statuses = new Recorder(helper.getNode('statuses'));
      const caught = new Recorder(helper.getNode('caught'));
      const out = new Recorder(helper.getNode('out'));
      await waitForStatus(statuses, ['c2'], (t) => t === 'atvlink-device.status.connectedWithout', 'without MRP');
      assert.deepEqual(getLink('dev1')?.device?.protocols, ['dmap']);
      const loginsBefore = dmapStats(sim).logins;
      // a few background attempts fail (every 125 ms .. 1 s): DMAP is not logged into again for them
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(dmapStats(sim).logins, loginsBefore, 'the background attempts try MRP alone');
      helper.getNode('c2').receive({ payload: 'home', marker: 1 } as never);
      const msg = (await caught.waitFor((m) => m.marker === 1, 'the home error')) as Caught;
      assert.match(msg.error.message, /cannot do "home" over dmap; (MRP is not connected|atvlink-device\.errors\.downProtocols)/);

      const since = statuses.mark();
      await mrp.start();
      back = true;
      await waitForStatus(statuses, ['c2'], isConnected, 'connected over both', 8000, since);
      assert.deepEqual(getLink('dev1')?.device?.protocols, ['mrp', 'dmap']);
      await until(() => mrpStats(sim).verifiedSessions === 1, 'one verified MRP session');
      helper.getNode('c2').receive({ payload: 'home', marker: 2 } as never);
      await out.waitFor((m) => m.marker === 2, 'home over MRP');
      assert.equal(sim.state.lastKey?.name, 'home');
      // the DMAP session of the first device is closed once the swap is done
      await until(() => dmapStats(sim).openConnections <= 1, 'the old DMAP session to close', 8000);
    } finally {
      if (!back) await mrp.start();
    }
  });

  it('neither credential: "unpaired: MRP, DMAP" names both protocols', async () => {
    await helper.load(ALL_NODES, flow([dualConfig(), { id: 'c1', type: 'atvlink-command', device: 'dev1', command: 'play' }]), {});
    const statuses = new Recorder(helper.getNode('statuses'));
    await waitForStatus(statuses, ['c1'], (t) => t === PAIRING_REQUIRED, 'pairing required');
    assert.deepEqual(getLink('dev1')?.snapshot().needsPairing, ['mrp', 'dmap']);
  });
});

describe('a device found by its identifier (no host, no ports)', () => {
  const skip = process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)';
  let sim: Simulator;
  let credentials: string;

  before(async () => {
    if (skip) return;
    await helper.startServer();
    sim = await startMrpSimulator({ name: 'Multicast MRP TV', multicast: true });
    credentials = await pairMrp(sim);
  });
  after(async () => {
    if (skip) return;
    await helper.unload();
    await sim?.stop();
    await helper.stopServer();
  });

  it('finds the MRP port by multicast DNS-SD and connects with the MRP credentials', { skip }, async () => {
    const device: FlowNode = { id: 'dev1', type: 'atvlink-device', name: '', identifier: sim.config().identifier!, host: '', dmapPort: '', mrpPort: '' };
    await helper.load(
      ALL_NODES,
      flow([device, { id: 'ps', type: 'atvlink-playstatus', device: 'dev1', initial: true, wires: [['out']] }, { id: 'out', type: 'helper', z: 'f1' }]),
      { dev1: { mrp: credentials } },
    );
    const out = new Recorder(helper.getNode('out'));
    const msg = await out.waitFor(() => true, 'the state on deploy', 15_000);
    assert.equal(msg.topic, 'Multicast MRP TV', "the device's own name");
    assert.equal((msg.payload as NowPlaying).title, sim.state.track!.title);
    assert.equal(mrpStats(sim).verifiedSessions, 1);
  });
});
