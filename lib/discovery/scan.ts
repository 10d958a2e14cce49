/**
 * `scan` (find Apple devices once) and `browseServices` (find instances of arbitrary
 * service types once). Multicast unless `hosts` are given; then unicast DNS-SD straight to
 * each host (pyatv: core/mdns.py).
 */
import type { DeviceConfig, Protocol } from '../device/interfaces';
import { PROTOCOLS } from '../device/interfaces';
import { InvalidArgumentError } from '../errors';
import type { Logger } from '../log';
import { collect, type CollectProgress } from '../mdns/query';
import { deviceMatches, devicesFromRecords, SERVICE_TYPES } from './services';
import type { BrowseOptions, ServiceRecord } from '../mdns/types';

export interface ScanOptions {
  /** How long to listen, in milliseconds (default 3000). */
  timeout?: number;
  /**
   * Unicast scan: ask these hosts directly instead of multicasting (for networks where
   * multicast does not reach). Each host is first "knocked" awake on its usual TCP ports.
   * Devices answer only queries from their own subnet.
   */
  hosts?: string[];
  /** UDP port the hosts answer DNS-SD on (default 5353; the simulator uses its own). */
  port?: number;
  /** IPv4 address of the interface to multicast on (default: all). */
  interface?: string;
  /** Stop as soon as the device with this identifier answered, and return only it. */
  identifier?: string;
  /** Only services of these protocols (devices with none are left out). */
  protocols?: Protocol[];
  logger?: Logger;
  /** Aborting ends the scan at once with a ClosedError (nothing left open). */
  signal?: AbortSignal;
}

export const DEFAULT_SCAN_TIMEOUT = 3000;
/** How long to wait for a wanted device's remaining answers once it has shown up. */
const IDENTIFIER_GRACE_MS = 500;

/** The service types to ask for when looking for devices speaking `protocols`. */
export function scanTypes(protocols?: readonly Protocol[]): string[] {
  return SERVICE_TYPES.filter((s) => s.protocol === null || !protocols || protocols.includes(s.protocol)).map((s) => s.type);
}

/** Finds Apple TVs, HomePods, AirPlay speakers and Music/iTunes libraries. */
export async function scan(options: ScanOptions = {}): Promise<DeviceConfig[]> {
  const protocols = options.protocols;
  if (protocols) {
    for (const p of protocols) {
      if (!PROTOCOLS.includes(p)) throw new InvalidArgumentError(`unknown protocol "${String(p)}"; known: ${PROTOCOLS.join(', ')}`);
    }
  }
  const identifier = options.identifier;

  const onUpdate = identifier
    ? (progress: CollectProgress): void => {
        const records = progress.records();
        const device = devicesFromRecords(records).find((d) => deviceMatches(d, identifier));
        if (!device) return;
        // The device's answers to the other query messages may still be on their way:
        // stop when its responders answered them all, or after a short grace.
        const sources = new Set(records.filter((r) => r.addresses[0] === device.address).map((r) => r.source));
        const complete = [...sources].every((s) => progress.messages.every((m) => progress.answered.get(s)?.has(m.id)));
        if (complete) progress.finish();
        else progress.finishIn(IDENTIFIER_GRACE_MS);
      }
    : undefined;

  const records = await collect({
    types: scanTypes(protocols),
    sleepProxy: true,
    timeout: options.timeout ?? DEFAULT_SCAN_TIMEOUT,
    ...(options.hosts !== undefined ? { hosts: options.hosts, knock: true } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.interface !== undefined ? { interface: options.interface } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onUpdate ? { onUpdate } : {}),
  });

  let devices = devicesFromRecords(records);
  if (protocols) {
    devices = devices
      .map((d) => ({ ...d, services: d.services.filter((s) => protocols.includes(s.protocol)) }))
      .filter((d) => d.services.length > 0);
  }
  if (identifier) devices = devices.filter((d) => deviceMatches(d, identifier));
  return devices;
}

/**
 * Finds instances of arbitrary service types (e.g. `_touch-remote._tcp`, the remotes that
 * offer DMAP pairing), multicast or unicast to `hosts`.
 */
export async function browseServices(options: BrowseOptions): Promise<ServiceRecord[]> {
  const records = await collect({
    types: options.types,
    sleepProxy: false,
    timeout: options.timeout,
    ...(options.hosts !== undefined ? { hosts: options.hosts } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.interface !== undefined ? { interface: options.interface } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // Bare PTRs (no SRV/TXT yet) say nothing a caller can use.
  return records.filter((r) => r.host !== null || Object.keys(r.txt).length > 0);
}
