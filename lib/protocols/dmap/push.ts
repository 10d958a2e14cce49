/**
 * DMAP push updates: the `playstatusupdate` long poll (pyatv: protocols/dmap/__init__.py). The first request asks
 * for revision 0 (answered at once), each next one for the last `cmsr`, which the device
 * holds open until something changes.
 *
 * Servers that do not block (answer at once with the revision we already have) would turn
 * the loop into a busy spin, so such answers, and errors, wait a growing delay (capped);
 * a real change resets it.
 */
import { EventEmitter } from 'node:events';
import type { DmapNode } from '../../codecs/dmap';
import { changedFields, type NowPlaying } from '../../device/state';
import { ClosedError, ConnectionLostError, UnreachableError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { emitContained } from '../../support/emit';
import type { DacpClient } from './client';
import { nowPlayingFromPlaystatus, playstatusRevision } from './state';

export interface DmapPushOptions {
  /** First delay after an unproductive answer or an error, in ms (default 500). */
  initialDelay?: number;
  /** Longest delay between polls, in ms (default 30 s). */
  maxDelay?: number;
  logger?: Logger;
}

export interface DmapPushEvents {
  /** Every playstatus answer (for bookkeeping such as feature availability). */
  playstatus: [playstatus: DmapNode[]];
  /** The now-playing state changed (always sent for the first answer). */
  update: [state: NowPlaying, playstatus: DmapNode[]];
  /** The connection is gone (refused, reset); the updater has stopped. */
  connectionLost: [error: Error];
  /** One round failed; the updater retries from revision 0 after a delay. */
  pushError: [error: Error];
}

export class DmapPushUpdater extends EventEmitter<DmapPushEvents> {
  private readonly client: DacpClient;
  private readonly initialDelay: number;
  private readonly maxDelay: number;
  private readonly logger: Logger;
  private controller: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(client: DacpClient, options: DmapPushOptions = {}) {
    super();
    this.client = client;
    this.initialDelay = Math.max(1, options.initialDelay ?? 500);
    this.maxDelay = Math.max(this.initialDelay, options.maxDelay ?? 30_000);
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Events are emitted from inside the poll loop: a listener that throws is logged, and is
   * neither taken for a failed poll nor able to stop the loop or starve the other listeners.
   */
  override emit<E extends keyof DmapPushEvents>(event: E, ...args: DmapPushEvents[E]): boolean {
    return emitContained<DmapPushEvents, E>(this, event, args, this.logger);
  }

  get active(): boolean {
    return this.controller !== null;
  }

  /** Starts polling (idempotent). */
  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    this.loopDone = this.run(controller.signal)
      .catch((err: unknown) => {
        // Nothing should get here (the loop catches its errors, listeners are contained);
        // a bug that does must not become an unhandled rejection.
        this.logger.warn(`push update listener failed: ${err instanceof Error ? err.message : String(err)}`);
      })
      .finally(() => {
        if (this.controller === controller) this.controller = null;
      });
  }

  /** Stops polling: the pending long poll is aborted, no timer is left. */
  stop(): Promise<void> {
    const controller = this.controller;
    this.controller = null;
    if (controller) controller.abort();
    this.cancelSleep();
    return this.loopDone;
  }

  private nextDelay(delay: number): number {
    return delay === 0 ? this.initialDelay : Math.min(delay * 2, this.maxDelay);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let revision = 0;
    let delay = 0;
    let last: NowPlaying | null = null;
    while (!signal.aborted) {
      if (delay > 0) {
        await this.sleep(delay);
        if (signal.aborted) break;
      }
      try {
        const nodes = await this.client.playStatus(revision, { longPoll: revision !== 0, signal });
        if (signal.aborted) break;
        const next = playstatusRevision(nodes);
        const state = nowPlayingFromPlaystatus(nodes);
        const stateChanged = last === null || changedFields(last, state).length > 0;
        const sameRevision = revision !== 0 && next === revision;
        this.emit('playstatus', nodes);
        if (stateChanged) {
          last = state;
          this.emit('update', state, nodes);
        }
        if (stateChanged && !sameRevision) delay = 0;
        else {
          delay = this.nextDelay(delay);
          this.logger.debug(`${this.client.endpoint}: playstatus answered without a change, next poll in ${delay} ms`);
        }
        revision = next;
      } catch (err) {
        if (signal.aborted || err instanceof ClosedError) break;
        const error = err instanceof Error ? err : new Error(String(err));
        if (err instanceof UnreachableError || err instanceof ConnectionLostError) {
          this.logger.debug(`${this.client.endpoint}: push updates stopped: ${error.message}`);
          this.controller = null;
          this.emit('connectionLost', error);
          break;
        }
        revision = 0;
        delay = this.nextDelay(delay);
        this.logger.debug(`${this.client.endpoint}: playstatus poll failed (${error.message}), retrying in ${delay} ms`);
        this.emit('pushError', error);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, ms);
    });
  }

  private cancelSleep(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
