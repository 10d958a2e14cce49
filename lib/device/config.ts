/**
 * Device configurations made by hand, for networks where discovery does not reach (VLANs,
 * Docker, mDNS filtered) and for tests: an address plus protocol/port pairs.
 */
import { isIPv4 } from 'node:net';
import { InvalidArgumentError } from '../errors';
import { PROTOCOLS, type DeviceConfig, type Protocol, type ServiceInfo } from './interfaces';

export interface ManualService {
  protocol: Protocol;
  port: number;
}

export interface ManualConfigOptions {
  address: string;
  name?: string;
  identifier?: string;
  services: ManualService[];
}

export function manualConfig(options: ManualConfigOptions): DeviceConfig {
  const address = options.address.trim();
  if (!isIPv4(address) && !/^[A-Za-z0-9.-]+$/.test(address)) {
    throw new InvalidArgumentError(`"${options.address}" is not an IPv4 address or host name`);
  }
  if (options.services.length === 0) throw new InvalidArgumentError('give at least one protocol and port');
  const services: ServiceInfo[] = options.services.map(({ protocol, port }) => {
    if (!PROTOCOLS.includes(protocol)) {
      throw new InvalidArgumentError(`unknown protocol "${String(protocol)}"; known: ${PROTOCOLS.join(', ')}`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidArgumentError(`${protocol} port must be a whole number from 1 to 65535, got ${String(port)}`);
    }
    return {
      protocol,
      port,
      serviceType: null,
      instanceName: null,
      identifier: options.identifier ?? null,
      pairing: 'mandatory',
      enabled: true,
      disabledReason: null,
      credentials: null,
      properties: {},
    };
  });
  const identifiers = options.identifier ? [options.identifier] : [];
  return {
    name: options.name ?? address,
    address,
    identifier: options.identifier ?? null,
    identifiers,
    deviceInfo: { operatingSystem: null, model: null, rawModel: null, osVersion: null, buildNumber: null, mac: null },
    services,
    deepSleep: false,
  };
}
