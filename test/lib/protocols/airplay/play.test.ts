/**
 * Playing URLs over AirPlay: through the Device against the simulator's tvOS 18 Apple TV
 * (AirPlay 2: a local file served for it, an http URL, a position, a stop, an unreachable
 * URL, a HomePod that plays no video), against a hand-made AirPlay 1 receiver (the `/play`
 * request as pyatv sends it, 500 retries, a playback error), and the pieces: the file server
 * with byte ranges, and what is accepted as something to play.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeBplist } from '../../../../lib/codecs/bplist';
import { encodeHttpResponse, HttpMessageDecoder, type HttpHeaders } from '../../../../lib/codecs/http';
import { encodeXmlPlist } from '../../../../lib/codecs/plist-xml';
import { connect, type Device } from '../../../../lib/core/facade';
import { pair } from '../../../../lib/core/pairing';
import { manualConfig } from '../../../../lib/device/config';
import { InvalidArgumentError, NotSupportedError } from '../../../../lib/errors';
import { airplayPlayUrl, playbackInfo, playSource, serveFile } from '../../../../lib/protocols/airplay/play';
import { Simulator } from '../../../../lib/simulator/index';
import { until } from '../../../support/wait';

const PIN = '6060';

describe('playing URLs on the simulated tvOS 18 Apple TV (AirPlay 2)', () => {
  let sim: Simulator;
  let device: Device;
  let dir: string;
  let media: Buffer;
  let file: string;

  before(async () => {
    sim = new Simulator({ name: 'Cinema TV', protocols: ['airplay'], pin: PIN, trackSeconds: 2 });
    await sim.start();
    const pairing = pair('airplay', { config: sim.config(), pin: PIN, timeout: 5000 });
    await pairing.begin();
    device = await connect(sim.config(), { credentials: { airplay: await pairing.finish() } });
    dir = mkdtempSync(join(tmpdir(), 'atvlink-play-'));
    media = randomBytes(150_000);
    file = join(dir, 'Holiday Film.mp4');
    writeFileSync(file, media);
  });

  after(async () => {
    await device?.close();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says it can play URLs', () => {
    assert.equal(device.feature('playUrl'), 'available');
  });

  it('a local file: served to the device, which reads it, shows it as now playing, and plays it to the end', async () => {
    const playing = device.playUrl(file, { position: 1 });
    await until(() => sim.state.playingUrl !== null, 'the device plays the URL');
    // What plays reaches us as the device pushes it through the tunnel.
    let now = await device.nowPlaying();
    for (let i = 0; i < 100 && now.title !== 'Holiday Film.mp4'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      now = await device.nowPlaying();
    }
    assert.equal(now.title, 'Holiday Film.mp4');
    assert.equal(now.mediaType, 'video');
    assert.equal(now.deviceState, 'playing');
    const playback = sim.server('airplay')!.playbacks.at(-1)!;
    assert.match(playback.url, /^http:\/\/127\.0\.0\.1:\d+\/Holiday%20Film\.mp4$/);
    assert.equal(playback.position, 1);
    assert.equal(createHash('sha256').update(playback.fetched!).digest('hex'), createHash('sha256').update(media.subarray(0, 64 * 1024)).digest('hex'));
    await playing;
    assert.equal(sim.state.playingUrl, null, 'ended on the device');
    assert.equal(sim.state.status, 'stopped');
  });

  it('an http URL, stopped by the caller: the device stops when the sender goes', async () => {
    const server = http.createServer((_req, res) => res.end(media));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/stream.m3u8`;
    try {
      const stop = new AbortController();
      const long = new Simulator({ name: 'Long TV', protocols: ['airplay'], pin: PIN, trackSeconds: 600 });
      await long.start();
      const pairing = pair('airplay', { config: long.config(), pin: PIN, timeout: 5000 });
      await pairing.begin();
      const other = await connect(long.config(), { credentials: { airplay: await pairing.finish() } });
      try {
        const playing = other.playUrl(url, { signal: stop.signal });
        await until(() => long.state.playingUrl === url, 'the device plays the URL');
        stop.abort();
        await playing;
        await until(() => long.state.status === 'stopped', 'the device stopped');
      } finally {
        await other.close();
        await long.stop();
      }
    } finally {
      server.close();
    }
  });

  it('a URL on another machine: the simulated device plays it without reading it (it never leaves this machine)', async () => {
    const stop = new AbortController();
    const url = 'http://192.0.2.10/movie.mp4';
    const playing = device.playUrl(url, { signal: stop.signal });
    await until(() => sim.state.playingUrl === url, 'the device plays the URL');
    const playback = sim.server('airplay')!.playbacks.at(-1)!;
    assert.equal(playback.url, url);
    assert.equal(playback.status, 'playing');
    assert.equal(playback.fetched, null, 'not read');
    stop.abort();
    await playing;
    await until(() => sim.state.status === 'stopped', 'the device stopped');
  });

  it('a URL the device cannot reach: an error naming what the device reported', async () => {
    await assert.rejects(device.playUrl('http://127.0.0.1:9/nothing.mp4', {}), (err: unknown) => err instanceof NotSupportedError && /NSURLErrorDomain -1004/.test(err.message));
  });

  it('refuses what cannot be played before touching the device', async () => {
    await assert.rejects(device.playUrl('ftp://example.com/movie.mp4', {}), InvalidArgumentError);
    await assert.rejects(device.playUrl(join(dir, 'missing.mp4'), {}), InvalidArgumentError);
    await assert.rejects(device.playUrl('', {}), InvalidArgumentError);
    await assert.rejects(device.playUrl(file, { position: -1 }), InvalidArgumentError);
  });

  it('a HomePod plays no video: playUrl is unsupported', async () => {
    const homepod = new Simulator({ name: 'Film HomePod', device: 'homepod' });
    await homepod.start();
    const other = await connect(homepod.config());
    try {
      assert.equal(other.feature('playUrl'), 'unsupported');
      await assert.rejects(other.playUrl(file, {}), NotSupportedError);
    } finally {
      await other.close();
      await homepod.stop();
    }
  });
});

/**
 * A bare AirPlay 1 receiver (Apple TV 3 style): `/play` and `/playback-info` in clear. Raw
 * TCP with our HTTP codec: receivers do not insist on a Host header, node:http would.
 */
async function airplay1Receiver(script: { playStatuses?: number[]; info: Array<Record<string, unknown>> }) {
  const plays: Array<{ headers: HttpHeaders; body: Record<string, unknown> }> = [];
  let polls = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = HttpMessageDecoder.forRequests();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const req of decoder.push(chunk)) {
        let status = 404;
        let body: Buffer | undefined;
        if (req.method === 'POST' && req.target === '/play') {
          plays.push({ headers: req.headers, body: decodeBplist(req.body) as Record<string, unknown> });
          status = script.playStatuses?.[plays.length - 1] ?? 200;
        } else if (req.method === 'GET' && req.target === '/playback-info') {
          status = 200;
          body = encodeXmlPlist((script.info[Math.min(polls++, script.info.length - 1)] ?? {}) as never);
        }
        socket.write(encodeHttpResponse({ protocol: req.protocol, status, ...(body && { body, headers: [['Content-Type', 'text/x-apple-plist+xml']] }) }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    plays,
    polls: () => polls,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const V1_TXT = { model: 'AppleTV3,2', features: '0x5A7FFFF7,0xE', deviceid: 'AA:BB:CC:DD:EE:FF' };

describe('playing URLs on an AirPlay 1 receiver', () => {
  it('POST /play as pyatv sends it, then polls /playback-info until the media ended', async () => {
    const playing = { duration: 30, position: 1, rate: 1, readyToPlay: true };
    const receiver = await airplay1Receiver({ info: [{ readyToPlay: false }, playing, playing, { readyToPlay: false }] });
    try {
      await airplayPlayUrl('http://example.invalid/movie.mp4', {
        host: '127.0.0.1',
        port: receiver.port,
        txt: V1_TXT,
        credentials: null,
        timeout: 3000,
        name: 'Test',
        position: 4,
        pollInterval: 10,
      });
      assert.equal(receiver.plays.length, 1);
      const { headers, body } = receiver.plays[0]!;
      assert.equal(headers.get('User-Agent'), 'MediaControl/1.0');
      assert.equal(headers.get('Content-Type'), 'application/x-apple-binary-plist');
      assert.equal(body['Content-Location'], 'http://example.invalid/movie.mp4');
      assert.equal(body['Start-Position'], 4);
      assert.match(body['X-Apple-Session-ID'] as string, /^[0-9a-f-]{36}$/);
      assert.equal(receiver.polls(), 4);
    } finally {
      await receiver.close();
    }
  });

  it('tries /play again while the receiver answers 500, up to three times', async () => {
    const receiver = await airplay1Receiver({ playStatuses: [500, 500, 500], info: [{}] });
    try {
      await assert.rejects(
        airplayPlayUrl('http://example.invalid/a.mp4', { host: '127.0.0.1', port: receiver.port, txt: V1_TXT, credentials: null, timeout: 3000, name: 'Test', pollInterval: 10 }),
        /500/,
      );
      assert.equal(receiver.plays.length, 3);
    } finally {
      await receiver.close();
    }
  });

  it('a playback error the receiver reports ends the call with it; media that never starts ends after five polls', async () => {
    const failing = await airplay1Receiver({ info: [{ error: { code: -11828, domain: 'AVFoundationErrorDomain' } }] });
    const idle = await airplay1Receiver({ info: [{ readyToPlay: false }] });
    try {
      const options = { host: '127.0.0.1', txt: V1_TXT, credentials: null, timeout: 3000, name: 'Test', pollInterval: 10 };
      await assert.rejects(airplayPlayUrl('http://example.invalid/a.mp4', { ...options, port: failing.port }), /AVFoundationErrorDomain -11828/);
      await airplayPlayUrl('http://example.invalid/a.mp4', { ...options, port: idle.port });
      assert.equal(idle.polls(), 5);
    } finally {
      await failing.close();
      await idle.close();
    }
  });
});

describe('play URL pieces', () => {
  it('serves one file under its own name, with byte ranges, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atvlink-serve-'));
    const bytes = randomBytes(1000);
    const path = join(dir, 'clip one.mov');
    writeFileSync(path, bytes);
    const served = await serveFile(path, bytes.length, '127.0.0.1');
    try {
      const get = (target: string, headers: Record<string, string> = {}) =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
          http.get(target, { headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          }).on('error', reject);
        });
      assert.match(served.url, /\/clip%20one\.mov$/);
      const whole = await get(served.url);
      assert.equal(whole.status, 200);
      assert.deepEqual(whole.body, bytes);
      const part = await get(served.url, { Range: 'bytes=100-199' });
      assert.equal(part.status, 206);
      assert.equal(part.headers['content-range'], 'bytes 100-199/1000');
      assert.deepEqual(part.body, bytes.subarray(100, 200));
      const tail = await get(served.url, { Range: 'bytes=-10' });
      assert.deepEqual(tail.body, bytes.subarray(990));
      assert.equal((await get(served.url, { Range: 'bytes=5000-' })).status, 416);
      assert.equal((await get(served.url.replace(/clip%20one\.mov$/, 'other.mov'))).status, 404);
      assert.equal((await get(served.url.replace(/\/[^/]+$/, '/..%2Fsecret'))).status, 404);
    } finally {
      await served.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('plays http(s) URLs and existing files; refuses other schemes and missing files', async () => {
    assert.deepEqual(await playSource('https://example.com/a.mp4'), { kind: 'url', url: 'https://example.com/a.mp4' });
    await assert.rejects(playSource('rtsp://example.com/a'), InvalidArgumentError);
    await assert.rejects(playSource('/nonexistent/file.mp4'), InvalidArgumentError);
    await assert.rejects(playSource(tmpdir()), InvalidArgumentError, 'a directory is not a file');
  });

  it('reads /playback-info in both plist forms; garbage is a ProtocolError', () => {
    assert.deepEqual(playbackInfo(encodeXmlPlist({ duration: 10, position: 1 })), { playing: true, error: null });
    assert.deepEqual(playbackInfo(encodeXmlPlist({ readyToPlay: false })), { playing: false, error: null });
    assert.deepEqual(playbackInfo(Buffer.alloc(0)), { playing: false, error: null });
    assert.deepEqual(playbackInfo(encodeXmlPlist({ error: { code: -1100, domain: 'NSURLErrorDomain' } })), { playing: false, error: 'NSURLErrorDomain -1100' });
    assert.throws(() => playbackInfo(Buffer.from('<html>nope</html>')), /not a plist/);
  });

  it('a manual host plays after GET /info said what it is', async () => {
    const sim = new Simulator({ name: 'Manual Play TV', protocols: ['airplay'], pin: PIN, trackSeconds: 1 });
    await sim.start();
    try {
      const pairing = pair('airplay', { config: sim.config(), pin: PIN, timeout: 5000 });
      await pairing.begin();
      const credentials = await pairing.finish();
      const config = manualConfig({ address: '127.0.0.1', services: [{ protocol: 'airplay', port: sim.airplayPort }] });
      const device = await connect(config, { credentials: { airplay: credentials } });
      try {
        const server = http.createServer((_req, res) => res.end('x'));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        await device.playUrl(`http://127.0.0.1:${(server.address() as { port: number }).port}/a.mp4`);
        server.close();
        assert.equal(sim.server('airplay')!.playbacks.length, 1);
      } finally {
        await device.close();
      }
    } finally {
      await sim.stop();
    }
  });
});
