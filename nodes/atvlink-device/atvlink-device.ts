/**
 * The device config node: which device (identifier, or a manual address for networks where
 * multicast does not reach), its credentials per protocol (Node-RED `credentials`, so they
 * stay out of flow JSON and exports), and the ONE connection every flow node using it shares.
 * A device with several protocols (an Apple TV 4/4K on an older tvOS offers MRP and DMAP)
 * gets a session per protocol that has what it needs; the facade picks the protocol per call.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { manualConfig, type ManualService } from '../../lib/device/config';
import { Device } from '../../lib/core/facade';
import { PROTOCOLS, type Credentials, type DeviceConfig, type Protocol } from '../../lib/device/interfaces';
import { AtvError, InvalidArgumentError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import type { PairOptions } from '../../lib/protocols/descriptor';
import { checkCredentials, credentialProtocols, protocolDescriptor, sessionProtocols } from '../../lib/protocols/table';
import { closeLink, openLink, retryPolicyFrom, type DeviceLink, type RetryPolicy } from '../connections';
import { discoverySettings, findDevice, setDiscoveryResponders } from '../discovery';
import { setSharedTranslate } from '../flow-node';
import { registerRoutes } from '../routes';

/**
 * The node's settings: `<protocol>Port` for every protocol of the library's table (a flow
 * saved before a protocol was added simply lacks its port: none).
 */
export interface DeviceNodeDef extends NodeDef {
  identifier?: string;
  host?: string;
  /** When each protocol was last paired from the dialog (ISO dates; no secret). */
  paired?: Partial<Record<Protocol, string>>;
  [port: `${string}Port`]: string | number | undefined;
}

/** Per-protocol credentials, as Node-RED stores them (encrypted, never in flow JSON). */
export type DeviceNodeCredentials = Partial<Record<Protocol, string>>;

export interface DeviceConfigNode extends Node<DeviceNodeCredentials> {
  link: DeviceLink<Device>;
}

/**
 * Optional settings.js tuning: `atvlinkDeviceRetry: { initial: 1000, max: 60000 }` (ms),
 * checked by `retryPolicyFrom` (what a user typed there is not trusted).
 */
interface DeviceSettings {
  atvlinkDeviceRetry?: Partial<RetryPolicy> | unknown;
  /** DNS-SD responders to ask besides multicast: `{ hosts: ['192.168.1.20', '127.0.0.1:5354'] }`. */
  atvlinkDeviceDiscovery?: unknown;
  /**
   * Where DMAP pairing from the dialog announces the remote: `{ interface: '192.168.1.10',
   * multicast: true, announcePort: 0 }` (as `atvlink pair`'s --interface, --no-multicast,
   * --announce-port; default: multicast on every address of this host).
   */
  atvlinkDevicePairing?: unknown;
}

/** The DMAP announcement settings, checked (what a user typed in settings.js is not trusted). */
export function pairingAnnouncement(given: unknown): { announce: Pick<PairOptions, 'interface' | 'advertiser'>; problems: string[] } {
  const problems: string[] = [];
  const announce: Pick<PairOptions, 'interface' | 'advertiser'> = {};
  if (given === undefined || given === null) return { announce, problems };
  if (typeof given !== 'object') {
    problems.push('atvlinkDevicePairing must be like { interface: "192.168.1.10", multicast: true, announcePort: 0 }; ignored');
    return { announce, problems };
  }
  const { interface: iface, multicast, announcePort } = given as Record<string, unknown>;
  if (iface !== undefined) {
    if (typeof iface === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(iface)) announce.interface = iface;
    else problems.push('atvlinkDevicePairing.interface must be an IPv4 address of this host; ignored');
  }
  const port = announcePort === undefined ? undefined : Number(announcePort);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    problems.push('atvlinkDevicePairing.announcePort must be a UDP port (0: any); ignored');
  }
  const unicastPort = port !== undefined && Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined;
  if (multicast !== undefined || unicastPort !== undefined) {
    announce.advertiser = {
      multicast: multicast !== false,
      ...(unicastPort !== undefined && { unicast: { host: announce.interface ?? '0.0.0.0', port: unicastPort } }),
    };
  }
  return { announce, problems };
}

function port(value: string | number | undefined, what: string): number | null {
  if (value === undefined || value === null || String(value).trim() === '') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`${what} must be a whole number from 1 to 65535`);
  return n;
}

/** How to find the device this config describes. */
export function deviceResolver(def: DeviceNodeDef, logger: Logger): () => Promise<DeviceConfig> {
  const host = def.host?.trim() ?? '';
  const identifier = def.identifier?.trim() || undefined;
  const name = def.name?.trim() || undefined;
  return async () => {
    if (host) {
      const services: ManualService[] = [];
      for (const protocol of sessionProtocols()) {
        const given = port(def[`${protocol}Port`], `${protocolDescriptor(protocol).label} port`);
        if (given) services.push({ protocol, port: given });
      }
      if (services.length > 0) return manualConfig({ address: host, name, identifier, services });
      // A host without ports: ask it directly (unicast DNS-SD) which services it has.
      return findDevice({ hosts: [host], identifier, logger });
    }
    if (!identifier) throw new InvalidArgumentError('give the device identifier (use Scan) or a host address');
    return findDevice({ identifier, logger });
  };
}

function credentialsOf(node: DeviceConfigNode): Credentials {
  const credentials: Credentials = {};
  const stored = node.credentials ?? {};
  for (const protocol of credentialProtocols()) {
    const value = stored[protocol]?.trim();
    if (value) credentials[protocol] = value;
  }
  return credentials;
}

/**
 * What is wrong with pasted credentials of `protocol`, or null when they can be used. The
 * message names the field, never its content.
 */
export function credentialsProblem(protocol: Protocol, value: string | undefined): string | null {
  if (!value) return null;
  try {
    checkCredentials(protocol, value);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-device.${key}`, substitutions);
  setSharedTranslate(t);
  const settings = RED.settings as unknown as DeviceSettings;
  const discovery = discoverySettings(settings.atvlinkDeviceDiscovery);
  setDiscoveryResponders(discovery.responders);
  const announcement = pairingAnnouncement(settings.atvlinkDevicePairing);
  for (const problem of [...discovery.problems, ...announcement.problems]) RED.log.warn(`settings.js: ${problem}`);
  const routeLogger: Logger = { debug: (m) => RED.log.debug(m), warn: (m) => RED.log.warn(m) };
  registerRoutes(RED, {
    resolveDevice: (form) => deviceResolver(form as unknown as DeviceNodeDef, routeLogger)(),
    announce: announcement.announce,
  });

  function AtvlinkDeviceNode(this: DeviceConfigNode, def: DeviceNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const logger: Logger = {
      debug: (message) => node.debug(message),
      warn: (message) => node.warn(message),
    };
    // What one attempt or one session runs into (a refused connection, each protocol's
    // failure, a drop seen by the session) goes to debug: the link warns once per change of
    // state, so a device that is off does not fill the debug sidebar.
    const attemptLogger: Logger = {
      debug: (message) => node.debug(message),
      warn: (message) => node.debug(message),
    };
    const credentials = credentialsOf(node);
    for (const [protocol, value] of Object.entries(credentials) as [Protocol, string][]) {
      const problem = credentialsProblem(protocol, value);
      if (problem) node.warn(t('errors.badCredentials', { protocol: protocolDescriptor(protocol).label, problem }));
    }
    const retry = retryPolicyFrom(settings.atvlinkDeviceRetry);
    for (const problem of retry.problems) node.warn(`settings.js: ${problem}`);
    node.link = openLink(node.id, {
      name: def.name?.trim() || undefined,
      resolve: deviceResolver(def, attemptLogger),
      createDevice: (config, only) => new Device(config, { credentials, logger: attemptLogger, ...(only ? { protocols: only } : {}) }),
      refusedProtocols: (device) =>
        PROTOCOLS.filter((p) => {
          const failure = device.connectFailures.get(p);
          return failure instanceof AtvError && failure.code === 'AUTH';
        }),
      translate: t,
      logger,
      retry: retry.policy,
    });
    node.on('close', (_removed: boolean, done: () => void) => {
      closeLink(node.id).then(done, (err: unknown) => {
        node.warn(err instanceof Error ? err.message : String(err));
        done();
      });
    });
  }

  RED.nodes.registerType<DeviceConfigNode, DeviceNodeDef, unknown, DeviceNodeCredentials>('atvlink-device', AtvlinkDeviceNode, {
    credentials: Object.fromEntries(credentialProtocols().map((p) => [p, { type: 'password' as const }])),
  });
}
