/**
 * How RAOP (AirTunes audio) is found: `_raop._tcp`, instance `id@name` (some third-party
 * receivers announce just "name" and carry TXT `pk`). Its access control follows the AirPlay
 * service of the same host. The library does not stream audio yet; discovery still reads it
 * for the device's identity, model and OS.
 */
import type { PairingRequirement, ServiceTypeSpec } from '../../device/interfaces';
import { txtValue } from '../../mdns/txt';
import { airplayPairing } from '../airplay/service';

const nonEmpty = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
const raopSplit = (instance: string): [string | null, string] => {
  const at = instance.indexOf('@');
  return at < 0 ? [null, instance] : [instance.slice(0, at), instance.slice(at + 1)];
};

export const RAOP_SERVICE: ServiceTypeSpec = {
  type: '_raop._tcp',
  protocol: 'raop',
  description: 'RAOP / AirTunes audio streaming',
  uniqueIdSource: 'instance "id@name": the id; else TXT pk',
  txtKeys: ['am', 'ov', 'pw', 'sf', 'flags', 'ft', 'et', 'cn', 'sr', 'ss', 'ch', 'md', 'vs', 'vn', 'tp', 'da', 'pk'],
  uniqueId: (instance, txt) => raopSplit(instance)[0] || nonEmpty(txtValue(txt, 'pk')),
  deviceName: (instance) => raopSplit(instance)[1],
  sharedName: (instance) => raopSplit(instance)[1],
  pairing(txt, context): PairingRequirement {
    const ap = context.airplayTxt;
    if (ap && txtValue(ap, 'acl') === '1') return 'disabled';
    if (ap && txtValue(ap, 'act') === '2') return 'unsupported';
    return airplayPairing(txt, txtValue(txt, 'model') ?? txtValue(txt, 'am'));
  },
};
