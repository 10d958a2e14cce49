/**
 * A package registry on 127.0.0.1 that serves what this checkout already installed, so a
 * test can `npm install` the packed tarball the way a user does (npm resolves its version
 * ranges from packuments and fetches tarballs) with no network and an empty npm cache.
 *
 * Packuments are made from the installed `package.json` of every package in
 * package-lock.json (nested copies too: several versions of one name); tarballs are packed
 * from the installed folders on first request (nested node_modules left out), and their
 * sha512 is the integrity npm checks.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

interface Installed {
  name: string;
  version: string;
  dir: string;
}

export interface LocalRegistry {
  /** Base URL for `--registry`. */
  readonly url: string;
  /** `name@version` of every tarball npm fetched. */
  readonly served: string[];
  close(): Promise<void>;
}

/** Every package installed under `root`'s node_modules, as package-lock.json lists them. */
function installedPackages(root: string): Map<string, Installed[]> {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { link?: boolean }> };
  const byName = new Map<string, Installed[]>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.includes('node_modules/') || entry.link) continue;
    const dir = join(root, path);
    if (!existsSync(join(dir, 'package.json'))) continue; // optional dependency for another platform
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
    if (!manifest.name || !manifest.version) continue;
    const list = byName.get(manifest.name) ?? [];
    if (!list.some((p) => p.version === manifest.version)) list.push({ name: manifest.name, version: manifest.version, dir });
    byName.set(manifest.name, list);
  }
  return byName;
}

function files(dir: string, base = dir, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) {
      if (name !== 'node_modules') files(path, base, out);
    } else if (stat.isFile()) out.push(relative(base, path).split(sep).join('/'));
  }
  return out;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar header block for a regular file (names over 100 bytes go into the prefix field). */
function tarHeader(path: string, size: number, mode: number): Buffer {
  const header = Buffer.alloc(512);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(path) > 100) {
    // Split at the rightmost '/' that leaves a prefix of at most 155 bytes.
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
      if (Buffer.byteLength(path.slice(at + 1)) > 100) break;
      if (Buffer.byteLength(path.slice(0, at)) <= 155) {
        prefix = path.slice(0, at);
        name = path.slice(at + 1);
        break;
      }
    }
    if (prefix === '') throw new Error(`path too long for a tar header: ${path}`);
  }
  header.write(name, 0, 100, 'utf8');
  header.write(octal(mode & 0o777, 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(size, 12), 124, 'ascii');
  header.write(octal(0, 12), 136, 'ascii');
  header.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  header.write('0', 156, 'ascii');
  header.write('ustar\0' + '00', 257, 'ascii');
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(octal(sum, 7) + ' ', 148, 'ascii');
  return header;
}

/** The package folder as npm publishes it: a gzipped tar with everything under `package/`. */
export function packFolder(dir: string): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files(dir)) {
    const path = join(dir, file);
    const data = readFileSync(path);
    blocks.push(tarHeader(`package/${file}`, data.length, statSync(path).mode), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export function startLocalRegistry(root: string): Promise<LocalRegistry> {
  const packages = installedPackages(root);
  const tarballs = new Map<string, Buffer>();
  const served: string[] = [];
  let base = '';

  const tarball = (p: Installed): Buffer => {
    const key = `${p.name}@${p.version}`;
    let bytes = tarballs.get(key);
    if (!bytes) tarballs.set(key, (bytes = packFolder(p.dir)));
    return bytes;
  };
  const tarballPath = (p: Installed): string => `/-/${encodeURIComponent(p.name)}/${p.version}.tgz`;

  const packument = (name: string, list: Installed[]): unknown => {
    const versions: Record<string, unknown> = {};
    for (const p of list) {
      const manifest = JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')) as Record<string, unknown>;
      for (const key of Object.keys(manifest)) if (key.startsWith('_')) delete manifest[key];
      const bytes = tarball(p);
      versions[p.version] = {
        ...manifest,
        dist: {
          tarball: `${base}${tarballPath(p)}`,
          integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
          shasum: createHash('sha1').update(bytes).digest('hex'),
        },
      };
    }
    const latest = list.map((p) => p.version).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1)!;
    return { name, 'dist-tags': { latest }, versions };
  };

  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const tar = /^\/-\/(.+)\/([^/]+)\.tgz$/.exec(path);
    if (tar) {
      const p = packages.get(tar[1]!)?.find((q) => q.version === tar[2]);
      if (!p) return void res.writeHead(404).end();
      served.push(`${p.name}@${p.version}`);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(tarball(p));
      return;
    }
    const name = path.slice(1);
    const list = packages.get(name);
    if (!list) return void res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"not found"}');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(packument(name, list)));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      resolve({
        url: `${base}/`,
        served,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
