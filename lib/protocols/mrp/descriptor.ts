/** MRP over its own TCP port (Apple TV 4/4K up to tvOS 14) in the protocol table. */
import { InvalidArgumentError } from '../../errors';
import { HAP_CREDENTIALS, type ProtocolDescriptor } from '../descriptor';
import { MrpPairing } from './pairing';
import { MRP_SERVICE } from './service';
import { createMrpSession } from './session';

export const MRP_PROTOCOL: ProtocolDescriptor = {
  protocol: 'mrp',
  label: 'MRP',
  devices: 'Apple TV 4/4K, tvOS 14 or earlier',
  services: [MRP_SERVICE],
  // An Apple TV's MRP port changes (usually 49152 or above): better asked of the host.
  manualPort: { usual: null, hint: 'e.g. 49152' },
  credentials: HAP_CREDENTIALS,
  pairing: 'device-shows-pin',
  createSession: (context) => createMrpSession(context),
  createPairing: (options) => {
    if (!options.config) throw new InvalidArgumentError('pairing over MRP needs the device (its address and port)');
    return new MrpPairing({
      config: options.config,
      ...(options.name !== undefined && { name: options.name }),
      ...(options.pin !== undefined && { pin: options.pin }),
      ...(options.timeout !== undefined && { timeout: options.timeout }),
      ...(options.logger !== undefined && { logger: options.logger }),
    });
  },
  capabilities: ['remoteControl', 'metadata', 'audio', 'power'],
};
