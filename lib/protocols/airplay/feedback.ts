/**
 * `POST /feedback` every 2 s on an AirPlay 2 control connection, as iOS sends it: the
 * receiver's sign that the sender is still there, and ours that the receiver is (pyatv:
 * ap2_session.py, raop/protocols/airplayv2.py). A failed one is retried at once; when the
 * retry fails too the session counts as lost (pyatv's heartbeater: one retry).
 */
import { ConnectionLostError, type AtvError } from '../../errors';
import type { Logger } from '../../log';
import type { RtspSession } from './connection';

/** How often iOS (and pyatv) sends `POST /feedback`. */
export const AIRPLAY_FEEDBACK_INTERVAL = 2000;
/** Feedback retries after a failed one, sent at once. */
export const AIRPLAY_FEEDBACK_RETRIES = 1;

export class AirPlayFeedback {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  /** `onLost` gets the ConnectionLostError once feedback failed for good. */
  constructor(
    private readonly rtsp: RtspSession,
    private readonly interval: number,
    private readonly logger: Logger,
    private readonly onLost: (error: AtvError) => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.send();
    }, this.interval);
    this.timer.unref();
  }

  private async send(): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= AIRPLAY_FEEDBACK_RETRIES; attempt++) {
      if (!this.running) return;
      try {
        await this.rtsp.exchange('POST', { target: '/feedback' });
        if (this.running) this.schedule();
        return;
      } catch (err) {
        lastError = err;
        this.logger.debug(`${this.rtsp.connection.endpoint}: feedback ${attempt + 1} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!this.running) return;
    this.running = false;
    this.onLost(
      new ConnectionLostError(`${this.rtsp.connection.endpoint}: the receiver stopped answering (feedback failed ${AIRPLAY_FEEDBACK_RETRIES + 1} times)`, {
        cause: lastError,
      }),
    );
  }
}
