/**
 * The pyatv 0.16.1 captures (test/fixtures/pyatv-0.16.1, see its README): one JSON line per
 * TCP chunk, per connection and direction, plus keys.json (session keys, the credentials each
 * pairing produced, the PINs). Protocol-specific splitting lives with each protocol's tests.
 */
import { readFileSync } from 'node:fs';
import { fixture } from './paths';

export type Direction = 'c2s' | 's2c';

export interface Chunk {
  conn: number;
  dir: Direction;
  bytes: Buffer;
}

export function readCapture(name: string): Chunk[] {
  return readFileSync(fixture('pyatv-0.16.1', name), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const { conn, dir, hex } = JSON.parse(line) as { conn: number; dir: Direction; hex: string };
      return { conn, dir, bytes: Buffer.from(hex, 'hex') };
    });
}

/** One direction of one connection, as a byte stream. */
export function stream(chunks: Chunk[], dir: Direction, conn = 1): Buffer {
  return Buffer.concat(chunks.filter((c) => c.dir === dir && c.conn === conn).map((c) => c.bytes));
}

export interface KeysJson {
  session_keys: Record<string, { client_read_key_device_to_client: string; client_write_key_client_to_device: string }>;
  credentials_from_pairing: Record<'mrp' | 'companion' | 'airplay', string>;
  pins: Record<'mrp' | 'companion' | 'airplay', string>;
  dmap_credentials: string;
}

export function readKeys(): KeysJson {
  return JSON.parse(readFileSync(fixture('pyatv-0.16.1', 'keys.json'), 'utf8')) as KeysJson;
}
