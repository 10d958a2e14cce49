/**
 * The nodes' view of discovery: find one device by identifier (multicast, or unicast to
 * given hosts), and the device shape flows and the editor see (no credential in it).
 */
import type { DeviceConfig, ServiceInfo } from '../lib/device/interfaces';
import { scan } from '../lib/discovery';
import { UnreachableError } from '../lib/errors';
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

/** One scan. Aborting `signal` ends it at once (sockets closed, knocks stopped) with a ClosedError. */
export function scanDevices(request: ScanRequest, signal?: AbortSignal): Promise<DeviceConfig[]> {
  return scan({
    ...(request.hosts?.length ? { hosts: request.hosts } : {}),
    ...(request.port ? { port: request.port } : {}),
    ...(request.interface ? { interface: request.interface } : {}),
    ...(request.timeout ? { timeout: request.timeout } : {}),
    ...(request.logger ? { logger: request.logger } : {}),
    ...(signal ? { signal } : {}),
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
