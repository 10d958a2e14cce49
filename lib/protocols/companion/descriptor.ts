/** Companion in the protocol table: found by discovery; sessions come with the Companion protocol. */
import type { ProtocolDescriptor } from '../descriptor';
import { COMPANION_SERVICE } from './service';

export const COMPANION_PROTOCOL: ProtocolDescriptor = {
  protocol: 'companion',
  label: 'Companion',
  devices: 'Apple TV 4/4K (apps, power, keyboard)',
  services: [COMPANION_SERVICE],
  manualPort: { usual: null, hint: 'e.g. 49153' },
  credentials: null,
  pairing: null,
  capabilities: [],
};
