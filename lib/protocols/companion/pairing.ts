/**
 * Companion pairing (pyatv: protocols/companion/pairing.py, auth.py): HAP pair-setup carried
 * in PS_Start/PS_Next frames as OPACK `{_pd, _pwTy: 1}`, driven by lib/hap's pairing session.
 * `begin()` sends M1 and the Apple TV shows a PIN; `finish()` runs M3..M6 with the PIN and
 * our name (OPACK `{name}` in M5's Name item, as pyatv sends it), then proves the new
 * credentials with a pair-verify on a fresh connection, exactly as the next connect will, and
 * resolves with them in pyatv's string form (`ltpk:ltsk:atv_id:client_id`), usable by pyatv
 * too.
 */
import { DEFAULT_CLIENT_NAME, type DeviceConfig } from '../../device/interfaces';
import { ClosedError, InvalidArgumentError, PairingError, type AtvError } from '../../errors';
import type { HapCredentials } from '../../hap/credentials';
import { hapPairVerify, HapPairingSession, pairingDropped, type HapExchange, type HapPairingChannel } from '../../hap/pairing';
import { silentLogger, type Logger } from '../../log';
import { CompanionConnection } from './connection';
import { companionPairingName } from './messages';

/** Per-message timeout while pairing: a device may take a while to check the PIN. */
export const COMPANION_PAIRING_TIMEOUT = 30_000;

export interface CompanionPairingOptions {
  /** The device; its Companion service gives the port. */
  config: DeviceConfig;
  /** The name the Apple TV lists us under (default DEFAULT_CLIENT_NAME). */
  name?: string;
  /** The PIN, when already known (otherwise setPin before finish). */
  pin?: string;
  /** Per-message timeout in ms (default 30 s); the wait for the user's PIN is not limited. */
  timeout?: number;
  logger?: Logger;
}

class CompanionPairingChannel implements HapPairingChannel {
  readonly deviceName: string;
  private readonly options: CompanionPairingOptions;
  private readonly port: number;
  private readonly logger: Logger;
  private connection: CompanionConnection | null = null;
  private readonly opening = new AbortController();
  private closed = false;

  constructor(options: CompanionPairingOptions, port: number) {
    this.deviceName = options.config.name;
    this.options = options;
    this.port = port;
    this.logger = options.logger ?? silentLogger;
  }

  private connect(): Promise<CompanionConnection> {
    return CompanionConnection.open(
      {
        host: this.options.config.address,
        port: this.port,
        timeout: this.options.timeout ?? COMPANION_PAIRING_TIMEOUT,
        logger: this.logger,
      },
      this.opening.signal,
    );
  }

  async open(): Promise<HapExchange> {
    const connection = await this.connect();
    if (this.closed) {
      connection.close();
      throw new ClosedError('the pairing was closed while connecting');
    }
    this.connection = connection;
    this.logger.debug(`Companion pairing with ${this.deviceName}: asking the Apple TV to show a PIN`);
    return connection.pairingExchange;
  }

  /** A pair-verify on a new connection, as every session starts. */
  async verify(credentials: HapCredentials): Promise<void> {
    this.connection?.close();
    const connection = await this.connect();
    this.connection = connection;
    await hapPairVerify(credentials, connection.pairingExchange, (secret) => connection.enableEncryption(secret));
  }

  close(): void {
    this.closed = true;
    this.opening.abort();
    this.connection?.close();
  }

  explain(err: unknown): AtvError | null {
    return pairingDropped(this.deviceName, err, this.connection?.error ?? null);
  }
}

/** Pairing with an Apple TV over Companion: the TV shows the PIN. */
export class CompanionPairing extends HapPairingSession {
  override readonly protocol = 'companion' as const;

  constructor(options: CompanionPairingOptions) {
    const service = options.config.services.find((s) => s.protocol === 'companion');
    if (!service) throw new InvalidArgumentError(`${options.config.name} offers no Companion service to pair with`);
    if (service.pairing === 'disabled') {
      throw new PairingError(`${options.config.name} does not accept Companion pairing now (in its settings, allow remotes to pair)`);
    }
    if (!(service.port > 0)) {
      throw new InvalidArgumentError(`${options.config.name} is asleep (its Companion port is unknown): wake it and scan again`);
    }
    super('companion', new CompanionPairingChannel(options, service.port), {
      screen: 'Apple TV',
      name: companionPairingName(options.name ?? DEFAULT_CLIENT_NAME),
      ...(options.pin !== undefined && { pin: options.pin }),
    });
  }
}
