/**
 * The pairing sessions the editor's wizard runs (routes.ts), kept server-side: the browser
 * gets a random session id, the phase, our PIN (DMAP, where the user types it on the device)
 * and what went wrong, never a credential. The credentials a pairing yields stay here until
 * the device dialog is saved (`take`, then the route puts them into Node-RED's credentials
 * store for that config node) or the session ends: cancelled, abandoned by its browser,
 * expired. At most MAX_PAIRINGS run at once, and one DMAP pairing (it announces one remote).
 * No Node-RED import: the routes bind it.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { pair, type PairOptions } from '../lib/core/pairing';
import type { DeviceConfig, PairingSession, Protocol } from '../lib/device/interfaces';
import { AtvError, BackOffError, InvalidArgumentError, NotSupportedError, TimeoutError } from '../lib/errors';
import type { Logger } from '../lib/log';
import type { PairingStyle } from '../lib/protocols/descriptor';
import { protocolDescriptor } from '../lib/protocols/table';

/** Pairing sessions at once (each holds a connection or an announcement and a server). */
export const MAX_PAIRINGS = 4;
/** A session its browser stopped asking about (dialog closed, tab gone) ends after this. */
export const ABANDONED_MS = 30_000;
/** How long the device's PIN stays useful: a TV closes its PIN screen after a while too. */
export const PIN_WAIT_MS = 3 * 60_000;
/** DMAP: how long we wait for the device to call back with the PIN typed on it. */
export const DMAP_WAIT_MS = 5 * 60_000;
/** Credentials not taken by a saved dialog are forgotten after this. */
export const KEEP_PAIRED_MS = 15 * 60_000;
/** How long the device may take to check a PIN (HAP's SRP steps, a slow device). */
const CHECK_MS = 60_000;
/** A failed or cancelled session stays visible this long (the dialog shows why). */
const KEEP_ENDED_MS = 60_000;
const SWEEP_MS = 2_000;

export type PairingPhase =
  /** Connecting / starting to announce. */
  | 'starting'
  /** The device shows a PIN: the user types it into the dialog. */
  | 'waiting-for-pin'
  /** DMAP: the user types our PIN on the device; it calls us back. */
  | 'waiting-for-device'
  /** The PIN was sent; the device checks it. */
  | 'checking'
  | 'paired'
  | 'failed'
  | 'cancelled';

/** What the browser may know about a session (never a credential). */
export interface PairingView {
  id: string;
  node: string;
  protocol: Protocol;
  style: PairingStyle;
  phase: PairingPhase;
  /** DMAP: the PIN to type on the device (ours, shown to the user anyway). */
  pin: string | null;
  /** DMAP: how many wrong PINs the device sent meanwhile. */
  wrongPins: number;
  /** Why it failed: the error code, its message (no secret in it) and a back-off wait. */
  error: { code: string; message: string; retryAfter: number | null } | null;
  /** Milliseconds left before the session gives up (null once ended). */
  expiresIn: number | null;
}

export interface PairingRequest {
  /** The config node the credentials are for. */
  node: string;
  protocol: Protocol;
  device: DeviceConfig;
  /** The name the device lists us under. */
  name: string;
  /** DMAP: where to announce the remote (settings.js `atvlinkDevicePairing`). */
  announce?: Pick<PairOptions, 'interface' | 'advertiser'>;
  logger?: Logger;
}

interface Entry {
  view: PairingView;
  session: PairingSession;
  credentials: string | null;
  /** Epoch ms when the current phase gives up. */
  deadline: number;
  /** Epoch ms the browser last asked. */
  seen: number;
}

const ended = (phase: PairingPhase) => phase === 'paired' || phase === 'failed' || phase === 'cancelled';

function describeError(err: unknown): PairingView['error'] {
  if (err instanceof AtvError) {
    return { code: err.code, message: err.message, retryAfter: err instanceof BackOffError && err.retryAfter > 0 ? err.retryAfter : null };
  }
  return { code: 'ERROR', message: err instanceof Error ? err.message : String(err), retryAfter: null };
}

export class PairingRegistry {
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly pair: typeof pair;

  /** `now` and `pair` stand in for the clock and the library in tests. */
  constructor(options: { now?: () => number; pair?: typeof pair } = {}) {
    this.now = options.now ?? Date.now;
    this.pair = options.pair ?? pair;
  }

  /** Sessions not ended yet. */
  get active(): number {
    return [...this.entries.values()].filter((e) => !ended(e.view.phase)).length;
  }

  /** Starts pairing `request.protocol`; resolves once the session is registered (begin runs on). */
  start(request: PairingRequest): PairingView {
    const descriptor = protocolDescriptor(request.protocol);
    if (!descriptor?.createPairing || !descriptor.pairing || descriptor.pairing === 'none') {
      throw new NotSupportedError(`${descriptor?.label ?? request.protocol} cannot be paired from here`);
    }
    if (this.active >= MAX_PAIRINGS) {
      throw new InvalidArgumentError(`${MAX_PAIRINGS} pairings are under way already: finish or cancel one first`);
    }
    // The same node and protocol again (Try again): the old attempt ends first.
    for (const entry of this.entries.values()) {
      if (entry.view.node === request.node && entry.view.protocol === request.protocol) this.end(entry, 'cancelled');
    }
    const style = descriptor.pairing;
    if (style === 'we-show-pin' && [...this.entries.values()].some((e) => e.view.style === 'we-show-pin' && !ended(e.view.phase))) {
      throw new InvalidArgumentError('another DMAP pairing is announcing a remote: finish or cancel it first');
    }
    const id = randomBytes(16).toString('hex');
    const pin = style === 'we-show-pin' ? String(randomInt(0, 10_000)).padStart(4, '0') : null;
    let entry: Entry | null = null;
    const session = this.pair(request.protocol, {
      config: request.device,
      name: request.name,
      ...(pin !== null && { pin, timeout: DMAP_WAIT_MS }),
      ...(style === 'we-show-pin' && request.announce),
      ...(request.logger && { logger: request.logger }),
      onWrongPin: () => {
        if (entry) entry.view.wrongPins += 1;
      },
    });
    const now = this.now();
    entry = {
      view: { id, node: request.node, protocol: request.protocol, style, phase: 'starting', pin, wrongPins: 0, error: null, expiresIn: null },
      session,
      credentials: null,
      deadline: now + (style === 'we-show-pin' ? DMAP_WAIT_MS : PIN_WAIT_MS),
      seen: now,
    };
    const started = entry;
    this.entries.set(id, started);
    this.sweep();
    session.begin().then(
      () => {
        if (ended(started.view.phase)) return;
        if (style === 'we-show-pin') {
          started.view.phase = 'waiting-for-device';
          // The device calls back whenever the user types the PIN: finish() waits for it.
          this.finish(started);
        } else {
          started.view.phase = 'waiting-for-pin';
        }
      },
      (err: unknown) => this.fail(started, err),
    );
    return this.view(started);
  }

  /** Hands the PIN the device shows to the session and lets it finish. */
  enterPin(id: string, node: string, pin: unknown): PairingView {
    const entry = this.find(id, node);
    if (entry.view.phase !== 'waiting-for-pin') {
      throw new InvalidArgumentError(entry.view.phase === 'starting' ? 'the device is not showing a PIN yet: wait a moment' : 'this pairing takes no PIN now');
    }
    if (typeof pin !== 'string' || !/^\s*\d{4}\s*$/.test(pin)) throw new InvalidArgumentError('the PIN is the 4 digits the device shows');
    entry.session.setPin(pin.trim());
    entry.view.phase = 'checking';
    entry.deadline = this.now() + CHECK_MS;
    this.finish(entry);
    return this.view(entry);
  }

  /** What the browser may see; asking keeps the session from being taken for abandoned. */
  status(id: string, node: string): PairingView {
    const entry = this.find(id, node);
    entry.seen = this.now();
    return this.view(entry);
  }

  /** Ends a session (Cancel, the dialog closed); its credentials, if any, are dropped. */
  async cancel(id: string, node: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry || entry.view.node !== node) return;
    this.entries.delete(id);
    await this.end(entry, 'cancelled');
  }

  /**
   * The credentials of the finished sessions `ids` of config node `node`, once: the sessions
   * are forgotten. A session that is not (or no longer) paired is left out.
   */
  take(node: string, ids: readonly string[]): Map<Protocol, string> {
    const taken = new Map<Protocol, string>();
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (!entry || entry.view.node !== node || entry.view.phase !== 'paired' || entry.credentials === null) continue;
      taken.set(entry.view.protocol, entry.credentials);
      entry.credentials = null;
      this.entries.delete(id);
    }
    return taken;
  }

  /** Ends every session (Node-RED stops). */
  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await Promise.all(all.map((e) => this.end(e, 'cancelled')));
  }

  // -------------------------------------------------------------------------------------

  private find(id: unknown, node: unknown): Entry {
    const entry = typeof id === 'string' ? this.entries.get(id) : undefined;
    if (!entry || entry.view.node !== node) throw new InvalidArgumentError('no such pairing (it ended or expired): start again');
    return entry;
  }

  private view(entry: Entry): PairingView {
    return { ...entry.view, error: entry.view.error && { ...entry.view.error }, expiresIn: ended(entry.view.phase) ? null : Math.max(0, entry.deadline - this.now()) };
  }

  private finish(entry: Entry): void {
    entry.session.finish().then(
      (credentials) => {
        if (ended(entry.view.phase)) return;
        entry.credentials = credentials;
        entry.view.phase = 'paired';
        entry.deadline = this.now() + KEEP_PAIRED_MS;
        void entry.session.close().catch(() => undefined);
      },
      (err: unknown) => this.fail(entry, err),
    );
  }

  private fail(entry: Entry, err: unknown): void {
    if (ended(entry.view.phase)) return;
    entry.view.phase = 'failed';
    entry.view.error = describeError(err);
    entry.deadline = this.now() + KEEP_ENDED_MS;
    void entry.session.close().catch(() => undefined);
  }

  private async end(entry: Entry, phase: 'cancelled' | 'failed', error?: unknown): Promise<void> {
    entry.credentials = null;
    if (!ended(entry.view.phase)) {
      entry.view.phase = phase;
      if (error !== undefined) entry.view.error = describeError(error);
    }
    entry.deadline = this.now() + KEEP_ENDED_MS;
    await entry.session.close().catch(() => undefined);
  }

  /** Ends what timed out or was abandoned, forgets what ended long ago (runs every few seconds). */
  sweep(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      const phase = entry.view.phase;
      if (ended(phase)) {
        if (now >= entry.deadline || (phase !== 'paired' && now - entry.seen >= ABANDONED_MS)) {
          this.entries.delete(id);
          entry.credentials = null;
        }
        continue;
      }
      if (now - entry.seen >= ABANDONED_MS) {
        this.entries.delete(id);
        void this.end(entry, 'cancelled');
      } else if (now >= entry.deadline) {
        const what = {
          starting: 'the device did not answer',
          'waiting-for-pin': `no PIN was entered within ${PIN_WAIT_MS / 1000} s`,
          'waiting-for-device': `no device called back within ${DMAP_WAIT_MS / 1000} s: was the PIN typed on the device?`,
          checking: 'the device did not answer the PIN',
        }[phase];
        void this.end(entry, 'failed', new TimeoutError(`${what}; start pairing again`));
      }
    }
    if (this.entries.size === 0) {
      if (this.sweeper) clearInterval(this.sweeper);
      this.sweeper = null;
    } else if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }
}
