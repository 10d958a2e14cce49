/**
 * THE DNS-SD service-type table and everything derived from TXT records: which service means
 * which protocol, how each yields its unique id and device name, the model and OS-version
 * tables, the pairing-requirement rules, and `devicesFromRecords`, which turns raw
 * `ServiceRecord`s into `DeviceConfig`s (one per IPv4 address). Pure functions, no I/O.
 * Facts from protocols.md §1.1 and §2.
 */
import type { DeviceConfig, DeviceInfo, PairingRequirement, Protocol, ServiceInfo } from '../device/interfaces';
import type { ServiceRecord } from './types';

// ---------------------------------------------------------------------------------------
// TXT access

/**
 * A TXT value by key, matched case-insensitively: devices are inconsistent about key case
 * (`deviceid` vs `deviceId`, `rpMRtID` vs `rpmrtid`) and pyatv matches them all.
 */
export function txtValue(txt: Readonly<Record<string, string>>, key: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(txt, key)) return txt[key];
  const wanted = key.toLowerCase();
  for (const k of Object.keys(txt)) if (k.toLowerCase() === wanted) return txt[k];
  return undefined;
}

/** Replaces non-breaking spaces (U+00A0, which Apple puts in default device names) by spaces. */
export function normalizeSpaces(text: string): string {
  return text.replace(/\u00a0/g, ' ');
}

const MAX_TXT_ENTRIES = 256;

/**
 * Decodes the strings of a TXT record into key/values. The byte pairs `C2 A0` (UTF-8 NBSP)
 * and `00 A0` (seen in the wild from UTF-16-minded firmware) become a space before decoding.
 * Keys without `=` are boolean attributes (value ''). The first occurrence of a key wins
 * (RFC 6763 §6.4), compared case-insensitively.
 */
export function decodeTxt(strings: readonly Buffer[]): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const raw of strings) {
    if (seen.size >= MAX_TXT_ENTRIES) break;
    if (!Buffer.isBuffer(raw) || raw.length === 0) continue;
    const eq = raw.indexOf(0x3d);
    const key = (eq < 0 ? raw : raw.subarray(0, eq)).toString('utf8');
    if (key.length === 0 || seen.has(key.toLowerCase())) continue;
    seen.add(key.toLowerCase());
    out[key] = eq < 0 ? '' : decodeTxtValue(raw.subarray(eq + 1));
  }
  return out;
}

/** One TXT value: NBSP byte pairs → space, then UTF-8. */
export function decodeTxtValue(bytes: Buffer): string {
  const cleaned = Buffer.alloc(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b === 0xc2 || b === 0x00) && bytes[i + 1] === 0xa0) {
      cleaned[n++] = 0x20;
      i++;
    } else {
      cleaned[n++] = b;
    }
  }
  return cleaned.subarray(0, n).toString('utf8');
}

/** Encodes key/values as TXT strings (for the advertiser). */
export function encodeTxt(txt: Readonly<Record<string, string>>): Buffer[] {
  const out = Object.entries(txt).map(([k, v]) => Buffer.from(`${k}=${v}`, 'utf8'));
  // An empty TXT record still needs one (empty) string (RFC 6763 §6.1).
  return out.length > 0 ? out : [Buffer.alloc(0)];
}

/** A hex number as devices write flags (`0x44`, `44`, `0X4`); unparseable → 0. */
export function parseHex(value: string | undefined): number {
  if (value === undefined) return 0;
  const m = /^\s*(?:0x)?([0-9a-f]{1,8})\s*$/i.exec(value);
  return m ? parseInt(m[1]!, 16) : 0;
}

// ---------------------------------------------------------------------------------------
// The service-type table

/** Every service type we browse, in the order their facts take precedence. */
export const SERVICE_TYPE_NAMES = [
  '_airplay._tcp',
  '_mediaremotetv._tcp',
  '_companion-link._tcp',
  '_raop._tcp',
  '_touch-able._tcp',
  '_appletv-v2._tcp',
  '_hscp._tcp',
  '_airport._tcp',
  '_device-info._tcp',
  '_sleep-proxy._udp',
] as const;
export type DiscoveryServiceType = (typeof SERVICE_TYPE_NAMES)[number];

export interface ServiceTypeSpec {
  type: DiscoveryServiceType;
  /** The protocol this service is an endpoint of; null for info-only services. */
  protocol: Protocol | null;
  /** What the service is, for humans. */
  description: string;
  /** How the unique id is derived (documentation of `uniqueId`). */
  uniqueIdSource: string;
  /** The service's unique id (helpers.get_unique_id in pyatv), or null. */
  uniqueId(instance: string, txt: Readonly<Record<string, string>>): string | null;
  /** The device name this service announces, or null. */
  deviceName(instance: string, txt: Readonly<Record<string, string>>): string | null;
  /**
   * The name shared with `_device-info`/`_sleep-proxy` instances of the same device (used
   * to place TXT-only records whose responder address is not the device's own).
   */
  sharedName(instance: string): string | null;
  /** TXT keys we read (case-insensitive). */
  txtKeys: readonly string[];
}

const raopSplit = (instance: string): [string | null, string] => {
  const at = instance.indexOf('@');
  return at < 0 ? [null, instance] : [instance.slice(0, at), instance.slice(at + 1)];
};
const firstPart = (instance: string, sep: string): string => instance.split(sep, 1)[0]!;
const nonEmpty = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
const sameName = (instance: string): string => instance;

export const SERVICE_TYPES: readonly ServiceTypeSpec[] = [
  {
    type: '_airplay._tcp',
    protocol: 'airplay',
    description: 'AirPlay (video, play_url, and the MRP tunnel on tvOS 15+)',
    uniqueIdSource: 'TXT deviceid (the MAC address)',
    uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'deviceid')),
    deviceName: (instance) => instance,
    sharedName: sameName,
    txtKeys: ['model', 'osvers', 'deviceid', 'psi', 'pi', 'features', 'ft', 'flags', 'sf', 'pw', 'acl', 'act'],
  },
  {
    type: '_mediaremotetv._tcp',
    protocol: 'mrp',
    description: 'Media Remote Protocol (Apple TV 4/4K, tvOS 14 and earlier)',
    uniqueIdSource: 'TXT UniqueIdentifier',
    uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'UniqueIdentifier')),
    deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'Name')),
    sharedName: sameName,
    txtKeys: ['Name', 'UniqueIdentifier', 'SystemBuildVersion', 'macAddress', 'AllowPairing', 'ModelName'],
  },
  {
    type: '_companion-link._tcp',
    protocol: 'companion',
    description: 'Companion Link (apps, power, keyboard)',
    // rpMRtID is static on tvOS 16+; the other rp* ids rotate.
    uniqueIdSource: 'TXT rpMRtID',
    uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'rpMRtID')),
    deviceName: (instance) => instance,
    sharedName: sameName,
    txtKeys: ['rpMd', 'rpFl', 'rpMRtID', 'rpHA', 'rpHN', 'rpVr', 'rpAD', 'rpHI', 'rpBA', 'rpMac'],
  },
  {
    type: '_raop._tcp',
    protocol: 'raop',
    description: 'RAOP / AirTunes audio streaming',
    // Some third-party receivers announce just "name" without "id@"; they carry `pk`.
    uniqueIdSource: 'instance "id@name": the id; else TXT pk',
    uniqueId: (instance, txt) => raopSplit(instance)[0] || nonEmpty(txtValue(txt, 'pk')),
    deviceName: (instance) => raopSplit(instance)[1],
    sharedName: (instance) => raopSplit(instance)[1],
    txtKeys: ['am', 'ov', 'pw', 'sf', 'flags', 'ft', 'et', 'cn', 'sr', 'ss', 'ch', 'md', 'vs', 'vn', 'tp', 'da', 'pk'],
  },
  {
    type: '_touch-able._tcp',
    protocol: 'dmap',
    description: 'DMAP/DACP remote control (Apple TV 2/3)',
    uniqueIdSource: 'instance name up to the first "_"',
    uniqueId: (instance) => nonEmpty(firstPart(instance, '_')),
    deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'CtlN')),
    sharedName: () => null,
    txtKeys: ['CtlN'],
  },
  {
    type: '_appletv-v2._tcp',
    protocol: 'dmap',
    description: 'DMAP with Home Sharing (Apple TV 2/3)',
    uniqueIdSource: 'instance name up to the first "_"',
    uniqueId: (instance) => nonEmpty(firstPart(instance, '_')),
    deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'Name')),
    sharedName: () => null,
    txtKeys: ['Name', 'hG'],
  },
  {
    type: '_hscp._tcp',
    protocol: 'dmap',
    description: 'DMAP of the Music app / iTunes (Home Sharing)',
    uniqueIdSource: 'TXT Machine ID',
    uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'Machine ID')),
    deviceName: (_i, txt) => nonEmpty(txtValue(txt, 'Machine Name')),
    sharedName: () => null,
    txtKeys: ['Machine ID', 'Machine Name', 'hG'],
  },
  {
    type: '_airport._tcp',
    protocol: null,
    description: 'AirPort base station info (MAC and firmware of AirPort Express)',
    uniqueIdSource: 'none',
    uniqueId: () => null,
    deviceName: () => null,
    sharedName: sameName,
    txtKeys: ['wama'],
  },
  {
    type: '_device-info._tcp',
    protocol: null,
    description: 'Device info (internal board name, e.g. J305AP)',
    uniqueIdSource: 'none',
    uniqueId: () => null,
    deviceName: () => null,
    sharedName: sameName,
    txtKeys: ['model'],
  },
  {
    type: '_sleep-proxy._udp',
    protocol: null,
    description: 'Bonjour sleep proxy (deep-sleep detection)',
    uniqueIdSource: 'none',
    uniqueId: () => null,
    deviceName: () => null,
    // Instances read "<proxy metrics> <device name>", e.g. "70-35-60-63.1 Living Room".
    sharedName: (instance) => {
      const space = instance.indexOf(' ');
      return space < 0 ? null : instance.slice(space + 1);
    },
    txtKeys: [],
  },
];

const SPEC_BY_TYPE = new Map<string, ServiceTypeSpec>(SERVICE_TYPES.map((s) => [s.type.toLowerCase(), s]));

/** The table entry of a service type (`_airplay._tcp`, case-insensitive, `.local` optional). */
export function serviceTypeSpec(type: string): ServiceTypeSpec | undefined {
  return SPEC_BY_TYPE.get(type.toLowerCase().replace(/\.local\.?$/, ''));
}

/** The service types that serve a protocol. */
export function serviceTypesFor(protocol: Protocol): DiscoveryServiceType[] {
  return SERVICE_TYPES.filter((s) => s.protocol === protocol).map((s) => s.type);
}

/** The unique id a service announces (pyatv `get_unique_id`), or null. */
export function uniqueIdOf(record: Pick<ServiceRecord, 'type' | 'instance' | 'txt'>): string | null {
  return serviceTypeSpec(record.type)?.uniqueId(record.instance, record.txt) ?? null;
}

// ---------------------------------------------------------------------------------------
// Models and OS versions

export const OPERATING_SYSTEMS = {
  tvOS: 'tvOS',
  macOS: 'macOS',
  airPortOS: 'AirPort OS',
  /** Apple TV 1-3 ("Apple TV Software"). */
  legacy: 'Apple TV Software',
} as const;

export interface ModelInfo {
  /** Marketing name. */
  name: string;
  operatingSystem: string;
}

const ATV_LEGACY = OPERATING_SYSTEMS.legacy;
const TVOS = OPERATING_SYSTEMS.tvOS;

/** Raw model identifier → marketing name and OS (support/device_info.py). */
export const MODELS: Readonly<Record<string, ModelInfo>> = {
  'AppleTV1,1': { name: 'Apple TV (gen 1)', operatingSystem: ATV_LEGACY },
  'AppleTV2,1': { name: 'Apple TV (gen 2)', operatingSystem: ATV_LEGACY },
  'AppleTV3,1': { name: 'Apple TV (gen 3)', operatingSystem: ATV_LEGACY },
  'AppleTV3,2': { name: 'Apple TV (gen 3)', operatingSystem: ATV_LEGACY },
  'AppleTV5,3': { name: 'Apple TV HD', operatingSystem: TVOS },
  'AppleTV6,2': { name: 'Apple TV 4K', operatingSystem: TVOS },
  'AppleTV11,1': { name: 'Apple TV 4K (gen 2)', operatingSystem: TVOS },
  'AppleTV14,1': { name: 'Apple TV 4K (gen 3)', operatingSystem: TVOS },
  // HomePods run a tvOS derivative and report tvOS build numbers.
  'AudioAccessory1,1': { name: 'HomePod', operatingSystem: TVOS },
  'AudioAccessory1,2': { name: 'HomePod', operatingSystem: TVOS },
  'AudioAccessory5,1': { name: 'HomePod mini', operatingSystem: TVOS },
  'AudioAccessorySingle5,1': { name: 'HomePod mini', operatingSystem: TVOS },
  'AudioAccessory6,1': { name: 'HomePod (gen 2)', operatingSystem: TVOS },
  'AirPort4,107': { name: 'AirPort Express', operatingSystem: OPERATING_SYSTEMS.airPortOS },
  'AirPort10,115': { name: 'AirPort Express (gen 2)', operatingSystem: OPERATING_SYSTEMS.airPortOS },
};

/** Internal board names (`_device-info._tcp` TXT `model`) → raw model identifier. */
export const INTERNAL_MODEL_NAMES: Readonly<Record<string, string>> = {
  K66AP: 'AppleTV2,1',
  J33AP: 'AppleTV3,1',
  J33IAP: 'AppleTV3,2',
  J42dAP: 'AppleTV5,3',
  J105aAP: 'AppleTV6,2',
  J305AP: 'AppleTV11,1',
  J255AP: 'AppleTV14,1',
};

/** The model the Music app / iTunes (`_hscp._tcp`) is reported as. */
export const MUSIC_APP_MODEL = 'Music';

const MAC_MODEL = /^(?:MacBookAir|iMac|Macmini|MacBookPro|Mac|MacPro)\d+,\d+/;

/** Marketing name and OS of a raw model (`AppleTV11,1`) or internal board name (`J305AP`). */
export function lookupModel(model: string | null | undefined): ModelInfo | null {
  if (!model) return null;
  const known = MODELS[model] ?? MODELS[INTERNAL_MODEL_NAMES[model] ?? ''];
  if (known) return known;
  if (MAC_MODEL.test(model)) return { name: model, operatingSystem: OPERATING_SYSTEMS.macOS };
  return null;
}

/** tvOS build → version (support/device_info.py); other builds fall back to `N.x`. */
export const TVOS_BUILDS: Readonly<Record<string, string>> = {
  '17J586': '13.0',
  '17K82': '13.2',
  '17K449': '13.3',
  '17K795': '13.3.1',
  '17L256': '13.4',
  '17L562': '13.4.5',
  '17L570': '13.4.6',
  '17M61': '13.4.8',
  '18J386': '14.0',
  '18J400': '14.0.1',
  '18J411': '14.0.2',
  '18K57': '14.2',
  '18K561': '14.3',
  '18K802': '14.4',
  '18L204': '14.5',
  '18L569': '14.6',
  '18M60': '14.7',
  '19J346': '15.0',
  '19J572': '15.1',
  '19J581': '15.1.1',
  '19K53': '15.2',
  '19K547': '15.3',
  '19L440': '15.4',
  '19L452': '15.4.1',
  '19L570': '15.5',
  '19L580': '15.5.1',
  '19M65': '15.6',
  '20J373': '16.0',
  '20K71': '16.1',
  '20K80': '16.1.1',
  '20K362': '16.2',
  '20K650': '16.3',
  '20K661': '16.3.1',
  '20K672': '16.3.2',
  '20K680': '16.3.3',
  '20L497': '16.4',
  '20L498': '16.4.1',
  '20L563': '16.5',
  '20M73': '16.6',
  // pyatv lists this one as 22J354, but tvOS 17 builds are 21x (22x is tvOS 18).
  '21J354': '17.0',
  '21K69': '17.1',
  '21K365': '17.2',
  '21K646': '17.3',
  '21L227': '17.4',
  '21L569': '17.5',
  '21L580': '17.5.1',
  '21M71': '17.6',
  '21M80': '17.6.1',
  '22J357': '18.0',
  '22J580': '18.1',
};

/** The numeric prefix of a build (`19J346` → 19), or null. */
export function buildMajor(build: string | null | undefined): number | null {
  const m = build ? /^(\d+)[A-Z]/.exec(build) : null;
  return m ? Number(m[1]) : null;
}

/** OS version of a tvOS build: the table, else "prefix − 4" as `N.x` (17 → 13.x). */
export function lookupOsVersion(build: string | null | undefined): string | null {
  if (!build) return null;
  const known = TVOS_BUILDS[build];
  if (known) return known;
  const major = buildMajor(build);
  return major === null ? null : `${major - 4}.x`;
}

/** Build prefix from which direct MRP is gone (19 = tvOS 15). */
export const MRP_LAST_BUILD_MAJOR = 18;

// ---------------------------------------------------------------------------------------
// AirPlay TXT facts shared with the AirPlay protocol code

/** AirPlay status-flag bits (`sf` / `flags`). */
export const AIRPLAY_STATUS_FLAGS = {
  pinRequired: 0x8,
  passwordRequired: 0x80,
  legacyPairing: 0x200,
} as const;

/** Companion `rpFl` bits. */
export const COMPANION_FLAGS = {
  pairingDisabled: 0x04,
  pinPairingSupported: 0x4000,
} as const;

function airplayStatusFlags(txt: Readonly<Record<string, string>>): number {
  return parseHex(txtValue(txt, 'sf') || txtValue(txt, 'flags'));
}

/** The 64-bit AirPlay feature set from TXT `features` (or `ft`): `0xLOW[,0xHIGH]`. */
export function airplayFeatures(txt: Readonly<Record<string, string>>): bigint | null {
  const raw = txtValue(txt, 'features') ?? txtValue(txt, 'ft');
  const m = raw ? /^\s*0x([0-9a-f]{1,8})(?:\s*,\s*0x([0-9a-f]{1,8}))?\s*$/i.exec(raw) : null;
  if (!m) return null;
  return (BigInt(`0x${m[2] ?? '0'}`) << 32n) | BigInt(`0x${m[1]!}`);
}

/** True when an AirPlay/RAOP service wants a password (`pw=true` or status flag 0x80). */
export function requiresPassword(txt: Readonly<Record<string, string>>): boolean {
  return txtValue(txt, 'pw')?.toLowerCase() === 'true' || (airplayStatusFlags(txt) & AIRPLAY_STATUS_FLAGS.passwordRequired) !== 0;
}

// ---------------------------------------------------------------------------------------
// Pairing requirements (`service_info` of each pyatv protocol)

function airplayPairing(txt: Readonly<Record<string, string>>, model: string | undefined): PairingRequirement {
  if (txtValue(txt, 'acl') === '1') return 'disabled';
  if (model !== undefined && /^Mac\d+,\d+$/.test(model)) return 'unsupported';
  if (airplayStatusFlags(txt) & (AIRPLAY_STATUS_FLAGS.legacyPairing | AIRPLAY_STATUS_FLAGS.pinRequired)) return 'mandatory';
  // act=2 is access control "current user", which a remote cannot satisfy.
  if (txtValue(txt, 'act') === '2') return 'unsupported';
  return 'not-needed';
}

export interface PairingContext {
  /** TXT of the AirPlay service on the same host (RAOP inherits its access control). */
  airplayTxt?: Readonly<Record<string, string>>;
}

/** The pairing requirement of one service (§2.1 end). */
export function pairingRequirement(
  record: Pick<ServiceRecord, 'type' | 'txt'>,
  context: PairingContext = {},
): PairingRequirement {
  const spec = serviceTypeSpec(record.type);
  const txt = record.txt;
  switch (spec?.type) {
    case '_airplay._tcp':
      return airplayPairing(txt, txtValue(txt, 'model'));
    case '_raop._tcp': {
      const ap = context.airplayTxt;
      if (ap && txtValue(ap, 'acl') === '1') return 'disabled';
      if (ap && txtValue(ap, 'act') === '2') return 'unsupported';
      return airplayPairing(txt, txtValue(txt, 'model') ?? txtValue(txt, 'am'));
    }
    case '_companion-link._tcp': {
      const flags = parseHex(txtValue(txt, 'rpFl'));
      if (flags & COMPANION_FLAGS.pairingDisabled) return 'disabled';
      if (flags & COMPANION_FLAGS.pinPairingSupported) return 'mandatory';
      return 'unsupported';
    }
    case '_mediaremotetv._tcp':
      if (mrpDisabledReason(txt) !== null) return 'not-needed';
      return txtValue(txt, 'AllowPairing')?.toLowerCase() === 'yes' ? 'optional' : 'disabled';
    case '_touch-able._tcp':
    case '_appletv-v2._tcp':
    case '_hscp._tcp':
      return txtValue(txt, 'hG') ? 'optional' : 'mandatory';
    default:
      return 'unsupported';
  }
}

/** Why a direct MRP service is unusable, or null when it is usable. */
export function mrpDisabledReason(txt: Readonly<Record<string, string>>): string | null {
  const major = buildMajor(txtValue(txt, 'SystemBuildVersion'));
  if (major === null || major <= MRP_LAST_BUILD_MAJOR) return null;
  return 'tvOS 15 and later no longer accept direct MRP connections: pair AirPlay to control this Apple TV through the AirPlay tunnel';
}

// ---------------------------------------------------------------------------------------
// Records → devices

/**
 * IPv4 link-local (169.254/16, RFC 3927): what an interface has when DHCP failed. A device
 * announcing one is reachable at its other address; we never announce or pick one.
 */
export const isLinkLocalIPv4 = (address: string): boolean => address.startsWith('169.254.');

/** One service as the device facade sees it. */
export function serviceInfoOf(record: ServiceRecord, context: PairingContext = {}): ServiceInfo | null {
  const spec = serviceTypeSpec(record.type);
  if (!spec || spec.protocol === null) return null;
  const disabledReason = spec.protocol === 'mrp' ? mrpDisabledReason(record.txt) : null;
  const homeSharing = spec.protocol === 'dmap' && spec.type !== '_touch-able._tcp' ? nonEmpty(txtValue(record.txt, 'hG')) : null;
  return {
    protocol: spec.protocol,
    port: record.port,
    serviceType: spec.type,
    instanceName: record.instance,
    identifier: spec.uniqueId(record.instance, record.txt),
    pairing: pairingRequirement(record, context),
    enabled: disabledReason === null,
    disabledReason,
    credentials: homeSharing,
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
  const txtOf = (type: DiscoveryServiceType): Readonly<Record<string, string>> | undefined =>
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
  const hasType = (t: DiscoveryServiceType): boolean => items.some((i) => i.spec.type === t);
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
const SERVICE_LIST_ORDER: readonly DiscoveryServiceType[] = [
  '_mediaremotetv._tcp',
  '_airplay._tcp',
  '_companion-link._tcp',
  '_raop._tcp',
  '_touch-able._tcp',
  '_appletv-v2._tcp',
  '_hscp._tcp',
];

/**
 * Groups service records into devices, one per IPv4 address (§2.2). Protocol services
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
    // An Apple TV 2/3 announces `_touch-able` and `_appletv-v2` for one DMAP server; Home
    // Sharing credentials from the latter log in to either (pyatv merges the two).
    const homeSharing = services.find((s) => s.serviceType === '_appletv-v2._tcp' && s.credentials)?.credentials;
    if (homeSharing) {
      for (const s of services) {
        if (s.serviceType === '_touch-able._tcp') {
          s.credentials = homeSharing;
          s.pairing = 'optional';
        }
      }
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
