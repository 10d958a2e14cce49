/** RAOP in the protocol table: found by discovery only (no audio streaming yet). */
import type { ProtocolDescriptor } from '../descriptor';
import { RAOP_SERVICE } from './service';

export const RAOP_PROTOCOL: ProtocolDescriptor = {
  protocol: 'raop',
  label: 'RAOP',
  devices: 'AirPlay speakers, HomePod, AirPort Express (audio)',
  services: [RAOP_SERVICE],
  manualPort: { usual: 7000, hint: 'e.g. 7000' },
  credentials: null,
  pairing: null,
  capabilities: [],
};
