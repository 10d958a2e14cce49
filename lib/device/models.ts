/**
 * What a device is, from the identifiers it announces: raw model identifiers and internal
 * board names → marketing name and operating system, and tvOS build numbers → versions
 * (the tables of pyatv's `support/device_info.py`). Pure data and lookups.
 */

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

export const MAC_MODEL = /^(?:MacBookAir|iMac|Macmini|MacBookPro|Mac|MacPro)\d+,\d+/;

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
