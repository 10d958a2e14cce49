/**
 * Small real HTTP servers on 127.0.0.1:0 for the DMAP tests: they record every request that
 * crossed the socket and count connections, so a test can assert what really went over the
 * wire and that the client closed its sockets.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { encodeTag } from '../../../../lib/codecs/dmap';
import type { SessionContext } from '../../../../lib/device/interfaces';
import { fixture } from '../../../support/paths';

export interface SeenRequest {
  method: string;
  url: string;
  /** Header name/value pairs as received (raw order and spelling). */
  rawHeaders: [string, string][];
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: SeenRequest, res: http.ServerResponse) => unknown;

export interface TestServer {
  port: number;
  requests: SeenRequest[];
  /** Sockets currently open on the server side. */
  openSockets(): number;
  /** Resolves once every server-side socket has closed (rejects after `ms`). */
  socketsClosed(ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) raw.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
      const seen: SeenRequest = { method: req.method ?? '', url: req.url ?? '', rawHeaders: raw, headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(seen);
      Promise.resolve(handler(seen, res)).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requests,
    openSockets: () => sockets.size,
    async socketsClosed(ms = 2000) {
      const until = Date.now() + ms;
      while (sockets.size > 0) {
        if (Date.now() > until) throw new Error(`${sockets.size} socket(s) still open on the server`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A plain TCP server whose connections get `onConnection` (for non-HTTP misbehaviour). */
export async function startRawServer(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------
// OwnTone 29.3 recordings

export interface RecordedResponse {
  status: number;
  statusMessage: string;
  headers: [string, string][];
  body: Buffer;
}

export function owntone(name: string): RecordedResponse {
  const head = readFileSync(fixture('owntone-29.3', `${name}.headers`), 'latin1').split(/\r?\n/);
  const status = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(head[0] ?? '');
  if (!status) throw new Error(`bad status line in ${name}.headers`);
  const headers: [string, string][] = [];
  for (const line of head.slice(1)) {
    if (line === '') break;
    const i = line.indexOf(':');
    headers.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  return { status: Number(status[1]), statusMessage: status[2]!, headers, body: readFileSync(fixture('owntone-29.3', `${name}.bin`)) };
}

/** Answers with a recorded response (its status, headers and body). */
export function reply(res: http.ServerResponse, recorded: RecordedResponse): void {
  const headers = recorded.headers.filter(([k]) => !/^(date|content-length|connection)$/i.test(k));
  if (recorded.headers.some(([k, v]) => /^connection$/i.test(k) && /close/i.test(v))) headers.push(['Connection', 'close']);
  res.writeHead(recorded.status, recorded.statusMessage, headers.flat());
  res.end(recorded.body);
}

/** A DMAP answer (200, DMAP content type). */
export function replyDmap(res: http.ServerResponse, body: Buffer, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'application/x-dmap-tagged', 'Content-Length': body.length });
  res.end(body);
}

export function loginBody(session: number): Buffer {
  return encodeTag('mlog', [encodeTag('mstt', 200), encodeTag('mlid', session)]);
}

export interface PlaystatusFields {
  revision: number;
  caps?: number;
  title?: string;
  artist?: string;
  album?: string;
  totalMs?: number;
  remainingMs?: number;
  shuffle?: number;
  repeat?: number;
  volumeControllable?: boolean;
  mediaKind?: number;
}

export function playstatusBody(f: PlaystatusFields): Buffer {
  const children: Buffer[] = [encodeTag('mstt', 200), encodeTag('cmsr', f.revision)];
  if (f.caps !== undefined) children.push(encodeTag('caps', f.caps));
  if (f.shuffle !== undefined) children.push(encodeTag('cash', f.shuffle));
  if (f.repeat !== undefined) children.push(encodeTag('carp', f.repeat));
  if (f.volumeControllable !== undefined) children.push(encodeTag('cavc', f.volumeControllable));
  if (f.title !== undefined) children.push(encodeTag('cann', f.title));
  if (f.artist !== undefined) children.push(encodeTag('cana', f.artist));
  if (f.album !== undefined) children.push(encodeTag('canl', f.album));
  if (f.mediaKind !== undefined) children.push(encodeTag('cmmk', f.mediaKind));
  if (f.remainingMs !== undefined) children.push(encodeTag('cant', f.remainingMs));
  if (f.totalMs !== undefined) children.push(encodeTag('cast', f.totalMs));
  return encodeTag('cmst', children);
}

export const query = (url: string): URLSearchParams => new URLSearchParams(url.slice(url.indexOf('?') + 1));
export const pathOf = (url: string): string => url.replace(/\?.*$/, '');

/** What the facade would hand a DMAP session for a server on 127.0.0.1:port. */
export function sessionContext(port: number, credentials: string | null, timeout = 10_000): SessionContext {
  return {
    config: {
      name: 'Test',
      address: '127.0.0.1',
      identifier: null,
      identifiers: [],
      deviceInfo: { operatingSystem: null, model: null, rawModel: null, osVersion: null, buildNumber: null, mac: null },
      services: [],
      deepSleep: false,
    },
    service: {
      protocol: 'dmap',
      port,
      serviceType: '_touch-able._tcp',
      instanceName: 'Test',
      identifier: null,
      pairing: 'mandatory',
      enabled: true,
      disabledReason: null,
      credentials: null,
      properties: {},
    },
    credentials,
    timeout,
    logger: { debug() {}, warn() {} },
  };
}


// ---------------------------------------------------------------------------------------
// A scripted DACP device: login, playstatus long poll, commands, properties.

export interface FakeDacp {
  srv: TestServer;
  /** The current play status (revision is bumped by `change`). */
  status: PlaystatusFields;
  volume: number;
  /** Long polls currently held open. */
  waiting(): number;
  /** Changes the state and answers the held long polls. */
  change(fields: Partial<PlaystatusFields>): void;
  /** Requests other than login and playstatus (method + url). */
  commands(): string[];
  /** When false, playstatus answers at once even with the current revision (a broken server). */
  blocking: boolean;
}

export async function startFakeDacp(initial: Partial<PlaystatusFields> = {}): Promise<FakeDacp> {
  const held = new Set<http.ServerResponse>();
  const fake: FakeDacp = {
    srv: undefined as unknown as TestServer,
    status: { revision: 1, caps: 4, title: 'Song', artist: 'Artist', album: 'Album', totalMs: 200_000, remainingMs: 150_000, shuffle: 0, repeat: 0, volumeControllable: true, mediaKind: 2, ...initial },
    volume: 20,
    blocking: true,
    waiting: () => held.size,
    change(fields) {
      Object.assign(fake.status, fields);
      fake.status.revision++;
      for (const res of held) replyDmap(res, playstatusBody(fake.status));
      held.clear();
    },
    commands: () =>
      fake.srv.requests.filter((r) => !/^\/(login|ctrl-int\/1\/playstatusupdate)$/.test(pathOf(r.url))).map((r) => `${r.method} ${r.url}`),
  };
  fake.srv = await startServer((req, res) => {
    const path = pathOf(req.url);
    const q = query(req.url);
    if (path === '/login') return replyDmap(res, loginBody(42));
    if (q.get('session-id') !== '42') return res.writeHead(403).end();
    switch (path) {
      case '/ctrl-int/1/playstatusupdate': {
        const revision = Number(q.get('revision-number'));
        if (fake.blocking && revision === fake.status.revision) {
          held.add(res);
          res.on('close', () => held.delete(res));
          return;
        }
        return replyDmap(res, playstatusBody(fake.status));
      }
      case '/ctrl-int/1/setproperty': {
        const ms = q.get('dacp.playingtime');
        if (ms !== null) fake.status.remainingMs = (fake.status.totalMs ?? 0) - Number(ms);
        const shuffle = q.get('dacp.shufflestate');
        if (shuffle !== null) fake.status.shuffle = Number(shuffle);
        const repeat = q.get('dacp.repeatstate');
        if (repeat !== null) fake.status.repeat = Number(repeat);
        const volume = q.get('dmcp.volume');
        if (volume !== null) fake.volume = Math.round(Number(volume));
        return res.writeHead(204).end();
      }
      case '/ctrl-int/1/getproperty':
        return replyDmap(res, encodeTag('cmgt', [encodeTag('mstt', 200), encodeTag('cmvo', fake.volume)]));
      default:
        return res.writeHead(204).end();
    }
  });
  return fake;
}
