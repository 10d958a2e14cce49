import assert from 'node:assert/strict';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { decodeDmap, dmapNumber, dmapToObject, encodeTag } from '../../../../lib/codecs/dmap';
import {
  AuthenticationError,
  ConnectionLostError,
  DecodeError,
  HttpStatusError,
  InvalidArgumentError,
  NotSupportedError,
  ProtocolError,
  TimeoutError,
  UnreachableError,
} from '../../../../lib/errors';
import { DacpClient, dacpLoginParameter } from '../../../../lib/protocols/dmap/client';
import { DACP_HEADERS } from '../../../../lib/protocols/dmap/http';
import { DmapSession } from '../../../../lib/protocols/dmap/session';
import { readCapture, stream } from '../../../support/pyatv-captures';
import {
  closedPort,
  loginBody,
  owntone,
  pathOf,
  playstatusBody,
  query,
  reply,
  replyDmap,
  sessionContext,
  startRawServer,
  startServer,
  type TestServer,
} from './servers';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function server(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(handler);
  cleanups.push(() => s.close());
  return s;
}

function client(port: number, credentials: string | null = '0x0123456789ABCDEF', timeout?: number): DacpClient {
  const c = new DacpClient({ host: '127.0.0.1', port, credentials, ...(timeout ? { timeout } : {}) });
  cleanups.push(() => c.close());
  return c;
}

// ---------------------------------------------------------------------------------------
// pyatv 0.16.1 captures

interface HttpMessage {
  head: string;
  headers: [string, string][];
  body: Buffer;
}

/** Splits one direction of a capture into HTTP messages (head + Content-Length body). */
function splitHttp(stream: Buffer): HttpMessage[] {
  const out: HttpMessage[] = [];
  let offset = 0;
  while (offset < stream.length) {
    const end = stream.indexOf('\r\n\r\n', offset, 'latin1');
    assert.ok(end > 0, 'a complete HTTP head');
    const lines = stream.toString('latin1', offset, end).split('\r\n');
    const headers = lines.slice(1).map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
    const length = Number(headers.find(([k]) => k.toLowerCase() === 'content-length')?.[1] ?? 0);
    out.push({ head: lines[0]!, headers, body: stream.subarray(end + 4, end + 4 + length) });
    offset = end + 4 + length;
  }
  return out;
}

function capture(name: string): { requests: HttpMessage[]; responses: HttpMessage[] } {
  const chunks = readCapture(`${name}.jsonl`);
  return { requests: splitHttp(stream(chunks, 'c2s')), responses: splitHttp(stream(chunks, 's2c')) };
}

/** A server that answers the i-th request with pyatv's fake device's i-th recorded answer. */
async function replayServer(name: string): Promise<{ srv: TestServer; recorded: HttpMessage[] }> {
  const { requests, responses } = capture(name);
  assert.equal(requests.length, responses.length);
  let i = 0;
  const srv = await server((_req, res) => {
    const recorded = responses[i++];
    if (!recorded) {
      res.statusCode = 599;
      res.end();
      return;
    }
    const status = /^HTTP\/1\.1 (\d+) (.*)$/.exec(recorded.head)!;
    const headers = recorded.headers.filter(([k]) => !/^(date|server|content-length)$/i.test(k));
    res.writeHead(Number(status[1]), status[2], headers.flat());
    res.end(recorded.body);
  });
  return { srv, recorded: requests };
}

function assertSameRequests(seen: TestServer['requests'], recorded: HttpMessage[]): void {
  assert.equal(seen.length, recorded.length, `request count: ${seen.map((r) => r.url).join(' | ')}`);
  const ignore = /^(host|connection)$/i;
  seen.forEach((req, i) => {
    const expected = recorded[i]!;
    assert.equal(`${req.method} ${req.url} HTTP/1.1`, expected.head, `request ${i}`);
    const norm = (h: [string, string][]) =>
      h
        .filter(([k]) => !ignore.test(k))
        .map(([k, v]) => `${k.toLowerCase()}: ${v}`)
        .sort();
    assert.deepEqual(norm(req.rawHeaders), norm(expected.headers), `headers of request ${i} (${expected.head})`);
    assert.ok(req.body.equals(expected.body), `body of request ${i}`);
  });
}

describe('DACP client against pyatv 0.16.1 captures', () => {
  it('dmap-playing: same requests and headers; now playing is "Fake Title"', async () => {
    const { srv, recorded } = await replayServer('dmap-playing');
    const session = new DmapSession(sessionContext(srv.port, '0x0000000000000001'));
    cleanups.push(() => session.close());
    await session.connect();
    const state = await session.nowPlaying();
    assertSameRequests(srv.requests, recorded);
    assert.deepEqual(
      { ...state },
      {
        deviceState: 'playing',
        mediaType: 'music',
        title: 'Fake Title',
        artist: 'Fake Artist',
        album: 'Fake Album',
        genre: 'Fake Genre',
        position: 42,
        totalTime: 215,
        shuffle: null,
        repeat: null,
        app: null,
        seriesName: null,
        seasonNumber: null,
        episodeNumber: null,
        contentIdentifier: null,
      },
    );
    assert.equal(session.client.sessionId, 55555);
    assert.equal(session.feature('volumeUp'), 'available', 'cavc is true in the capture');
    await session.close();
  });

  it('dmap-pause: the pause POST matches byte for byte (headers incl. Content-Type and Content-Length)', async () => {
    const { srv, recorded } = await replayServer('dmap-pause');
    const session = new DmapSession(sessionContext(srv.port, '0x0000000000000001'));
    cleanups.push(() => session.close());
    await session.connect();
    await session.sendCommand('pause');
    assertSameRequests(srv.requests, recorded);
    await session.close();
  });

  it('dmap-artwork_save: artwork is the recorded PNG, type and size from its bytes', async () => {
    const { srv, recorded } = await replayServer('dmap-artwork_save');
    const session = new DmapSession(sessionContext(srv.port, '0x0000000000000001'));
    cleanups.push(() => session.close());
    await session.connect();
    await session.nowPlaying();
    const art = await session.artwork({});
    assertSameRequests(srv.requests, recorded);
    assert.ok(art);
    assert.equal(art.mimeType, 'image/png', 'octet-stream in the header, PNG in the bytes');
    assert.equal(art.width, 16);
    assert.equal(art.height, 16);
    assert.equal(art.bytes.length, 462);
    await session.close();
  });
});

// ---------------------------------------------------------------------------------------
// OwnTone 29.3 recordings

describe('DACP client against OwnTone 29.3 recordings', () => {
  const OWNTONE_SESSION = 2913681871;

  async function owntoneServer(routes: Record<string, string>): Promise<TestServer> {
    return server((req, res) => {
      const q = query(req.url);
      const path = pathOf(req.url);
      if (path === '/login') {
        const guid = q.get('pairing-guid');
        // OwnTone's observed behaviour: upper case known GUID ok, lower case 401, unknown 401.
        if (guid === '0x0123456789ABCDEF') return reply(res, owntone('login'));
        if (guid === '0x0123456789abcdef') return reply(res, owntone('login-lowercase-guid'));
        return reply(res, owntone('login-unknown-guid'));
      }
      if (path !== '/server-info' && q.get('session-id') !== String(OWNTONE_SESSION)) return reply(res, owntone('ctrl-noauth'));
      const name = routes[path];
      if (!name) {
        res.statusCode = 404;
        res.end();
        return;
      }
      reply(res, owntone(name));
    });
  }

  it('server-info needs no login; login upper-cases the GUID and reads mlid', async () => {
    const srv = await owntoneServer({ '/server-info': 'server-info' });
    const c = client(srv.port, '0x0123456789abcdef');
    const info = await c.serverInfo();
    assert.equal(dmapToObject(info).msrv && (dmapToObject(info).msrv as Record<string, unknown>).minm, 'OwnTone Loopback Peer');
    assert.equal(c.sessionId, null);
    assert.equal(await c.login(), OWNTONE_SESSION);
    assert.equal(srv.requests[1]!.url, '/login?pairing-guid=0x0123456789ABCDEF&hasFP=1');
  });

  it('an unknown GUID (401) → AuthenticationError asking to pair again, without the GUID in the message', async () => {
    const srv = await owntoneServer({});
    const c = client(srv.port, '0xFFFFFFFFFFFFFFFF');
    await assert.rejects(c.login(), (err: Error) => {
      assert.ok(err instanceof AuthenticationError);
      assert.match(err.message, /pair again/);
      assert.doesNotMatch(err.message, /FFFFFFFF/i);
      return true;
    });
  });

  it('playpause with an empty queue (500) → NotSupportedError', async () => {
    const srv = await owntoneServer({ '/ctrl-int/1/playpause': 'playpause-emptyqueue' });
    const c = client(srv.port);
    await assert.rejects(c.button('playpause'), (err: Error) => {
      assert.ok(err instanceof NotSupportedError);
      assert.match(err.message, /not supported in the device's current state/);
      return true;
    });
    assert.deepEqual(
      srv.requests.map((r) => `${r.method} ${r.url}`),
      ['GET /login?pairing-guid=0x0123456789ABCDEF&hasFP=1', `POST /ctrl-int/1/playpause?session-id=${OWNTONE_SESSION}&prompt-id=0`],
      'no re-login for a 500',
    );
  });

  it('204 answers (nextitem, setproperty) resolve; the setproperty query is the OwnTone form', async () => {
    const srv = await owntoneServer({ '/ctrl-int/1/nextitem': 'nextitem', '/ctrl-int/1/setproperty': 'setproperty-volume-30' });
    const c = client(srv.port);
    await c.button('nextitem');
    await c.setProperty('dmcp.volume', 30);
    await c.setProperty('dacp.shufflestate', 1);
    await c.setProperty('dacp.playingtime', 12_345.4);
    await c.setProperty('dacp.repeatstate', 2);
    assert.deepEqual(
      srv.requests.slice(2).map((r) => `${r.method} ${r.url}`),
      [
        `POST /ctrl-int/1/setproperty?dmcp.volume=30.000000&session-id=${OWNTONE_SESSION}`,
        `POST /ctrl-int/1/setproperty?dacp.shufflestate=1&session-id=${OWNTONE_SESSION}`,
        `POST /ctrl-int/1/setproperty?dacp.playingtime=12345&session-id=${OWNTONE_SESSION}`,
        `POST /ctrl-int/1/setproperty?dacp.repeatstate=2&session-id=${OWNTONE_SESSION}`,
      ],
    );
    await assert.rejects(c.setProperty('dmcp.volume', 101), InvalidArgumentError);
    await assert.rejects(c.setProperty('dacp.repeatstate', 3 as 2), InvalidArgumentError);
  });

  it('getproperty → the cmgt container (volume 50)', async () => {
    const srv = await owntoneServer({ '/ctrl-int/1/getproperty': 'getproperty-initial' });
    const c = client(srv.port);
    const nodes = await c.getProperty(['dmcp.volume', 'dacp.shufflestate']);
    assert.equal(dmapNumber(nodes, 'cmgt', 'cmvo'), 50);
    assert.equal(srv.requests[1]!.url, `/ctrl-int/1/getproperty?properties=dmcp.volume,dacp.shufflestate&session-id=${OWNTONE_SESSION}`);
  });

  it('nowplayingartwork: JPEG with image/jpeg, dimensions read from the SOF marker', async () => {
    const srv = await owntoneServer({ '/ctrl-int/1/nowplayingartwork': 'nowplayingartwork-track1' });
    const c = client(srv.port);
    const art = await c.artwork(320, 320);
    assert.ok(art);
    assert.equal(art.mimeType, 'image/jpeg');
    const raw = owntone('nowplayingartwork-track1').body;
    assert.ok(art.bytes.equals(raw));
    // `file` says: JPEG image data, baseline, precision 8, 300x300.
    assert.equal(art.width, 300);
    assert.equal(art.height, 300);
    assert.equal(srv.requests[1]!.url, `/ctrl-int/1/nowplayingartwork?mw=320&mh=320&session-id=${OWNTONE_SESSION}`);
  });

  it('artwork: the bytes decide the type over a wrong or vague Content-Type', async () => {
    const jpeg = owntone('nowplayingartwork-track1').body;
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([0x20, 0x00, 0x10, 0x00]), Buffer.alloc(8)]);
    let answer: [Buffer, string] = [jpeg, 'image/png'];
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(7));
      res.writeHead(200, { 'Content-Type': answer[1], 'Content-Length': answer[0].length }).end(answer[0]);
    });
    const c = client(srv.port);
    assert.deepEqual(await c.artwork(), { bytes: jpeg, mimeType: 'image/jpeg', width: 300, height: 300 }, 'a JPEG labelled image/png');
    answer = [gif, 'application/octet-stream'];
    assert.deepEqual(await c.artwork(), { bytes: gif, mimeType: 'image/gif', width: 32, height: 16 });
    answer = [Buffer.from('unknown image bytes'), 'image/heic'];
    assert.deepEqual(await c.artwork(), { bytes: Buffer.from('unknown image bytes'), mimeType: 'image/heic', width: null, height: null });
    // Neither the bytes nor the label say image: an error, never "artwork" of some other type.
    for (const [body, type] of [['<html><body>Not found</body></html>', 'text/html; charset=utf-8'], ['{"error":1}', 'application/octet-stream']] as const) {
      answer = [Buffer.from(body), type];
      await assert.rejects(c.artwork(), (err: unknown) => err instanceof ProtocolError && /not an image \(type (text\/html|application\/octet-stream)/.test(err.message));
    }
  });

  it('artwork: 204, 404 and an empty 200 are all "no artwork"', async () => {
    let mode = 0;
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(7));
      if (mode === 0) res.writeHead(204).end();
      else if (mode === 1) res.writeHead(404).end();
      else res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': 0 }).end();
    });
    const c = client(srv.port);
    for (mode = 0; mode < 3; mode++) assert.equal(await c.artwork(), null, `mode ${mode}`);
    assert.equal(srv.requests.filter((r) => pathOf(r.url) === '/login').length, 1, 'a 404 is not an auth failure');
  });

  it('decodes every OwnTone playstatus recording via playStatus()', async () => {
    const names = ['playstatusupdate-1-stopped', 'playstatusupdate-2-playing', 'playstatusupdate-3-paused'];
    let i = 0;
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return reply(res, owntone('login'));
      reply(res, owntone(names[i++]!));
    });
    const c = client(srv.port);
    const caps = [];
    for (const _ of names) caps.push(dmapNumber(await c.playStatus(0), 'cmst', 'caps'));
    assert.deepEqual(caps, [2, 4, 3]);
  });
});

// ---------------------------------------------------------------------------------------
// Credentials and re-login

describe('DACP login and re-login', () => {
  it('maps credentials to the login parameter and refuses anything else without echoing it', () => {
    assert.equal(dacpLoginParameter('0xfeedfacecafebeef'), 'pairing-guid=0xFEEDFACECAFEBEEF');
    assert.equal(dacpLoginParameter(' 0x0000000000000001 '), 'pairing-guid=0x0000000000000001');
    assert.equal(dacpLoginParameter('12345678-6789-1111-2222-012345678911'), 'hsgid=12345678-6789-1111-2222-012345678911');
    for (const bad of ['0x123', 'secret-thing', '0xFEEDFACECAFEBEEF00', '12345678-6789-1111-2222-01234567891']) {
      assert.throws(
        () => dacpLoginParameter(bad),
        (err: Error) => err instanceof InvalidArgumentError && !err.message.includes(bad) && /16 hex digits/.test(err.message),
      );
    }
  });

  it('sends hsgid for a Home Sharing id', async () => {
    const srv = await server((_req, res) => replyDmap(res, loginBody(9)));
    const c = client(srv.port, '12345678-6789-1111-2222-012345678911');
    assert.equal(await c.login(), 9);
    assert.equal(srv.requests[0]!.url, '/login?hsgid=12345678-6789-1111-2222-012345678911&hasFP=1');
  });

  it('no credentials → AuthenticationError before any request', async () => {
    const srv = await server((_req, res) => replyDmap(res, loginBody(9)));
    const c = client(srv.port, null);
    await assert.rejects(c.button('play'), AuthenticationError);
    assert.equal(srv.requests.length, 0);
  });

  it('a 403 with the old session → one new login and exactly one retry', async () => {
    let sessions = 0;
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(++sessions + 100));
      // The device forgot session 101 (e.g. it restarted).
      if (query(req.url).get('session-id') === '101') return res.writeHead(403).end();
      res.writeHead(204).end();
    });
    const c = client(srv.port);
    await c.button('play');
    assert.deepEqual(
      srv.requests.map((r) => `${r.method} ${r.url}`),
      [
        'GET /login?pairing-guid=0x0123456789ABCDEF&hasFP=1',
        'POST /ctrl-int/1/play?session-id=101&prompt-id=0',
        'GET /login?pairing-guid=0x0123456789ABCDEF&hasFP=1',
        'POST /ctrl-int/1/play?session-id=102&prompt-id=0',
      ],
    );
    assert.equal(c.sessionId, 102);
  });

  it('concurrent requests failing together share one re-login', async () => {
    let sessions = 0;
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(++sessions));
      if (query(req.url).get('session-id') === '1') return res.writeHead(401).end();
      res.writeHead(204).end();
    });
    const c = client(srv.port);
    await c.login();
    await Promise.all([c.button('play'), c.button('pause'), c.prompt('select')]);
    assert.equal(srv.requests.filter((r) => pathOf(r.url) === '/login').length, 2);
    assert.equal(srv.requests.length, 2 + 3 + 3);
  });

  it('a persistent 401 → AuthenticationError ("pair again") after one retry', async () => {
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(5));
      res.writeHead(401).end();
    });
    const c = client(srv.port);
    await assert.rejects(c.button('stop'), (err: Error) => err instanceof AuthenticationError && /pair again/.test(err.message));
    assert.equal(srv.requests.length, 4, 'login, stop, login, stop');
  });

  it('a login refused on re-login → AuthenticationError', async () => {
    let logins = 0;
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return ++logins === 1 ? replyDmap(res, loginBody(5)) : reply(res, owntone('login-unknown-guid'));
      res.writeHead(403).end();
    });
    const c = client(srv.port);
    await assert.rejects(c.button('play'), AuthenticationError);
  });
});

// ---------------------------------------------------------------------------------------
// Requests on the wire

describe('DACP requests on the wire', () => {
  it('every request carries the Remote headers exactly; POSTs add the form content type', async () => {
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(3));
      res.writeHead(204).end();
    });
    const c = client(srv.port);
    await c.button('volumeup');
    await c.playStatus(0).catch(() => undefined);
    for (const req of srv.requests) {
      for (const [name, value] of Object.entries(DACP_HEADERS)) assert.equal(req.headers[name.toLowerCase()], value, `${name} on ${req.url}`);
      if (req.method === 'POST') assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
      else assert.equal(req.headers['content-type'], undefined);
    }
  });

  it('select/menu/topmenu: cmbe then cmcc 0, no outer container', async () => {
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(3));
      res.writeHead(204).end();
    });
    const c = client(srv.port);
    for (const cmd of ['select', 'menu', 'topmenu'] as const) await c.prompt(cmd);
    const prompts = srv.requests.slice(1);
    assert.deepEqual(
      prompts.map((r) => r.url),
      Array(3).fill('/ctrl-int/1/controlpromptentry?session-id=3&prompt-id=0'),
    );
    assert.deepEqual(
      prompts.map((r) => r.body.toString('hex')),
      ['select', 'menu', 'topmenu'].map((cmd) => Buffer.concat([encodeTag('cmbe', cmd), encodeTag('cmcc', 0)]).toString('hex')),
    );
    // The bytes themselves, independent of our encoder: 'cmbe' len 6 'select', 'cmcc' len 1 0x00.
    assert.equal(prompts[0]!.body.toString('hex'), '636d626500000006' + Buffer.from('select').toString('hex') + '636d63630000000100');
  });

  it('arrow keys are seven touch prompts with the Remote app coordinates', async () => {
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(3));
      res.writeHead(204).end();
    });
    const c = client(srv.port);
    await c.login();
    const expected = {
      up: ['touchDown&time=0&point=20,275', 'touchMove&time=1&point=20,270', 'touchMove&time=2&point=20,265', 'touchMove&time=3&point=20,260', 'touchMove&time=4&point=20,255', 'touchMove&time=5&point=20,250', 'touchUp&time=6&point=20,250'],
      down: ['touchDown&time=0&point=20,250', 'touchMove&time=1&point=20,255', 'touchMove&time=2&point=20,260', 'touchMove&time=3&point=20,265', 'touchMove&time=4&point=20,270', 'touchMove&time=5&point=20,275', 'touchUp&time=6&point=20,275'],
      left: ['touchDown&time=0&point=75,100', 'touchMove&time=1&point=70,100', 'touchMove&time=3&point=65,100', 'touchMove&time=4&point=60,100', 'touchMove&time=5&point=55,100', 'touchMove&time=6&point=50,100', 'touchUp&time=7&point=50,100'],
      right: ['touchDown&time=0&point=50,100', 'touchMove&time=1&point=55,100', 'touchMove&time=3&point=60,100', 'touchMove&time=4&point=65,100', 'touchMove&time=5&point=70,100', 'touchMove&time=6&point=75,100', 'touchUp&time=7&point=75,100'],
    };
    for (const [direction, steps] of Object.entries(expected)) {
      const before = srv.requests.length;
      await c.arrow(direction as keyof typeof expected);
      const sent = srv.requests.slice(before);
      assert.equal(sent.length, 7, direction);
      for (const [i, req] of sent.entries()) {
        assert.equal(req.url, '/ctrl-int/1/controlpromptentry?session-id=3&prompt-id=0');
        const nodes = decodeDmap(req.body);
        assert.deepEqual(
          nodes.map((n) => n.tag),
          ['cmcc', 'cmbe'],
          'cmcc first for touch prompts',
        );
        assert.equal(dmapNumber(nodes, 'cmcc'), 0x30);
        assert.equal(nodes[1]!.value, steps[i], `${direction} step ${i}`);
        assert.equal(req.body.subarray(0, 9).toString('hex'), '636d63630000000130');
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
// Misbehaving servers

describe('DACP client against misbehaving servers', () => {
  async function loggedIn(handler: Parameters<typeof startServer>[0], timeout?: number): Promise<DacpClient> {
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(1));
      return handler(req, res);
    });
    return client(srv.port, '0x0123456789ABCDEF', timeout);
  }

  it('a truncated DMAP body → DecodeError naming the request', async () => {
    const full = playstatusBody({ revision: 3, caps: 4, title: 'x'.repeat(40) });
    const c = await loggedIn((_req, res) => replyDmap(res, full.subarray(0, full.length - 10)));
    await assert.rejects(c.playStatus(0), (err: Error) => err instanceof DecodeError && /playstatusupdate/.test(err.message));
  });

  it('a tag length beyond the body → DecodeError; a short header → DecodeError', async () => {
    const bad = Buffer.concat([Buffer.from('cmst'), Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(4)]);
    const c = await loggedIn((req, res) => replyDmap(res, req.url.includes('revision-number=0') ? bad : Buffer.from('cmst\0\0')));
    await assert.rejects(c.playStatus(0), DecodeError);
    await assert.rejects(c.playStatus(1, { longPoll: true }), DecodeError);
  });

  it('a login without mlid → ProtocolError', async () => {
    const srv = await server((_req, res) => replyDmap(res, encodeTag('mlog', [encodeTag('mstt', 200)])));
    const c = client(srv.port);
    await assert.rejects(c.login(), (err: Error) => err instanceof ProtocolError && /mlid/.test(err.message));
  });

  it('HTTP 503 → HttpStatusError with the status; 500 → NotSupportedError', async () => {
    let status = 503;
    const c = await loggedIn((_req, res) => res.writeHead(status).end());
    await assert.rejects(c.button('play'), (err: Error) => err instanceof HttpStatusError && err.status === 503);
    status = 500;
    await assert.rejects(c.button('play'), NotSupportedError);
  });

  it('a server that hangs up mid-response → ConnectionLostError', async () => {
    const c = await loggedIn((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-dmap-tagged', 'Content-Length': 500 });
      res.write(Buffer.alloc(20));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await assert.rejects(c.playStatus(0), ConnectionLostError);
  });

  it('a server that never answers → TimeoutError after the configured timeout', async () => {
    const c = await loggedIn(() => undefined, 300);
    const started = Date.now();
    await assert.rejects(c.button('play'), (err: Error) => err instanceof TimeoutError && /within 0\.3 s/.test(err.message));
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
  });

  it('connection refused → UnreachableError', async () => {
    const c = client(await closedPort());
    await assert.rejects(c.login(), UnreachableError);
  });

  it('garbage instead of HTTP → ProtocolError', async () => {
    const raw = await startRawServer((socket) => {
      socket.once('data', () => socket.end('SPEAK FRIEND AND ENTER\r\n\r\n'));
    });
    cleanups.push(() => raw.close());
    const c = client(raw.port);
    await assert.rejects(c.login(), ProtocolError);
  });

  it('a gzip body is decoded (we advertise Accept-Encoding: gzip)', async () => {
    const body = playstatusBody({ revision: 8, caps: 3, title: 'Zipped' });
    const c = await loggedIn((_req, res) => {
      const zipped = gzipSync(body);
      res.writeHead(200, { 'Content-Type': 'application/x-dmap-tagged', 'Content-Encoding': 'gzip', 'Content-Length': zipped.length });
      res.end(zipped);
    });
    const nodes = await c.playStatus(0);
    assert.equal(dmapToObject(nodes).cmst && (dmapToObject(nodes).cmst as Record<string, unknown>).cann, 'Zipped');
  });

  it('a deflate body is decoded, zlib-wrapped or raw', async () => {
    const body = playstatusBody({ revision: 8, caps: 4, title: 'Deflated' });
    let raw = false;
    const c = await loggedIn((_req, res) => {
      const packed = raw ? deflateRawSync(body) : deflateSync(body);
      res.writeHead(200, { 'Content-Encoding': 'deflate', 'Content-Length': packed.length });
      res.end(packed);
    });
    for (raw of [false, true]) {
      const cmst = dmapToObject(await c.playStatus(0)).cmst as Record<string, unknown>;
      assert.equal(cmst.cann, 'Deflated', raw ? 'raw deflate' : 'zlib deflate');
    }
  });

  it('an unknown content encoding → ProtocolError', async () => {
    const c = await loggedIn((_req, res) => res.writeHead(200, { 'Content-Encoding': 'br', 'Content-Length': 3 }).end('abc'));
    await assert.rejects(c.playStatus(0), (err: Error) => err instanceof ProtocolError && /content encoding/.test(err.message));
  });

  it('a corrupt gzip body → ProtocolError', async () => {
    const c = await loggedIn((_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': 12 });
      res.end(Buffer.from('not gzipped!'));
    });
    await assert.rejects(c.playStatus(0), (err: Error) => err instanceof ProtocolError && /corrupt gzip/.test(err.message));
  });

  it('bodies over the size cap → ProtocolError, whether announced, streamed or inflated', async () => {
    const cap = 64 * 1024;
    let mode = 0;
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(1));
      if (mode === 0) {
        // Announces 1 GiB; must be refused from the header, not read.
        res.writeHead(200, { 'Content-Length': 1024 ** 3 });
        res.write(Buffer.alloc(10));
      } else if (mode === 1) {
        res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
        const chunk = Buffer.alloc(16 * 1024);
        let sent = 0;
        const pump = (): void => {
          if (res.destroyed || sent > 10) return void res.end();
          sent++;
          res.write(chunk, pump);
        };
        pump();
      } else {
        const bomb = gzipSync(Buffer.alloc(cap * 4));
        res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': bomb.length });
        res.end(bomb);
      }
    });
    const c = new DacpClient({ host: '127.0.0.1', port: srv.port, credentials: '0x0123456789ABCDEF', maxBodySize: cap });
    cleanups.push(() => c.close());
    for (mode = 0; mode < 3; mode++) {
      await assert.rejects(c.playStatus(0), (err: Error) => err instanceof ProtocolError && /more than|limit/.test(err.message), `mode ${mode}`);
    }
  });

  it('close() aborts a request in flight and the server sees the socket closed', async () => {
    let c: DacpClient | null = null;
    const srv = await server((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(1));
      // Never answers: the long poll.
    });
    c = client(srv.port);
    const poll = c.playStatus(5, { longPoll: true });
    while (srv.requests.length < 2) await new Promise((r) => setTimeout(r, 5));
    await c.close();
    await assert.rejects(poll, (err: Error) => (err as { code?: string }).code === 'CLOSED');
    await srv.socketsClosed();
    await assert.rejects(c.button('play'), (err: Error) => (err as { code?: string }).code === 'CLOSED');
  });
});
