/**
 * The nodes' view of discovery: find one device by identifier, scan, watch (multicast, or
 * unicast to given hosts), and the device shape flows and the editor see (no credential in it).
 *
 * Where multicast does not reach (Docker, VLANs, the `npm start` simulator, which answers
 * DNS-SD on a unicast port only), settings.js can name DNS-SD responders to ask as well
 * whenever the nodes look "on the network": `atvlinkDeviceDiscovery: { hosts: ['host[:port]'] }`.
 * A device found both ways is reported once.
 */
import { EventEmitter } from 'node:events';
import type { DeviceConfig, ServiceInfo } from '../lib/device/interfaces';
import { deviceMatches, DeviceBrowser, scan, type DeviceBrowserOptions } from '../lib/discovery';
import { ClosedError, UnreachableError } from '../lib/errors';
import type { Logger } from '../lib/log';

/** A DNS-SD responder to ask directly: a host and the UDP port it answers on (default 5353). */
export interface Responder {
  host: string;
  port?: number;
}

const HOST = /^[A-Za-z0-9.-]{1,253}$/;

/**
 * The responders of `atvlinkDeviceDiscovery.hosts` (`"host"` or `"host:port"` each), and what
 * was wrong with the rest, for a warning.
 */
export function discoverySettings(given: unknown): { responders: Responder[]; problems: string[] } {
  const problems: string[] = [];
  const responders: Responder[] = [];
  if (given === undefined || given === null) return { responders, problems };
  const hosts = typeof given === 'object' ? (given as { hosts?: unknown }).hosts : undefined;
  if (!Array.isArray(hosts)) {
    problems.push('atvlinkDeviceDiscovery must be like { hosts: ["192.168.1.20", "127.0.0.1:5354"] }; ignored');
    return { responders, problems };
  }
  for (const entry of hosts.slice(0, 16)) {
    const m = typeof entry === 'string' ? /^([^:\s]+)(?::(\d{1,5}))?$/.exec(entry.trim()) : null;
    const port = m?.[2] === undefined ? undefined : Number(m[2]);
    if (!m || !HOST.test(m[1]!) || (port !== undefined && !(port >= 1 && port <= 65535))) {
      problems.push(`atvlinkDeviceDiscovery.hosts: ${JSON.stringify(String(entry).slice(0, 60))} is not host or host:port; ignored`);
      continue;
    }
    responders.push({ host: m[1]!, ...(port !== undefined && { port }) });
  }
  return { responders, problems };
}

let extraResponders: Responder[] = [];

/** The responders every "on the network" lookup asks too (the device node sets them from settings.js). */
export function setDiscoveryResponders(responders: readonly Responder[]): void {
  extraResponders = [...responders];
}

/** The responders grouped by port: one unicast scan or browser per port. */
function byPort(responders: readonly Responder[]): { hosts: string[]; port?: number }[] {
  const groups = new Map<number | undefined, string[]>();
  for (const r of responders) groups.set(r.port, [...(groups.get(r.port) ?? []), r.host]);
  return [...groups].map(([port, hosts]) => ({ hosts, ...(port !== undefined && { port }) }));
}

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

/** Aborts `child` when `parent` aborts. */
function linked(parent: AbortSignal | undefined): AbortController {
  const child = new AbortController();
  if (parent?.aborted) child.abort();
  else parent?.addEventListener('abort', () => child.abort(), { once: true });
  return child;
}

/** The devices of several scans, each once (the first source that reported it wins). */
function merge(lists: readonly DeviceConfig[][]): DeviceConfig[] {
  const out: DeviceConfig[] = [];
  for (const list of lists) {
    for (const device of list) {
      if (!out.some((d) => d.identifiers.some((id) => deviceMatches(device, id)) || (d.address === device.address && d.name === device.name))) {
        out.push(device);
      }
    }
  }
  return out;
}

/**
 * One scan. Given hosts: unicast to them only. Otherwise multicast plus the configured
 * responders, in parallel. Aborting `signal` ends it at once with a ClosedError.
 */
export async function scanDevices(request: ScanRequest, signal?: AbortSignal): Promise<DeviceConfig[]> {
  const common = {
    ...(request.timeout ? { timeout: request.timeout } : {}),
    ...(request.logger ? { logger: request.logger } : {}),
  };
  if (request.hosts?.length) {
    return scan({ ...common, hosts: request.hosts, ...(request.port ? { port: request.port } : {}), ...(signal ? { signal } : {}) });
  }
  const scans = [
    scan({ ...common, ...(request.interface ? { interface: request.interface } : {}), ...(signal ? { signal } : {}) }),
    ...byPort(extraResponders).map((group) => scan({ ...common, ...group, ...(signal ? { signal } : {}) })),
  ];
  const results = await Promise.allSettled(scans);
  const found = results.filter((r): r is PromiseFulfilledResult<DeviceConfig[]> => r.status === 'fulfilled').map((r) => r.value);
  if (found.length === 0) throw (results[0] as PromiseRejectedResult).reason;
  for (const r of results) if (r.status === 'rejected' && !(r.reason instanceof ClosedError)) request.logger?.debug(`a scan failed: ${String((r.reason as Error)?.message ?? r.reason)}`);
  return merge(found);
}

/** The device a config node means: by identifier, or the only one answering at a host. */
export async function findDevice(options: FindOptions): Promise<DeviceConfig> {
  const { identifier } = options;
  const common = {
    ...(identifier ? { identifier } : {}),
    ...(options.timeout ? { timeout: options.timeout } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  };
  const targets: { hosts?: string[]; port?: number }[] = options.hosts?.length
    ? [{ hosts: options.hosts, ...(options.port ? { port: options.port } : {}) }]
    : [{}, ...byPort(extraResponders)];
  // The first place that knows the device answers; the other lookups stop then.
  const stop = new AbortController();
  const lookups = targets.map(async (where) => {
    const found = await scan({ ...common, ...where, signal: linked(stop.signal).signal });
    if (found.length === 0) throw new UnreachableError('not found there');
    return found[0]!;
  });
  let match: DeviceConfig | undefined;
  try {
    match = await Promise.any(lookups);
  } catch {
    match = undefined;
  } finally {
    stop.abort();
    await Promise.allSettled(lookups);
  }
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

export interface DeviceWatcherEvents {
  added: [device: DeviceConfig];
  changed: [device: DeviceConfig];
  removed: [device: DeviceConfig];
}

/**
 * Continuous discovery over multicast plus the configured responders (or the given hosts
 * only): a device seen by several browsers is added once and removed when the last one
 * lost it.
 */
export class DeviceWatcher extends EventEmitter<DeviceWatcherEvents> {
  private readonly browsers: DeviceBrowser[];
  /** Per device key, the browsers that see it. */
  private readonly seen = new Map<string, Set<DeviceBrowser>>();

  constructor(options: Pick<DeviceBrowserOptions, 'hosts' | 'port' | 'interface' | 'logger'>) {
    super();
    const { hosts, port, ...rest } = options;
    const wheres: Pick<DeviceBrowserOptions, 'hosts' | 'port' | 'interface'>[] = hosts?.length
      ? [{ hosts, ...(port !== undefined && { port }) }]
      : [{ ...(rest.interface !== undefined && { interface: rest.interface }) }, ...byPort(extraResponders)];
    this.browsers = wheres.map((where) => new DeviceBrowser({ ...where, ...(rest.logger && { logger: rest.logger }) }));
    for (const browser of this.browsers) {
      browser.on('added', (d: DeviceConfig) => this.saw(browser, d));
      browser.on('changed', (d: DeviceConfig) => this.emit('changed', d));
      browser.on('removed', (d: DeviceConfig) => this.lost(browser, d));
    }
  }

  /** The devices seen now, each once. */
  devices(): DeviceConfig[] {
    return merge(this.browsers.map((b) => b.devices()));
  }

  /** Starts every browser; fails only when none could start. */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.browsers.map((b) => b.start()));
    if (results.every((r) => r.status === 'rejected')) throw (results[0] as PromiseRejectedResult).reason;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.browsers.map((b) => b.stop()));
  }

  private key(device: DeviceConfig): string {
    return (device.identifier ?? `${device.address}/${device.name}`).toLowerCase();
  }

  private saw(browser: DeviceBrowser, device: DeviceConfig): void {
    const key = this.key(device);
    const by = this.seen.get(key) ?? new Set<DeviceBrowser>();
    const fresh = by.size === 0;
    by.add(browser);
    this.seen.set(key, by);
    this.emit(fresh ? 'added' : 'changed', device);
  }

  private lost(browser: DeviceBrowser, device: DeviceConfig): void {
    const key = this.key(device);
    const by = this.seen.get(key);
    by?.delete(browser);
    if (by && by.size > 0) return;
    this.seen.delete(key);
    this.emit('removed', device);
  }
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
