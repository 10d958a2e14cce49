/** MRP artwork helpers without a device: URL templates, the cache, the bounded fetch (type and size as the image codec reads them). */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { ProtocolError, TimeoutError } from '../../../../lib/errors';
import { fetchMrpArtwork, mrpHttpUrl, MrpArtworkCache, mrpArtworkTemplateUrl } from '../../../../lib/protocols/mrp/artwork';
import { CAPTURED_ARTWORK } from './fake-device';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('MRP artwork helpers', () => {
  it('fills an image-server template: {w} {h}, {c}=bb, {f}=png; open sizes ask for 999999', () => {
    const template = 'https://is1-ssl.mzstatic.com/image/thumb/Music/abc/{w}x{h}{c}.{f}';
    assert.equal(mrpArtworkTemplateUrl(template, 600, 400), 'https://is1-ssl.mzstatic.com/image/thumb/Music/abc/600x400bb.png');
    assert.equal(mrpArtworkTemplateUrl(template, 512, -1), 'https://is1-ssl.mzstatic.com/image/thumb/Music/abc/512x999999bb.png');
    assert.equal(mrpArtworkTemplateUrl('fake-artwork-1', 512, -1), null, 'an opaque id is no URL');
    assert.equal(mrpArtworkTemplateUrl('https://x/{w}/{unknown}', 1, 1), null, 'unknown placeholders');
    assert.equal(mrpArtworkTemplateUrl('file:///{w}.{f}', 1, 1), null, 'only http(s)');
    assert.equal(mrpHttpUrl('ftp://host/a.png'), null);
    assert.equal(mrpHttpUrl('not a url'), null);
  });

  it('the cache keeps the 4 most recently used', () => {
    const cache = new MrpArtworkCache();
    const art = (n: number) => ({ bytes: Buffer.from([n]), mimeType: 'image/png', width: n, height: n });
    for (let i = 1; i <= 4; i++) cache.set(`k${i}`, art(i));
    assert.equal(cache.get('k1')?.width, 1);
    cache.set('k5', art(5));
    assert.equal(cache.size, 4);
    assert.equal(cache.get('k2'), undefined, 'least recently used went');
    assert.equal(cache.get('k1')?.width, 1);
  });

  it('fetch: size cap, timeout, non-images and non-200 answers', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.setHeader('content-type', 'image/png');
        res.end(Buffer.alloc(5000));
      } else if (req.url === '/slow') {
        setTimeout(() => res.end(CAPTURED_ARTWORK), 500).unref();
      } else if (req.url === '/html') {
        res.setHeader('content-type', 'text/html');
        res.end('<html></html>');
      } else if (req.url === '/webp') {
        res.setHeader('content-type', 'image/webp; charset=binary');
        res.end(Buffer.from('RIFF....WEBP'));
      } else if (req.url === '/jpeg') {
        // A TEM marker, a stray RST0 and fill bytes before the frame header (SOF0, 768×288).
        res.setHeader('content-type', 'image/jpeg');
        res.end(Buffer.from('ffd8ff01ffd3ffe00004abcdffffffc0001108012003000301220002110003110000', 'hex'));
      } else if (req.url === '/mislabelled') {
        res.setHeader('content-type', 'image/jpeg');
        res.end(CAPTURED_ARTWORK);
      } else if (req.url === '/loop') {
        res.writeHead(301, { location: '/loop' });
        res.end();
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await assert.rejects(fetchMrpArtwork(`${base}/big`, { timeout: 2000, maxBytes: 1000 }), (err: Error) => err instanceof ProtocolError && /1000 accepted/.test(err.message));
    await assert.rejects(fetchMrpArtwork(`${base}/slow`, { timeout: 50 }), TimeoutError);
    await assert.rejects(fetchMrpArtwork(`${base}/html`, { timeout: 2000 }), /not an image/);
    assert.deepEqual(await fetchMrpArtwork(`${base}/webp`, { timeout: 2000 }), {
      bytes: Buffer.from('RIFF....WEBP'),
      mimeType: 'image/webp',
      width: null,
      height: null,
    });
    assert.deepEqual(await fetchMrpArtwork(`${base}/jpeg`, { timeout: 2000 }), {
      bytes: Buffer.from('ffd8ff01ffd3ffe00004abcdffffffc0001108012003000301220002110003110000', 'hex'),
      mimeType: 'image/jpeg',
      width: 768,
      height: 288,
    });
    assert.deepEqual(await fetchMrpArtwork(`${base}/mislabelled`, { timeout: 2000 }), { bytes: CAPTURED_ARTWORK, mimeType: 'image/png', width: 16, height: 16 });
    assert.equal(await fetchMrpArtwork(`${base}/nothing`, { timeout: 2000 }), null);
    await assert.rejects(fetchMrpArtwork(`${base}/loop`, { timeout: 2000 }), /redirects/);
  });
});
