/**
 * Companion in the protocol table: power with a pushed state, apps, accounts, the keyboard
 * and the buttons MRP lacks, on Apple TVs that paired with us (the TV shows a PIN). pyatv
 * does not set Companion up without credentials, and neither do we: an Apple TV advertises
 * it whether or not the user paired it.
 */
import { InvalidArgumentError } from '../../errors';
import { HAP_CREDENTIALS, type ProtocolDescriptor } from '../descriptor';
import { CompanionPairing } from './pairing';
import { COMPANION_SERVICE } from './service';
import { createCompanionSession } from './session';

export const COMPANION_PROTOCOL: ProtocolDescriptor = {
  protocol: 'companion',
  label: 'Companion',
  devices: 'Apple TV 4/4K (apps, power, keyboard)',
  services: [COMPANION_SERVICE],
  // The port is chosen by the device (usually 49153 and above): better asked of the host.
  manualPort: { usual: null, hint: 'e.g. 49153' },
  credentials: HAP_CREDENTIALS,
  pairing: 'device-shows-pin',
  needsCredentials: true,
  createSession: (context) => createCompanionSession(context),
  createPairing: (options) => {
    if (!options.config) throw new InvalidArgumentError('pairing over Companion needs the device (its address and port)');
    return new CompanionPairing({
      config: options.config,
      ...(options.name !== undefined && { name: options.name }),
      ...(options.pin !== undefined && { pin: options.pin }),
      ...(options.timeout !== undefined && { timeout: options.timeout }),
      ...(options.logger !== undefined && { logger: options.logger }),
    });
  },
  capabilities: ['power', 'apps', 'accounts', 'keyboard', 'remoteControl', 'audio'],
};
