/**
 * DNS-SD TXT records: decoding and encoding their strings, reading a value whatever the case
 * of its key, and the number forms devices write in them. Pure functions, no I/O.
 */

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

/**
 * IPv4 link-local (169.254/16, RFC 3927): what an interface has when DHCP failed. A device
 * announcing one is reachable at its other address; we never announce or pick one.
 */
export const isLinkLocalIPv4 = (address: string): boolean => address.startsWith('169.254.');
