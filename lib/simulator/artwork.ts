/**
 * Cover art made in code: a minimal PNG encoder (8-bit RGB, no interlace, one IDAT) and a
 * per-track gradient, so each track's artwork differs and a test can check the PNG
 * signature and the size written in IHDR.
 */
import { deflateSync } from 'node:zlib';
import { PNG_SIGNATURE, sniffImage } from '../codecs/image';
import { DecodeError, InvalidArgumentError } from '../errors';
import type { SimulatorTrack } from './state';

/** Largest edge we draw: a hostile `mw=100000` must not allocate gigabytes. */
export const MAX_ARTWORK_EDGE = 1024;
export const DEFAULT_ARTWORK_EDGE = 600;

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG (and zlib, gzip) define it: reflected polynomial 0xEDB88320. */
export function crc32(data: Uint8Array, initial = 0): number {
  let c = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

export type PixelFunction = (x: number, y: number) => readonly [number, number, number];

function checkEdge(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1 || value > MAX_ARTWORK_EDGE) {
    throw new InvalidArgumentError(`PNG ${what} must be a whole number from 1 to ${MAX_ARTWORK_EDGE}, got ${value}`);
  }
}

/** Encodes an RGB image whose pixels `pixel(x, y)` gives. */
export function encodePng(width: number, height: number, pixel: PixelFunction): Buffer {
  checkEdge(width, 'width');
  checkEdge(height, 'height');
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    raw[row] = 0; // filter type None
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const at = row + 1 + x * 3;
      raw[at] = r;
      raw[at + 1] = g;
      raw[at + 2] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // no interlace
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Width and height of a PNG as the image codec reads them, or a DecodeError for anything else. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const image = sniffImage(png);
  if (image?.mimeType !== 'image/png' || image.width === null || image.height === null) {
    throw new DecodeError('not a PNG image (no PNG signature followed by IHDR)');
  }
  return { width: image.width, height: image.height };
}

/**
 * A requested edge as a server must treat it: missing or unusable → the default, otherwise
 * clamped to 1..MAX_ARTWORK_EDGE.
 */
export function clampArtworkEdge(requested: number | string | null | undefined, fallback = DEFAULT_ARTWORK_EDGE): number {
  const n = typeof requested === 'number' ? requested : typeof requested === 'string' && /^\s*\d+\s*$/.test(requested) ? Number(requested) : NaN;
  if (!Number.isFinite(n) || n < 1) return fallback;
  return Math.min(MAX_ARTWORK_EDGE, Math.floor(n));
}

const clampByte = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

/** Remotes and dashboards re-fetch the same cover again and again; keep the last few. */
const CACHE_SIZE = 8;
const cache = new Map<string, Buffer>();

/**
 * The cover of a track: a diagonal gradient from the track's colour to a darker shade, with
 * a lighter band, at the requested size (clamped as `clampArtworkEdge` does).
 */
export function trackArtwork(
  track: SimulatorTrack,
  size: { width?: number | string | null; height?: number | string | null } = {},
): Buffer {
  // Covers are square: a request that names one edge gets that edge both ways.
  const width = clampArtworkEdge(size.width, clampArtworkEdge(size.height));
  const height = clampArtworkEdge(size.height, width);
  const [r, g, b] = track.color;
  const key = `${track.id}|${r},${g},${b}|${width}x${height}`;
  const cached = cache.get(key);
  if (cached !== undefined) return Buffer.from(cached);
  const span = Math.max(1, width + height - 2);
  const png = encodePng(width, height, (x, y) => {
    const t = (x + y) / span;
    const shade = 1 - 0.6 * t;
    const band = Math.abs(t - 0.5) < 0.04 ? 60 : 0;
    return [clampByte(r * shade + band), clampByte(g * shade + band), clampByte(b * shade + band)];
  });
  cache.set(key, png);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return Buffer.from(png);
}
