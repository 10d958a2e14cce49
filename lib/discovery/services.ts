/**
 * Turns DNS-SD records into devices: which service type means which protocol (each
 * protocol's own service specs, from the protocol table, plus the info-only services), the
 * unique ids and names they yield, pairing requirements, and `devicesFromRecords`, which makes
 * one `DeviceConfig` per IPv4 address. Pure functions, no I/O.
 */
import type { DeviceConfig, DeviceInfo, PairingContext, PairingRequirement, Protocol, ServiceInfo, ServiceTypeSpec } from '../device/interfaces';
import { lookupModel, lookupOsVersion, MAC_MODEL, MUSIC_APP_MODEL, OPERATING_SYSTEMS } from '../device/models';
import { PROTOCOL_TABLE } from '../protocols/table';
import { isLinkLocalIPv4, normalizeSpaces, txtValue } from '../mdns/txt';
import type { ServiceRecord } from '../mdns/types';

/** Services that carry facts about a device but are no protocol's endpoint. */
const INFO_SERVICES: readonly ServiceTypeSpec[] = [
  {
    type: '_airport._tcp',
    protocol: null,
    description: 'AirPort base station info (MAC and firmware of AirPort Express)',
    uniqueIdSource: 'none',
    txtKeys: ['wama'],
    uniqueId: () => null,
    deviceName: () => null,
    sharedName: (instance) => instance,
  },
  {
    type: '_device-info._tcp',
    protocol: null,
    description: 'Device info (internal board name, e.g. J305AP)',
    uniqueIdSource: 'none',
    txtKeys: ['model'],
    uniqueId: () => null,
    deviceName: () => null,
    sharedName: (instance) => instance,
  },
  {
    type: '_sleep-proxy._udp',
    protocol: null,
    description: 'Bonjour sleep proxy (deep-sleep detection)',
    uniqueIdSource: 'none',
    txtKeys: [],
    uniqueId: () => null,
    deviceName: () => null,
    // Instances read "<proxy metrics> <device name>", e.g. "70-35-60-63.1 Living Room".
    sharedName: (instance) => {
      const space = instance.indexOf(' ');
      return space < 0 ? null : instance.slice(space + 1);
    },
  },
];

/**
 * Whose unique id and name win when a host announces several services: the AirPlay
 * `deviceid` is the MAC, the most stable id an Apple device announces; DMAP's come last.
 */
const ID_PRECEDENCE: readonly Protocol[] = ['airplay', 'mrp', 'companion', 'raop', 'dmap'];
const precedence = (p: Protocol): number => {
  const i = ID_PRECEDENCE.indexOf(p);
  return i < 0 ? ID_PRECEDENCE.length : i;
};

/** Every service type we browse, in the order their facts take precedence. */
export const SERVICE_TYPES: readonly ServiceTypeSpec[] = [
  ...[...PROTOCOL_TABLE].sort((a, b) => precedence(a.protocol) - precedence(b.protocol)).flatMap((d) => d.services),
  ...INFO_SERVICES,
];
export const SERVICE_TYPE_NAMES: readonly string[] = SERVICE_TYPES.map((s) => s.type);

const SPEC_BY_TYPE = new Map<string, ServiceTypeSpec>(SERVICE_TYPES.map((s) => [s.type.toLowerCase(), s]));

/** The spec of a service type (`_airplay._tcp`, case-insensitive, `.local` optional). */
export function serviceTypeSpec(type: string): ServiceTypeSpec | undefined {
  return SPEC_BY_TYPE.get(type.toLowerCase().replace(/\.local\.?$/, ''));
}

/** The service types that serve a protocol. */
export function serviceTypesFor(protocol: Protocol): string[] {
  return SERVICE_TYPES.filter((s) => s.protocol === protocol).map((s) => s.type);
}

/** The unique id a service announces (pyatv `get_unique_id`), or null. */
export function uniqueIdOf(record: Pick<ServiceRecord, 'type' | 'instance' | 'txt'>): string | null {
  return serviceTypeSpec(record.type)?.uniqueId(record.instance, record.txt) ?? null;
}

/** The pairing requirement of one service. */
export function pairingRequirement(record: Pick<ServiceRecord, 'type' | 'txt'>, context: PairingContext = {}): PairingRequirement {
  return serviceTypeSpec(record.type)?.pairing?.(record.txt, context) ?? 'unsupported';
}

/** One service as the device facade sees it. */
export function serviceInfoOf(record: ServiceRecord, context: PairingContext = {}): ServiceInfo | null {
  const spec = serviceTypeSpec(record.type);
  if (!spec || spec.protocol === null) return null;
  const disabledReason = spec.disabledReason?.(record.txt) ?? null;
  return {
    protocol: spec.protocol,
    port: record.port,
    serviceType: spec.type,
    instanceName: record.instance,
    identifier: spec.uniqueId(record.instance, record.txt),
    pairing: spec.pairing?.(record.txt, context) ?? 'unsupported',
    enabled: disabledReason === null,
    disabledReason,
    credentials: spec.credentials?.(record.txt) ?? null,
    properties: { ...record.txt },
  };
}

interface Located {
  record: ServiceRecord;
  spec: ServiceTypeSpec;
}

const emptyDeviceInfo = (): DeviceInfo => ({
  operatingSystem: null,
  model: null,
  rawModel: null,
  osVersion: null,
  buildNumber: null,
  mac: null,
});

function parseWama(wama: string): { mac: string | null; version: string | null } {
  // wama = "XX-XX-XX-XX-XX-XX,raMA=...,syVs=7.8.1,..." (the MAC comes first, without a key).
  const parts = `macaddress=${wama}`.split(',');
  const map = new Map<string, string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq > 0) map.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const mac = map.get('macaddress');
  return { mac: mac ? mac.replace(/-/g, ':').toUpperCase() : null, version: map.get('syVs') ?? null };
}

function deviceInfoOf(items: Located[]): DeviceInfo {
  const info = emptyDeviceInfo();
  const txtOf = (type: string): Readonly<Record<string, string>> | undefined =>
    items.find((i) => i.spec.type === type)?.record.txt;
  const airplay = txtOf('_airplay._tcp');
  const mrp = txtOf('_mediaremotetv._tcp');
  const companion = txtOf('_companion-link._tcp');
  const raop = txtOf('_raop._tcp');
  const airport = txtOf('_airport._tcp');
  const devInfo = txtOf('_device-info._tcp');
  const first = (...values: (string | null | undefined)[]): string | null => {
    for (const v of values) if (v) return v;
    return null;
  };
  const wama = airport ? parseWama(txtValue(airport, 'wama') ?? '') : { mac: null, version: null };
  const internalModel = devInfo ? txtValue(devInfo, 'model') : undefined;

  info.rawModel = first(
    airplay && txtValue(airplay, 'model'),
    companion && txtValue(companion, 'rpMd'),
    raop && txtValue(raop, 'am'),
    internalModel,
  );
  const model = lookupModel(info.rawModel) ?? lookupModel(internalModel);
  const hasType = (t: string): boolean => items.some((i) => i.spec.type === t);
  info.model = model && !MAC_MODEL.test(model.name) ? model.name : hasType('_hscp._tcp') ? MUSIC_APP_MODEL : null;
  info.operatingSystem =
    model?.operatingSystem ??
    (mrp ? OPERATING_SYSTEMS.tvOS : null) ??
    (hasType('_touch-able._tcp') || hasType('_appletv-v2._tcp') ? OPERATING_SYSTEMS.legacy : null);
  info.buildNumber = first(mrp && txtValue(mrp, 'SystemBuildVersion'));
  // An explicit version beats one derived from the build (which may be just "17.x").
  info.osVersion = first(
    airplay && txtValue(airplay, 'osvers'),
    raop && txtValue(raop, 'ov'),
    wama.version,
    lookupOsVersion(info.buildNumber),
  );
  info.mac = first(mrp && txtValue(mrp, 'macAddress'), airplay && txtValue(airplay, 'deviceid'), wama.mac);
  return info;
}

const ORDER = new Map<string, number>(SERVICE_TYPES.map((s, i) => [s.type, i]));
// The order the device's services are listed in (the facade takes the first usable one per
// protocol): `_touch-able` is the DMAP remote-control endpoint proper.
const SERVICE_LIST_ORDER: readonly string[] = [
  '_mediaremotetv._tcp',
  '_airplay._tcp',
  '_companion-link._tcp',
  '_raop._tcp',
  '_touch-able._tcp',
  '_appletv-v2._tcp',
  '_hscp._tcp',
];

/**
 * Groups service records into devices, one per IPv4 address (pyatv: core/scan.py). Protocol services
 * without an SRV record (bare PTRs from a sleep proxy) are skipped; TXT-only info services
 * (`_device-info`) join the device whose services share their instance name, else the
 * device at their address. A host whose every protocol service has port 0, or that a sleep
 * proxy answered for, is flagged `deepSleep` (and keeps its port-0 services); elsewhere
 * port-0 services are dropped. Link-local addresses are ignored.
 */
export function devicesFromRecords(records: readonly ServiceRecord[]): DeviceConfig[] {
  const protocolItems: { item: Located; address: string }[] = [];
  const infoItems: Located[] = [];
  for (const record of records) {
    const spec = serviceTypeSpec(record.type);
    if (!spec) continue;
    if (spec.protocol === null) {
      infoItems.push({ record, spec });
      continue;
    }
    if (record.host === null && Object.keys(record.txt).length === 0) continue;
    const address = record.addresses.find((a) => !isLinkLocalIPv4(a));
    if (address === undefined) continue;
    protocolItems.push({ item: { record, spec }, address });
  }

  const byAddress = new Map<string, Located[]>();
  const addressBySharedName = new Map<string, string>();
  for (const { item, address } of protocolItems) {
    let list = byAddress.get(address);
    if (!list) byAddress.set(address, (list = []));
    list.push(item);
    const shared = item.spec.sharedName(item.record.instance);
    if (shared) addressBySharedName.set(shared.toLowerCase(), address);
  }
  const infoByAddress = new Map<string, Located[]>();
  for (const item of infoItems) {
    const shared = item.spec.sharedName(item.record.instance);
    const address =
      (shared ? addressBySharedName.get(shared.toLowerCase()) : undefined) ?? item.record.addresses.find((a) => !isLinkLocalIPv4(a));
    if (address === undefined) continue;
    let list = infoByAddress.get(address);
    if (!list) infoByAddress.set(address, (list = []));
    list.push(item);
  }

  const devices: DeviceConfig[] = [];
  for (const [address, found] of byAddress) {
    // One entry per service instance; a later record for the same instance replaces an
    // earlier one (the caller passes records in arrival order).
    const unique = new Map<string, Located>();
    for (const item of found) unique.set(`${item.spec.type}|${item.record.instance.toLowerCase()}`, item);
    let items = [...unique.values()];
    const deepSleep = items.every((i) => i.record.port === 0) || items.some((i) => i.record.sleepProxy === true);
    if (!deepSleep) items = items.filter((i) => i.record.port !== 0);
    if (items.length === 0) continue;
    items.sort(
      (a, b) =>
        SERVICE_LIST_ORDER.indexOf(a.spec.type) - SERVICE_LIST_ORDER.indexOf(b.spec.type) ||
        a.record.instance.localeCompare(b.record.instance),
    );
    const all = [...items, ...(infoByAddress.get(address) ?? [])];
    const airplayTxt = items.find((i) => i.spec.type === '_airplay._tcp')?.record.txt;
    const services = items
      .map((i) => serviceInfoOf(i.record, airplayTxt ? { airplayTxt } : {}))
      .filter((s): s is ServiceInfo => s !== null);
    // Services of one protocol on one host lead to one server: an Apple TV 2/3 announces
    // `_touch-able` and `_appletv-v2` for one DMAP server, and Home Sharing credentials from
    // the latter log in to either (pyatv merges the two).
    for (const s of services) {
      if (s.credentials) continue;
      const sibling = services.find((o) => o.protocol === s.protocol && o.credentials);
      if (!sibling) continue;
      s.credentials = sibling.credentials;
      s.pairing = 'optional';
    }

    const identifiers: string[] = [];
    for (const item of [...items].sort((a, b) => ORDER.get(a.spec.type)! - ORDER.get(b.spec.type)!)) {
      const id = item.spec.uniqueId(item.record.instance, item.record.txt);
      if (id && !identifiers.includes(id)) identifiers.push(id);
    }
    let name: string | null = null;
    for (const item of [...items].sort((a, b) => ORDER.get(a.spec.type)! - ORDER.get(b.spec.type)!)) {
      name = item.spec.deviceName(item.record.instance, item.record.txt);
      if (name) break;
    }
    devices.push({
      name: normalizeSpaces(name ?? items[0]!.record.instance ?? address),
      address,
      identifier: identifiers[0] ?? null,
      identifiers,
      deviceInfo: deviceInfoOf(all),
      services,
      deepSleep,
    });
  }
  devices.sort((a, b) => compareAddresses(a.address, b.address));
  return devices;
}

function compareAddresses(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return a.localeCompare(b);
}

/** True when the device answers to this identifier (any of its services' unique ids). */
export function deviceMatches(device: DeviceConfig, identifier: string): boolean {
  const wanted = identifier.toLowerCase();
  return device.identifiers.some((id) => id.toLowerCase() === wanted);
}
