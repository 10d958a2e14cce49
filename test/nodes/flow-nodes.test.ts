import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { NowPlaying } from '../../lib/device/state';
import type { Simulator } from '../../lib/simulator';
import type { KeyPress } from '../../lib/simulator/state';
import {
  ALL_NODES,
  deviceConfig,
  demoCredentials,
  flow,
  helper,
  isConnected,
  Recorder,
  startSimulator,
  waitForStatus,
  type FlowNode,
} from './support';
import { freePort } from './runtime';

describe('flow nodes against the simulator (happy paths)', () => {
  let sim: Simulator;

  before(async () => {
    await helper.startServer();
    // named apart from the config node ('Test TV'), whose name msg.topic must carry
    sim = await startSimulator({ name: 'Sim TV', mdnsPort: 0 });
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await sim.stop();
    await helper.stopServer();
  });

  async function load(nodes: FlowNode[]): Promise<{ out: Recorder; statuses: Recorder; caught: Recorder }> {
    const flowNodes = flow([deviceConfig(sim), ...nodes, { id: 'out', type: 'helper', z: 'f1', wires: [] }]);
    await helper.load(ALL_NODES, flowNodes, demoCredentials());
    return {
      out: new Recorder(helper.getNode('out')),
      statuses: new Recorder(helper.getNode('statuses')),
      caught: new Recorder(helper.getNode('caught')),
    };
  }

  it('command: sends the command, then passes the message on unchanged', async () => {
    const { out, statuses } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: '', action: 'single', wires: [['out']] }]);
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    sim.state.pause();
    helper.getNode('cmd').receive({ payload: 'play', topic: 'chain', _msgid: 'm1', extra: 42 } as never);
    const msg = await out.waitFor(() => true, 'the command message');
    assert.equal(msg.payload, 'play');
    assert.equal(msg.topic, 'chain');
    assert.equal(msg.extra, 42, 'the input message travels on');
    assert.equal(sim.state.status, 'playing', 'the simulator got the command before the message went on');

    helper.getNode('cmd').receive({ command: 'next', payload: 'ignored' } as never);
    const before = sim.state.index;
    await out.waitFor((m) => m.command === 'next', 'the second command message');
    assert.equal(sim.state.index, before + 1);

    const keysBefore = sim.state.keys.length;
    helper.getNode('cmd').receive({ command: 'down', action: 'double' } as never);
    await out.waitFor((m) => m.command === 'down', 'the arrow message');
    // DMAP has no double press: the session sends the key twice.
    assert.deepEqual(
      sim.state.keys.slice(keysBefore).map((k) => k.name),
      ['down', 'down'],
    );
  });

  it('command: messages arriving together reach the device one command at a time, in order', async () => {
    const { out, statuses } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: '', action: 'single', wires: [['out']] }]);
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    const keys: string[] = [];
    const onKey = (press: KeyPress): void => void keys.push(press.name);
    sim.state.on('key', onKey);
    try {
      // Arrows are seven-request swipes each: interleaved, left + down + right read as "select".
      const arrows = ['left', 'down', 'right', 'up', 'up', 'left'];
      arrows.forEach((payload, i) => helper.getNode('cmd').receive({ payload, seq: i } as never));
      await out.waitFor((m) => m.seq === arrows.length - 1, 'the last arrow passed on');
      await out.waitFor(() => out.items.length >= arrows.length, 'every arrow passed on');
      assert.deepEqual(keys, arrows);
      assert.deepEqual(out.items.map((m) => m.seq), arrows.map((_, i) => i), 'messages go on in the order they came');
    } finally {
      sim.state.off('key', onKey);
    }
  });

  it("command: the node's Press applies to buttons only; a transport command from msg.payload still goes through", async () => {
    const { out, statuses, caught } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: '', action: 'double', wires: [['out']] }]);
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    sim.state.pause();
    helper.getNode('cmd').receive({ payload: 'play', marker: 1 } as never);
    await out.waitFor((m) => m.marker === 1, 'play passed on');
    assert.equal(sim.state.status, 'playing');
    const keysBefore = sim.state.keys.length;
    helper.getNode('cmd').receive({ payload: 'down', marker: 2 } as never);
    await out.waitFor((m) => m.marker === 2, 'down passed on');
    assert.deepEqual(
      sim.state.keys.slice(keysBefore).map((k) => k.name),
      ['down', 'down'],
      'a button gets the double press',
    );
    // msg.action stays strict: asking a non-button for a double press is an error
    helper.getNode('cmd').receive({ payload: 'play', action: 'double', marker: 3 } as never);
    const err = (await caught.waitFor((m) => m.marker === 3, 'the error')) as NodeMessage & { error: { message: string } };
    assert.match(err.error.message, /not a button/);
  });

  it('command: a command picked in the editor wins over the payload', async () => {
    const { out, statuses } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'pause', action: 'single', wires: [['out']] }]);
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    sim.state.play();
    helper.getNode('cmd').receive({ payload: 'next' } as never);
    await out.waitFor(() => true, 'the message');
    assert.equal(sim.state.status, 'paused');
  });

  it('property: sets the volume from msg.payload and reports the value read back', async () => {
    const { out, statuses } = await load([
      { id: 'vol', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg', wires: [['out']] },
      { id: 'rep', type: 'atvlink-property', device: 'dev1', property: 'repeat', value: 'all', valueType: 'str', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['vol', 'rep'], isConnected, 'connected');
    helper.getNode('vol').receive({ payload: '35', topic: 'slider' } as never);
    const vol = await out.waitFor((m) => m.property === 'volume', 'the volume message');
    assert.equal(vol.payload, 35);
    assert.equal(vol.topic, 'slider');
    assert.equal(sim.state.volume, 35);

    helper.getNode('rep').receive({ payload: 'whatever' } as never);
    const rep = await out.waitFor((m) => m.property === 'repeat', 'the repeat message');
    assert.equal(rep.payload, 'all');
    assert.equal(sim.state.repeat, 'all');
  });

  it("property: a node's own output does not steer the next one (volume node chained into a shuffle node)", async () => {
    const { out, statuses, caught } = await load([
      { id: 'vol', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg', wires: [['shuf']] },
      { id: 'shuf', type: 'atvlink-property', device: 'dev1', property: 'shuffle', value: 'songs', valueType: 'str', wires: [['out']] },
      { id: 'any', type: 'atvlink-property', device: 'dev1', property: '', value: 'payload', valueType: 'msg', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['vol', 'shuf', 'any'], isConnected, 'connected');
    sim.state.setShuffle('off');
    helper.getNode('vol').receive({ payload: 30, marker: 1 } as never);
    const msg = await out.waitFor((m) => m.marker === 1, 'the message through both nodes');
    assert.equal(caught.items.length, 0, JSON.stringify(caught.items));
    assert.equal(msg.property, 'shuffle');
    assert.equal(msg.payload, 'songs');
    assert.equal(sim.state.volume, 30);
    assert.equal(sim.state.shuffle, 'songs');

    // a node set to "from msg.property" takes it from the message
    helper.getNode('any').receive({ property: 'repeat', payload: 'track', marker: 2 } as never);
    const rep = await out.waitFor((m) => m.marker === 2, 'the repeat message');
    assert.equal(rep.property, 'repeat');
    assert.equal(sim.state.repeat, 'track');
    helper.getNode('any').receive({ payload: 'track', marker: 3 } as never);
    const missing = (await caught.waitFor((m) => m.marker === 3, 'the error for a message without msg.property')) as NodeMessage & { error: { message: string } };
    assert.match(missing.error.message, /noProperty|msg\.property/);
  });

  it("artwork: a node's own msg.width/msg.height output does not resize the next node's request; a size from msg only when set so", async () => {
    const { out, statuses } = await load([
      { id: 'small', type: 'atvlink-artwork', device: 'dev1', width: '64', height: '', output: 'buffer', wires: [['whole']] },
      { id: 'whole', type: 'atvlink-artwork', device: 'dev1', width: '', height: '', output: 'buffer', wires: [['out']] },
      { id: 'sized', type: 'atvlink-artwork', device: 'dev1', width: 'size', widthType: 'msg', height: 'size', heightType: 'msg', output: 'buffer', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['small', 'whole', 'sized'], isConnected, 'connected');
    sim.state.play();
    helper.getNode('whole').receive({ marker: 0 } as never);
    const reference = await out.waitFor((m) => m.marker === 0, 'the artwork as the device sends it');
    helper.getNode('small').receive({ marker: 1 } as never);
    const chained = await out.waitFor((m) => m.marker === 1, 'the artwork through both nodes');
    assert.notEqual(reference.width, 64);
    assert.equal(chained.width, reference.width, 'the second node asked for no size, as configured');
    helper.getNode('sized').receive({ size: 48, marker: 2 } as never);
    const sized = await out.waitFor((m) => m.marker === 2, 'the artwork sized from msg.size');
    assert.equal(sized.width, 48);
  });

  it('artwork: a Buffer with its type and size, or a data: URI; width/height from msg', async () => {
    const { out, statuses } = await load([
      { id: 'art', type: 'atvlink-artwork', device: 'dev1', width: '64', height: '', output: 'buffer', wires: [['out']] },
      { id: 'uri', type: 'atvlink-artwork', device: 'dev1', width: 'width', widthType: 'msg', height: 'height', heightType: 'msg', output: 'dataUri', wires: [['out']] },
    ]);
    await waitForStatus(statuses, ['art', 'uri'], isConnected, 'connected');
    sim.state.play();
    helper.getNode('art').receive({ topic: 'cover' } as never);
    const art = await out.waitFor((m) => m.topic === 'cover', 'the artwork');
    assert.ok(Buffer.isBuffer(art.payload), 'a Buffer');
    const bytes = art.payload as Buffer;
    assert.equal(art.contentType, 'image/png');
    assert.deepEqual([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
    assert.equal(art.byteLength, bytes.length);
    assert.equal(art.width, 64, 'scaled to the editor width');

    helper.getNode('uri').receive({ topic: 'uri', width: 32, height: 32 } as never);
    const uri = await out.waitFor((m) => m.topic === 'uri', 'the data URI');
    assert.match(String(uri.payload), /^data:image\/png;base64,iVBORw0KGgo/);
    assert.equal(uri.width, 32);
  });

  it('artwork: payload null when nothing is playing', async () => {
    const { out, statuses } = await load([{ id: 'art', type: 'atvlink-artwork', device: 'dev1', output: 'buffer', wires: [['out']] }]);
    await waitForStatus(statuses, ['art'], isConnected, 'connected');
    sim.state.stop();
    helper.getNode('art').receive({ topic: 'none' } as never);
    const msg = await out.waitFor((m) => m.topic === 'none', 'the empty artwork message');
    assert.equal(msg.payload, null);
    assert.equal(msg.contentType, null);
    assert.equal(msg.byteLength, 0);
    sim.state.play();
  });

  it('playstatus: the current state on deploy, then one message per watched change, not per tick', async () => {
    sim.state.pause();
    const { out } = await load([
      { id: 'ps', type: 'atvlink-playstatus', device: 'dev1', initial: true, fields: [], wires: [['out']] },
      { id: 'quiet', type: 'atvlink-playstatus', device: 'dev1', initial: false, fields: ['title'], wires: [['out']] },
    ]);
    const first = await out.waitFor(() => true, 'the state on deploy');
    assert.equal(first.topic, 'Test TV', 'the config node name');
    const state = first.payload as NowPlaying;
    assert.equal(state.deviceState, 'paused');
    assert.equal(state.title, sim.state.track!.title);
    assert.ok(Array.isArray(first.changed));

    let since = out.mark();
    sim.state.play();
    const playing = await out.waitFor((m) => (m.payload as NowPlaying).deviceState === 'playing', 'the playing state', 5000, since);
    assert.deepEqual(playing.changed, ['deviceState']);
    assert.equal(out.items.length - since, 1, 'the title-only node stayed quiet');

    since = out.mark();
    sim.state.next();
    await out.waitFor((m) => (m.changed as string[]).includes('title'), 'a title change', 5000, since);
    // both nodes watch the title: two messages, each with the new title
    await new Promise((r) => setTimeout(r, 300));
    const titles = out.items.slice(since).map((m) => (m.payload as NowPlaying).title);
    assert.equal(titles.length, 2, JSON.stringify(titles));
    assert.ok(titles.every((t) => t === sim.state.track!.title));

    since = out.mark();
    sim.state.setPosition(10);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(out.items.length, since, 'a position change alone sends nothing');
  });

  it('playstatus: carries volume and power; a node watching the volume follows a change made on the device', async () => {
    sim.state.setVolume(40);
    const { out, statuses } = await load([{ id: 'vol', type: 'atvlink-playstatus', device: 'dev1', initial: true, fields: ['volume'], wires: [['out']] }]);
    const first = await out.waitFor(() => true, 'the state on deploy');
    assert.equal((first.payload as { volume: number }).volume, 40, 'the first message has the volume');
    assert.ok(['on', 'off', 'unknown'].includes((first.payload as { power: string }).power));
    await waitForStatus(statuses, ['vol'], isConnected, 'connected');
    const since = out.mark();
    sim.state.setVolume(65);
    const changed = await out.waitFor((m) => (m.payload as { volume: number }).volume === 65, 'the volume set on the device', 5000, since);
    assert.deepEqual(changed.changed, ['volume']);
    sim.state.next();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(out.items.length - since, 1, 'a title change does not wake a node watching the volume only');
  });

  it('property: get reads a property on demand, no value needed', async () => {
    sim.state.setVolume(55);
    const { out, statuses, caught } = await load([{ id: 'reader', type: 'atvlink-property', device: 'dev1', property: 'volume', mode: 'get', value: 'payload', valueType: 'msg', wires: [['out']] }]);
    await waitForStatus(statuses, ['reader'], isConnected, 'connected');
    helper.getNode('reader').receive({ payload: 'ignored' } as never);
    const msg = await out.waitFor(() => true, 'the volume read');
    assert.equal(msg.payload, 55);
    assert.equal(msg.property, 'volume');
    assert.equal(sim.state.volume, 55, 'nothing was set');
    await waitForStatus(statuses, ['reader'], (t) => t === 'atvlink-property.status.value', 'the value read as its status');
    assert.equal(caught.items.length, 0);
  });

  it('playstatus: added by a partial deploy while the device is connected, it sends the state on deploy', async () => {
    const devices = deviceConfig(sim);
    const outNode: FlowNode = { id: 'out', type: 'helper', z: 'f1', wires: [] };
    const cmd: FlowNode = { id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play', wires: [] };
    const flows = flow([devices, cmd, outNode]);
    await helper.load(ALL_NODES, flows, demoCredentials());
    const out = new Recorder(helper.getNode('out'));
    const statuses = new Recorder(helper.getNode('statuses'));
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    // "Modified nodes" deploy: only the new node starts; the device config keeps its connection
    const added = { id: 'ps-new', type: 'atvlink-playstatus', z: 'f1', device: 'dev1', initial: true, fields: [], wires: [['out']] };
    await helper.setFlows([...flows, added], 'nodes', demoCredentials());
    const msg = await out.waitFor(() => true, 'the state on deploy of the added node');
    assert.equal(msg.topic, 'Test TV');
    assert.equal((msg.payload as NowPlaying).title, sim.state.track!.title);
    const logged = JSON.stringify((helper as unknown as { log(): { args: unknown[][] } }).log().args);
    assert.doesNotMatch(logged, /before initialization|failed handling/);
  });

  it('discover: a unicast scan on input sends the list, with no credential in it', async () => {
    const { out } = await load([
      { id: 'disc', type: 'atvlink-discover', watch: false, hosts: '127.0.0.1', port: String(sim.mdnsPort), timeout: '1', wires: [['out']] },
    ]);
    helper.getNode('disc').receive({ topic: 'scan' } as never);
    const msg = await out.waitFor(() => true, 'the scan result', 8000);
    assert.equal(msg.topic, 'scan');
    const devices = msg.payload as { name: string; identifier: string; services: { protocol: string; port: number }[] }[];
    const found = devices.find((d) => d.name === 'Sim TV');
    assert.ok(found, JSON.stringify(devices));
    assert.ok(found.services.some((s) => s.protocol === 'dmap' && s.port === sim.dmapPort));
    const json = JSON.stringify(devices);
    assert.ok(!json.includes('00000000-0000-0000-0000-000000000001'), 'no Home Sharing id');
    assert.ok(!/"credentials"|"properties"/.test(json));
  });

  it('discover: closed during a scan, it sends nothing and sets no status afterwards, and closes at once', async () => {
    // a DNS-SD port where nothing answers: the scan runs for its whole time
    const silent = await freePort();
    await load([{ id: 'disc', type: 'atvlink-discover', watch: false, hosts: '127.0.0.1', port: String(silent), timeout: '1.5', wires: [['out']] }]);
    const node = helper.getNode('disc') as unknown as Record<string, unknown>;
    const after: string[] = [];
    let closed = false;
    const status = (node.status as (...a: unknown[]) => void).bind(node);
    const send = (node.send as (...a: unknown[]) => void).bind(node);
    node.status = (...a: unknown[]) => (closed ? after.push(`status ${JSON.stringify(a)}`) : status(...a));
    node.send = (...a: unknown[]) => (closed ? after.push(`send ${JSON.stringify(a)}`) : send(...a));
    helper.getNode('disc').receive({ topic: 'scan' } as never);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    closed = true;
    await helper.unload();
    assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(after, [], 'nothing after close');
  });

  it('discover: a port that cannot work still answers every input with an error for a Catch node', async () => {
    const { caught } = await load([{ id: 'disc', type: 'atvlink-discover', watch: false, hosts: '127.0.0.1', port: '99999', timeout: '1', wires: [['out']] }]);
    helper.getNode('disc').receive({ topic: 'scan', marker: 7 } as never);
    const msg = (await caught.waitFor((m) => m.marker === 7, 'the error at the Catch node')) as NodeMessage & { error: { message: string } };
    assert.match(msg.error.message, /badPort|DNS-SD port/);
  });

  it('discover: watch mode reports a device added (unicast polling)', async () => {
    const { out } = await load([{ id: 'disc', type: 'atvlink-discover', watch: true, hosts: '127.0.0.1', port: String(sim.mdnsPort), wires: [['out']] }]);
    const msg = await out.waitFor((m) => m.topic === 'added', 'an added device', 8000);
    assert.equal((msg.payload as { name: string }).name, 'Sim TV');
  });

  it('the editor routes serve the library tables', async () => {
    await load([]);
    const commands = await helper.request().get('/atvlink/commands').expect(200);
    assert.ok(commands.body.some((c: { name: string; group: string }) => c.name === 'playPause' && c.group === 'transport'));
    assert.ok(commands.body.length >= 20);
    const properties = await helper.request().get('/atvlink/properties').expect(200);
    assert.deepEqual(
      properties.body.map((p: { name: string }) => p.name),
      ['position', 'shuffle', 'repeat', 'volume'],
    );
    const fields = await helper.request().get('/atvlink/fields').expect(200);
    assert.ok(fields.body.fields.includes('position') && !fields.body.defaults.includes('position'));
    await helper.request().get('/atvlink/discover?port=99999').expect(400);
    const found = await helper.request().get(`/atvlink/discover?hosts=127.0.0.1&port=${sim.mdnsPort}&timeout=1`).expect(200);
    assert.ok(found.body.some((d: { name: string }) => d.name === 'Sim TV'));
  });
});
