/**
 * How a subcommand finds its device: `--host ADDR --port N` (no discovery), or a scan —
 * unicast to `--host`/`--hosts`, or multicast — picking `--id` or the only device at the host.
 * Credentials come from `--credentials`, or from the environment so they need not sit in
 * the shell history. Nothing here knows a protocol: the facade picks one per call.
 */
import { manualConfig } from '../device/config';
import { Device } from '../core/facade';
import { PROTOCOLS, type Credentials, type DeviceConfig, type Protocol } from '../device/interfaces';
import { DEFAULT_SCAN_TIMEOUT, scan } from '../discovery/scan';
import { UnreachableError } from '../errors';
import { UsageError, type OptionSpec, type ParsedArgs } from './args';
import { unlessAborted, type CommandContext } from './context';

/** The protocol of `--host --port` and of a bare `--credentials` value when `--protocol` is not given. */
export const DEFAULT_PROTOCOL: Protocol = 'dmap';
/** Per-request timeout when `--timeout` is not given (the facade's own default). */
export const DEFAULT_REQUEST_TIMEOUT_S = 10;
export const CREDENTIALS_ENV = 'ATVLINK_CREDENTIALS';
export const credentialsEnv = (protocol: Protocol): string => `ATVLINK_${protocol.toUpperCase()}_CREDENTIALS`;

export const PROTOCOL_OPTION: OptionSpec = {
  name: 'protocol',
  type: 'string',
  metavar: 'P',
  help: `use only this protocol (${PROTOCOLS.join(', ')}); default: the best the device offers (${DEFAULT_PROTOCOL} with --port)`,
};

export const SCAN_OPTIONS: readonly OptionSpec[] = [
  { name: 'hosts', type: 'list', metavar: 'A,B', help: 'scan these hosts by unicast DNS-SD instead of multicast' },
  { name: 'mdns-port', type: 'integer', metavar: 'N', min: 1, max: 65535, help: 'UDP port the hosts answer DNS-SD on (default 5353)' },
  { name: 'interface', type: 'string', metavar: 'ADDR', help: 'IPv4 address of the interface to multicast on (default: all)' },
];

export const CONNECTION_OPTIONS: readonly OptionSpec[] = [
  { name: 'host', type: 'string', metavar: 'ADDR', help: 'device address; with --port no scan is made, without it the host is scanned' },
  { name: 'port', type: 'integer', metavar: 'N', min: 1, max: 65535, help: `the protocol's TCP port (DMAP usually 3689, MRP usually 49152, AirPlay 7000, Companion usually 49153)` },
  PROTOCOL_OPTION,
  {
    name: 'credentials',
    type: 'string',
    metavar: 'C',
    repeatable: true,
    help: `credentials from \`atvlink pair\`, for --protocol (or PROTOCOL=C); or set ${CREDENTIALS_ENV} / ATVLINK_<PROTOCOL>_CREDENTIALS`,
  },
  { name: 'id', type: 'string', metavar: 'ID', help: 'find the device by identifier with a scan (see `atvlink scan`)' },
  ...SCAN_OPTIONS,
  {
    name: 'timeout',
    type: 'number',
    metavar: 'S',
    min: 0.1,
    help: `seconds for the scan and for each request (default ${DEFAULT_SCAN_TIMEOUT / 1000} s scan, ${DEFAULT_REQUEST_TIMEOUT_S} s request)`,
  },
];

export function protocolOption(args: ParsedArgs, command: string): Protocol | undefined {
  const value = args.string('protocol');
  if (value === undefined) return undefined;
  const p = value.toLowerCase();
  if (!(PROTOCOLS as readonly string[]).includes(p)) {
    throw new UsageError(`unknown protocol ${JSON.stringify(value)}`, command, `use one of ${PROTOCOLS.join(', ')}`);
  }
  return p as Protocol;
}

/**
 * Credentials from the environment, then `--credentials` (later wins): `C` alone is for
 * `protocol`, `PROTOCOL=C` names its protocol. Values are registered as secrets.
 */
export function resolveCredentials(ctx: CommandContext, protocol: Protocol | undefined, command: string): Credentials {
  const credentials: Credentials = {};
  const fallback = protocol ?? DEFAULT_PROTOCOL;
  const put = (raw: string, where: string): void => {
    const eq = raw.indexOf('=');
    const prefix = eq > 0 ? raw.slice(0, eq).toLowerCase() : '';
    const named = (PROTOCOLS as readonly string[]).includes(prefix) ? (prefix as Protocol) : null;
    const value = (named ? raw.slice(eq + 1) : raw).trim();
    if (value === '') throw new UsageError(`${where} is empty`, command);
    ctx.out.secret(value);
    credentials[named ?? fallback] = value;
  };
  const generic = ctx.env[CREDENTIALS_ENV];
  if (generic) put(generic, CREDENTIALS_ENV);
  for (const p of PROTOCOLS) {
    const value = ctx.env[credentialsEnv(p)];
    if (value) put(`${p}=${value}`, credentialsEnv(p));
  }
  if (ctx.args.declares('credentials')) for (const raw of ctx.args.strings('credentials')) put(raw, '--credentials');
  return credentials;
}

export interface Target {
  config: DeviceConfig;
  /** `address:port[,port]` for messages. */
  endpoint: string;
  protocol: Protocol | undefined;
  credentials: Credentials;
  timeoutMs: number | undefined;
  /** For a device found by a scan: the same scan again (a supervisor looks it up for each attempt). */
  rescan?: () => Promise<DeviceConfig>;
}

export function endpointOf(config: DeviceConfig, protocol?: Protocol): string {
  const ports = config.services.filter((s) => !protocol || s.protocol === protocol).map((s) => s.port);
  return ports.length === 0 ? config.address : `${config.address}:${[...new Set(ports)].join(',')}`;
}

/** Whether any option that picks a device was given. */
export function targetGiven(args: ParsedArgs): boolean {
  return ['host', 'port', 'id', 'hosts'].some((n) => args.declares(n) && args.has(n));
}

/** Turns the connection options into a device configuration (scanning when needed). */
export async function resolveTarget(ctx: CommandContext, command: string): Promise<Target> {
  const { args } = ctx;
  const protocol = protocolOption(args, command);
  const credentials = resolveCredentials(ctx, protocol, command);
  const seconds = args.number('timeout');
  const timeoutMs = seconds === undefined ? undefined : Math.round(seconds * 1000);
  const host = args.string('host');
  const port = args.number('port');
  const id = args.string('id');
  const hosts = args.strings('hosts');
  if (host !== undefined && hosts.length > 0) {
    throw new UsageError('give either --host or --hosts, not both', command);
  }
  if (port !== undefined) {
    if (host === undefined) throw new UsageError('--port needs --host', command, 'e.g. --host 192.168.1.20 --port 3689');
    for (const n of ['hosts', 'mdns-port']) {
      if (args.has(n)) throw new UsageError(`--${n} is for scanning; with --host and --port no scan is made`, command);
    }
    const config = manualConfig({
      address: host,
      ...(id !== undefined ? { identifier: id } : {}),
      services: [{ protocol: protocol ?? DEFAULT_PROTOCOL, port }],
    });
    return { config, endpoint: endpointOf(config), protocol, credentials, timeoutMs };
  }
  if (host === undefined && id === undefined && hosts.length === 0) {
    throw new UsageError(
      'which device? give --host ADDR --port N, or --id ID',
      command,
      'find devices with `atvlink scan` (or --host ADDR alone to scan that host)',
    );
  }
  const scanHosts = host !== undefined ? [host] : hosts;
  const mdnsPort = args.number('mdns-port');
  const iface = args.string('interface');
  const scanTimeout = timeoutMs ?? DEFAULT_SCAN_TIMEOUT;
  const where =
    scanHosts.length > 0 ? `at ${scanHosts.join(', ')}${mdnsPort !== undefined ? ` (DNS-SD port ${mdnsPort})` : ''}` : 'on the network';
  const within = `within ${scanTimeout / 1000} s`;
  const lookUp = async (): Promise<DeviceConfig> => {
    const found = await unlessAborted(
      scan({
        timeout: scanTimeout,
        ...(scanHosts.length > 0 ? { hosts: scanHosts } : {}),
        ...(mdnsPort !== undefined ? { port: mdnsPort } : {}),
        ...(iface !== undefined ? { interface: iface } : {}),
        ...(id !== undefined ? { identifier: id } : {}),
        ...(protocol !== undefined ? { protocols: [protocol] } : {}),
        ...(ctx.logger ? { logger: ctx.logger } : {}),
      }),
      ctx.signal,
    );
    if (found.length === 0) {
      throw new UnreachableError(
        id !== undefined
          ? `no device with identifier ${id} answered ${where} ${within}; check the id with \`atvlink scan\`, or give --host and --port`
          : `no device${protocol ? ` speaking ${protocol}` : ''} answered ${where} ${within}; is it on? (give --port to skip the scan)`,
      );
    }
    if (found.length > 1) {
      const list = found.map((d) => `${d.name} (${d.identifier ?? d.address})`).join(', ');
      throw new UsageError(`${found.length} devices answered ${where}: ${list}`, command, 'pick one with --id');
    }
    return found[0]!;
  };
  const config = await lookUp();
  ctx.logger?.debug(`found ${config.name} at ${endpointOf(config, protocol)}`);
  return { config, endpoint: endpointOf(config, protocol), protocol, credentials, timeoutMs, rescan: lookUp };
}

/** Resolves the target and names it in failures; `deviceFor` makes an unconnected Device for it. */
export async function prepareTarget(
  ctx: CommandContext,
  command: string,
): Promise<{ target: Target; deviceFor: (config: DeviceConfig, only?: readonly Protocol[]) => Device }> {
  const target = await resolveTarget(ctx, command);
  ctx.failure.endpoint = target.endpoint;
  const offered = [...new Set(target.config.services.map((s) => s.protocol))];
  const only = target.protocol ?? (offered.length === 1 ? offered[0] : undefined);
  if (only) ctx.failure.protocol = only;
  const deviceFor = (config: DeviceConfig, protocols?: readonly Protocol[]) =>
    new Device(config, {
      credentials: target.credentials,
      ...(protocols ? { protocols } : target.protocol ? { protocols: [target.protocol] } : {}),
      ...(target.timeoutMs !== undefined ? { timeout: target.timeoutMs } : {}),
      ...(ctx.logger ? { logger: ctx.logger } : {}),
    });
  return { target, deviceFor };
}

/** Connects, runs `fn` with the device, and always closes it (also when cancelled). */
export async function withDevice<T>(ctx: CommandContext, command: string, fn: (device: Device, target: Target) => Promise<T>): Promise<T> {
  const { target, deviceFor } = await prepareTarget(ctx, command);
  const device = deviceFor(target.config);
  try {
    await unlessAborted(device.connect(), ctx.signal);
    return await fn(device, target);
  } finally {
    await device.close();
  }
}
