/**
 * How Companion is found: `_companion-link._tcp`; TXT `rpMRtID` is its stable id (static on
 * tvOS 16+, the other rp* ids rotate) and `rpFl` says whether PIN pairing is possible
 * (pyatv's Companion `service_info`).
 */
import type { PairingRequirement, ServiceTypeSpec } from '../../device/interfaces';
import { parseHex, txtValue } from '../../mdns/txt';

const nonEmpty = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

/** Companion `rpFl` bits. */
export const COMPANION_FLAGS = {
  pairingDisabled: 0x04,
  pinPairingSupported: 0x4000,
} as const;

export const COMPANION_SERVICE: ServiceTypeSpec = {
  type: '_companion-link._tcp',
  protocol: 'companion',
  description: 'Companion Link (apps, power, keyboard)',
  uniqueIdSource: 'TXT rpMRtID',
  txtKeys: ['rpMd', 'rpFl', 'rpMRtID', 'rpHA', 'rpHN', 'rpVr', 'rpAD', 'rpHI', 'rpBA', 'rpMac'],
  uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'rpMRtID')),
  deviceName: (instance) => instance,
  sharedName: (instance) => instance,
  pairing(txt): PairingRequirement {
    const flags = parseHex(txtValue(txt, 'rpFl'));
    if (flags & COMPANION_FLAGS.pairingDisabled) return 'disabled';
    if (flags & COMPANION_FLAGS.pinPairingSupported) return 'mandatory';
    return 'unsupported';
  },
};
