/**
 * AirPlay pairing with an Apple TV (AirPlay 2, HAP): `/pair-pin-start` makes the TV show a
 * PIN, pair-setup M1..M6 goes over `/pair-setup` with `X-Apple-HKP: 3` and names us with an
 * OPACK `{name}` in M5 (pyatv: protocols/airplay/pairing.py, auth/hap.py); the credentials
 * are pyatv's four hex fields, so they work with pyatv's `--airplay-credentials` and back.
 * They are proven at once by a pair-verify on a new connection, as every later session opens.
 *
 * Not here: AirPlay 1's legacy pairing (`/pair-setup-pin`, Apple TV 2/3), and HomePods,
 * which pair transiently on every connection and store nothing.
 */
import { encodeOpack } from '../../codecs/opack';
import { DEFAULT_CLIENT_NAME, type DeviceConfig, type ServiceInfo, type Txt } from '../../device/interfaces';
import { ClosedError, ConnectionLostError, InvalidArgumentError, NotSupportedError, PairingError, type AtvError } from '../../errors';
import type { HapCredentials } from '../../hap/credentials';
import { HapPairingSession, type HapExchange, type HapPairingChannel } from '../../hap/pairing';
import { silentLogger, type Logger } from '../../log';
import { airplayHapExchange, airplayPinStart, verifyControlChannel } from './auth';
import { AirPlayConnection } from './connection';
import { fetchAirPlayInfo } from './info';
import { airplayMajorVersion, airplayRemoteControlKind } from './service';

/** Per-request timeout while pairing: a device may take a while to check the PIN. */
export const AIRPLAY_PAIRING_TIMEOUT = 30_000;

export interface AirPlayPairingOptions {
  /** The device; its AirPlay service gives the port. */
  config: DeviceConfig;
  /** The name the device lists us under (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** The PIN, when already known (otherwise setPin before finish). */
  pin?: string;
  /** Per-request timeout in ms (default 30 s); the wait for the user's PIN is not limited. */
  timeout?: number;
  logger?: Logger;
}

/** The AirPlay connection a pairing runs on. */
class AirPlayPairingChannel implements HapPairingChannel {
  readonly deviceName: string;
  private connection: AirPlayConnection | null = null;
  private readonly closing = new AbortController();
  private readonly logger: Logger;

  constructor(
    private readonly options: AirPlayPairingOptions,
    private readonly service: ServiceInfo,
  ) {
    this.deviceName = options.config.name;
    this.logger = options.logger ?? silentLogger;
  }

  private connect(): Promise<AirPlayConnection> {
    return AirPlayConnection.connect(
      {
        host: this.options.config.address,
        port: this.service.port,
        timeout: this.options.timeout ?? AIRPLAY_PAIRING_TIMEOUT,
        logger: this.logger,
      },
      this.closing.signal,
    );
  }

  async open(): Promise<HapExchange> {
    const connection = await this.connect();
    this.connection = connection;
    // A host given by hand: what it is decides whether it can pair at all (as Apple's senders ask).
    if (Object.keys(this.service.properties).length === 0) checkPairable(await fetchAirPlayInfo(connection), this.deviceName);
    this.logger.debug(`AirPlay pairing with ${this.deviceName}: asking the device to show a PIN`);
    await airplayPinStart(connection, 3);
    return airplayHapExchange(connection, 3);
  }

  async verify(credentials: HapCredentials): Promise<void> {
    this.connection?.close();
    const connection = await this.connect();
    this.connection = connection;
    await verifyControlChannel(connection, credentials);
  }

  close(): void {
    this.closing.abort();
    this.connection?.close();
  }

  explain(err: unknown): AtvError | null {
    if (err instanceof ConnectionLostError || (err instanceof ClosedError && this.connection?.error instanceof ConnectionLostError)) {
      return new PairingError(`${this.deviceName} closed the connection during pairing (PIN dialog dismissed or timed out?): start again`, {
        cause: err,
      });
    }
    return null;
  }
}

/** Refuses what cannot pair with a PIN over HAP: a HomePod, an AirPlay 1 device. An empty TXT (a host given by hand) passes. */
function checkPairable(txt: Txt, name: string): void {
  if (airplayRemoteControlKind(txt) === 'homepod') {
    throw new NotSupportedError(`${name} is a HomePod: it needs no pairing (it is reached with transient pairing); connect without AirPlay credentials`);
  }
  if (Object.keys(txt).length > 0 && airplayMajorVersion(txt) === 1) {
    throw new NotSupportedError(
      `${name} speaks AirPlay 1, whose legacy pairing is not supported; it needs no pairing to play URLs (Apple TV 2/3 are controlled over DMAP)`,
    );
  }
}

/** The AirPlay service of a device, checked for pairing. */
function pairableService(config: DeviceConfig): ServiceInfo {
  const service = config.services.find((s) => s.protocol === 'airplay');
  if (!service) throw new InvalidArgumentError(`${config.name} offers no AirPlay service to pair with`);
  if (!(service.port > 0)) throw new InvalidArgumentError(`${config.name} is asleep (its AirPlay port is unknown): wake it and scan again`);
  checkPairable(service.properties, config.name);
  return service;
}

/** Pairing with an Apple TV over AirPlay (tvOS 15 and later need it for remote control): the TV shows the PIN. */
export class AirPlayPairing extends HapPairingSession {
  override readonly protocol = 'airplay' as const;

  constructor(options: AirPlayPairingOptions) {
    const service = pairableService(options.config);
    super('airplay', new AirPlayPairingChannel(options, service), {
      screen: 'Apple TV',
      name: encodeOpack({ name: options.name ?? DEFAULT_CLIENT_NAME }),
      ...(options.pin !== undefined && { pin: options.pin }),
    });
  }
}
