/**
 * The simulator's DACP server (what an Apple TV 2/3 or iTunes answers on port 3689): login,
 * sessions, the ctrl-int requests and the playstatus long poll (pyatv: protocols/dmap/__init__.py),
 * behaving like the OwnTone 29.3 recordings in test/fixtures (status codes, 204 with a DMAP
 * content type, 403 without a session, 401 for a lower-case GUID). Every body is built with
 * the DMAP codec and THE tag table. Behaviour lives in `SimulatorState`; this file only
 * translates.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';
import { decodeDmap, dmapString, encodeTag, type DmapNode } from '../codecs/dmap';
import type { CommandName } from '../device/commands';
import { PROPERTIES } from '../device/properties';
import type { MediaType } from '../device/state';
import { AtvError, InvalidArgumentError, NotSupportedError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { DMAP_COMMAND_ACTIONS, type DmapAction } from '../protocols/dmap/session';
import { trackArtwork } from './artwork';
import { listenOn } from './listen';
import {
  recordRequest,
  type CredentialStore,
  type ServerAdvertisement,
  type SimulatorServer,
  type SimulatorServerContext,
  type SimulatorConnectionStats,
  type SimulatorRequest,
  type SimulatorTcpServerEvents,
} from './server';
import type { SimulatorSnapshot, SimulatorState } from './state';

export const DMAP_CONTENT_TYPE = 'application/x-dmap-tagged';

/** The demo pairing GUID every simulator accepts (documented, so newcomers can log in). */
export const DEMO_DMAP_CREDENTIALS = '0x0000000000000001';
/** The demo Home Sharing GUID (advertised as TXT `hG`, so discovery hands it to clients). */
export const DEMO_HOME_SHARING_GUID = '00000000-0000-0000-0000-000000000001';

/** Apple TV 3's board name, as `_device-info._tcp` carries it; DMAP is that generation's protocol. */
export const SIMULATOR_DMAP_MODEL = 'J33IAP';

/** A pairing GUID as a DACP server stores it: `0x` + 16 UPPER-case hex digits. */
const PAIRING_GUID = /^0x[0-9A-F]{16}$/;
const SESSION_ID = /^[0-9]{1,10}$/;

/** The long poll's server-side cap; the client simply asks again with the same revision. */
const DEFAULT_LONG_POLL_TIMEOUT = 10 * 60_000;
const DEFAULT_MAX_BODY = 64 * 1024;
const MAX_SESSIONS = 64;
/** Blocked long polls held at once; beyond this a poll is answered at once instead. */
const MAX_WAITERS = 256;

/** `caps` play status codes (pyatv: protocols/dmap/__init__.py). */
const PLAY_STATUS = { stopped: 2, paused: 3, playing: 4 } as const;

/** `cmmk` media kinds sent for each media type (one code of each group pyatv reads). */
const MEDIA_KIND: Readonly<Record<MediaType, number>> = { unknown: 1, music: 2, video: 3, tv: 8 };

/** `carp` values (pyatv: protocols/dmap/__init__.py). */
const REPEAT_CODE = { off: 0, track: 1, all: 2 } as const;

/**
 * `ctrl-int/1/<button>` and `controlpromptentry` names → the command they run: the inverse of
 * the DMAP session's command table, so client and simulator share one mapping.
 */
const BUTTONS = new Map<string, CommandName>();
const PROMPTS = new Map<string, CommandName>();
for (const [command, action] of Object.entries(DMAP_COMMAND_ACTIONS) as [CommandName, DmapAction][]) {
  if (action.kind === 'button') BUTTONS.set(action.cmd, command);
  else if (action.kind === 'prompt') PROMPTS.set(action.cmd, command);
}

/**
 * A touch that moved less than this (in the Remote app's touch-surface units) is a tap. The
 * Remote app's swipes move 25 units (pyatv: protocols/dmap/__init__.py).
 */
const TAP_DISTANCE = 5;

/** Largest touch coordinate accepted; the Remote app's surface is a few hundred units. */
const MAX_POINT = 100_000;

export interface DmapSimulatorOptions extends SimulatorServerContext {
  /** Accept `login?hsgid=` with this Home Sharing GUID, and advertise it; null: pairing only. */
  homeSharingGuid: string | null;
  /** Server-side cap of a blocked playstatusupdate in ms (default 10 min). */
  longPollTimeout?: number;
  /** Largest request body accepted in bytes (default 64 KiB). */
  maxBodySize?: number;
}

export interface DmapServerStats extends SimulatorConnectionStats {
  /** Successful logins since start. */
  logins: number;
  activeSessions: number;
  /** playstatusupdate requests blocked right now. */
  pendingPolls: number;
  /** Requests answered since start. */
  requests: number;
}

interface Touch {
  startX: number;
  startY: number;
  lastX: number;
  lastY: number;
}

interface Session {
  id: number;
  touch: Touch | null;
}

interface Waiter {
  revision: number;
  session: Session;
  res: http.ServerResponse;
  req: http.IncomingMessage;
  timer: NodeJS.Timeout;
}

interface Call {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  path: string;
  query: URLSearchParams;
  body: Buffer;
  session: Session | null;
}

/** `none`: answered to anyone (server-info, login); `session`: Remote headers and a session. */
type Route = { auth: 'none' | 'session'; handle: (call: Call) => void };

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    // A client that vanishes mid-body emits neither 'end' nor always 'error'.
    req.on('close', () => {
      if (!req.complete) reject(new Error('the client went away'));
    });
  });
}

/**
 * The headers that make a request come from a Remote (pyatv: protocols/dmap/daap.py): a DAAP client version
 * and either the viewer-only flag or the Remote user agent.
 */
function isRemoteClient(headers: http.IncomingHttpHeaders): boolean {
  const version = headers['client-daap-version'];
  if (typeof version !== 'string' || version.trim() === '') return false;
  return headers['viewer-only-client'] === '1' || /^Remote\//.test(headers['user-agent'] ?? '');
}

function redactedQuery(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of query) out[key] = key === 'pairing-guid' || key === 'hsgid' ? '<redacted>' : value;
  return out;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function uint32s(...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => out.writeUInt32BE(v >>> 0, i * 4));
  return out;
}

export class DmapSimulatorServer extends EventEmitter<SimulatorTcpServerEvents> implements SimulatorServer {
  readonly protocol = 'dmap' as const;
  /** The last 1000 requests answered, oldest first. */
  readonly requests: SimulatorRequest[] = [];

  private readonly state: SimulatorState;
  private readonly name: string;
  private readonly deviceId: string;
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly credentials: CredentialStore;
  private readonly homeSharingGuid: string | null;
  private readonly logger: Logger;
  private readonly longPollTimeout: number;
  private readonly maxBodySize: number;

  private server: http.Server | null = null;
  private boundPort = 0;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Map<number, Session>();
  private readonly waiters = new Set<Waiter>();
  private counters = { logins: 0, totalConnections: 0, requests: 0 };
  /** While hung: requests taken in and never answered (see `hang`). */
  private hung: Set<http.ServerResponse> | null = null;
  private readonly onChange = (): void => this.wakeWaiters();
  private readonly routes: Readonly<Record<string, Route>>;

  constructor(options: DmapSimulatorOptions) {
    super();
    if (!/^[0-9A-F]{16}$/.test(options.deviceId)) {
      throw new InvalidArgumentError(`the DMAP device id must be 16 upper-case hex digits, got ${JSON.stringify(options.deviceId)}`);
    }
    this.state = options.state;
    this.name = options.name;
    this.deviceId = options.deviceId;
    this.host = options.host;
    this.requestedPort = options.port;
    this.credentials = options.credentials;
    this.homeSharingGuid = options.homeSharingGuid;
    this.logger = options.logger ?? silentLogger;
    this.longPollTimeout = options.longPollTimeout ?? DEFAULT_LONG_POLL_TIMEOUT;
    this.maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY;

    const session = (handle: (call: Call) => void): Route => ({ auth: 'session', handle });
    const routes: Record<string, Route> = {
      '/server-info': { auth: 'none', handle: (c) => this.serverInfo(c) },
      '/login': { auth: 'none', handle: (c) => this.login(c) },
      '/logout': session((c) => this.logout(c)),
      '/ctrl-int': session((c) => this.controlInterfaces(c)),
      '/ctrl-int/1/playstatusupdate': session((c) => this.playStatusUpdate(c)),
      '/ctrl-int/1/nowplayingartwork': session((c) => this.artwork(c)),
      '/ctrl-int/1/controlpromptentry': session((c) => this.controlPrompt(c)),
      '/ctrl-int/1/setproperty': session((c) => this.setProperty(c)),
      '/ctrl-int/1/getproperty': session((c) => this.getProperty(c)),
    };
    for (const [button, command] of BUTTONS) {
      routes[`/ctrl-int/1/${button}`] = session((c) => this.button(c, command));
    }
    this.routes = routes;
  }

  get port(): number {
    return this.boundPort;
  }

  /** The Home Sharing GUID logins may use, or null when only pairing GUIDs are accepted. */
  get homeSharing(): string | null {
    return this.homeSharingGuid;
  }

  stats(): DmapServerStats {
    return {
      logins: this.counters.logins,
      activeSessions: this.sessions.size,
      openConnections: this.sockets.size,
      totalConnections: this.counters.totalConnections,
      pendingPolls: this.waiters.size,
      requests: this.counters.requests,
    };
  }

  /**
   * Plays a device that stops answering with its TCP stack alive: connections are accepted
   * and requests read, but no byte comes back (blocked long polls stay blocked). `recover()`
   * ends it.
   */
  hang(): void {
    this.hung ??= new Set();
  }

  /** Answers again; the requests taken in while hung are dropped with their connections. */
  recover(): void {
    const held = this.hung;
    this.hung = null;
    for (const res of held ?? []) res.socket?.destroy();
  }

  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = http.createServer((req, res) => {
      this.dispatch(req, res).catch((err: unknown) => {
        this.logger.warn(`DMAP simulator: request failed: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) this.fail(req, res, null, 500, 'internal error');
        else res.destroy();
      });
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      this.counters.totalConnections += 1;
      this.emit('connection', this.sockets.size);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.emit('disconnect', this.sockets.size);
      });
    });
    this.server = server;
    try {
      this.boundPort = await listenOn(server, this.host, this.requestedPort, 'DMAP simulator', this.logger);
    } catch (err) {
      this.server = null;
      throw err;
    }
    this.state.on('change', this.onChange);
    this.logger.debug(`DMAP simulator listening on ${this.host}:${this.boundPort}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.state.off('change', this.onChange);
    for (const waiter of this.waiters) clearTimeout(waiter.timer);
    this.waiters.clear();
    this.sessions.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  advertisements(): ServerAdvertisement[] {
    const list: ServerAdvertisement[] = [
      {
        type: '_touch-able._tcp',
        instance: this.deviceId,
        port: this.boundPort,
        txt: this.touchableTxt(),
      },
    ];
    if (this.homeSharingGuid !== null) {
      list.push({
        type: '_appletv-v2._tcp',
        instance: this.deviceId,
        port: this.boundPort,
        txt: { Name: this.name, hG: this.homeSharingGuid, txtvers: '1' },
      });
    }
    return list;
  }

  describe(): string[] {
    return [
      `DMAP/DACP on ${this.host}:${this.boundPort} (id ${this.deviceId})`,
      `  demo pairing GUID: ${DEMO_DMAP_CREDENTIALS}` +
        (this.homeSharingGuid === DEMO_HOME_SHARING_GUID ? `, demo Home Sharing GUID: ${DEMO_HOME_SHARING_GUID}` : ''),
    ];
  }

  private touchableTxt(): Record<string, string> {
    return { CtlN: this.name, DbId: this.deviceId, DvTy: 'AppleTV', DvSv: '3232', Ver: '131077', txtvers: '1', OSsi: '0x1F5' };
  }

  // -------------------------------------------------------------------------------------
  // Plumbing

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.hung) {
      this.hung.add(res);
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://simulator.invalid');
    } catch {
      this.fail(req, res, null, 400, 'malformed request URL');
      return;
    }
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    let body: Buffer;
    try {
      body = await readBody(req, this.maxBodySize);
    } catch (err) {
      if (err instanceof BodyTooLarge) this.fail(req, res, null, 413, `request body larger than ${this.maxBodySize} bytes`);
      else res.destroy();
      return;
    }
    const call: Call = { req, res, path, query: url.searchParams, body, session: null };
    const route = Object.prototype.hasOwnProperty.call(this.routes, path) ? this.routes[path] : undefined;
    if (route === undefined) {
      this.fail(req, res, null, 404, `no such resource: ${path}`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      this.fail(req, res, null, 405, `${req.method ?? '?'} is not supported here: use GET or POST`);
      return;
    }
    if (route.auth === 'session') {
      if (!isRemoteClient(req.headers)) {
        this.fail(req, res, null, 403, 'not a Remote client (Client-DAAP-Version and Viewer-Only-Client headers missing)');
        return;
      }
      const raw = url.searchParams.get('session-id');
      const session = raw !== null && SESSION_ID.test(raw) ? this.sessions.get(Number(raw)) : undefined;
      if (session === undefined) {
        this.fail(req, res, null, 403, 'no valid session-id: log in first');
        return;
      }
      call.session = session;
    }
    try {
      route.handle(call);
    } catch (err) {
      if (err instanceof NotSupportedError) this.fail(req, res, call.session, 500, err.message);
      else if (err instanceof AtvError) this.fail(req, res, call.session, 400, err.message);
      else throw err;
    }
  }

  private record(req: http.IncomingMessage, status: number, session: Session | null): void {
    let path = '?';
    let query: Record<string, string> = {};
    try {
      const url = new URL(req.url ?? '/', 'http://simulator.invalid');
      path = url.pathname;
      query = redactedQuery(url.searchParams);
    } catch {
      // Already answered 400; the log keeps '?' as the path.
    }
    this.counters.requests += 1;
    recordRequest(this, { protocol: 'dmap', at: Date.now(), method: req.method ?? '?', path, query, status, sessionId: session?.id ?? null });
  }

  private send(call: Call, status: number, body: Buffer | null, contentType = DMAP_CONTENT_TYPE): void {
    const { req, res } = call;
    if (res.headersSent || res.destroyed) return;
    const headers: http.OutgoingHttpHeaders = { 'DAAP-Server': 'atvlink-simulator/1', 'Content-Type': contentType };
    if (body !== null) headers['Content-Length'] = body.length;
    res.writeHead(status, headers);
    res.end(body ?? undefined);
    this.record(req, status, call.session);
  }

  private sendDmap(call: Call, tag: string, children: Buffer[]): void {
    this.send(call, 200, encodeTag(tag, [encodeTag('mstt', 200), ...children]));
  }

  /** Errors as OwnTone sends them: a small HTML body, then the connection is closed. */
  private fail(req: http.IncomingMessage, res: http.ServerResponse, session: Session | null, status: number, message: string): void {
    if (res.headersSent || res.destroyed) return;
    const reason = http.STATUS_CODES[status] ?? 'Error';
    const body = Buffer.from(`<html><head><title>${status} ${reason}</title></head><body>${escapeHtml(message)}</body></html>`);
    res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': body.length, Connection: 'close' });
    res.end(body);
    this.record(req, status, session);
  }

  // -------------------------------------------------------------------------------------
  // Handlers

  private serverInfo(call: Call): void {
    this.sendDmap(call, 'msrv', [
      encodeTag('mpro', '2.0.10'),
      encodeTag('apro', '3.0.12'),
      encodeTag('minm', this.name),
      encodeTag('mslr', true),
      encodeTag('mstm', 1800),
      encodeTag('msal', true),
      encodeTag('msup', true),
      encodeTag('msdc', 1),
    ]);
  }

  private login(call: Call): void {
    const guid = call.query.get('pairing-guid');
    const hsgid = call.query.get('hsgid');
    let method: string | null = null;
    // OwnTone refuses a lower-case pairing GUID with 401; the stored form is upper case.
    if (guid !== null && PAIRING_GUID.test(guid) && this.credentials.has('dmap', guid)) method = 'pairing-guid';
    else if (guid === null && hsgid !== null && this.homeSharingGuid !== null && hsgid === this.homeSharingGuid) method = 'hsgid';
    if (method === null) {
      const why = guid === null && hsgid === null ? 'login needs pairing-guid or hsgid' : 'unknown or malformed credentials: pair again';
      this.fail(call.req, call.res, null, 401, why);
      return;
    }
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    let id = randomInt(1, 2 ** 32 - 1);
    while (this.sessions.has(id)) id = randomInt(1, 2 ** 32 - 1);
    const session: Session = { id, touch: null };
    this.sessions.set(id, session);
    this.counters.logins += 1;
    call.session = session;
    this.sendDmap(call, 'mlog', [encodeTag('mlid', id)]);
    this.emit('login', { protocol: 'dmap', sessionId: id, method });
  }

  private logout(call: Call): void {
    this.sessions.delete(call.session!.id);
    for (const waiter of this.waiters) {
      if (waiter.session === call.session) this.answerWaiter(waiter);
    }
    this.send(call, 204, null);
  }

  private controlInterfaces(call: Call): void {
    const item = encodeTag('mlit', [
      encodeTag('miid', 1),
      encodeTag('cmik', 1),
      encodeTag('cmpr', '2.0.2'),
      encodeTag('capr', '2.0.5'),
      encodeTag('cmsp', 1),
      encodeTag('cmsv', 1),
      encodeTag('cass', 1),
      encodeTag('caov', 1),
      encodeTag('casu', 1),
    ]);
    this.sendDmap(call, 'caci', [encodeTag('muty', 0), encodeTag('mtco', 1), encodeTag('mrco', 1), encodeTag('mlcl', [item])]);
  }

  private button(call: Call, command: CommandName): void {
    this.state.command(command);
    // OwnTone answers 204 and still names the DMAP content type.
    this.send(call, 204, null);
  }

  private controlPrompt(call: Call): void {
    let nodes: DmapNode[];
    try {
      nodes = decodeDmap(call.body);
    } catch (err) {
      throw new InvalidArgumentError(`controlpromptentry body is not DMAP: ${(err as Error).message}`);
    }
    // pyatv sends cmbe/cmcc at top level; accept them wrapped in a cmcp container too.
    const command = dmapString(nodes, 'cmbe') ?? dmapString(nodes, 'cmcp', 'cmbe');
    if (command === undefined || command === '') throw new InvalidArgumentError('controlpromptentry needs a cmbe command string');
    const key = PROMPTS.get(command.toLowerCase());
    if (key !== undefined) {
      this.state.pressKey(key);
    } else if (/^touch(Down|Move|Up)&/.test(command)) {
      this.touch(call.session!, command);
    } else {
      this.logger.debug(`DMAP simulator: ignoring control prompt ${JSON.stringify(command.slice(0, 40))}`);
    }
    this.send(call, 204, null);
  }

  /**
   * The Remote app's touch surface: a touchDown, touchMoves and a touchUp; the direction of
   * the whole gesture is the arrow key (y grows downwards: 275 → 250 is up, pyatv: protocols/dmap/__init__.py).
   */
  private touch(session: Session, command: string): void {
    const [phase, ...params] = command.split('&');
    const point = params.find((p) => p.startsWith('point='))?.slice('point='.length) ?? '';
    const match = /^(-?\d{1,6}),(-?\d{1,6})$/.exec(point);
    if (match === null) throw new InvalidArgumentError(`touch event without a valid point=X,Y: ${JSON.stringify(command.slice(0, 60))}`);
    const x = Number(match[1]);
    const y = Number(match[2]);
    if (Math.abs(x) > MAX_POINT || Math.abs(y) > MAX_POINT) throw new InvalidArgumentError('touch point out of range');
    if (phase === 'touchDown') {
      session.touch = { startX: x, startY: y, lastX: x, lastY: y };
      return;
    }
    const touch = session.touch;
    if (touch === null) {
      this.logger.debug(`DMAP simulator: ${phase} without touchDown ignored`);
      return;
    }
    touch.lastX = x;
    touch.lastY = y;
    if (phase !== 'touchUp') return;
    session.touch = null;
    const dx = touch.lastX - touch.startX;
    const dy = touch.lastY - touch.startY;
    if (Math.abs(dx) < TAP_DISTANCE && Math.abs(dy) < TAP_DISTANCE) this.state.pressKey('select');
    else if (Math.abs(dx) > Math.abs(dy)) this.state.pressKey(dx > 0 ? 'right' : 'left');
    else this.state.pressKey(dy > 0 ? 'down' : 'up');
  }

  private setProperty(call: Call): void {
    for (const [key, raw] of call.query) {
      switch (key) {
        case 'dacp.playingtime': {
          const ms = Number(raw);
          if (raw.trim() === '' || !Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError(`dacp.playingtime must be milliseconds, got ${JSON.stringify(raw.slice(0, 20))}`);
          this.state.setPosition(ms / 1000);
          break;
        }
        case 'dacp.shufflestate':
          this.state.setShuffle(PROPERTIES.shuffle.parse(raw));
          break;
        case 'dacp.repeatstate':
          this.state.setRepeat(PROPERTIES.repeat.parse(raw));
          break;
        case 'dmcp.volume':
          // OwnTone's Remote sends "30.000000".
          this.state.setVolume(PROPERTIES.volume.parse(raw));
          break;
        default:
          if (key !== 'session-id' && key !== 'prompt-id') this.logger.debug(`DMAP simulator: ignoring property ${key.slice(0, 40)}`);
      }
    }
    this.send(call, 204, null);
  }

  private getProperty(call: Call): void {
    const snap = this.state.snapshot();
    const names = (call.query.get('properties') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    const children: Buffer[] = [];
    for (const name of names.slice(0, 32)) {
      switch (name) {
        case 'dmcp.volume':
          children.push(encodeTag('cmvo', Math.round(snap.volume)));
          break;
        case 'dacp.playerstate':
          children.push(encodeTag('caps', PLAY_STATUS[snap.status]));
          break;
        case 'dacp.shufflestate':
          children.push(encodeTag('cash', snap.shuffle === 'off' ? 0 : 1));
          break;
        case 'dacp.repeatstate':
          children.push(encodeTag('carp', REPEAT_CODE[snap.repeat]));
          break;
        case 'dacp.volumecontrollable':
          children.push(encodeTag('cavc', true));
          break;
        // OwnTone's answers to these two (bit sets of the modes it offers).
        case 'dacp.availableshufflestates':
          children.push(encodeTag('caas', 2));
          break;
        case 'dacp.availablerepeatstates':
          children.push(encodeTag('caar', 6));
          break;
        case 'dacp.playingtime':
          if (snap.track !== null) children.push(...this.times(snap));
          break;
        default:
          this.logger.debug(`DMAP simulator: unknown property ${name.slice(0, 40)} skipped`);
      }
    }
    this.sendDmap(call, 'cmgt', children);
  }

  private times(snap: SimulatorSnapshot): Buffer[] {
    const total = Math.round(snap.track!.duration * 1000);
    const remaining = Math.max(0, total - Math.round((snap.position ?? 0) * 1000));
    return [encodeTag('cant', remaining), encodeTag('cast', total)];
  }

  private playStatusUpdate(call: Call): void {
    const raw = call.query.get('revision-number') ?? '0';
    if (!/^\d{1,10}$/.test(raw)) throw new InvalidArgumentError(`revision-number must be a whole number, got ${JSON.stringify(raw.slice(0, 20))}`);
    const revision = Number(raw);
    if (revision === 0 || revision !== this.state.revision || this.waiters.size >= MAX_WAITERS) {
      this.sendPlayStatus(call);
      return;
    }
    // The long poll: answer once the state moves past the client's revision.
    const waiter: Waiter = {
      revision,
      session: call.session!,
      req: call.req,
      res: call.res,
      timer: setTimeout(() => this.answerWaiter(waiter), this.longPollTimeout),
    };
    this.waiters.add(waiter);
    call.res.on('close', () => {
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
    });
  }

  private wakeWaiters(): void {
    if (this.hung) return;
    for (const waiter of this.waiters) {
      if (waiter.revision !== this.state.revision) this.answerWaiter(waiter);
    }
  }

  private answerWaiter(waiter: Waiter): void {
    if (this.hung) return;
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
    this.sendPlayStatus({ req: waiter.req, res: waiter.res, path: '', query: new URLSearchParams(), body: Buffer.alloc(0), session: waiter.session });
  }

  private sendPlayStatus(call: Call): void {
    const snap = this.state.snapshot();
    const children = [
      encodeTag('cmsr', snap.revision),
      encodeTag('caps', PLAY_STATUS[snap.status]),
      encodeTag('cash', snap.shuffle === 'off' ? 0 : 1),
      encodeTag('carp', REPEAT_CODE[snap.repeat]),
      encodeTag('cavc', true),
    ];
    const track = snap.track;
    if (track !== null) {
      children.push(encodeTag('canp', uint32s(1, 1, snap.index + 1, snap.index + 1)), encodeTag('cann', track.title));
      if (track.artist !== null) children.push(encodeTag('cana', track.artist));
      if (track.album !== null) children.push(encodeTag('canl', track.album));
      if (track.genre !== null) children.push(encodeTag('cang', track.genre));
      children.push(encodeTag('cmmk', MEDIA_KIND[track.mediaType]), ...this.times(snap));
    }
    this.sendDmap(call, 'cmst', children);
  }

  private artwork(call: Call): void {
    const snap = this.state.snapshot();
    if (snap.track === null || snap.power === 'off') {
      // Nothing playing: the empty answer pyatv documents (pyatv: protocols/dmap/__init__.py).
      this.send(call, 204, null);
      return;
    }
    const png = trackArtwork(snap.track, { width: call.query.get('mw'), height: call.query.get('mh') });
    this.send(call, 200, png, 'image/png');
  }
}

/** Creates the DMAP server from the simulator's shared context. */
export function createDmapServer(context: SimulatorServerContext & Partial<DmapSimulatorOptions>): DmapSimulatorServer {
  return new DmapSimulatorServer({ homeSharingGuid: DEMO_HOME_SHARING_GUID, ...context });
}
