/**
 * MRP artwork helpers (reference §4.7 "Artwork"): the remote URL an app may give instead of
 * bytes (an image-server template in artworkIdentifier, or a fixed artworkURL), a small
 * bounded HTTP(S) fetch for it, the image sniffing that fills in type and size, and the
 * 4-entry cache. The PLAYBACK_QUEUE_REQUEST fallback lives in the session (it needs the
 * connection).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Artwork } from '../../device/interfaces';
import { HttpStatusError, networkError, ProtocolError, TimeoutError, type AtvError } from '../../errors';

/** Largest remote image accepted (bytes). */
export const MRP_ARTWORK_MAX_BYTES = 16 * 1024 * 1024;
/** Redirects followed when fetching a remote image. */
const MAX_REDIRECTS = 3;
/** Images kept, as pyatv keeps. */
export const MRP_ARTWORK_CACHE_SIZE = 4;
/**
 * What the image server gets for a dimension the caller left open: it keeps the aspect
 * ratio and caps at the original size (pyatv's value).
 */
const UNBOUNDED_EDGE = 999_999;

/**
 * The URL of an artworkIdentifier template for the requested size, or null when the
 * identifier is not a template of an http(s) URL (most apps put an opaque id there). The
 * placeholders are those of Apple's image servers: {w}, {h}, {c} (crop: "bb", bounding box)
 * and {f} (format).
 */
export function mrpArtworkTemplateUrl(template: string, width: number, height: number): string | null {
  const expanded = template
    .replaceAll('{w}', String(width < 1 ? UNBOUNDED_EDGE : Math.round(width)))
    .replaceAll('{h}', String(height < 1 ? UNBOUNDED_EDGE : Math.round(height)))
    .replaceAll('{c}', 'bb')
    .replaceAll('{f}', 'png');
  // Any other placeholder means a template we do not know how to fill.
  if (/[{}]/.test(expanded)) return null;
  return mrpHttpUrl(expanded);
}

/** `url` when it is an absolute http(s) URL, else null. */
export function mrpHttpUrl(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
}

export interface MrpArtworkFetchOptions {
  /** Whole-request timeout in ms. */
  timeout: number;
  maxBytes?: number;
}

/**
 * GETs an image. Resolves null for a non-200 answer that is not a redirect; rejects with a
 * typed error for network failures, timeouts, an oversized body or a body that is no image.
 */
export async function fetchMrpArtwork(url: string, options: MrpArtworkFetchOptions): Promise<Artwork | null> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const result = await getOnce(current, options);
    if (result.kind === 'redirect') {
      const next = mrpHttpUrl(new URL(result.location, current).href);
      if (next === null) return null;
      current = next;
      continue;
    }
    if (result.kind === 'status') return null;
    const sniffed = sniffMrpImage(result.body);
    if (sniffed) return { bytes: result.body, mimeType: sniffed.mimeType, width: sniffed.width, height: sniffed.height };
    // A format we cannot read the size of (WebP, HEIC, ...) is still an image if the server says so.
    const declared = result.contentType?.split(';')[0]?.trim().toLowerCase();
    if (declared?.startsWith('image/') && result.body.length > 0) return { bytes: result.body, mimeType: declared, width: null, height: null };
    throw new ProtocolError(`artwork at ${describeUrl(current)} is not an image`);
  }
  throw new HttpStatusError(310, `artwork at ${describeUrl(url)}: more than ${MAX_REDIRECTS} redirects`);
}

type GetResult = { kind: 'body'; body: Buffer; contentType: string | undefined } | { kind: 'redirect'; location: string } | { kind: 'status'; status: number };

function getOnce(url: string, options: MrpArtworkFetchOptions): Promise<GetResult> {
  const maxBytes = options.maxBytes ?? MRP_ARTWORK_MAX_BYTES;
  const where = describeUrl(url);
  return new Promise<GetResult>((resolve, reject) => {
    let settled = false;
    const finish = (error: AtvError | null, result?: GetResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (error) reject(error);
      else resolve(result!);
    };
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method: 'GET', headers: { accept: 'image/*' } }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        finish(null, { kind: 'redirect', location: res.headers.location });
        return;
      }
      if (status !== 200) {
        res.resume();
        finish(null, { kind: 'status', status });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        finish(new ProtocolError(`artwork at ${where} is ${declared} bytes, more than the ${maxBytes} accepted`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          finish(new ProtocolError(`artwork at ${where} is more than the ${maxBytes} bytes accepted`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(null, { kind: 'body', body: Buffer.concat(chunks), contentType: res.headers['content-type'] }));
      res.on('error', (err) => finish(networkError(err, where)));
    });
    const timer = setTimeout(() => finish(new TimeoutError(`artwork at ${where} did not arrive within ${options.timeout} ms`)), options.timeout);
    timer.unref();
    req.on('error', (err) => finish(networkError(err, where)));
    req.end();
  });
}

/** Scheme, host and path only: query strings of image URLs can carry tokens. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

export interface MrpSniffedImage {
  mimeType: string;
  width: number | null;
  height: number | null;
}

/** The type and pixel size of a PNG, JPEG or GIF from its header; null for anything else. */
export function sniffMrpImage(bytes: Buffer): MrpSniffedImage | null {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) {
    const ihdr = bytes.toString('latin1', 12, 16) === 'IHDR';
    return { mimeType: 'image/png', width: ihdr ? bytes.readUInt32BE(16) : null, height: ihdr ? bytes.readUInt32BE(20) : null };
  }
  if (bytes.length >= 10 && (bytes.toString('latin1', 0, 6) === 'GIF87a' || bytes.toString('latin1', 0, 6) === 'GIF89a')) {
    return { mimeType: 'image/gif', width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return { mimeType: 'image/jpeg', ...jpegSize(bytes) };
  }
  return null;
}

/** Walks JPEG segments to the first start-of-frame marker. */
function jpegSize(bytes: Buffer): { width: number | null; height: number | null } {
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) break;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    const length = bytes.readUInt16BE(at + 2);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) return { height: bytes.readUInt16BE(at + 5), width: bytes.readUInt16BE(at + 7) };
    if (length < 2) break;
    at += 2 + length;
  }
  return { width: null, height: null };
}

/** A tiny least-recently-used cache of artwork. */
export class MrpArtworkCache {
  private readonly entries = new Map<string, Artwork>();

  constructor(private readonly limit = MRP_ARTWORK_CACHE_SIZE) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Artwork | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, artwork: Artwork): void {
    this.entries.delete(key);
    this.entries.set(key, artwork);
    while (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
  }

  clear(): void {
    this.entries.clear();
  }
}
