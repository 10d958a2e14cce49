import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { describe, it } from 'node:test';
import { connect } from '../../../lib/core/facade';
import type { NowPlaying } from '../../../lib/device/state';
import { scan } from '../../../lib/discovery/scan';
import { ClosedError, InvalidArgumentError } from '../../../lib/errors';
import { createDmapSession } from '../../../lib/protocols/dmap/session';
import { DEMO_DMAP_CREDENTIALS, DEMO_HOME_SHARING_GUID } from '../../../lib/simulator/dmap';
import { Simulator } from '../../../lib/simulator/index';
import { DACP_HEADERS } from '../../../lib/protocols/dmap/http';
import { login, request, sleep } from './http';

/** Handles that would keep the process alive (sockets, servers, timers). */
function liveHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) {
    if (/TCP|UDP|Timeout|Pipe/.test(name)) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

async function settle(): Promise<void> {
  // Socket close events arrive a tick or two after destroy().
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  await sleep(20);
}

describe('Simulator', () => {
  it('closes every server, socket, long poll and timer on stop()', async () => {
    await settle();
    const baseline = liveHandles();
    const sim = new Simulator({ trackSeconds: 1, autoplay: true, mdnsPort: 0 });
    await sim.start();
    const port = sim.dmapPort;
    const session = await login(port);
    const dmap = sim.server('dmap')!;

    // A keep-alive connection left open, and a long poll left hanging.
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/server-info', agent, headers: DACP_HEADERS }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
    const poll = request(port, `/ctrl-int/1/playstatusupdate?session-id=${session}&revision-number=${sim.state.revision}`).catch(
      (e: Error) => e,
    );
    await sleep(50);
    const stats = dmap.stats();
    assert.ok(stats.openConnections >= 2, `open connections ${stats.openConnections}`);
    assert.equal(stats.pendingPolls, 1);

    await sim.stop();
    assert.ok((await poll) instanceof Error, 'the hanging long poll was cut off');
    await settle();
    agent.destroy();
    await settle();
    assert.equal(dmap.stats().openConnections, 0);
    assert.equal(dmap.stats().pendingPolls, 0);
    assert.deepEqual(liveHandles(), baseline);
    assert.equal(sim.mdnsPort, null);
    await sim.stop(); // twice is fine
    await assert.rejects(sim.start(), ClosedError);
  });

  it('validates its options', () => {
    assert.throws(() => new Simulator({ dmapPort: 70000 }), InvalidArgumentError);
    assert.throws(() => new Simulator({ credentials: ['0x123'] }), InvalidArgumentError);
    assert.throws(() => new Simulator({ protocols: ['raop' as never] }), InvalidArgumentError);
    assert.throws(() => new Simulator({ device: 'watch' as never }), InvalidArgumentError);
    assert.throws(() => new Simulator({ airplayPort: -1 }), InvalidArgumentError);
    assert.throws(() => new Simulator({ deviceId: 'not hex' }), InvalidArgumentError);
  });

  it('has a stable id per name, accepts the demo credentials and describes itself without secrets', async () => {
    const sim = new Simulator({ credentials: ['0xabcdefabcdefabcd'] });
    assert.equal(sim.name, 'Simulated Apple TV');
    assert.match(sim.deviceId, /^[0-9A-F]{16}$/);
    assert.equal(new Simulator().deviceId, sim.deviceId);
    assert.notEqual(new Simulator({ name: 'Other' }).deviceId, sim.deviceId);
    assert.deepEqual(sim.acceptedCredentials, [DEMO_DMAP_CREDENTIALS, '0xABCDEFABCDEFABCD']);
    await sim.start();
    try {
      const text = sim.describe().join('\n');
      assert.match(text, /Simulated Apple TV/);
      assert.ok(text.includes(String(sim.dmapPort)));
      assert.ok(text.includes(sim.deviceId));
      assert.ok(text.includes(DEMO_DMAP_CREDENTIALS));
      assert.ok(!text.includes('ABCDEFABCDEFABCD'), 'extra credentials are not printed');
    } finally {
      await sim.stop();
    }
  });

  it('config() is what discovery makes of its advertisements', async () => {
    const sim = new Simulator({ name: 'Config Den' });
    assert.throws(() => sim.config(), ClosedError);
    await sim.start();
    try {
      const config = sim.config();
      assert.equal(config.name, 'Config Den');
      assert.equal(config.address, '127.0.0.1');
      assert.deepEqual(config.identifiers, [sim.deviceId]);
      const dmap = config.services.filter((s) => s.protocol === 'dmap');
      assert.ok(dmap.length >= 1);
      for (const s of dmap) {
        assert.equal(s.port, sim.dmapPort);
        assert.equal(s.credentials, DEMO_HOME_SHARING_GUID);
        assert.equal(s.pairing, 'optional');
      }
      assert.equal(config.deviceInfo.rawModel, 'J33IAP');
    } finally {
      await sim.stop();
    }
  });

  it('without Home Sharing, pairing is mandatory and hsgid logins are refused', async () => {
    const sim = new Simulator({ homeSharing: false });
    await sim.start();
    try {
      const config = sim.config();
      assert.deepEqual(
        config.services.map((s) => [s.serviceType, s.pairing, s.credentials]),
        [['_touch-able._tcp', 'mandatory', null]],
      );
      assert.equal((await request(sim.dmapPort, `/login?hsgid=${DEMO_HOME_SHARING_GUID}`)).status, 401);
    } finally {
      await sim.stop();
    }
  });

  it('is found by a unicast scan on its DNS-SD port', async () => {
    const sim = new Simulator({ name: 'Unicast Den', mdnsPort: 0 });
    await sim.start();
    try {
      assert.ok(sim.mdnsPort !== null && sim.mdnsPort > 0);
      const devices = await scan({ hosts: ['127.0.0.1'], port: sim.mdnsPort, timeout: 2000, identifier: sim.deviceId });
      assert.equal(devices.length, 1);
      assert.deepEqual(devices[0], sim.config());
      assert.equal(devices[0]!.name, 'Unicast Den');
      assert.ok(devices[0]!.services.some((s) => s.serviceType === '_touch-able._tcp' && s.port === sim.dmapPort));
      assert.ok(devices[0]!.services.some((s) => s.serviceType === '_appletv-v2._tcp' && s.properties.hG === DEMO_HOME_SHARING_GUID));
    } finally {
      await sim.stop();
    }
  });

  it(
    'is found by a multicast scan',
    { skip: process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)' },
    async () => {
      const sim = new Simulator({ name: 'Multicast Den', multicast: true });
      await sim.start();
      try {
        const devices = await scan({ timeout: 1500, identifier: sim.deviceId });
        assert.equal(devices.length, 1);
        assert.equal(devices[0]!.name, 'Multicast Den');
        assert.ok(devices[0]!.services.some((s) => s.protocol === 'dmap' && s.port === sim.dmapPort));
      } finally {
        await sim.stop();
      }
    },
  );

  it('end to end: the library connects with config() alone and controls the simulator over DMAP', async () => {
    const sim = new Simulator({ name: 'E2E Den', trackSeconds: 20 });
    await sim.start();
    const dmap = sim.server('dmap')!;
    const device = await connect(sim.config(), { factories: { dmap: createDmapSession }, timeout: 2000 });
    // _touch-able and _appletv-v2 lead to one server: the facade opens ONE session and logs
    // in once (with the Home Sharing GUID the advertisement carries), and never again later.
    const loginsAfterConnect = dmap.stats().logins;
    assert.equal(loginsAfterConnect, 1);
    try {
      await device.command('play');
      assert.equal(sim.state.status, 'playing');
      let np = await device.nowPlaying();
      assert.equal(np.deviceState, 'playing');
      assert.equal(np.title, sim.state.tracks[0]!.title);
      assert.equal(np.totalTime, 20);

      await device.command('left');
      await device.command('select');
      assert.deepEqual(
        sim.state.keys.slice(-2).map((k) => k.name),
        ['left', 'select'],
      );
      assert.equal(await device.setProperty('volume', 40), 40);
      assert.equal(sim.state.volume, 40);
      await device.setProperty('repeat', 'all');
      assert.equal(sim.state.repeat, 'all');

      const art = await device.artwork({ width: 64, height: 48 });
      assert.equal(art?.mimeType, 'image/png');
      assert.equal(art?.width, 64);
      assert.equal(art?.height, 48);

      const pushed: NowPlaying[] = [];
      device.on('nowPlaying', (state: NowPlaying) => pushed.push(state));
      device.startPushUpdates();
      await sleep(100);
      const next = once(device, 'nowPlaying', { signal: AbortSignal.timeout(3000) });
      sim.state.next();
      [np] = (await next) as [NowPlaying];
      assert.equal(np.title, sim.state.tracks[1]!.title, 'a push update arrived');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(pushed[pushed.length - 1]!.title, sim.state.tracks[1]!.title);
      assert.equal(dmap.stats().logins, loginsAfterConnect, 'no re-login during the session');
    } finally {
      await device.close();
      await sim.stop();
    }
  });
});
