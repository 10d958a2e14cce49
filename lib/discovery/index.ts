/** Public API of discovery: scanning, continuous browsing, advertising, TXT → device facts. */
export * from '../mdns/types';
export {
  SERVICE_TYPES,
  SERVICE_TYPE_NAMES,
  pairingRequirement,
  serviceTypeSpec,
  serviceTypesFor,
  uniqueIdOf,
  devicesFromRecords,
  deviceMatches,
} from './services';
export { txtValue, decodeTxt, encodeTxt } from '../mdns/txt';
export { scan, browseServices, scanTypes, DEFAULT_SCAN_TIMEOUT, type ScanOptions } from './scan';
export {
  DeviceBrowser,
  DEFAULT_QUERY_INTERVAL,
  type DeviceBrowserOptions,
  type DeviceBrowserEvents,
  type DeviceBrowserEmitter,
} from './browser';
export { ServiceAdvertiser, DEFAULT_ADVERTISED_TTL } from '../mdns/advertiser';
export { KNOCK_PORTS } from '../mdns/transport';
