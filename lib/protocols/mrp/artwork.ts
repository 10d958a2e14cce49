/**
 * MRP artwork helpers (pyatv: MrpMetadata.artwork in protocols/mrp/__init__.py): the remote URL an app may give instead of
 * bytes (an image-server template in artworkIdentifier, or a fixed artworkURL), a small
 * bounded HTTP(S) fetch for it (type and size from the image codec), and the 4-entry cache. The PLAYBACK_QUEUE_REQUEST fallback lives in the session (it needs the
 * connection).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { describeImage } from '../../codecs/image';
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
    // A format we cannot read (HEIC, ...) is still an image if the server says so.
    const image = describeImage(result.body, result.contentType);
    if (image) return { bytes: result.body, ...image };
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
