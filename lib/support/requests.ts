/**
 * The one request/response matcher: requests wait under a key (MRP's message identifier or
 * reply type, Companion's `_x`, RTSP's `CSeq`) for the reply carrying it, each with a timeout
 * that names what went unanswered. A reply nobody waits for is the caller's to dispatch (a
 * push). When the connection ends, every waiting request fails with the reason.
 */
import { AtvError, ProtocolError, TimeoutError } from '../errors';

interface Pending<R> {
  resolve: (reply: R) => void;
  reject: (error: AtvError) => void;
  timer: NodeJS.Timeout;
  onReply: ((reply: R) => void) | undefined;
}

export interface RequestOptions<R> {
  /** How long to wait, ms. */
  timeout: number;
  /** Names the request in a timeout error, e.g. `DEVICE_INFO_MESSAGE`. */
  what: string;
  /**
   * Runs synchronously as the reply is matched, before the next frame of the same read is
   * looked at (a pair-verify switching on encryption); a throw fails the request.
   */
  onReply?: (reply: R) => void;
}

export class RequestTable<K, R> {
  private readonly pending = new Map<K, Pending<R>>();

  /** `endpoint` names the peer in errors. */
  constructor(private readonly endpoint: string) {}

  get size(): number {
    return this.pending.size;
  }

  has(key: K): boolean {
    return this.pending.has(key);
  }

  /**
   * Registers a wait under `key`, then calls `send` (which writes the request); resolves
   * with the reply. A send that throws fails the request with that error.
   */
  request(key: K, send: () => void, options: RequestOptions<R>): Promise<R> {
    if (this.pending.has(key)) {
      return Promise.reject(new ProtocolError(`${this.endpoint}: a request ${String(key)} is already waiting for its answer`));
    }
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new TimeoutError(`${this.endpoint}: no answer to ${options.what} within ${options.timeout} ms`));
      }, options.timeout);
      timer.unref();
      this.pending.set(key, { resolve, reject, timer, onReply: options.onReply });
      try {
        send();
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(key);
        reject(err instanceof AtvError ? err : new ProtocolError(String(err), { cause: err }));
      }
    });
  }

  /** Hands `reply` to the request waiting under `key`; false when none waits (a push). */
  settle(key: K, reply: R): boolean {
    const pending = this.pending.get(key);
    if (!pending) return false;
    this.pending.delete(key);
    clearTimeout(pending.timer);
    if (pending.onReply) {
      try {
        pending.onReply(reply);
      } catch (err) {
        pending.reject(err instanceof AtvError ? err : new ProtocolError(String(err), { cause: err }));
        return true;
      }
    }
    pending.resolve(reply);
    return true;
  }

  /** Fails every waiting request with `error` (the connection ended). */
  rejectAll(error: AtvError): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }
}
