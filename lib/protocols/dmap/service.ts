/**
 * How DMAP/DACP is found: an Apple TV 2/3 announces `_touch-able._tcp` (remote control) and,
 * with Home Sharing, `_appletv-v2._tcp`; the Music app and iTunes announce `_hscp._tcp`. A
 * Home Sharing GUID in TXT `hG` logs in as credentials, so pairing is then optional (pyatv's
 * DMAP `service_info`).
 */
import type { PairingRequirement, ServiceTypeSpec, Txt } from '../../device/interfaces';
import { txtValue } from '../../mdns/txt';

const nonEmpty = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
const firstPart = (instance: string): string => instance.split('_', 1)[0]!;
const homeSharingPairing = (txt: Txt): PairingRequirement => (txtValue(txt, 'hG') ? 'optional' : 'mandatory');

export const DMAP_SERVICES: readonly ServiceTypeSpec[] = [
  {
    type: '_touch-able._tcp',
    protocol: 'dmap',
    description: 'DMAP/DACP remote control (Apple TV 2/3)',
    uniqueIdSource: 'instance name up to the first "_"',
    txtKeys: ['CtlN'],
    uniqueId: (instance) => nonEmpty(firstPart(instance)),
    deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'CtlN')),
    sharedName: () => null,
    pairing: homeSharingPairing,
  },
  {
    type: '_appletv-v2._tcp',
    protocol: 'dmap',
    description: 'DMAP with Home Sharing (Apple TV 2/3)',
    uniqueIdSource: 'instance name up to the first "_"',
    txtKeys: ['Name', 'hG'],
    uniqueId: (instance) => nonEmpty(firstPart(instance)),
    deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'Name')),
    sharedName: () => null,
    pairing: homeSharingPairing,
    credentials: (txt) => nonEmpty(txtValue(txt, 'hG')),
  },
  {
    type: '_hscp._tcp',
    protocol: 'dmap',
    description: 'DMAP of the Music app / iTunes (Home Sharing)',
    uniqueIdSource: 'TXT Machine ID',
    txtKeys: ['Machine ID', 'Machine Name', 'hG'],
    uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'Machine ID')),
    deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'Machine Name')),
    sharedName: () => null,
    pairing: homeSharingPairing,
    credentials: (txt) => nonEmpty(txtValue(txt, 'hG')),
  },
];
