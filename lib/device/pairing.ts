/**
 * Pairing entry point: `pair('dmap', options)` returns the protocol's `PairingSession`.
 * DMAP pairing needs no device (the remote announces itself and the device calls back);
 * protocols where we call the device (MRP, HAP) need its `config`.
 */
import { InvalidArgumentError, NotSupportedError } from '../errors';
import type { Logger } from '../log';
import { DmapPairing, type DmapPairingOptions } from '../protocols/dmap/pairing';
import { MrpPairing } from '../protocols/mrp/pairing';
import type { DeviceConfig, PairingSession, Protocol } from './interfaces';

export interface PairOptions {
  /** The device to pair with (required for every protocol but DMAP). */
  config?: DeviceConfig;
  /** DMAP: the PIN the user will type on the device (random when absent). */
  pin?: string;
  /** The name the device shows for us (DMAP remote name, HAP controller name). */
  name?: string;
  /** IPv4 address of the interface to announce on (DMAP). */
  interface?: string;
  /** Give up after this many ms. */
  timeout?: number;
  /**
   * DMAP: how the remote announces itself (multicast on or off, a unicast DNS-SD responder
   * for a device that cannot multicast to us, e.g. the simulator under `--no-multicast`).
   */
  advertiser?: DmapPairingOptions['advertiser'];
  logger?: Logger;
}

type PairingFactory = (options: PairOptions) => PairingSession;

export const PAIRING_FACTORIES: Partial<Record<Protocol, PairingFactory>> = {
  dmap: (options) =>
    new DmapPairing({
      ...(options.name !== undefined && { name: options.name }),
      ...(options.pin !== undefined && { pin: options.pin }),
      ...(options.interface !== undefined && { interface: options.interface }),
      ...(options.timeout !== undefined && { timeout: options.timeout }),
      ...(options.advertiser !== undefined && { advertiser: options.advertiser }),
      ...(options.logger !== undefined && { logger: options.logger }),
    }),
  // pair() has checked that config is there.
  mrp: (options) =>
    new MrpPairing({
      config: options.config!,
      ...(options.name !== undefined && { name: options.name }),
      ...(options.pin !== undefined && { pin: options.pin }),
      ...(options.timeout !== undefined && { timeout: options.timeout }),
      ...(options.logger !== undefined && { logger: options.logger }),
    }),
};

export function pair(protocol: Protocol, options: PairOptions = {}): PairingSession {
  const factory = PAIRING_FACTORIES[protocol];
  if (!factory) {
    throw new NotSupportedError(
      `pairing over ${protocol} is not supported; supported: ${Object.keys(PAIRING_FACTORIES).join(', ')}`,
    );
  }
  if (protocol !== 'dmap' && !options.config) {
    throw new InvalidArgumentError(`pairing over ${protocol} needs the device (its address and port)`);
  }
  return factory(options);
}
