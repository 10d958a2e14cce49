/** DMAP/DACP in the protocol table. */
import type { ProtocolDescriptor } from '../descriptor';
import { dacpLoginParameter } from './client';
import { DmapPairing } from './pairing';
import { DMAP_SERVICES } from './service';
import { createDmapSession } from './session';

export const DMAP_PROTOCOL: ProtocolDescriptor = {
  protocol: 'dmap',
  label: 'DMAP',
  devices: 'Apple TV 2/3, iTunes / Music, OwnTone',
  services: DMAP_SERVICES,
  manualPort: { usual: 3689, hint: 'e.g. 3689' },
  credentials: { check: (text) => void dacpLoginParameter(text), format: '0x and 16 hex digits' },
  pairing: 'we-show-pin',
  createSession: createDmapSession,
  createPairing: (options) =>
    new DmapPairing({
      ...(options.name !== undefined && { name: options.name }),
      ...(options.pin !== undefined && { pin: options.pin }),
      ...(options.interface !== undefined && { interface: options.interface }),
      ...(options.timeout !== undefined && { timeout: options.timeout }),
      ...(options.advertiser !== undefined && { advertiser: options.advertiser }),
      ...(options.onWrongPin !== undefined && { onWrongPin: options.onWrongPin }),
      ...(options.logger !== undefined && { logger: options.logger }),
    }),
  capabilities: ['remoteControl', 'metadata', 'audio'],
};
