/**
 * Integration: our DACP remote against the project's simulated Apple TV (a separate DACP
 * server implementation), and our DMAP pairing against the simulator's device-side pairing.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { NowPlaying } from '../../../../lib/device/state';
import { DmapPairing } from '../../../../lib/protocols/dmap/pairing';
import { DmapSession } from '../../../../lib/protocols/dmap/session';
import { DEMO_DMAP_CREDENTIALS } from '../../../../lib/simulator/dmap';
import { Simulator } from '../../../../lib/simulator/index';
import { sessionContext } from './servers';
import { sleep } from '../../../support/wait';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function startSimulator(): Promise<Simulator> {
  const sim = new Simulator({ homeSharing: false });
  cleanups.push(() => sim.stop());
  await sim.start();
  return sim;
}

describe('DMAP remote against the simulator', () => {
  it('commands change the simulated player; push updates report it; properties read back', async () => {
    const sim = await startSimulator();
    const session = new DmapSession(sessionContext(sim.dmapPort, DEMO_DMAP_CREDENTIALS, 2000));
    cleanups.push(() => session.close());
    await session.connect();

    const first = await session.nowPlaying();
    assert.equal(first.title, sim.state.track?.title ?? null);
    assert.equal(first.deviceState, sim.state.status);

    const updates: NowPlaying[] = [];
    session.on('nowPlaying', (s) => updates.push(s));
    session.startPushUpdates();
    while (updates.length === 0) await sleep(5);

    await session.sendCommand('play');
    while (!updates.some((u) => u.deviceState === 'playing')) await sleep(5);
    assert.equal(sim.state.status, 'playing');

    const before = sim.state.index;
    await session.sendCommand('next');
    assert.equal(sim.state.index, before + 1);
    while (updates[updates.length - 1]!.title !== sim.state.track?.title) await sleep(5);

    assert.equal(await session.setProperty('repeat', 'all'), 'all');
    assert.equal(sim.state.repeat, 'all');
    assert.equal(await session.setProperty('shuffle', 'songs'), 'songs');
    assert.equal(sim.state.shuffle, 'songs');

    await session.sendCommand('select');
    assert.equal(sim.state.lastKey?.name, 'select');

    const art = await session.artwork({ width: 64, height: 64 });
    assert.ok(art === null || art.mimeType.startsWith('image/'));

    await session.close();
  });

  it('pairs DmapPairing with the simulated device, then logs in with the credentials', async () => {
    const sim = await startSimulator();
    const pairing = new DmapPairing({
      name: 'Integration Remote',
      pin: '1357',
      interface: '127.0.0.1',
      advertiser: { multicast: false, unicast: { host: '127.0.0.1', port: 0 } },
    });
    cleanups.push(() => pairing.close());
    await pairing.begin();
    const result = await sim.pairWithRemote('1357', { hosts: ['127.0.0.1'], mdnsPort: pairing.serviceAdvertiser!.unicastPort!, timeout: 3000 });
    const credentials = await pairing.finish();
    assert.equal(result.credentials, credentials);
    assert.equal(result.remoteName, 'Integration Remote');

    const session = new DmapSession(sessionContext(sim.dmapPort, credentials, 2000));
    cleanups.push(() => session.close());
    await session.connect();
    assert.ok(session.client.sessionId !== null);
    await session.close();
  });

  it('a wrong PIN on the device is refused; the remote keeps waiting', async () => {
    const sim = await startSimulator();
    const pairing = new DmapPairing({ pin: '1111', interface: '127.0.0.1', advertiser: { multicast: false, unicast: { host: '127.0.0.1', port: 0 } } });
    cleanups.push(() => pairing.close());
    await pairing.begin();
    const mdnsPort = pairing.serviceAdvertiser!.unicastPort!;
    await assert.rejects(sim.pairWithRemote('2222', { hosts: ['127.0.0.1'], mdnsPort, timeout: 3000 }), /500/);
    const ok = await sim.pairWithRemote('1111', { hosts: ['127.0.0.1'], mdnsPort, timeout: 3000 });
    assert.equal(await pairing.finish(), ok.credentials);
  });
});
