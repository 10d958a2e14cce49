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
import type { SessionContext } from '../../../lib/device/interfaces';
import { AuthenticationError, ConnectionLostError, InvalidArgumentError, UnreachableError } from '../../../lib/errors';
import { DmapSession } from '../../../lib/protocols/dmap/session';
import { sleep } from '../../support/wait';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../../../lib/simulator';
import type { NowPlaying } from '../../../lib/device/state';
import { DACP_MAX_CONNECTIONS } from '../../../lib/protocols/dmap/http';
import type { KeyPress } from '../../../lib/simulator/state';

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

  it('never interleaves concurrent commands: N concurrent arrows register N keys, in call order', async () => {
    const keys: string[] = [];
    const onKey = (press: KeyPress): void => void keys.push(press.name);
    sim.state.on('key', onKey);
    try {
      // Each arrow is a seven-request swipe: interleaved, up + left read as one "down".
      await Promise.all([device.command('up'), device.command('left')]);
      assert.deepEqual(keys, ['up', 'left']);
      keys.length = 0;
      const arrows = Array.from({ length: 60 }, (_, i) => (['up', 'left', 'down', 'right', 'down'] as const)[(i * 3) % 5]!);
      await Promise.all(arrows.map((arrow, i) => device.command(arrow, i % 7 === 0 ? { action: 'double' } : {})));
      assert.deepEqual(keys, arrows.flatMap((arrow, i) => (i % 7 === 0 ? [arrow, arrow] : [arrow])));
    } finally {
      sim.state.off('key', onKey);
    }
  });

  it(`opens at most ${DACP_MAX_CONNECTIONS} connections to the device however many calls run at once`, async () => {
    const server = sim.server('dmap')!;
    let peak = 0;
    const onConnection = (open: number): void => void (peak = Math.max(peak, open));
    server.on('connection', onConnection);
    try {
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++) {
        calls.push(i % 4 === 0 ? device.command(i % 8 === 0 ? 'play' : 'pause') : i % 4 === 1 ? device.artwork({ width: 32 }) : device.nowPlaying());
      }
      await Promise.all(calls);
      // The push long poll started above holds one of them all along.
      assert.ok(peak > 0 && peak <= DACP_MAX_CONNECTIONS, `the device saw ${peak} connections at once`);
    } finally {
      server.off('connection', onConnection);
    }
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

describe('a DMAP device that stops answering (TCP open, no bytes)', () => {
  // The library's bound is LIVENESS_TIMEOUT_MS (30 s); the same mechanism with 1.5 s here.
  const liveness = { timeout: 1500, probeAfter: 1000 };
  const factories = { dmap: (context: SessionContext) => new DmapSession(context, { liveness }) };
  let sim: Simulator;

  before(async () => {
    sim = new Simulator({ name: 'Hanging TV', homeSharing: false });
    await sim.start();
  });
  after(async () => {
    await sim?.stop();
  });

  it('is declared lost (connectionLost, then closed) within the liveness bound, push updates on or off', async () => {
    for (const push of [true, false]) {
      sim.server('dmap')!.recover();
      const device = await connect(sim.config(), { credentials: { dmap: DEMO_DMAP_CREDENTIALS }, factories });
      try {
        const lost = new Promise<Error>((resolve) => device.once('connectionLost', resolve));
        const closed = new Promise<void>((resolve) => device.once('closed', resolve));
        if (push) device.startPushUpdates();
        await sleep(100);
        sim.server('dmap')!.hang();
        const error = await lost;
        assert.ok(error instanceof ConnectionLostError, String(error));
        assert.match(error.message, /stopped answering/);
        await closed;
        assert.equal(device.connected, false);
        // a command sent meanwhile is refused at once, not after a timeout
        await assert.rejects(device.command('play'), /closed/);
      } finally {
        await device.close();
      }
    }
  });

  it('never probes a device that keeps answering; an idle one only after a quiet spell', async () => {
    sim.server('dmap')!.recover();
    const device = await connect(sim.config(), { credentials: { dmap: DEMO_DMAP_CREDENTIALS }, factories });
    const requests = (): number => sim.server('dmap')!.stats().requests;
    try {
      let before = requests();
      for (let i = 0; i < 12; i++) {
        await device.command('volumeUp');
        await sleep(200);
      }
      assert.equal(requests() - before, 12, 'nothing but the commands went to a device that answers');
      before = requests();
      await sleep(2600);
      const probes = requests() - before;
      assert.ok(probes >= 1 && probes <= 3, `${probes} probes in 2.6 s of silence (one per second expected)`);
      assert.equal(device.connected, true, 'an idle device that answers stays connected');
    } finally {
      await device.close();
    }
  });

  it('connects again once it answers again', async () => {
    sim.server('dmap')!.hang();
    await assert.rejects(connect(sim.config(), { credentials: { dmap: DEMO_DMAP_CREDENTIALS }, factories, timeout: 500 }), /did not answer/);
    sim.server('dmap')!.recover();
    const device = await connect(sim.config(), { credentials: { dmap: DEMO_DMAP_CREDENTIALS }, factories });
    await device.command('play');
    assert.equal(sim.state.status, 'playing');
    await device.close();
  });
});
