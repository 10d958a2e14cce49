/**
 * The contract between the `Simulator` and the protocol servers it runs (DMAP, MRP): each
 * server translates one protocol to and from the shared `SimulatorState`, tells the
 * simulator what to advertise and how a client reaches it, and reports logins, requests and
 * device-side pairings. Adding a protocol = one file implementing `SimulatorServer` + one
 * line in the factory table of `index.ts`.
 */
import net, { type Socket } from 'node:net';
import type { AdvertisedService } from '../mdns/types';
import { networkError } from '../errors';
import type { Protocol } from '../device/interfaces';
import type { Logger } from '../log';
import type { SimulatorDeviceProfile } from './profiles';
import type { SimulatorState } from './state';

/** A successful login / session start on a simulated protocol. */
export interface SimulatorLogin {
  protocol: Protocol;
  /** The session's id (DMAP `mlid`). */
  sessionId: number;
  /** How the client authenticated (`pairing-guid`, `hsgid`, ...), never the secret itself. */
  method: string;
}

/** One request a simulated server answered (credentials in the query are redacted). */
export interface SimulatorRequest {
  protocol: Protocol;
  /** Epoch ms when the answer was sent. */
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  sessionId: number | null;
}

/** A credential a pairing produced (the CLI prints it for the user who paired). */
export interface SimulatorCredentials {
  protocol: Protocol;
  credentials: string;
  /** The name the remote gave itself, when it said. */
  remoteName: string | null;
}

/**
 * A remote started pairing: a real device now shows `pin` on the TV screen, so the CLI
 * prints it (never a log line).
 */
export interface SimulatorPinRequest {
  protocol: Protocol;
  pin: string;
  /** The name the remote gave itself, when it said. */
  remoteName: string | null;
}

/** Credentials accepted by the simulated device, per protocol; shared by servers and pairing. */
export class CredentialStore {
  private readonly byProtocol = new Map<Protocol, Set<string>>();

  add(protocol: Protocol, credentials: string): void {
    let set = this.byProtocol.get(protocol);
    if (set === undefined) this.byProtocol.set(protocol, (set = new Set()));
    set.add(credentials);
  }

  has(protocol: Protocol, credentials: string): boolean {
    return this.byProtocol.get(protocol)?.has(credentials) ?? false;
  }

  list(protocol: Protocol): string[] {
    return [...(this.byProtocol.get(protocol) ?? [])];
  }
}

export interface SimulatorServerContext {
  state: SimulatorState;
  /** The device's name as users see it. */
  name: string;
  /** The device id: 16 upper-case hex digits; protocols derive their own ids from it. */
  deviceId: string;
  /** Address to bind. */
  host: string;
  /** TCP port to bind (0 = ephemeral). */
  port: number;
  credentials: CredentialStore;
  logger: Logger;
  /** The device played (model, OS build), the same for every protocol (default: each server's own). */
  profile?: SimulatorDeviceProfile;
}

/** A DNS-SD service a server wants advertised; the simulator adds host and addresses. */
export type ServerAdvertisement = Omit<AdvertisedService, 'host' | 'addresses'>;

export interface SimulatorServerEvents {
  login: [login: SimulatorLogin];
  request: [request: SimulatorRequest];
  /** Device-side pairing (MRP, AirPlay, Companion): a remote asks to pair; show the PIN. */
  pin: [request: SimulatorPinRequest];
  /** Device-side pairing (MRP, Companion) completed; the server already stored the result. */
  credentials: [credentials: SimulatorCredentials];
}

export interface SimulatorServer {
  readonly protocol: Protocol;
  /** The bound TCP port (after `start`). */
  readonly port: number;
  start(): Promise<void>;
  /** Closes the listener, every connection and every pending request. Safe to call twice. */
  stop(): Promise<void>;
  /** What to advertise over DNS-SD (valid after `start`, when the port is known). */
  advertisements(): ServerAdvertisement[];
  /** Human-readable lines for the CLI banner (no secrets). */
  describe(): string[];
  on(event: 'login', listener: (login: SimulatorLogin) => void): this;
  on(event: 'request', listener: (request: SimulatorRequest) => void): this;
  on(event: 'pin', listener: (request: SimulatorPinRequest) => void): this;
  on(event: 'credentials', listener: (credentials: SimulatorCredentials) => void): this;
}

/**
 * A TCP listener of a simulated protocol on `host:port` (0: any free port); resolves with it
 * and the bound port. A failure to bind is a typed error naming `what`; later server errors
 * are logged.
 */
export async function listenTcp(
  host: string,
  port: number,
  what: string,
  logger: Logger,
  onConnection: (socket: Socket) => void,
): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer(onConnection);
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
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}
