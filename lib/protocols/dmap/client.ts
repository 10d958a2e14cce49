/**
 * A DACP remote (the client side of Apple's Remote app): login, the ctrl-int requests
 * (pyatv: protocols/dmap/__init__.py), and the session bookkeeping of daap.py (session id on every request, one
 * automatic re-login when the device forgets the session). Bodies are DMAP, read and
 * written with the codec and THE tag table.
 */
import type { Artwork } from '../../device/interfaces';
import { decodeDmap, dmapNumber, encodeTag, type DmapNode } from '../../codecs/dmap';
import { artworkImage } from '../../codecs/image';
import {
  AtvError,
  AuthenticationError,
  DecodeError,
  HttpStatusError,
  InvalidArgumentError,
  NotSupportedError,
  ProtocolError,
} from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { DacpHttp, type DacpHttpRequest, type DacpHttpResponse } from './http';

/** The `ctrl-int/1/<cmd>` button requests. */
export const DACP_BUTTONS = ['play', 'pause', 'playpause', 'stop', 'nextitem', 'previtem', 'volumeup', 'volumedown'] as const;
export type DacpButton = (typeof DACP_BUTTONS)[number];

/** `controlpromptentry` commands sent as a `cmbe` string. */
export const DACP_PROMPTS = ['select', 'menu', 'topmenu'] as const;
export type DacpPrompt = (typeof DACP_PROMPTS)[number];

export const DACP_ARROWS = ['up', 'down', 'left', 'right'] as const;
export type DacpArrow = (typeof DACP_ARROWS)[number];

/** Settable DACP properties and their value types. */
export interface DacpPropertyValues {
  /** Position in milliseconds. */
  'dacp.playingtime': number;
  'dacp.shufflestate': 0 | 1;
  /** 0 off, 1 track, 2 all. */
  'dacp.repeatstate': 0 | 1 | 2;
  /** Absolute volume 0–100 (OwnTone/iTunes; unverified on Apple TV, pyatv: protocols/dmap/__init__.py). */
  'dmcp.volume': number;
}
export type DacpProperty = keyof DacpPropertyValues;

type TouchPhase = 'Down' | 'Move' | 'Up';
type TouchStep = readonly [phase: TouchPhase, time: number, x: number, y: number];

/**
 * The swipes the Remote app sends for arrow keys on the Apple TV's touch surface: seven
 * `touch…` prompts each. Coordinates and times as captured from the Remote app (pyatv:
 * protocols/dmap/__init__.py); note the horizontal swipes skip time 2.
 */
export const DACP_ARROW_SWIPES: { readonly [A in DacpArrow]: readonly TouchStep[] } = {
  up: [
    ['Down', 0, 20, 275],
    ['Move', 1, 20, 270],
    ['Move', 2, 20, 265],
    ['Move', 3, 20, 260],
    ['Move', 4, 20, 255],
    ['Move', 5, 20, 250],
    ['Up', 6, 20, 250],
  ],
  down: [
    ['Down', 0, 20, 250],
    ['Move', 1, 20, 255],
    ['Move', 2, 20, 260],
    ['Move', 3, 20, 265],
    ['Move', 4, 20, 270],
    ['Move', 5, 20, 275],
    ['Up', 6, 20, 275],
  ],
  left: [
    ['Down', 0, 75, 100],
    ['Move', 1, 70, 100],
    ['Move', 3, 65, 100],
    ['Move', 4, 60, 100],
    ['Move', 5, 55, 100],
    ['Move', 6, 50, 100],
    ['Up', 7, 50, 100],
  ],
  right: [
    ['Down', 0, 50, 100],
    ['Move', 1, 55, 100],
    ['Move', 3, 60, 100],
    ['Move', 4, 65, 100],
    ['Move', 5, 70, 100],
    ['Move', 6, 75, 100],
    ['Up', 7, 75, 100],
  ],
};

/** `cmcc` value that marks a prompt as a touch event. */
const TOUCH_PROMPT_CODE = 0x30;

export interface DacpClientOptions {
  host: string;
  port: number;
  /** `0x` + 16 hex digits (DMAP pairing) or a Home Sharing id (TXT `hG`); null: unpaired. */
  credentials: string | null;
  /** Per-request timeout in ms (default 10 s); the long poll has none. */
  timeout?: number;
  /** Largest accepted response body (default 16 MiB). */
  maxBodySize?: number;
  logger?: Logger;
  /** Called whenever the device sends something: a sign of life (see `LivenessMonitor`). */
  onAnswer?: () => void;
}

export interface PlayStatusOptions {
  /** Wait without a timeout (a long poll for a revision newer than the one given). */
  longPoll?: boolean;
  signal?: AbortSignal;
}

const CREDENTIAL_FORMATS =
  'DMAP credentials must be "0x" followed by 16 hex digits (what DMAP pairing produces) or a Home Sharing id ' +
  'like 01234567-89AB-CDEF-0123-456789ABCDEF';

/** The login query parameter for a credentials string (pyatv: protocols/dmap/daap.py). */
export function dacpLoginParameter(credentials: string): string {
  const value = credentials.trim();
  const guid = /^0x([0-9a-f]{16})$/i.exec(value);
  // OwnTone refuses a lower-case pairing GUID (401), and the Remote app sends upper case.
  if (guid) return `pairing-guid=0x${guid[1]!.toUpperCase()}`;
  if (/^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(value)) return `hsgid=${value}`;
  throw new InvalidArgumentError(`${CREDENTIAL_FORMATS}; the given credentials are neither`);
}

interface CallSpec {
  method: 'GET' | 'POST';
  /** Path and query; `{session}` is replaced by the session id. */
  path: (session: number) => string;
  body?: Buffer;
  timeout?: number | null;
  signal?: AbortSignal;
  /** Statuses handed back to the caller instead of being treated as errors. */
  accept?: readonly number[];
}

export class DacpClient {
  readonly host: string;
  readonly port: number;
  private readonly http: DacpHttp;
  private readonly credentials: string | null;
  private readonly logger: Logger;
  private session: number | null = null;
  private loggingIn: Promise<number> | null = null;

  constructor(options: DacpClientOptions) {
    this.host = options.host;
    this.port = options.port;
    this.credentials = options.credentials;
    this.logger = options.logger ?? silentLogger;
    this.http = new DacpHttp({
      host: options.host,
      port: options.port,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.maxBodySize !== undefined ? { maxBodySize: options.maxBodySize } : {}),
      ...(options.onAnswer ? { onAnswer: options.onAnswer } : {}),
      logger: this.logger,
    });
  }

  get endpoint(): string {
    return this.http.endpoint;
  }

  /** The current session id, or null before login. */
  get sessionId(): number | null {
    return this.session;
  }

  get isClosed(): boolean {
    return this.http.isClosed;
  }

  /** `GET /server-info` (no login needed): the `msrv` tree. */
  async serverInfo(): Promise<DmapNode[]> {
    const res = await this.http.request({ method: 'GET', path: '/server-info' });
    if (res.status < 200 || res.status >= 300) throw this.statusError(res.status, 'server-info');
    return this.decode(res.body, 'server-info');
  }

  /**
   * Logs in and resolves with the session id. Concurrent callers share one login. A new
   * login replaces the old session.
   */
  login(): Promise<number> {
    if (!this.loggingIn) {
      this.loggingIn = this.doLogin().finally(() => {
        this.loggingIn = null;
      });
    }
    return this.loggingIn;
  }

  private async doLogin(): Promise<number> {
    if (this.credentials === null || this.credentials.trim() === '') {
      throw new AuthenticationError('DMAP needs credentials: pair with the device first (or give its Home Sharing id)');
    }
    const param = dacpLoginParameter(this.credentials);
    const res = await this.http.request({ method: 'GET', path: `/login?${param}&hasFP=1` });
    if (res.status === 401 || res.status === 403 || (res.status >= 400 && res.status < 500)) {
      throw new AuthenticationError(
        `${this.endpoint} refused the DMAP credentials (HTTP ${res.status}): pair again (the pairing may have been removed on the device)`,
      );
    }
    if (res.status < 200 || res.status >= 300) throw this.statusError(res.status, 'login');
    const nodes = this.decode(res.body, 'login');
    const session = dmapNumber(nodes, 'mlog', 'mlid');
    if (session === undefined) throw new ProtocolError(`${this.endpoint} answered the login without a session id (mlog.mlid)`);
    this.session = session;
    this.logger.debug(`${this.endpoint}: logged in`);
    return session;
  }

  /** `POST ctrl-int/1/<cmd>` for a transport or volume button. */
  async button(cmd: DacpButton): Promise<void> {
    if (!(DACP_BUTTONS as readonly string[]).includes(cmd)) throw new InvalidArgumentError(`unknown DACP button ${JSON.stringify(cmd)}`);
    await this.call({ method: 'POST', path: (s) => `/ctrl-int/1/${cmd}?session-id=${s}&prompt-id=0` });
  }

  /** A `controlpromptentry` navigation command (`select`, `menu`, `topmenu`). */
  async prompt(cmd: DacpPrompt): Promise<void> {
    if (!(DACP_PROMPTS as readonly string[]).includes(cmd)) throw new InvalidArgumentError(`unknown DACP prompt ${JSON.stringify(cmd)}`);
    await this.controlPrompt(Buffer.concat([encodeTag('cmbe', cmd), encodeTag('cmcc', 0)]));
  }

  /** An arrow key, emulated as a swipe on the touch surface (seven prompts in order). */
  async arrow(direction: DacpArrow): Promise<void> {
    const steps = DACP_ARROW_SWIPES[direction];
    if (!steps) throw new InvalidArgumentError(`unknown arrow direction ${JSON.stringify(direction)}`);
    for (const [phase, time, x, y] of steps) {
      const body = Buffer.concat([encodeTag('cmcc', TOUCH_PROMPT_CODE), encodeTag('cmbe', `touch${phase}&time=${time}&point=${x},${y}`)]);
      await this.controlPrompt(body);
    }
  }

  private async controlPrompt(body: Buffer): Promise<void> {
    await this.call({ method: 'POST', path: (s) => `/ctrl-int/1/controlpromptentry?session-id=${s}&prompt-id=0`, body });
  }

  /** `setproperty?<property>=<value>`. */
  async setProperty<P extends DacpProperty>(property: P, value: DacpPropertyValues[P]): Promise<void> {
    const formatted = formatProperty(property, value);
    await this.call({ method: 'POST', path: (s) => `/ctrl-int/1/setproperty?${property}=${formatted}&session-id=${s}` });
  }

  /** `getproperty?properties=a,b`: the `cmgt` tree. */
  async getProperty(properties: readonly string[]): Promise<DmapNode[]> {
    if (properties.length === 0 || properties.some((p) => !/^[a-z][a-z0-9.-]*$/i.test(p))) {
      throw new InvalidArgumentError('getproperty needs one or more property names such as dmcp.volume');
    }
    const res = await this.call({ method: 'GET', path: (s) => `/ctrl-int/1/getproperty?properties=${properties.join(',')}&session-id=${s}` });
    return this.decode(res.body, 'getproperty');
  }

  /**
   * `playstatusupdate`: the `cmst` tree. Revision 0 answers at once; a newer revision with
   * `longPoll` waits (without timeout) until the device's state changes.
   */
  async playStatus(revision = 0, options: PlayStatusOptions = {}): Promise<DmapNode[]> {
    if (!Number.isSafeInteger(revision) || revision < 0) throw new InvalidArgumentError(`revision must be a whole number ≥ 0, got ${revision}`);
    const res = await this.call({
      method: 'GET',
      path: (s) => `/ctrl-int/1/playstatusupdate?session-id=${s}&revision-number=${revision}`,
      ...(options.longPoll ? { timeout: null } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return this.decode(res.body, 'playstatusupdate');
  }

  /**
   * The artwork of what plays, or null when there is none (empty body, 204 or 404); a body
   * that is not an image is a `ProtocolError`.
   */
  async artwork(width = 0, height = 0): Promise<Artwork | null> {
    const w = Math.max(0, Math.round(width));
    const h = Math.max(0, Math.round(height));
    if (!Number.isFinite(w) || !Number.isFinite(h)) throw new InvalidArgumentError('artwork width and height must be numbers');
    const res = await this.call({
      method: 'GET',
      path: (s) => `/ctrl-int/1/nowplayingartwork?mw=${w}&mh=${h}&session-id=${s}`,
      accept: [404],
    });
    if (res.status === 204 || res.status === 404 || res.body.length === 0) return null;
    return { bytes: res.body, ...artworkImage(res.body, res.headers['content-type'], this.endpoint) };
  }

  /** Aborts everything in flight (the long poll too) and destroys the sockets. */
  async close(): Promise<void> {
    this.http.close();
  }

  /**
   * One request with session handling (pyatv: protocols/dmap/daap.py): 2xx is success, 500 means "not in
   * this state", anything else from 4xx gets one re-login and one retry.
   */
  private async call(spec: CallSpec): Promise<DacpHttpResponse> {
    const session = this.session ?? (await this.login());
    const first = await this.http.request(this.requestFor(spec, session));
    if (this.isSuccess(first.status, spec)) return first;
    this.throwUnlessAuthFailure(first.status, spec);

    // Another request may have logged in again meanwhile; then its session is fresh.
    const fresh = this.session !== null && this.session !== session ? this.session : await this.relogin(first.status);
    const second = await this.http.request(this.requestFor(spec, fresh));
    if (this.isSuccess(second.status, spec)) return second;
    this.throwUnlessAuthFailure(second.status, spec);
    if (second.status === 401 || second.status === 403) {
      throw new AuthenticationError(
        `${this.endpoint} refused the request even after a new login (HTTP ${second.status}): pair again`,
      );
    }
    throw this.statusError(second.status, describePath(spec.path(fresh)));
  }

  private async relogin(status: number): Promise<number> {
    this.logger.debug(`${this.endpoint}: HTTP ${status}, the session seems to have expired; logging in again`);
    this.session = null;
    return this.login();
  }

  private requestFor(spec: CallSpec, session: number): DacpHttpRequest {
    const req: DacpHttpRequest = { method: spec.method, path: spec.path(session) };
    if (spec.body) req.body = spec.body;
    if (spec.timeout !== undefined) req.timeout = spec.timeout;
    if (spec.signal) req.signal = spec.signal;
    return req;
  }

  private isSuccess(status: number, spec: CallSpec): boolean {
    return (status >= 200 && status < 300) || (spec.accept?.includes(status) ?? false);
  }

  private throwUnlessAuthFailure(status: number, spec: CallSpec): void {
    const what = describePath(spec.path(this.session ?? 0));
    // Apple TVs and OwnTone answer 500 to a command the current state does not allow
    // (e.g. playpause with an empty queue).
    if (status === 500) throw new NotSupportedError(`${this.endpoint}: ${what} is not supported in the device's current state`);
    if (status < 400 || status >= 500) throw this.statusError(status, what);
  }

  private statusError(status: number, what: string): AtvError {
    return new HttpStatusError(status, `${this.endpoint} answered ${what} with HTTP ${status}`);
  }

  private decode(body: Buffer, what: string): DmapNode[] {
    try {
      return decodeDmap(body);
    } catch (err) {
      const offset = err instanceof ProtocolError ? err.offset : undefined;
      const detail = err instanceof Error ? err.message : String(err);
      throw new DecodeError(`${this.endpoint} sent a malformed DMAP answer to ${what}: ${detail}`, {
        cause: err,
        ...(offset !== undefined ? { offset } : {}),
      });
    }
  }
}

function describePath(path: string): string {
  return path.replace(/\?.*$/, '').replace(/^\/(ctrl-int\/1\/)?/, '');
}

function formatProperty(property: DacpProperty, value: number): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidArgumentError(`${property} needs a number`);
  switch (property) {
    case 'dacp.playingtime':
      if (value < 0) throw new InvalidArgumentError('dacp.playingtime must be 0 or more milliseconds');
      return String(Math.round(value));
    case 'dacp.shufflestate':
      if (value !== 0 && value !== 1) throw new InvalidArgumentError('dacp.shufflestate must be 0 or 1');
      return String(value);
    case 'dacp.repeatstate':
      if (value !== 0 && value !== 1 && value !== 2) throw new InvalidArgumentError('dacp.repeatstate must be 0, 1 or 2');
      return String(value);
    case 'dmcp.volume':
      if (value < 0 || value > 100) throw new InvalidArgumentError('dmcp.volume must be between 0 and 100');
      // The form the Remote app and OwnTone use (`dmcp.volume=30.000000`).
      return value.toFixed(6);
    default:
      throw new InvalidArgumentError(`unknown DACP property ${JSON.stringify(String(property))}`);
  }
}
