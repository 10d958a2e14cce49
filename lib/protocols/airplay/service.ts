/**
 * How AirPlay is found: `_airplay._tcp`, whose TXT says the model, OS version, feature bits
 * and access control (pyatv's `protocols/airplay/utils.py`). The same access-control rules
 * decide RAOP's pairing requirement.
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
