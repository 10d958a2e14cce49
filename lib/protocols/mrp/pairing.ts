/**
 * MRP pairing (reference §4.5): HAP pair-setup carried in CRYPTO_PAIRING_MESSAGEs after the
 * DEVICE_INFO exchange. `begin()` sends M1 and the device shows a PIN; the user types it in
 * (`setPin`), and `finish()` runs M3..M6, then a pair-verify with the new credentials on the
 * same connection to prove them, and resolves with the credentials in pyatv's string form
 * (`ltpk:ltsk:atv_id:client_id`), so they can be pasted to and from pyatv.
 */
import { randomUUID } from 'node:crypto';
import { decodeTlv8 } from '../../codecs/tlv8';
import type { DeviceConfig, PairingSession } from '../../device/interfaces';
import {
  AtvError,
  AuthenticationError,
  ClosedError,
  ConnectionLostError,
  InvalidArgumentError,
  NotSupportedError,
  PairingError,
  ProtocolError,
} from '../../errors';
import { formatHapCredentials, type HapCredentials } from '../../hap/credentials';
import { throwIfHapDeviceError } from '../../hap/device-errors';
import { normalizeHapPin, PairSetupClient } from '../../hap/pair-setup';
import { silentLogger, type Logger } from '../../log';
import { MrpProtocol } from './protocol';

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

export class MrpPairing implements PairingSession {
  readonly protocol = 'mrp' as const;
  readonly deviceProvidesPin = true;
  private readonly options: MrpPairingOptions;
  private readonly logger: Logger;
  private readonly connection: MrpProtocol;
  private readonly setup: PairSetupClient;
  private pin: string | undefined;
  /** The device's M2, kept until the PIN is known. */
  private m2: Buffer | null = null;
  private phase: 'idle' | 'begun' | 'finishing' | 'done' | 'closed' = 'idle';

  constructor(options: MrpPairingOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    const service = options.config.services.find((s) => s.protocol === 'mrp');
    if (!service) throw new InvalidArgumentError(`${options.config.name} offers no MRP service to pair with`);
    if (!service.enabled) {
      throw new NotSupportedError(`${options.config.name}: ${service.disabledReason ?? 'its MRP service is disabled'}`);
    }
    if (!(service.port > 0)) {
      throw new InvalidArgumentError(`${options.config.name} is asleep (its MRP port is unknown): wake it and scan again`);
    }
    // pyatv's pairing id: the ASCII bytes of a random UUID, also our DEVICE_INFO uniqueIdentifier.
    this.setup = new PairSetupClient({ pairingId: randomUUID() });
    if (options.pin !== undefined) this.setPin(options.pin);
    this.connection = new MrpProtocol({
      host: options.config.address,
      port: service.port,
      timeout: options.timeout ?? MRP_PAIRING_TIMEOUT,
      logger: this.logger,
      ...(options.name !== undefined && { name: options.name }),
    });
  }

  /** Connects and asks the device to pair: it then shows the PIN on screen. */
  async begin(): Promise<void> {
    if (this.phase === 'closed') throw new ClosedError('this pairing was closed; start a new one');
    if (this.phase !== 'idle') throw new InvalidArgumentError('pairing has already begun');
    this.phase = 'begun';
    try {
      await this.connection.connect();
      await this.connection.exchangeDeviceInfo(this.setup.pairingId.toString('utf8'));
      const m2 = await this.connection.exchangePairing(this.setup.m1(), true);
      // Refusals (back-off, busy, too many pairings) arrive here, before any PIN is shown.
      throwIfHapDeviceError(decodeTlv8(m2), 'pair-setup M2');
      this.m2 = m2;
    } catch (err) {
      await this.close();
      throw this.explain(err);
    }
    this.logger.debug(`MRP pairing with ${this.options.config.name}: the device should show a PIN now`);
  }

  /** The PIN shown on the device (4 digits). */
  setPin(pin: string): void {
    if (typeof pin !== 'string' || !/^\s*\d{4}\s*$/.test(pin)) {
      throw new InvalidArgumentError('the PIN is the 4 digits shown on the Apple TV');
    }
    this.pin = normalizeHapPin(pin);
  }

  /** Sends the PIN proof and our keys, checks the device's, and verifies the new credentials. */
  async finish(): Promise<string> {
    if (this.phase === 'closed') throw new ClosedError('this pairing was closed; start a new one');
    if (this.phase !== 'begun' || this.m2 === null) throw new InvalidArgumentError('call begin() and wait for the PIN before finish()');
    if (this.pin === undefined) throw new InvalidArgumentError('enter the PIN shown on the Apple TV (setPin) before finish()');
    this.phase = 'finishing';
    try {
      this.setup.setPin(this.pin);
      let step = this.setup.handle(this.m2);
      let credentials: HapCredentials | undefined;
      while (step.kind === 'send') {
        const reply = await this.connection.exchangePairing(step.message, false);
        const next = this.setup.handle(reply);
        if (next.kind === 'paired') credentials = next.credentials;
        step = next;
      }
      if (!credentials) throw new ProtocolError('pair-setup ended without credentials');
      try {
        await this.connection.pairVerify(credentials);
      } catch (err) {
        if (err instanceof AuthenticationError) {
          throw new PairingError(`the device accepted the pairing but not the new credentials (${err.message}); try pairing again`, {
            cause: err,
          });
        }
        throw err;
      }
      this.phase = 'done';
      return formatHapCredentials(credentials);
    } catch (err) {
      throw this.explain(err);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.m2 = null;
    this.connection.close();
  }

  private explain(err: unknown): unknown {
    if (err instanceof ConnectionLostError || (err instanceof ClosedError && this.connection.connection.error instanceof ConnectionLostError)) {
      return new PairingError(`${this.options.config.name} closed the connection during pairing (PIN dialog dismissed or timed out?): start again`, {
        cause: err,
      });
    }
    if (err instanceof AtvError) return err;
    return new PairingError(`pairing with ${this.options.config.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
