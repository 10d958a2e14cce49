/**
 * `SerialQueue`: runs async tasks one at a time, in the order they were queued. A protocol
 * session puts everything that acts on the device through one, so commands from concurrent
 * callers never interleave on the wire: a DACP arrow (seven touch requests) or a key press
 * (a down and an up) finishes before the next command's first byte goes out, and N
 * concurrent presses arrive as N presses, in call order.
 *
 * Each caller gets its own task's result or error; a task that fails does not stop the ones
 * after it. `close(error)` rejects every task still waiting with that error and refuses new
 * ones; the task running at that moment finishes on its own (its socket is the session's
 * business).
 */
import { ClosedError } from '../errors';

interface Job {
  task: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SerialQueue {
  private readonly waiting: Job[] = [];
  private running = false;
  private closedWith: Error | null = null;

  /** Tasks waiting or running. */
  get size(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  /** Queues `task`; it starts at once when the queue is idle. Resolves or rejects as the task does. */
  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ task, resolve: resolve as (value: unknown) => void, reject });
      this.next();
    });
  }

  /** Rejects the waiting tasks with `error` (default a `ClosedError`) and every later `run`. */
  close(error: Error = new ClosedError('the queue was closed')): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const job of this.waiting.splice(0)) job.reject(error);
  }

  private next(): void {
    if (this.running) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = true;
    let done: Promise<unknown>;
    try {
      done = job.task();
    } catch (err) {
      done = Promise.reject(err);
    }
    void Promise.resolve(done)
      .then(job.resolve, job.reject)
      .finally(() => {
        this.running = false;
        this.next();
      });
  }
}
