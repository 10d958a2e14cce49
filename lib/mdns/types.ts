/**
 * Contracts of the DNS-SD layer: raw service records as they come off the wire, services we
 * advertise (the simulator's, the DMAP pairing remote's), and the options shared by every
 * query. Turning records into devices (`DeviceConfig`) is `services.ts`'s job.
 */
import type { Logger } from '../log';

/** One DNS-SD service instance, assembled from PTR + SRV + TXT + A records. */
export interface ServiceRecord {
  /** Service type without `.local`, e.g. `_touch-able._tcp`. */
  type: string;
  /** Instance name (the PTR target's first label), e.g. `Living Room`. */
  instance: string;
  /** SRV target host name, e.g. `Living-Room.local`. */
  host: string | null;
  /** SRV port (0 when a sleep proxy answers for a sleeping device). */
  port: number;
  /** IPv4 addresses of `host` (A records); the responder's address when none were given. */
  addresses: string[];
  /** TXT key/values as advertised (values decoded as UTF-8, non-breaking spaces normalised). */
  txt: Record<string, string>;
  /** Seconds the records stay valid; 0 = goodbye. */
  ttl: number;
  /** IPv4 address the response came from. */
  source: string;
  /**
   * A Bonjour sleep proxy answered for the (deep-sleeping) device: a bare PTR, or records
   * fetched from the proxy afterwards. Absent = false.
   */
  sleepProxy?: boolean;
}

/** A service we answer for. */
export interface AdvertisedService {
  type: string;
  instance: string;
  /** Host name for the SRV target and A records, e.g. `sim-atv.local`. */
  host: string;
  /** IPv4 addresses the A records carry. */
  addresses: string[];
  port: number;
  txt: Record<string, string>;
  /** TTL in seconds (default 120). */
  ttl?: number;
}

export interface MulticastOptions {
  /**
   * IPv4 address of the interface to use for multicast (hosts with several networks,
   * Docker). Default: all interfaces.
   */
  interface?: string;
  logger?: Logger;
}

export interface AdvertiserOptions extends MulticastOptions {
  /** Answer multicast queries on 224.0.0.251:5353 and announce (default true). */
  multicast?: boolean;
  /**
   * Also answer DNS-SD queries sent straight to this UDP address (what a unicast scan
   * does); port 0 picks a free port (read it back from `unicastPort`).
   */
  unicast?: { host: string; port: number };
}

export interface BrowseOptions extends MulticastOptions {
  /** Service types to ask for, e.g. `['_touch-remote._tcp']`. */
  types: string[];
  /** How long to collect answers, in milliseconds. */
  timeout: number;
  /** Ask these hosts directly (unicast DNS-SD) instead of multicasting. */
  hosts?: string[];
  /** UDP port for unicast queries (default 5353). */
  port?: number;
  /** Aborting ends the browse at once with a ClosedError. */
  signal?: AbortSignal;
}
