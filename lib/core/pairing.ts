/**
 * Pairing entry point: `pair('mrp', { config })` returns the protocol's `PairingSession`,
 * from the protocol table. DMAP pairing needs no device (the remote announces itself and the
 * device calls back); protocols where we call the device (MRP, AirPlay, Companion) need its
 * `config`.
 */
import type { PairingSession, Protocol } from '../device/interfaces';
import { InvalidArgumentError, NotSupportedError } from '../errors';
import type { PairOptions } from '../protocols/descriptor';
import { pairableProtocols, protocolDescriptor } from '../protocols/table';

export type { PairOptions } from '../protocols/descriptor';

export function pair(protocol: Protocol, options: PairOptions = {}): PairingSession {
  const descriptor = protocolDescriptor(protocol);
  if (!descriptor?.createPairing) {
    throw new NotSupportedError(`pairing over ${protocol} is not supported; supported: ${pairableProtocols().join(', ')}`);
  }
  if (descriptor.pairing !== 'we-show-pin' && !options.config) {
    throw new InvalidArgumentError(`pairing over ${protocol} needs the device (its address and port)`);
  }
  return descriptor.createPairing(options);
}
