/**
 * How MRP is found: the `_mediaremotetv._tcp` service of an Apple TV 4/4K, its TXT record,
 * and pyatv's rules for it (`protocols/mrp/__init__.py`, `mrp_service_handler`): pairing is
 * optional when the TXT says `AllowPairing=YES`; from tvOS 15 (build 19A…) the service is
 * stale and unusable, MRP then travels through the AirPlay tunnel.
 */
import type { PairingRequirement, ServiceTypeSpec, Txt } from '../../device/interfaces';
import { buildMajor } from '../../device/models';
import { txtValue } from '../../mdns/txt';

/** Build prefix from which direct MRP is gone (19 = tvOS 15). */
export const MRP_LAST_BUILD_MAJOR = 18;

const nonEmpty = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

/** Why a direct MRP service is unusable, or null when it is usable. */
export function mrpDisabledReason(txt: Txt): string | null {
  const major = buildMajor(txtValue(txt, 'SystemBuildVersion'));
  if (major === null || major <= MRP_LAST_BUILD_MAJOR) return null;
  return 'tvOS 15 and later no longer accept direct MRP connections: pair AirPlay to control this Apple TV through the AirPlay tunnel';
}

export const MRP_SERVICE: ServiceTypeSpec = {
  type: '_mediaremotetv._tcp',
  protocol: 'mrp',
  description: 'Media Remote Protocol (Apple TV 4/4K, tvOS 14 and earlier)',
  uniqueIdSource: 'TXT UniqueIdentifier',
  txtKeys: ['Name', 'UniqueIdentifier', 'SystemBuildVersion', 'macAddress', 'AllowPairing', 'ModelName'],
  uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'UniqueIdentifier')),
  deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'Name')),
  sharedName: (instance) => instance,
  pairing(txt): PairingRequirement {
    if (mrpDisabledReason(txt) !== null) return 'not-needed';
    return txtValue(txt, 'AllowPairing')?.toLowerCase() === 'yes' ? 'optional' : 'disabled';
  },
  disabledReason: mrpDisabledReason,
};
