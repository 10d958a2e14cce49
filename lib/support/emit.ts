/**
 * Events reach the caller's listeners from inside the library's own callbacks: socket data,
 * timers, microtasks, poll loops. A listener that throws there would become an uncaught
 * exception that ends the process, or be taken for a failure of the protocol (a poll retried,
 * a message dropped), and Node's `emit` would skip the listeners after it. So each listener
 * is called on its own; one that throws is logged and the others still get the event.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../log';

type AnyListener = (...args: unknown[]) => unknown;

/**
 * `emitter.emit(event, ...args)`, except that a throwing listener is logged (warn) instead of
 * propagating. Returns whether there were listeners, as `emit` does.
 */
export function emitContained<T extends Record<keyof T, unknown[]>, K extends keyof T & string>(
  emitter: EventEmitter<T>,
  event: K,
  args: T[K],
  logger: Logger,
): boolean {
  // rawListeners keeps once() wrappers, so calling one also removes it, as emit would.
  const listeners = (emitter as unknown as EventEmitter).rawListeners(event) as AnyListener[];
  for (const listener of listeners) {
    try {
      listener.apply(emitter, args);
    } catch (err) {
      logger.warn(`a "${event}" listener threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return listeners.length > 0;
}
