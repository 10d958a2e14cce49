/** Companion in the protocol table: found by discovery; sessions come with the Companion protocol. */
import type { ProtocolDescriptor } from '../descriptor';
import { COMPANION_SERVICE } from './service';

export const COMPANION_PROTOCOL: ProtocolDescriptor = {
  protocol: 'companion',
  label: 'Companion',
  devices: 'Apple TV 4/4K (apps, power, keyboard)',
  services: [COMPANION_SERVICE],
  manualPort: { usual: null, hint: 'usually 49153 or above; it can change' },
  credentials: null,
  pairing: null,
  capabilities: [],
};
