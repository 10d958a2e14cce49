import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { Simulator } from '../../lib/simulator';
import { getLink } from '../../nodes/connections';
import {
  ALL_NODES,
  deviceConfig,
  demoCredentials,
  flow,
  helper,
  isConnected,
  Recorder,
  startSimulator,
  statusCalls,
  TEST_RETRY,
  until,
  waitForStatus,
  type FlowNode,
} from './support';

interface Caught extends NodeMessage {
  error: { message: string; source: { id: string } };
}

describe('bad input reaches a Catch node with the message', () => {
  let sim: Simulator;

  before(async () => {
    await helper.startServer();
    sim = await startSimulator({ homeSharing: false });
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await sim.stop();
    await helper.stopServer();
  });

  async function load(nodes: FlowNode[], credentials = demoCredentials(), device = deviceConfig(sim)) {
    await helper.load(ALL_NODES, flow([device, ...nodes, { id: 'out', type: 'helper', z: 'f1' }]), credentials);
    return {
      out: new Recorder(helper.getNode('out')),
      statuses: new Recorder(helper.getNode('statuses')),
      caught: new Recorder(helper.getNode('caught')),
    };
  }

  let sent = 0;
  async function expectCaught(caught: Recorder, id: string, input: Record<string, unknown>, pattern: RegExp): Promise<Caught> {
    const marker = `${id}-${++sent}`;
    helper.getNode(id).receive({ ...input, marker } as never);
    const msg = (await caught.waitFor((m) => m.marker === marker, `the error of ${id} for ${JSON.stringify(input)}`)) as Caught;
    assert.match(msg.error.message, pattern);
    assert.equal(msg.error.source.id, id);
    return msg;
  }

  it('unknown command, bad press, missing command, unsupported command', async () => {
    const { statuses, caught, out } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: '', wires: [['out']] }]);
    await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
    const msg = await expectCaught(caught, 'cmd', { payload: 'fly', topic: 'keep me' }, /unknownCommand|unknown command/);
    assert.equal(msg.topic, 'keep me', 'the Catch node gets the original message');
    await expectCaught(caught, 'cmd', { payload: 'up', action: 'twice' }, /badAction|unknown press/);
    await expectCaught(caught, 'cmd', { payload: 42 }, /noCommand|no command/);
    await expectCaught(caught, 'cmd', { payload: 'play', action: 'hold' }, /not a button/);
    await expectCaught(caught, 'cmd', { payload: 'home' }, /cannot do "home"/);
    assert.equal(out.items.length, 0, 'nothing passed on');
  });

  it('volume 150, a wrong shuffle value and an unknown property', async () => {
    const { statuses, caught } = await load([
      { id: 'vol', type: 'atvlink-property', device: 'dev1', property: 'volume', value: 'payload', valueType: 'msg' },
      { id: 'any', type: 'atvlink-property', device: 'dev1', property: '', value: 'payload', valueType: 'msg' },
    ]);
    await waitForStatus(statuses, ['vol', 'any'], isConnected, 'connected');
    const volumeBefore = sim.state.volume;
    await expectCaught(caught, 'vol', { payload: 150 }, /volume must be between 0 and 100, got 150/);
    await expectCaught(caught, 'vol', { payload: 'loud' }, /volume must be a number/);
    await expectCaught(caught, 'any', { payload: 'sometimes', property: 'shuffle' }, /shuffle must be one of/);
    await expectCaught(caught, 'any', { payload: 1, property: 'brightness' }, /unknownProperty|unknown property/);
    await expectCaught(caught, 'any', { payload: 1 }, /noProperty|no property/);
    assert.equal(sim.state.volume, volumeBefore, 'nothing was sent');
  });

  it('artwork sizes out of range', async () => {
    const { statuses, caught } = await load([
      { id: 'art', type: 'atvlink-artwork', device: 'dev1', width: 'width', widthType: 'msg', height: 'height', heightType: 'msg' },
    ]);
    await waitForStatus(statuses, ['art'], isConnected, 'connected');
    await expectCaught(caught, 'art', { width: 5000 }, /badSize|1 to 4096/);
    await expectCaught(caught, 'art', { height: 'big' }, /badSize|1 to 4096/);
  });

  it('no device configured: a status saying so, and an error for every message', async () => {
    const { caught } = await load([
      { id: 'cmd', type: 'atvlink-command', device: '', command: 'play' },
      { id: 'vol', type: 'atvlink-property', device: '', property: 'volume', value: '10', valueType: 'num' },
      { id: 'art', type: 'atvlink-artwork', device: '' },
      { id: 'ps', type: 'atvlink-playstatus', device: '' },
    ]);
    for (const id of ['cmd', 'vol', 'art', 'ps']) assert.deepEqual(statusCalls(id), ['atvlink-device.status.noDevice'], id);
    await expectCaught(caught, 'cmd', { payload: 1 }, /noDevice|no Apple TV device/);
    await expectCaught(caught, 'vol', { payload: 1 }, /noDevice|no Apple TV device/);
    await expectCaught(caught, 'art', { payload: 1 }, /noDevice|no Apple TV device/);
    await expectCaught(caught, 'ps', { payload: 1 }, /noDevice|no Apple TV device/);
  });

  it('a device that is not reachable: disconnected status and a clear error', async () => {
    const closed = await startSimulator();
    const port = closed.dmapPort;
    await closed.stop();
    const { statuses, caught } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }], demoCredentials(), {
      ...deviceConfig(sim),
      dmapPort: String(port),
    });
    await waitForStatus(statuses, ['cmd'], (t) => t === 'atvlink-device.status.disconnected', 'disconnected');
    await expectCaught(caught, 'cmd', { payload: 1 }, /Test TV is not connected: .*refused/);
  });

  it('a device that drops and stays off is warned about once, not once per attempt', async () => {
    const other = await startSimulator({ name: 'Flaky TV' });
    try {
      const { statuses } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }], demoCredentials(), deviceConfig(other));
      await waitForStatus(statuses, ['cmd'], isConnected, 'connected');
      const since = statuses.mark();
      await other.stop();
      await waitForStatus(statuses, ['cmd'], (t) => t === 'atvlink-device.status.disconnected', 'disconnected', 5000, since);
      // let the reconnect attempts (every 125..1000 ms) fail a few times
      await until(() => statusCalls('cmd').filter((t) => t === 'atvlink-device.status.connecting').length >= 4, 'three failed reconnects', 8000);
      const logged = (helper as unknown as { log(): { args: { level: number; id?: string; msg: unknown }[][] } }).log().args.map((a) => a[0]);
      const warnings = logged.filter((m) => m.level === 30 && m.id === 'dev1').map((m) => String(m.msg));
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0]!, /Test TV: connection lost/);
      assert.ok(logged.some((m) => m.level === 50 && m.id === 'dev1' && /refused/.test(String(m.msg))), 'the failed attempts are logged at debug');
    } finally {
      await other.stop();
    }
  });

  it('retry settings that would spin (initial 0, max below initial) are raised to a floor, with a warning', async () => {
    const closed = await startSimulator();
    const port = closed.dmapPort;
    await closed.stop();
    helper.settings({ atvlinkDeviceRetry: { initial: 0, max: -5 } } as Record<string, unknown>);
    try {
      await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }], demoCredentials(), { ...deviceConfig(sim), dmapPort: String(port) });
      await new Promise((r) => setTimeout(r, 600));
      const attempts = statusCalls('cmd').filter((t) => t === 'atvlink-device.status.connecting').length;
      // the floor, less the jitter (half of it at worst): at most one attempt per 125 ms
      assert.ok(attempts >= 1 && attempts <= 5, `${attempts} connection attempts in 600 ms`);
      assert.deepEqual(getLink('dev1')?.retryPolicy, { initial: 250, max: 250 });
      const logged = JSON.stringify((helper as unknown as { log(): { args: unknown[][] } }).log().args);
      assert.match(logged, /atvlinkDeviceRetry/);
    } finally {
      helper.settings({ atvlinkDeviceRetry: TEST_RETRY } as Record<string, unknown>);
    }
  });

  it('wrong credentials: "pairing required", and the credential appears in no status or error', async () => {
    const secret = '0x00000000DEADBEEF';
    const { statuses, caught } = await load([{ id: 'cmd', type: 'atvlink-command', device: 'dev1', command: 'play' }], {
      dev1: { dmap: secret },
    });
    await waitForStatus(statuses, ['cmd'], (t) => t === 'atvlink-device.status.pairingRequiredFor', 'pairing required');
    assert.deepEqual(getLink('dev1')?.snapshot().needsPairing, ['dmap'], 'the status names DMAP');
    const msg = await expectCaught(caught, 'cmd', { payload: 1 }, /not connected/);
    const logged = (helper as unknown as { log(): { args: unknown[][] } }).log().args;
    assert.ok(JSON.stringify(logged).includes('refused the DMAP credentials'), 'the refusal was logged');
    const everything = JSON.stringify([statuses.items, msg.error, logged]);
    assert.ok(!everything.toUpperCase().includes('DEADBEEF'), everything);
  });
});
