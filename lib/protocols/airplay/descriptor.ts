/** AirPlay in the protocol table: found by discovery; sessions come with the AirPlay 2 tunnel. */
import type { ProtocolDescriptor } from '../descriptor';
import { AIRPLAY_SERVICE } from './service';

export const AIRPLAY_PROTOCOL: ProtocolDescriptor = {
  protocol: 'airplay',
  label: 'AirPlay',
  devices: 'Apple TV (tvOS 15 and later through the AirPlay tunnel), HomePod',
  services: [AIRPLAY_SERVICE],
  manualPort: { usual: 7000, hint: 'e.g. 7000' },
  credentials: null,
  pairing: null,
  capabilities: [],
};
