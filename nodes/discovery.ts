/**
 * The nodes' view of discovery: find one device by identifier (multicast, or unicast to
 * given hosts), and the device shape flows and the editor see (no credential in it).
 */
import type { DeviceConfig, ServiceInfo } from '../lib/device/interfaces';
import { scan } from '../lib/discovery';
import { ClosedError, UnreachableError } from '../lib/errors';
import type { Logger } from '../lib/log';

export interface FindOptions {
  /** Ask these hosts directly instead of multicasting. */
  hosts?: string[];
  /** UDP port of the hosts' DNS-SD responder (default: the standard one). */
  port?: number;
  identifier?: string;
  logger?: Logger;
  timeout?: number;
}

export interface ScanRequest {
  hosts?: string[];
  port?: number;
  interface?: string;
  /** Milliseconds. */
  timeout?: number;
  logger?: Logger;
}

/**
 * One scan. With `signal`, an abort rejects at once with a ClosedError, and the caller hears
 * nothing more of that scan. The library's scan cannot be stopped yet: its socket and knocks
 * end on their own at its timeout (a `signal` option for `scan` would end them at once; pass
 * it through here when the library has it).
 */
export function scanDevices(request: ScanRequest, signal?: AbortSignal): Promise<DeviceConfig[]> {
  const scanning = scan({
    ...(request.hosts?.length ? { hosts: request.hosts } : {}),
    ...(request.port ? { port: request.port } : {}),
    ...(request.interface ? { interface: request.interface } : {}),
    ...(request.timeout ? { timeout: request.timeout } : {}),
    ...(request.logger ? { logger: request.logger } : {}),
  });
  if (!signal) return scanning;
  return new Promise((resolve, reject) => {
    const abandon = () => reject(new ClosedError('the scan was abandoned'));
    if (signal.aborted) abandon();
    signal.addEventListener('abort', abandon, { once: true });
    scanning.then(
      (devices) => {
        signal.removeEventListener('abort', abandon);
        resolve(devices);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abandon);
        reject(err);
      },
    );
  });
}

/** The device a config node means: by identifier, or the only one answering at a host. */
export async function findDevice(options: FindOptions): Promise<DeviceConfig> {
  const { identifier } = options;
  const found = await scan({
    ...(options.hosts?.length ? { hosts: options.hosts } : {}),
    ...(options.port ? { port: options.port } : {}),
    ...(identifier ? { identifier } : {}),
    ...(options.timeout ? { timeout: options.timeout } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const match = found[0];
  if (!match) {
    const where = options.hosts?.length ? `at ${options.hosts.join(', ')}` : 'on the network';
    throw new UnreachableError(
      identifier
        ? `no device with identifier ${identifier} answered ${where}; is it on? (set a host and port where multicast does not reach)`
        : `no device answered ${where}`,
    );
  }
  return match;
}

export type PublicService = Omit<ServiceInfo, 'credentials' | 'properties'>;
export type PublicDevice = Omit<DeviceConfig, 'services'> & { services: PublicService[] };

/**
 * A device as flows and the editor see it: service credentials (Home Sharing ids) and the
 * raw TXT records that carry them are left out.
 */
export function publicDevice(config: DeviceConfig): PublicDevice {
  return {
    ...config,
    identifiers: [...config.identifiers],
    deviceInfo: { ...config.deviceInfo },
    services: config.services.map(({ credentials: _c, properties: _p, ...service }) => service),
  };
}
