/**
 * What every simulated protocol server does the same way: listen on its address and port
 * (a busy port or a bad address is a typed network error naming the server), and print what
 * a remote calls itself without letting it write control characters into the log.
 */
import type net from 'node:net';
import { networkError } from '../errors';
import type { Logger } from '../log';

/** Starts `server` listening on `host:port` (0: any free port); resolves with the bound port. */
export async function listenOn(server: net.Server, host: string, port: number, what: string, logger: Logger): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(networkError(err, `${what} on ${host}:${port}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.warn(`${what} server error: ${err.message}`));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** Longest remote name kept. */
const MAX_NAME_LENGTH = 64;

/** A remote's name as it gave it, safe for a log line (null when none is left). */
export function printableName(name: string | null | undefined): string | null {
  if (name === undefined || name === null) return null;
  // eslint-disable-next-line no-control-regex
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_NAME_LENGTH);
  return clean === '' ? null : clean;
}
