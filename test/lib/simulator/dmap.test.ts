import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { dmapBool, dmapNumber, dmapString, encodeTag, findDmap } from '../../../lib/codecs/dmap';
import { DACP_ARROW_SWIPES, DACP_ARROWS } from '../../../lib/protocols/dmap/client';
import { PNG_SIGNATURE } from '../../../lib/codecs/image';
import { pngSize } from '../../../lib/simulator/artwork';
import { DEMO_HOME_SHARING_GUID } from '../../../lib/simulator/dmap';
import { Simulator } from '../../../lib/simulator/index';
import { dmap, login, request, sleep } from './http';

const DMAP_TYPE = 'application/x-dmap-tagged';

describe('DMAP simulator server (real loopback HTTP)', () => {
  let sim: Simulator;
  let port: number;
  let session: number;
  const ctl = (path: string, extra = ''): string => `/ctrl-int/1/${path}?session-id=${session}${extra}`;
  const server = () => sim.server('dmap')!;

  before(async () => {
    sim = new Simulator({ name: 'Test Den', trackSeconds: 30, credentials: ['0xfeedfacecafebeef'] });
    await sim.start();
    port = sim.dmapPort;
    session = await login(port);
  });
  after(() => sim.stop());
  beforeEach(() => {
    // Every test starts from the first track, paused.
    if (sim.state.status === 'stopped') sim.state.play();
    while (sim.state.index !== 0) sim.state.next();
    sim.state.pause();
  });

  describe('login and sessions', () => {
    it('answers /server-info without login or headers', async () => {
      const answer = await request(port, '/server-info', { headers: {} });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], DMAP_TYPE);
      assert.equal(dmapString(dmap(answer), 'msrv', 'minm'), 'Test Den');
      assert.equal(dmapNumber(dmap(answer), 'msrv', 'mstt'), 200);
    });

    it('logs in with the demo GUID, an accepted GUID and the Home Sharing GUID', async () => {
      const before = server().stats().logins;
      const a = await login(port);
      const b = await login(port, 'pairing-guid=0xFEEDFACECAFEBEEF');
      const c = await login(port, `hsgid=${DEMO_HOME_SHARING_GUID}`);
      assert.equal(new Set([a, b, c, session]).size, 4, 'every login gets its own session id');
      assert.equal(server().stats().logins, before + 3);
    });

    it('answers mlog { mstt 200, mlid } exactly', async () => {
      const answer = await request(port, '/login?pairing-guid=0x0000000000000001');
      const nodes = dmap(answer);
      assert.equal(answer.headers['content-type'], DMAP_TYPE);
      assert.deepEqual(
        (findDmap(nodes, 'mlog')!.value as { tag: string }[]).map((n) => n.tag),
        ['mstt', 'mlid'],
      );
    });

    it('refuses a lower-case GUID (401, like OwnTone), an unknown GUID and a wrong hsgid', async () => {
      for (const query of [
        'pairing-guid=0xfeedfacecafebeef',
        'pairing-guid=0xFFFFFFFFFFFFFFFF',
        'pairing-guid=FEEDFACECAFEBEEF',
        'hsgid=11111111-2222-3333-4444-555555555555',
        '',
      ]) {
        const answer = await request(port, `/login?${query}`);
        assert.equal(answer.status, 401, query);
        assert.match(String(answer.headers['content-type']), /text\/html/);
      }
    });

    it('requires the Remote headers on control requests (403 without)', async () => {
      const none = await request(port, ctl('playstatusupdate', '&revision-number=0'), { headers: {} });
      assert.equal(none.status, 403);
      const onlyVersion = await request(port, ctl('playstatusupdate', '&revision-number=0'), { headers: { 'Client-DAAP-Version': '3.13' } });
      assert.equal(onlyVersion.status, 403);
      const viaUserAgent = await request(port, ctl('playstatusupdate', '&revision-number=0'), {
        headers: { 'Client-DAAP-Version': '3.13', 'User-Agent': 'Remote/1021' },
      });
      assert.equal(viaUserAgent.status, 200);
    });

    it('requires a valid session-id (403 without, with an unknown one, and after logout)', async () => {
      assert.equal((await request(port, '/ctrl-int/1/playstatusupdate?revision-number=1')).status, 403);
      assert.equal((await request(port, '/ctrl-int/1/play?session-id=12345')).status, 403);
      assert.equal((await request(port, '/ctrl-int/1/play?session-id=abc')).status, 403);
      const mine = await login(port);
      const active = server().stats().activeSessions;
      const out = await request(port, `/logout?session-id=${mine}`);
      assert.equal(out.status, 204);
      assert.equal(out.headers['content-type'], DMAP_TYPE);
      assert.equal(server().stats().activeSessions, active - 1);
      assert.equal((await request(port, `/ctrl-int/1/play?session-id=${mine}`)).status, 403);
    });

    it('records requests with credentials redacted', async () => {
      const seen: string[] = [];
      const onRequest = (r: { path: string; query: Record<string, string> }): void => {
        seen.push(`${r.path} ${JSON.stringify(r.query)}`);
      };
      sim.on('request', onRequest);
      await login(port, 'pairing-guid=0xFEEDFACECAFEBEEF');
      sim.off('request', onRequest);
      assert.equal(seen.length, 1);
      assert.ok(!seen[0]!.includes('FEEDFACE'), seen[0]);
      assert.ok(server().requests.every((r) => !JSON.stringify(r).includes('FEEDFACE')));
    });
  });

  describe('commands', () => {
    it('runs ctrl-int buttons by GET and POST, answering 204 with the DMAP content type', async () => {
      const play = await request(port, ctl('play', '&prompt-id=0'), { method: 'POST' });
      assert.equal(play.status, 204);
      assert.equal(play.headers['content-type'], DMAP_TYPE);
      assert.equal(play.body.length, 0);
      assert.equal(sim.state.status, 'playing');
      assert.equal((await request(port, ctl('pause'))).status, 204);
      assert.equal(sim.state.status, 'paused');
      await request(port, ctl('playpause'), { method: 'POST' });
      assert.equal(sim.state.status, 'playing');
      await request(port, ctl('nextitem'));
      assert.equal(sim.state.index, 1);
      await request(port, ctl('previtem'));
      assert.equal(sim.state.index, 0);
      const volume = sim.state.volume;
      await request(port, ctl('volumeup'));
      assert.equal(sim.state.volume, volume + 5);
      await request(port, ctl('volumedown'));
      assert.equal(sim.state.volume, volume);
      await request(port, ctl('stop'));
      assert.equal(sim.state.status, 'stopped');
    });

    it('answers 404 for unknown paths and 405 for other methods', async () => {
      assert.equal((await request(port, ctl('launchrocket'))).status, 404);
      assert.equal((await request(port, '/databases')).status, 404);
      assert.equal((await request(port, ctl('play'), { method: 'PUT' })).status, 405);
    });

    it('presses select, menu and topmenu from controlpromptentry', async () => {
      const before = sim.state.keys.length;
      for (const cmd of ['select', 'menu', 'topmenu']) {
        const body = Buffer.concat([encodeTag('cmbe', cmd), encodeTag('cmcc', 0)]);
        const answer = await request(port, ctl('controlpromptentry', '&prompt-id=0'), { method: 'POST', body });
        assert.equal(answer.status, 204, cmd);
      }
      assert.deepEqual(
        sim.state.keys.slice(before).map((k) => k.name),
        ['select', 'menu', 'topMenu'],
      );
    });

    it('turns the Remote app touch swipes into arrow keys from their coordinates', async () => {
      const before = sim.state.keys.length;
      for (const arrow of DACP_ARROWS) {
        for (const [phase, time, x, y] of DACP_ARROW_SWIPES[arrow]) {
          const body = Buffer.concat([encodeTag('cmcc', 0x30), encodeTag('cmbe', `touch${phase}&time=${time}&point=${x},${y}`)]);
          const answer = await request(port, ctl('controlpromptentry', '&prompt-id=0'), { method: 'POST', body });
          assert.equal(answer.status, 204);
        }
      }
      assert.deepEqual(
        sim.state.keys.slice(before).map((k) => k.name),
        ['up', 'down', 'left', 'right'],
      );
    });

    it('answers 400 to a prompt that is not DMAP or has no command', async () => {
      const garbage = await request(port, ctl('controlpromptentry'), { method: 'POST', body: Buffer.from('cmbe\u0000\u0000\u0010\u0000select') });
      assert.equal(garbage.status, 400);
      const empty = await request(port, ctl('controlpromptentry'), { method: 'POST', body: encodeTag('cmcc', 0) });
      assert.equal(empty.status, 400);
      const badPoint = Buffer.concat([encodeTag('cmcc', 0x30), encodeTag('cmbe', 'touchDown&time=0&point=x,y')]);
      assert.equal((await request(port, ctl('controlpromptentry'), { method: 'POST', body: badPoint })).status, 400);
    });
  });

  describe('properties', () => {
    it('round-trips setproperty and getproperty', async () => {
      for (const q of ['dmcp.volume=30.000000', 'dacp.shufflestate=1', 'dacp.repeatstate=2', 'dacp.playingtime=5000']) {
        const answer = await request(port, ctl('setproperty', `&${q}`), { method: 'POST' });
        assert.equal(answer.status, 204, q);
        assert.equal(answer.headers['content-type'], DMAP_TYPE);
      }
      assert.equal(sim.state.volume, 30);
      assert.equal(sim.state.shuffle, 'songs');
      assert.equal(sim.state.repeat, 'all');
      assert.equal(sim.state.position, 5);
      const answer = await request(
        port,
        ctl('getproperty', '&properties=dmcp.volume,dacp.playerstate,dacp.shufflestate,dacp.repeatstate,dacp.playingtime,dacp.nonsense'),
      );
      assert.equal(answer.status, 200);
      const nodes = dmap(answer);
      assert.deepEqual(
        (findDmap(nodes, 'cmgt')!.value as { tag: string }[]).map((n) => n.tag),
        ['mstt', 'cmvo', 'caps', 'cash', 'carp', 'cant', 'cast'],
      );
      assert.equal(dmapNumber(nodes, 'cmgt', 'cmvo'), 30);
      assert.equal(dmapNumber(nodes, 'cmgt', 'caps'), 3);
      assert.equal(dmapNumber(nodes, 'cmgt', 'cash'), 1);
      assert.equal(dmapNumber(nodes, 'cmgt', 'carp'), 2);
      assert.equal(dmapNumber(nodes, 'cmgt', 'cast'), 30_000);
      assert.equal(dmapNumber(nodes, 'cmgt', 'cant'), 25_000);
      await request(port, ctl('setproperty', '&dacp.shufflestate=0&dacp.repeatstate=0'));
      assert.equal(sim.state.shuffle, 'off');
      assert.equal(sim.state.repeat, 'off');
    });

    it('answers 400 to invalid values and 500 to a position while stopped', async () => {
      assert.equal((await request(port, ctl('setproperty', '&dmcp.volume=loud'))).status, 400);
      assert.equal((await request(port, ctl('setproperty', '&dacp.repeatstate=7'))).status, 400);
      assert.equal((await request(port, ctl('setproperty', '&dacp.playingtime=-5'))).status, 400);
      await request(port, ctl('stop'));
      assert.equal((await request(port, ctl('setproperty', '&dacp.playingtime=1000'))).status, 500);
    });
  });

  describe('playstatusupdate', () => {
    it('answers at once for revision 0 or a stale revision, with the now-playing tags', async () => {
      await request(port, ctl('play'));
      for (const revision of [0, 1]) {
        const answer = await request(port, ctl('playstatusupdate', `&revision-number=${revision}`));
        assert.equal(answer.status, 200);
        const nodes = dmap(answer);
        assert.equal(dmapNumber(nodes, 'cmst', 'mstt'), 200);
        assert.equal(dmapNumber(nodes, 'cmst', 'cmsr'), sim.state.revision);
        assert.equal(dmapNumber(nodes, 'cmst', 'caps'), 4);
        assert.equal(dmapNumber(nodes, 'cmst', 'cash'), 0);
        assert.equal(dmapNumber(nodes, 'cmst', 'carp'), 0);
        assert.equal(dmapBool(nodes, 'cmst', 'cavc'), true);
        const track = sim.state.tracks[0]!;
        assert.equal(dmapString(nodes, 'cmst', 'cann'), track.title);
        assert.equal(dmapString(nodes, 'cmst', 'cana'), track.artist);
        assert.equal(dmapString(nodes, 'cmst', 'canl'), track.album);
        assert.equal(dmapString(nodes, 'cmst', 'cang'), track.genre);
        assert.equal(dmapNumber(nodes, 'cmst', 'cmmk'), 2, 'music');
        assert.equal(dmapNumber(nodes, 'cmst', 'cast'), 30_000);
        const remaining = dmapNumber(nodes, 'cmst', 'cant')!;
        assert.ok(remaining <= 30_000 && remaining > 28_000, `cant ${remaining}`);
        assert.equal((findDmap(nodes, 'cmst', 'canp')!.value as Buffer).length, 16);
      }
    });

    it('reports stopped as caps 2 without track tags', async () => {
      await request(port, ctl('stop'));
      const nodes = dmap(await request(port, ctl('playstatusupdate', '&revision-number=0')));
      assert.equal(dmapNumber(nodes, 'cmst', 'caps'), 2);
      assert.equal(findDmap(nodes, 'cmst', 'cann'), undefined);
      assert.equal(findDmap(nodes, 'cmst', 'cast'), undefined);
    });

    it('blocks with the current revision until a command changes the state', async () => {
      const first = dmap(await request(port, ctl('playstatusupdate', '&revision-number=0')));
      const revision = dmapNumber(first, 'cmst', 'cmsr')!;
      let answeredAt = 0;
      const poll = request(port, ctl('playstatusupdate', `&revision-number=${revision}`)).then((a) => {
        answeredAt = Date.now();
        return a;
      });
      await sleep(300);
      assert.equal(answeredAt, 0, 'the long poll answered before anything changed');
      assert.equal(server().stats().pendingPolls, 1);
      const changedAt = Date.now();
      assert.equal((await request(port, ctl('playpause'))).status, 204);
      const answer = await poll;
      assert.ok(answeredAt >= changedAt);
      const nodes = dmap(answer);
      assert.ok(dmapNumber(nodes, 'cmst', 'cmsr')! > revision);
      assert.equal(dmapNumber(nodes, 'cmst', 'caps'), 4);
      assert.equal(server().stats().pendingPolls, 0);
    });

    it('forgets a long poll whose client went away', async () => {
      const revision = sim.state.revision;
      const abort = new AbortController();
      const poll = request(port, ctl('playstatusupdate', `&revision-number=${revision}`), { signal: abort.signal }).catch((e: Error) => e);
      await sleep(100);
      assert.equal(server().stats().pendingPolls, 1);
      abort.abort();
      assert.ok((await poll) instanceof Error);
      await sleep(50);
      assert.equal(server().stats().pendingPolls, 0);
    });

    it('answers a blocked poll with the unchanged state at the server-side cap', async () => {
      const capped = new Simulator({ longPollTimeout: 150 });
      await capped.start();
      try {
        const s = await login(capped.dmapPort);
        const revision = capped.state.revision;
        const started = Date.now();
        const answer = await request(capped.dmapPort, `/ctrl-int/1/playstatusupdate?session-id=${s}&revision-number=${revision}`);
        assert.ok(Date.now() - started >= 140);
        assert.equal(dmapNumber(dmap(answer), 'cmst', 'cmsr'), revision);
      } finally {
        await capped.stop();
      }
    });
  });

  describe('artwork', () => {
    it('answers a PNG of the requested size, different per track', async () => {
      const one = await request(port, ctl('nowplayingartwork', '&mw=120&mh=80'));
      assert.equal(one.status, 200);
      assert.equal(one.headers['content-type'], 'image/png');
      assert.ok(one.body.subarray(0, 8).equals(PNG_SIGNATURE));
      assert.deepEqual(pngSize(one.body), { width: 120, height: 80 });
      await request(port, ctl('nextitem'));
      const two = await request(port, ctl('nowplayingartwork', '&mw=120&mh=80'));
      assert.deepEqual(pngSize(two.body), { width: 120, height: 80 });
      assert.ok(!one.body.equals(two.body), 'each track has its own cover');
    });

    it('clamps huge sizes and defaults missing ones', async () => {
      const huge = await request(port, ctl('nowplayingartwork', '&mw=100000&mh=5'));
      assert.deepEqual(pngSize(huge.body), { width: 1024, height: 5 });
      const none = await request(port, ctl('nowplayingartwork', '&mw=0&mh=0'));
      assert.equal(none.status, 200);
      assert.ok(pngSize(none.body).width > 0);
    });

    it('answers 204 with no body when nothing plays', async () => {
      await request(port, ctl('stop'));
      const answer = await request(port, ctl('nowplayingartwork', '&mw=100&mh=100'));
      assert.equal(answer.status, 204);
      assert.equal(answer.body.length, 0);
    });
  });

  describe('hostile input', () => {
    it('refuses a huge body with 413 and keeps serving', async () => {
      const body = Buffer.alloc(200 * 1024, 0x41);
      const answer = await request(port, ctl('controlpromptentry'), { method: 'POST', body }).catch((e: Error) => e);
      if (!(answer instanceof Error)) assert.equal(answer.status, 413);
      assert.equal((await request(port, '/server-info')).status, 200);
    });

    it('survives garbage on the socket', async () => {
      await new Promise<void>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port }, () => socket.end(Buffer.from('\u0000\u0001NOT HTTP AT ALL\r\n\r\n')));
        socket.on('data', () => {});
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
      assert.equal((await request(port, '/server-info')).status, 200);
      assert.equal((await request(port, ctl('playstatusupdate', '&revision-number=banana'))).status, 400);
    });
  });
});
