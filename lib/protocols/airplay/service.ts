/**
 * How AirPlay is found: `_airplay._tcp`, whose TXT says the model, OS version, feature bits
 * and access control (pyatv's `protocols/airplay/utils.py`). The same access-control rules
 * decide RAOP's pairing requirement. Also the facts read from that TXT that decide how we
 * talk to the device: AirPlay 1 or 2, transient pairing, and whether MRP goes through the
 * AirPlay 2 remote-control tunnel.
 */
import type { PairingRequirement, ServiceTypeSpec, Txt } from '../../device/interfaces';
import { parseHex, txtValue } from '../../mdns/txt';

const nonEmpty = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

/** AirPlay status-flag bits (`sf` / `flags`). */
export const AIRPLAY_STATUS_FLAGS = {
  pinRequired: 0x8,
  passwordRequired: 0x80,
  legacyPairing: 0x200,
} as const;

export function airplayStatusFlags(txt: Txt): number {
  return parseHex(txtValue(txt, 'sf') || txtValue(txt, 'flags'));
}

/** The 64-bit AirPlay feature set from TXT `features` (or `ft`): `0xLOW[,0xHIGH]`. */
export function airplayFeatures(txt: Txt): bigint | null {
  const raw = txtValue(txt, 'features') ?? txtValue(txt, 'ft');
  const m = raw ? /^\s*0x([0-9a-f]{1,8})(?:\s*,\s*0x([0-9a-f]{1,8}))?\s*$/i.exec(raw) : null;
  if (!m) return null;
  return (BigInt(`0x${m[2] ?? '0'}`) << 32n) | BigInt(`0x${m[1]!}`);
}

/**
 * The feature bits we act on (pyatv's `AirPlayFlags`, protocols/airplay/utils.py; the
 * openairplay spec's feature table).
 */
export const AIRPLAY_FEATURE_BITS = {
  /** Plays a URL with AirPlay 1's `/play`. */
  videoV1: 0,
  /** The receiver speaks AirPlay 2's unified media control (one of the two AirPlay 2 signs). */
  unifiedMediaControl: 38,
  /** HomeKit/system pairing: a sender without credentials pairs transiently. */
  systemPairing: 43,
  /** CoreUtils pairing and encryption: AirPlay 2 (HAP) and transient pairing. */
  coreUtilsPairingAndEncryption: 48,
  /** Plays a URL with AirPlay 2's session. */
  videoV2: 49,
} as const;
export type AirPlayFeature = keyof typeof AIRPLAY_FEATURE_BITS;

/** Whether the TXT's feature set has `feature` (false when there is no feature set). */
export function hasAirplayFeature(txt: Txt, feature: AirPlayFeature): boolean {
  const features = airplayFeatures(txt);
  return features !== null && ((features >> BigInt(AIRPLAY_FEATURE_BITS[feature])) & 1n) === 1n;
}

/**
 * AirPlay 2 when the features say unified media control or CoreUtils pairing (pyatv's
 * `get_protocol_version` guesses the same way), else AirPlay 1 (Apple TV 2/3, older
 * receivers): it decides HAP or legacy pairing and how a URL is played.
 */
export function airplayMajorVersion(txt: Txt): 1 | 2 {
  return hasAirplayFeature(txt, 'unifiedMediaControl') || hasAirplayFeature(txt, 'coreUtilsPairingAndEncryption') ? 2 : 1;
}

/** A sender without stored credentials pairs transiently (PIN 3939, nothing stored) when the features offer it. */
export function airplayOffersTransientPairing(txt: Txt): boolean {
  return hasAirplayFeature(txt, 'systemPairing') || hasAirplayFeature(txt, 'coreUtilsPairingAndEncryption');
}

/** Plays URLs at all (AirPlay video, version 1 or 2): HomePods and speakers do not. */
export function airplayPlaysVideo(txt: Txt): boolean {
  return hasAirplayFeature(txt, 'videoV1') || hasAirplayFeature(txt, 'videoV2');
}

/** What kind of device an AirPlay TXT describes, for the remote-control tunnel. */
export type AirPlayRemoteControlKind = 'apple-tv' | 'homepod' | null;

/** The tvOS version from which an Apple TV serves MRP through the tunnel (pyatv: `is_remote_control_supported`). */
export const AIRPLAY_TUNNEL_MIN_TVOS = 13;

/**
 * Which devices carry MRP inside AirPlay 2 (pyatv's `is_remote_control_supported`, a guess
 * from the model string that pyatv itself marks as such): an Apple TV on tvOS 13 or later,
 * with HAP AirPlay credentials; a HomePod (`AudioAccessory…`), with transient pairing only.
 * Anything else (Apple TV 3, speakers, Macs) has no tunnel.
 */
export function airplayRemoteControlKind(txt: Txt): AirPlayRemoteControlKind {
  const model = txtValue(txt, 'model') ?? '';
  if (model.startsWith('AudioAccessory')) return 'homepod';
  if (!model.startsWith('AppleTV')) return null;
  const major = Number.parseInt((txtValue(txt, 'osvers') ?? '0').split('.')[0] ?? '0', 10);
  return Number.isFinite(major) && major >= AIRPLAY_TUNNEL_MIN_TVOS ? 'apple-tv' : null;
}

/** True when an AirPlay/RAOP service wants a password (`pw=true` or status flag 0x80). */
export function requiresPassword(txt: Txt): boolean {
  return txtValue(txt, 'pw')?.toLowerCase() === 'true' || (airplayStatusFlags(txt) & AIRPLAY_STATUS_FLAGS.passwordRequired) !== 0;
}

/** The pairing requirement of an AirPlay (or RAOP) service from its TXT and model. */
export function airplayPairing(txt: Txt, model: string | undefined): PairingRequirement {
  if (txtValue(txt, 'acl') === '1') return 'disabled';
  if (model !== undefined && /^Mac\d+,\d+$/.test(model)) return 'unsupported';
  if (airplayStatusFlags(txt) & (AIRPLAY_STATUS_FLAGS.legacyPairing | AIRPLAY_STATUS_FLAGS.pinRequired)) return 'mandatory';
  // act=2 is access control "current user", which a remote cannot satisfy.
  if (txtValue(txt, 'act') === '2') return 'unsupported';
  return 'not-needed';
}

export const AIRPLAY_SERVICE: ServiceTypeSpec = {
  type: '_airplay._tcp',
  protocol: 'airplay',
  description: 'AirPlay (video, play_url, and the MRP tunnel on tvOS 15+)',
  uniqueIdSource: 'TXT deviceid (the MAC address)',
  txtKeys: ['model', 'osvers', 'deviceid', 'psi', 'pi', 'features', 'ft', 'flags', 'sf', 'pw', 'acl', 'act', 'pk'],
  uniqueId: (_i, txt) => nonEmpty(txtValue(txt, 'deviceid')),
  deviceName: (instance) => instance,
  sharedName: (instance) => instance,
  pairing: (txt) => airplayPairing(txt, txtValue(txt, 'model')),
};
