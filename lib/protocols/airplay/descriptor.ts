/**
 * AirPlay in the protocol table: HAP credentials (pyatv's four hex fields, the same format
 * as MRP's), pairing where the Apple TV shows a PIN, and sessions that carry MRP through the
 * AirPlay 2 tunnel (tvOS 15 and later, HomePods).
 */
import { InvalidArgumentError } from '../../errors';
import { parseHapCredentials } from '../../hap/credentials';
import { HAP_CREDENTIALS_FORMAT, type ProtocolDescriptor } from '../descriptor';
import { AirPlayPairing } from './pairing';
import { AIRPLAY_SERVICE } from './service';
import { createAirPlaySession } from './session';

export const AIRPLAY_PROTOCOL: ProtocolDescriptor = {
  protocol: 'airplay',
  label: 'AirPlay',
  devices: 'Apple TV on tvOS 15 or later, HomePod',
  services: [AIRPLAY_SERVICE],
  manualPort: { usual: 7000, hint: 'e.g. 7000' },
  credentials: {
    // HAP credentials; legacy AirPlay ones are accepted too (they are refused later, with a
    // reason, only where an AirPlay 2 session needs HAP).
    check: (text) => void parseHapCredentials(text),
    format: HAP_CREDENTIALS_FORMAT,
  },
  pairing: 'device-shows-pin',
  createSession: (context) => createAirPlaySession(context),
  createPairing: (options) => {
    if (!options.config) throw new InvalidArgumentError('pairing over AirPlay needs the device (its address and port)');
    return new AirPlayPairing({
      config: options.config,
      ...(options.name !== undefined && { name: options.name }),
      ...(options.pin !== undefined && { pin: options.pin }),
      ...(options.timeout !== undefined && { timeout: options.timeout }),
      ...(options.logger !== undefined && { logger: options.logger }),
    });
  },
  capabilities: ['remoteControl', 'metadata', 'audio', 'power', 'stream'],
};
