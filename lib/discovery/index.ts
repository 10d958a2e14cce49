/** Public API of discovery: scanning, continuous browsing, advertising, TXT → device facts. */
export * from './types';
export {
  SERVICE_TYPES,
  SERVICE_TYPE_NAMES,
  MODELS,
  INTERNAL_MODEL_NAMES,
  TVOS_BUILDS,
  OPERATING_SYSTEMS,
  MUSIC_APP_MODEL,
  AIRPLAY_STATUS_FLAGS,
  COMPANION_FLAGS,
  airplayFeatures,
  requiresPassword,
  txtValue,
  lookupModel,
  lookupOsVersion,
  pairingRequirement,
  mrpDisabledReason,
  serviceTypeSpec,
  serviceTypesFor,
  uniqueIdOf,
  devicesFromRecords,
  deviceMatches,
  type DiscoveryServiceType,
  type ServiceTypeSpec,
  type ModelInfo,
} from './services';
export { scan, browseServices, scanTypes, DEFAULT_SCAN_TIMEOUT, type ScanOptions } from './scan';
export {
  DeviceBrowser,
  DEFAULT_QUERY_INTERVAL,
  type DeviceBrowserOptions,
  type DeviceBrowserEvents,
  type DeviceBrowserEmitter,
} from './browser';
export { ServiceAdvertiser, DEFAULT_ADVERTISED_TTL } from './advertiser';
export { KNOCK_PORTS } from './transport';
