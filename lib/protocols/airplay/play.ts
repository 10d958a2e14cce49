/**
 * Playing a media URL on an AirPlay receiver (pyatv: protocols/airplay/player.py,
 * raop/protocols/airplayv1.py and airplayv2.py), on a connection of its own that stays open
 * while the media plays (the receiver stops when the sender goes):
 *  - AirPlay 2 (tvOS 15 and later need it): pair-verify (or transient pairing) and HAP
 *    encryption of the connection, RTSP `SETUP` with an NTP timing port, the event channel,
 *    `/feedback` every 2 s, `RECORD`, `POST /play`, then `/setProperty` and `POST /rate?value=1`
 *    (without which the video starts paused);
 *  - AirPlay 1 (Apple TV 2/3): a pair-verify where there are HAP credentials, then `POST /play`.
 * Both then poll `GET /playback-info` every second: a `duration` means it plays, an `error`
 * fails the call, no duration for five polls before it started (or once after) means it
 * ended. A local file is served by a temporary HTTP server on the address that reaches the
 * receiver, for as long as it plays.
 */
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import { basename, resolve as resolvePath } from 'node:path';
import { BplistReal, encodeBplist, isBplistDict, type BplistValue } from '../../codecs/bplist';
import { decodePlistBody } from '../../codecs/plist-xml';
import type { Txt } from '../../device/interfaces';
import { AtvError, AuthenticationError, ClosedError, HttpStatusError, InvalidArgumentError, NotSupportedError, ProtocolError, UnreachableError } from '../../errors';
import type { HapPairingCredentials } from '../../hap/credentials';
import { hapPairVerify } from '../../hap/pairing';
import { silentLogger, type Logger } from '../../log';
import { airplayHapExchange, transientControlChannel, verifyControlChannel } from './auth';
import { AirPlayEventChannel } from './channels';
import { AIRPLAY_USER_AGENT, AirPlayConnection, BPLIST_CONTENT_TYPE, expectOk, RtspSession } from './connection';
import { AIRPLAY_FEEDBACK_INTERVAL, AirPlayFeedback } from './feedback';
import { fetchAirPlayInfo } from './info';
import { airplayMajorVersion, airplayOffersTransientPairing } from './service';
import { AIRPLAY_SENDER_INFO, newRtspSessionIds, plistBody, portOf } from './tunnel';

/** Times `POST /play` is tried when the receiver answers 500 (pyatv: three, a second apart). */
export const AIRPLAY_PLAY_ATTEMPTS = 3;
/** Polls of `/playback-info` without a duration before the media counts as never started (pyatv: five). */
export const AIRPLAY_START_POLLS = 5;
export const AIRPLAY_POLL_INTERVAL = 1000;

export interface AirPlayPlayOptions {
  host: string;
  port: number;
  /** The receiver's TXT record (empty: asked with GET /info). */
  txt: Txt;
  credentials: HapPairingCredentials | null;
  /** Per-request timeout, ms. */
  timeout: number;
  /** Where to start, seconds. */
  position?: number;
  /** Ends the playback (and the call) early. */
  signal?: AbortSignal;
  /** Our name in the SETUP. */
  name: string;
  logger?: Logger;
  /** Poll and retry period, ms (default 1000). */
  pollInterval?: number;
  /** Feedback period, ms (default 2000). */
  feedbackInterval?: number;
}

/** Sleeps `ms`, or rejects with ClosedError when `signal` aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new ClosedError('playback stopped'));
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(new ClosedError('playback stopped'));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * What to play: an http(s) URL as it is, or a local file to serve. Anything else (another
 * scheme, a file that is not there) is an InvalidArgumentError.
 */
export async function playSource(url: string): Promise<{ kind: 'url'; url: string } | { kind: 'file'; path: string; size: number }> {
  if (/^https?:\/\//i.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new InvalidArgumentError('that URL cannot be read; give an http(s) URL or a local file');
    }
    return { kind: 'url', url };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new InvalidArgumentError('only http and https URLs can be played (or a local file, which is served for the device)');
  const path = resolvePath(url.startsWith('file://') ? new URL(url).pathname : url);
  const info = await stat(path).catch(() => null);
  if (info === null || !info.isFile()) throw new InvalidArgumentError(`there is no file to play at ${JSON.stringify(basename(path))}`);
  return { kind: 'file', path, size: info.size };
}

/** A single-range request header read (`bytes=a-b`, `bytes=a-`, `bytes=-n`), or null for the whole file. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return null;
  const [, from, to] = m;
  if (from === '' && to === '') return null;
  let start: number;
  let end: number;
  if (from === '') {
    start = Math.max(0, size - Number(to));
    end = size - 1;
  } else {
    start = Number(from);
    end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  }
  return start > end || start >= size ? 'unsatisfiable' : { start, end };
}

/**
 * Serves one file over HTTP on `address` (the one that reaches the receiver), under its own
 * name only, with byte ranges (video players seek with them). Resolves with its URL.
 */
export async function serveFile(path: string, size: number, address: string): Promise<{ url: string; close: () => Promise<void> }> {
  const name = basename(path);
  const route = `/${encodeURIComponent(name)}`;
  const server = http.createServer((request, response) => {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || (request.url ?? '').split('?')[0] !== route) {
      response.writeHead(404).end();
      return;
    }
    const range = byteRange(request.headers.range, size);
    if (range === 'unsatisfiable') {
      response.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: size - 1 };
    response.writeHead(range ? 206 : 200, {
      'Content-Length': String(Math.max(0, end - start + 1)),
      'Accept-Ranges': 'bytes',
      ...(range && { 'Content-Range': `bytes ${start}-${end}/${size}` }),
    });
    if (request.method === 'HEAD' || size === 0) {
      response.end();
      return;
    }
    const stream = createReadStream(path, { start, end });
    stream.on('error', () => response.destroy());
    stream.pipe(response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  const { port } = server.address() as { port: number };
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}${route}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Seconds since 1900 as an NTP timestamp (the timing protocol's clock). */
function ntpNow(): Buffer {
  const now = Date.now();
  const out = Buffer.alloc(8);
  out.writeUInt32BE(Math.floor(now / 1000) + 2_208_988_800, 0);
  out.writeUInt32BE(Math.floor(((now % 1000) / 1000) * 2 ** 32), 4);
  return out;
}

/**
 * The NTP-like timing responder an AirPlay 2 SETUP names (pyatv: raop/protocols `TimingServer`):
 * each 32-byte query is answered with its send time as the reference and our clock twice.
 */
async function timingServer(address: string): Promise<{ port: number; close: () => void }> {
  const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 32) return;
    const reply = Buffer.alloc(32);
    reply[0] = query[0]!;
    reply[1] = 0x53 | 0x80;
    reply.writeUInt16BE(7, 2);
    query.copy(reply, 8, 24, 32);
    const now = ntpNow();
    now.copy(reply, 16);
    now.copy(reply, 24);
    socket.send(reply, peer.port, peer.address);
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return { port: socket.address().port, close: () => socket.close() };
}

/** The playback state a `/playback-info` body says: playing (a duration), failed (an error), or nothing. */
export function playbackInfo(body: Buffer): { playing: boolean; error: string | null } {
  if (body.length === 0) return { playing: false, error: null };
  let value: BplistValue;
  try {
    value = decodePlistBody(body);
  } catch (err) {
    throw new ProtocolError('the receiver answered /playback-info with something that is not a plist', { cause: err });
  }
  if (!isBplistDict(value)) return { playing: false, error: null };
  const error = value['error'];
  if (isBplistDict(error)) {
    const code = error['code'];
    const domain = error['domain'];
    return { playing: false, error: `${typeof domain === 'string' ? domain : 'unknown domain'} ${typeof code === 'number' || typeof code === 'bigint' ? String(code) : 'unknown'}` };
  }
  return { playing: value['duration'] !== undefined, error: null };
}

/** Plays `url` (or a local file) on the receiver; resolves when playback ends or `signal` stops it. */
export async function airplayPlayUrl(url: string, options: AirPlayPlayOptions): Promise<void> {
  const logger = options.logger ?? silentLogger;
  const source = await playSource(url);
  const stopping = new AbortController();
  const onAbort = () => stopping.abort();
  if (options.signal?.aborted) return;
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const cleanups: Array<() => unknown> = [];
  let connection: AirPlayConnection | null = null;
  try {
    connection = await AirPlayConnection.connect({ host: options.host, port: options.port, timeout: options.timeout, logger }, stopping.signal);
    const conn = connection;
    cleanups.push(() => conn.close());
    // A stop closes the connection: whatever request is under way ends with it.
    stopping.signal.addEventListener('abort', () => conn.close(), { once: true });
    // The connection closing is how a receiver (or a stop) ends the playback.
    conn.once('closed', () => stopping.abort());
    let media = source.kind === 'url' ? source.url : '';
    if (source.kind === 'file') {
      const served = await serveFile(source.path, source.size, conn.localAddress);
      cleanups.push(served.close);
      media = served.url;
      logger.debug(`AirPlay: serving ${basename(source.path)} at ${served.url}`);
    }
    const txt = Object.keys(options.txt).length > 0 ? options.txt : await fetchAirPlayInfo(conn);
    const version = airplayMajorVersion(txt);
    const position = options.position ?? 0;
    const interval = options.pollInterval ?? AIRPLAY_POLL_INTERVAL;
    if (version === 2) await startV2(conn, media, position, txt, options, logger, cleanups, stopping);
    else await startV1(conn, media, position, options, logger, interval, stopping.signal);
    await waitForEnd(conn, interval, stopping.signal, logger);
  } catch (err) {
    if (stopping.signal.aborted && (options.signal?.aborted || err instanceof ClosedError)) return;
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/** `POST /play`, tried again while the receiver answers 500. */
async function postPlay(
  conn: AirPlayConnection,
  headers: Array<[string, string]>,
  body: Buffer,
  interval: number,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const response = await conn.request({ method: 'POST', target: '/play', headers, body });
    if (response.status === 500 && attempt < AIRPLAY_PLAY_ATTEMPTS) {
      await pause(interval, signal);
      continue;
    }
    expectOk(response, 'POST /play', conn.endpoint);
    return;
  }
}

async function startV1(conn: AirPlayConnection, media: string, position: number, options: AirPlayPlayOptions, logger: Logger, interval: number, signal: AbortSignal): Promise<void> {
  const credentials = options.credentials;
  if (credentials?.kind === 'hap') {
    // Device verification (tvOS 10.2+ asks for it); AirPlay 1 stays in clear afterwards.
    await hapPairVerify(credentials, airplayHapExchange(conn, 3));
  } else if (credentials?.kind === 'legacy') {
    logger.debug(`${conn.endpoint}: legacy AirPlay verification is not supported; playing without it`);
  }
  const body = encodeBplist({ 'Content-Location': media, 'Start-Position': new BplistReal(position), 'X-Apple-Session-ID': randomUUID() });
  await postPlay(
    conn,
    [
      ['User-Agent', 'MediaControl/1.0'],
      ['Content-Type', BPLIST_CONTENT_TYPE],
    ],
    body,
    interval,
    signal,
  );
}

async function startV2(
  conn: AirPlayConnection,
  media: string,
  position: number,
  txt: Txt,
  options: AirPlayPlayOptions,
  logger: Logger,
  cleanups: Array<() => unknown>,
  stopping: AbortController,
): Promise<void> {
  const credentials = options.credentials ?? (airplayOffersTransientPairing(txt) ? ({ kind: 'transient' } as const) : null);
  let secret: Buffer | null = null;
  if (credentials?.kind === 'hap') secret = await verifyControlChannel(conn, credentials);
  else if (credentials?.kind === 'transient') secret = await transientControlChannel(conn);
  else if (credentials?.kind === 'legacy') {
    throw new AuthenticationError(`${conn.endpoint}: legacy AirPlay credentials cannot open an AirPlay 2 session: pair AirPlay again`);
  }
  const timing = await timingServer(conn.localAddress);
  cleanups.push(timing.close);
  const rtsp = new RtspSession(conn, newRtspSessionIds());
  const setup = await rtsp.exchange('SETUP', {
    contentType: BPLIST_CONTENT_TYPE,
    body: encodeBplist({
      deviceID: AIRPLAY_SENDER_INFO.deviceID,
      sessionUUID: randomUUID().toUpperCase(),
      timingPort: timing.port,
      timingProtocol: 'NTP',
      isMultiSelectAirPlay: true,
      groupContainsGroupLeader: false,
      macAddress: AIRPLAY_SENDER_INFO.macAddress,
      model: 'iPhone14,3',
      name: options.name,
      osBuildVersion: '20F66',
      osName: AIRPLAY_SENDER_INFO.osName,
      osVersion: '16.5',
      senderSupportsRelay: false,
      sourceVersion: '690.7.1',
      statsCollectionEnabled: false,
    }),
  });
  const eventPort = portOf(plistBody(setup, 'SETUP', conn.endpoint)['eventPort'], 'eventPort', conn.endpoint);
  if (secret !== null) {
    // Some receivers open the event port a moment after answering (pyatv retries five times).
    for (let attempt = 1; ; attempt++) {
      try {
        const events = await AirPlayEventChannel.open({ host: options.host, port: eventPort, secret, timeout: options.timeout, logger, signal: stopping.signal });
        cleanups.push(() => events.close());
        events.once('closed', () => stopping.abort());
        break;
      } catch (err) {
        if (!(err instanceof UnreachableError) || attempt >= 5) throw err;
        await pause(options.pollInterval ?? AIRPLAY_POLL_INTERVAL, stopping.signal);
      }
    }
  }
  const feedback = new AirPlayFeedback(rtsp, options.feedbackInterval ?? AIRPLAY_FEEDBACK_INTERVAL, logger, (error) => {
    logger.debug(`${conn.endpoint}: ${error.message}`);
    conn.abort(error);
  });
  feedback.start();
  cleanups.push(() => feedback.stop());
  await rtsp.exchange('RECORD');
  const session = randomUUID();
  await postPlay(
    conn,
    [
      ['User-Agent', AIRPLAY_USER_AGENT],
      ['Content-Type', BPLIST_CONTENT_TYPE],
      ['X-Apple-ProtocolVersion', '1'],
      ['X-Apple-Session-ID', session],
      ['X-Apple-Stream-ID', '1'],
    ],
    encodeBplist({
      'Content-Location': media,
      'Start-Position-Seconds': new BplistReal(position),
      uuid: session.toUpperCase(),
      streamType: 1,
      mediaType: 'file',
      volume: new BplistReal(1),
      rate: new BplistReal(1),
    }),
    options.pollInterval ?? AIRPLAY_POLL_INTERVAL,
    stopping.signal,
  );
  const property = async (name: string, value: BplistValue) => {
    try {
      await rtsp.exchange('PUT', { target: `/setProperty?${name}`, body: encodeBplist({ value }), contentType: BPLIST_CONTENT_TYPE });
    } catch (err) {
      // What iOS sets on the way; a receiver that does not take one still plays.
      if (!(err instanceof HttpStatusError || err instanceof NotSupportedError)) throw err;
      logger.debug(`${conn.endpoint}: setProperty ${name} refused: ${(err as Error).message}`);
    }
  };
  await property('isInterestedInDateRange', true);
  await property('actionAtItemEnd', 0);
  // Without a rate of 1 the video starts paused.
  await rtsp.exchange('POST', { target: '/rate?value=1.000000' });
  const noEnd = { flags: 0, value: 0, epoch: 0, timescale: 0 };
  await property('forwardEndTime', { value: noEnd });
  await property('reverseEndTime', { value: noEnd });
}

/** Polls `/playback-info` until the media ended, failed, or never started. */
async function waitForEnd(conn: AirPlayConnection, interval: number, signal: AbortSignal, logger: Logger): Promise<void> {
  let polls = AIRPLAY_START_POLLS;
  let started = false;
  for (;;) {
    let response;
    try {
      response = await conn.request({ method: 'GET', target: '/playback-info', userAgent: AIRPLAY_USER_AGENT });
    } catch (err) {
      // The connection ending (a stop, the receiver going back to its menu) ends the playback.
      if (signal.aborted || (err instanceof AtvError && (err.code === 'CONNECTION_LOST' || err.code === 'CLOSED'))) return;
      throw err;
    }
    expectOk(response, 'GET /playback-info', conn.endpoint);
    const info = playbackInfo(response.body);
    if (info.error !== null) throw new NotSupportedError(`${conn.endpoint} could not play the media (${info.error})`);
    if (info.playing) {
      started = true;
      polls = AIRPLAY_START_POLLS;
    } else if (started || --polls <= 0) {
      logger.debug(`${conn.endpoint}: playback ${started ? 'ended' : 'never started'}`);
      return;
    }
    await pause(interval, signal);
  }
}
