/**
 * The contract between the `Simulator` and the protocol servers it runs (DMAP, MRP, AirPlay,
 * Companion): each server translates one protocol to and from the shared `SimulatorState`,
 * tells the simulator what to advertise and how a client reaches it, and reports logins,
 * requests and device-side pairings. Adding a protocol = one file implementing `SimulatorServer` + one
 * line in the factory table of `index.ts`.
 */
import { createHash } from 'node:crypto';
import type { AdvertisedService } from '../mdns/types';
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

/** What every server's `stats()` counts of its TCP connections. */
export interface SimulatorConnectionStats {
  /** TCP connections open right now. */
  openConnections: number;
  /** TCP connections accepted since start. */
  totalConnections: number;
}

/** The events of a server that counts its TCP connections (`open`: how many are open after it). */
export interface SimulatorTcpServerEvents extends SimulatorServerEvents {
  connection: [open: number];
  disconnect: [open: number];
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

/** A server as the parts it carries see it (its pairing, the MRP endpoint): where their events and requests go. */
export interface SimulatorServerSink {
  /** The server's request log, oldest first. */
  readonly requests: SimulatorRequest[];
  emit<E extends keyof SimulatorServerEvents>(event: E, ...args: SimulatorServerEvents[E]): boolean;
}

/** Requests a server's log keeps (the newest). */
const REQUEST_LOG_LIMIT = 1000;

/** Adds one answered request to `server`'s log (the last 1000) and tells its listeners. */
export function recordRequest(server: SimulatorServerSink, entry: SimulatorRequest): void {
  server.requests.push(entry);
  if (server.requests.length > REQUEST_LOG_LIMIT) server.requests.shift();
  server.emit('request', entry);
}

/**
 * `AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE` (upper case) from a hash of `seed`: how a protocol
 * derives a stable id of its own from the simulator's device id.
 */
export function derivedUuid(seed: string, hash: 'md5' | 'sha256' = 'md5'): string {
  const hex = createHash(hash).update(seed).digest('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
