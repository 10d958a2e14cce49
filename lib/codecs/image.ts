/**
 * Image sniffing for artwork: the type from the magic bytes and the pixel size from the
 * header (PNG IHDR, JPEG SOFn, GIF logical screen, WebP VP8/VP8L/VP8X). Servers label images
 * wrongly or vaguely (OwnTone answers nowplayingartwork with image/jpeg, others with
 * application/octet-stream), so the bytes decide and a declared type is only a fallback.
 * Pure and bounded: it reads a few header bytes, walks JPEG segments at most once, and never
 * throws, whatever the bytes are (except `artworkImage`, whose job is to refuse).
 */
import { ProtocolError } from '../errors';

export interface ImageInfo {
  /** e.g. `image/jpeg`. */
  mimeType: string;
  /** Pixels, or null when the header does not say (or was cut off). */
  width: number | null;
  height: number | null;
}

export const PNG_SIGNATURE: Buffer = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The type and size of a PNG, JPEG, GIF or WebP image from its bytes; null for anything else. */
export function sniffImage(image: Uint8Array): ImageInfo | null {
  const bytes = Buffer.isBuffer(image) ? image : Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (startsWith(bytes, PNG_SIGNATURE)) return { mimeType: 'image/png', ...pngSize(bytes) };
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return { mimeType: 'image/jpeg', ...jpegSize(bytes) };
  const gif = bytes.toString('latin1', 0, 6);
  if (gif === 'GIF87a' || gif === 'GIF89a') {
    return { mimeType: 'image/gif', ...size(bytes.length >= 10 ? bytes.readUInt16LE(6) : 0, bytes.length >= 10 ? bytes.readUInt16LE(8) : 0) };
  }
  if (bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return { mimeType: 'image/webp', ...webpSize(bytes) };
  return null;
}

/** Declared types the sniffer can check: bytes labelled so that do not look so are no image. */
const SNIFFABLE_TYPES = new Set(['image/png', 'image/jpeg', 'image/jpg', 'image/gif', 'image/webp']);

/**
 * An answer's image: what the bytes say, else the declared Content-Type when it names an
 * image in a format we cannot read (e.g. HEIC); null when neither, when the bytes contradict
 * a type we can read (an HTML page labelled image/png), or when there are no bytes.
 */
export function describeImage(image: Uint8Array, contentType?: string | null): ImageInfo | null {
  if (image.length === 0) return null;
  const sniffed = sniffImage(image);
  if (sniffed) return sniffed;
  const declared = contentType?.split(';')[0]?.trim().toLowerCase();
  return declared?.startsWith('image/') && !SNIFFABLE_TYPES.has(declared) ? { mimeType: declared, width: null, height: null } : null;
}

/**
 * THE artwork rule, the same for every protocol: bytes a device hands over as artwork are an
 * image as `describeImage` sees it (magic bytes, or a declared image/* type), or the call
 * fails with a `ProtocolError` naming what came instead. (No artwork at all is null, which
 * each protocol decides before this: an empty body, a 404, an item without artwork.)
 */
export function artworkImage(bytes: Uint8Array, contentType: string | null | undefined, source: string): ImageInfo {
  const image = describeImage(bytes, contentType);
  if (image) return image;
  const declared = contentType?.split(';')[0]?.trim().slice(0, 60);
  throw new ProtocolError(`${source} sent artwork that is not an image (${declared ? `type ${declared}` : 'no type'}, ${bytes.length} bytes)`);
}

type Size = Pick<ImageInfo, 'width' | 'height'>;

/** Zero means "not said" in every header we read. */
function size(width: number, height: number): Size {
  return width > 0 && height > 0 ? { width, height } : { width: null, height: null };
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}

/** IHDR is the first chunk: length (4), type (4), width (4), height (4). */
function pngSize(bytes: Buffer): Size {
  if (bytes.length < 24 || bytes.toString('latin1', 12, 16) !== 'IHDR') return size(0, 0);
  return size(bytes.readUInt32BE(16), bytes.readUInt32BE(20));
}

/** Start-of-frame markers: C0..CF except DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * Walks the segments after SOI to the frame header. The frame header comes before the first
 * scan (ITU T.81 B.2), so reaching SOS or EOI without one means the size is not there.
 */
function jpegSize(bytes: Buffer): Size {
  let at = 2;
  while (at + 1 < bytes.length) {
    if (bytes[at] !== 0xff) break;
    const marker = bytes[at + 1]!;
    // Any number of 0xFF fill bytes may come before a marker.
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    // Markers that stand alone, without a length: TEM, RST0..RST7, SOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break;
    if (at + 4 > bytes.length) break;
    const length = bytes.readUInt16BE(at + 2);
    if (length < 2) break;
    if (isStartOfFrame(marker)) {
      // Length (2), sample precision (1), height (2), width (2).
      if (length < 7 || at + 9 > bytes.length) break;
      return size(bytes.readUInt16BE(at + 7), bytes.readUInt16BE(at + 5));
    }
    at += 2 + length;
  }
  return size(0, 0);
}

/** The first chunk of the RIFF container says how the size is stored (RFC 9649). */
function webpSize(bytes: Buffer): Size {
  const chunk = bytes.toString('latin1', 12, 16);
  const data = 20;
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height.
    if (bytes.length < data + 10 || bytes[data + 3] !== 0x9d || bytes[data + 4] !== 0x01 || bytes[data + 5] !== 0x2a) return size(0, 0);
    return size(bytes.readUInt16LE(data + 6) & 0x3fff, bytes.readUInt16LE(data + 8) & 0x3fff);
  }
  if (chunk === 'VP8L') {
    // Signature 0x2F, then width-1 and height-1 in 14 bits each.
    if (bytes.length < data + 5 || bytes[data] !== 0x2f) return size(0, 0);
    const bits = bytes.readUInt32LE(data + 1);
    return size((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (chunk === 'VP8X') {
    // Flags (4 bytes), then canvas width-1 and height-1 in 24 bits each.
    if (bytes.length < data + 10) return size(0, 0);
    return size(bytes.readUIntLE(data + 4, 3) + 1, bytes.readUIntLE(data + 7, 3) + 1);
  }
  return size(0, 0);
}
