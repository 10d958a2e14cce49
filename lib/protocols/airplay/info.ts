/**
 * `GET /info`: what an AirPlay receiver says about itself on its port, before any pairing
 * (pyatv: support/rtsp.py `info`). Apple's senders read it when they reach a receiver
 * without its DNS-SD record; so do we, for a host and port given by hand. The reply is a
 * binary plist holding `model`, `features` (an integer), `osBuildVersion`, `deviceID`,
 * `name`, and usually `txtAirPlay`: the receiver's own `_airplay._tcp` TXT record in DNS
 * wire form (length-prefixed strings), which is the same record discovery would have read.
 */
import { decodeTxt } from '../../mdns/txt';
import type { Txt } from '../../device/interfaces';
import { lookupOsVersion } from '../../device/models';
import type { BplistValue } from '../../codecs/bplist';
import { RtspSession, type AirPlayConnection } from './connection';
import { newRtspSessionIds, plistBody } from './tunnel';

/** The most TXT strings read from `txtAirPlay` (a real record holds about twenty). */
const MAX_TXT_STRINGS = 256;

/** The strings of a TXT record in DNS wire form; a length running past the end stops the walk. */
export function txtStrings(wire: Uint8Array): Buffer[] {
  const bytes = Buffer.from(wire.buffer, wire.byteOffset, wire.length);
  const strings: Buffer[] = [];
  for (let at = 0; at < bytes.length && strings.length < MAX_TXT_STRINGS; ) {
    const length = bytes[at]!;
    if (at + 1 + length > bytes.length) break;
    strings.push(bytes.subarray(at + 1, at + 1 + length));
    at += 1 + length;
  }
  return strings;
}

/** `0xLOW,0xHIGH` as a TXT writes a 64-bit feature set. */
function featuresText(value: BplistValue | undefined): string | null {
  let features: bigint;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) features = BigInt(value);
  else if (typeof value === 'bigint' && value >= 0n) features = value;
  else return null;
  const low = features & 0xffffffffn;
  const high = features >> 32n;
  const hex = (n: bigint) => `0x${n.toString(16).toUpperCase()}`;
  return high === 0n ? hex(low) : `${hex(low)},${hex(high)}`;
}

/**
 * The TXT record an `/info` reply stands for: its `txtAirPlay` when present, completed (or
 * replaced, when absent) by the plist's own fields, so model, OS version and features are
 * there whenever the receiver said them.
 */
export function airplayInfoTxt(info: Record<string, BplistValue>): Txt {
  const txt: Record<string, string> = {};
  const wire = info['txtAirPlay'];
  if (Buffer.isBuffer(wire)) Object.assign(txt, decodeTxt(txtStrings(wire)));
  const put = (key: string, value: string | null | undefined) => {
    if (value && txt[key] === undefined) txt[key] = value;
  };
  const text = (key: string): string | null => (typeof info[key] === 'string' ? (info[key] as string) : null);
  put('model', text('model'));
  put('features', featuresText(info['features']));
  put('deviceid', text('deviceID'));
  put('srcvers', text('sourceVersion'));
  put('pi', text('pi'));
  put('psi', text('psi'));
  const build = text('osBuildVersion');
  // A version derived from the build may be "18.x": enough for the major the tunnel needs.
  put('osvers', text('osVersion') ?? lookupOsVersion(build));
  return txt;
}

/**
 * Asks an open connection's receiver for `/info` (in clear, before pairing) and returns the
 * TXT record it stands for; an empty record when the receiver does not answer it (some
 * third-party receivers do not).
 */
export async function fetchAirPlayInfo(connection: AirPlayConnection): Promise<Txt> {
  const rtsp = new RtspSession(connection, newRtspSessionIds());
  let response;
  try {
    response = await rtsp.exchange('GET', { target: '/info' });
  } catch (err) {
    if ((err as { code?: string }).code === 'NOT_SUPPORTED') return {};
    throw err;
  }
  return airplayInfoTxt(plistBody(response, 'GET /info', connection.endpoint));
}
