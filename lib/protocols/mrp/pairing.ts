/**
 * MRP pairing: HAP pair-setup carried in CRYPTO_PAIRING_MESSAGEs after the DEVICE_INFO
 * exchange, driven by lib/hap's pairing session. `begin()` sends M1 and the device shows a
 * PIN; the user types it in (`setPin`), and `finish()` runs M3..M6, then a pair-verify with
 * the new credentials on the same connection to prove them, and resolves with the
 * credentials in pyatv's string form (`ltpk:ltsk:atv_id:client_id`).
 */
import type { DeviceConfig } from '../../device/interfaces';
import { InvalidArgumentError, NotSupportedError, type AtvError } from '../../errors';
import type { HapCredentials } from '../../hap/credentials';
import { hapPairVerify, HapPairingSession, pairingDropped, type HapExchange, type HapPairingChannel } from '../../hap/pairing';
import { deriveChannelKeys } from '../../hap/pair-verify';
import { silentLogger, type Logger } from '../../log';
import { MrpExchange } from './exchange';
import { MrpTcpTransport } from './transport';

/** Per-message timeout while pairing: a device may take a while to check the PIN. */
export const MRP_PAIRING_TIMEOUT = 30_000;

export interface MrpPairingOptions {
  /** The device; its MRP service gives the port. */
  config: DeviceConfig;
  /** The name the device lists us under (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** The PIN, when already known (otherwise setPin before finish). */
  pin?: string;
  /** Per-message timeout in ms (default 30 s); the wait for the user's PIN is not limited. */
  timeout?: number;
  logger?: Logger;
}

/** The MRP connection a pairing runs on. */
class MrpPairingChannel implements HapPairingChannel {
  readonly deviceName: string;
  private readonly transport: MrpTcpTransport;
  private readonly exchange: MrpExchange;
  private readonly logger: Logger;

  constructor(options: MrpPairingOptions, port: number) {
    this.deviceName = options.config.name;
    this.logger = options.logger ?? silentLogger;
    this.transport = new MrpTcpTransport({
      host: options.config.address,
      port,
      timeout: options.timeout ?? MRP_PAIRING_TIMEOUT,
      credentials: null,
      logger: this.logger,
    });
    this.exchange = new MrpExchange(this.transport, {
      timeout: options.timeout ?? MRP_PAIRING_TIMEOUT,
      logger: this.logger,
      ...(options.name !== undefined && { name: options.name }),
    });
  }

  async open(pairingId: Buffer): Promise<HapExchange> {
    await this.exchange.open();
    // Our pairing id doubles as our DEVICE_INFO uniqueIdentifier, as pyatv makes it.
    await this.exchange.exchangeDeviceInfo(pairingId.toString('utf8'));
    this.logger.debug(`MRP pairing with ${this.deviceName}: asking the device to show a PIN`);
    return this.exchange.pairingExchange;
  }

  async verify(credentials: HapCredentials, exchange: HapExchange): Promise<void> {
    await hapPairVerify(credentials, exchange, (secret) => this.transport.enableEncryption(deriveChannelKeys(secret, 'mrp')));
  }

  close(): void {
    this.exchange.close();
  }

  explain(err: unknown): AtvError | null {
    return pairingDropped(this.deviceName, err, this.exchange.error);
  }
}

/** Pairing with an Apple TV over MRP (tvOS 14 and earlier): the TV shows the PIN. */
export class MrpPairing extends HapPairingSession {
  override readonly protocol = 'mrp' as const;

  constructor(options: MrpPairingOptions) {
    const service = options.config.services.find((s) => s.protocol === 'mrp');
    if (!service) throw new InvalidArgumentError(`${options.config.name} offers no MRP service to pair with`);
    if (!service.enabled) {
      throw new NotSupportedError(`${options.config.name}: ${service.disabledReason ?? 'its MRP service is disabled'}`);
    }
    if (!(service.port > 0)) {
      throw new InvalidArgumentError(`${options.config.name} is asleep (its MRP port is unknown): wake it and scan again`);
    }
    super('mrp', new MrpPairingChannel(options, service.port), { screen: 'Apple TV', ...(options.pin !== undefined && { pin: options.pin }) });
  }
}
