/** Shared bits of the MRP client tests. */
import type { DeviceConfig, ServiceInfo, SessionContext } from '../../../../lib/device/interfaces';
import { createMrpSession, MrpSession, type MrpSessionOptions } from '../../../../lib/protocols/mrp/session';
import { FakeMrpDevice, PYATV_CREDENTIALS, type FakeMrpDeviceOptions } from './fake-device';

export { sleep } from '../../../support/wait';

export function mrpService(port: number, overrides: Partial<ServiceInfo> = {}): ServiceInfo {
  return {
    protocol: 'mrp',
    port,
    serviceType: '_mediaremotetv._tcp',
    instanceName: 'Fake MRP ATV',
    identifier: null,
    pairing: 'optional',
    enabled: true,
    disabledReason: null,
    credentials: null,
    properties: {},
    ...overrides,
  };
}

export function mrpConfig(port: number, overrides: Partial<ServiceInfo> = {}): DeviceConfig {
  return {
    name: 'Fake MRP ATV',
    address: '127.0.0.1',
    identifier: null,
    identifiers: [],
    deviceInfo: { operatingSystem: null, model: null, rawModel: null, osVersion: null, buildNumber: null, mac: null },
    services: [mrpService(port, overrides)],
    deepSleep: false,
  };
}

export function mrpContext(port: number, credentials: string | null = PYATV_CREDENTIALS, timeout = 3000): SessionContext {
  const config = mrpConfig(port);
  return { config, service: config.services[0]!, credentials, timeout, logger: { debug() {}, warn() {} } };
}

export interface Harness {
  device: FakeMrpDevice;
  session: MrpSession;
}

type Cleanups = (() => Promise<unknown> | unknown)[];

/** A fake device and a session connected to it with pyatv's credentials; both cleaned up after. */
export async function connected(
  cleanups: Cleanups,
  options: { device?: FakeMrpDeviceOptions; session?: MrpSessionOptions; credentials?: string | null; timeout?: number } = {},
): Promise<Harness> {
  const device = await FakeMrpDevice.start(options.device);
  cleanups.push(() => device.close());
  const session = createMrpSession(
    mrpContext(device.port, options.credentials === undefined ? PYATV_CREDENTIALS : options.credentials, options.timeout),
    { holdMs: 50, ...options.session },
  );
  cleanups.push(() => session.close());
  await session.connect();
  return { device, session };
}
