/**
 * The binary-plist vectors (plistlib/bplist-vectors.jsonl, see the fixtures README): one case
 * per line with its bytes and its value in typed JSON (`{"$bytes": hex}` and the like).
 */
import { readFileSync } from 'node:fs';
import { fixture } from './paths';

export interface BplistVector {
  name: string;
  /** The plist's bytes. */
  bytes: Buffer;
  /** The decoded value in the README's typed JSON. */
  value: unknown;
}

let cache: Map<string, BplistVector> | undefined;

export function bplistVector(name: string): BplistVector {
  cache ??= new Map(
    readFileSync(fixture('plistlib', 'bplist-vectors.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const { name: n, hex, value } = JSON.parse(line) as { name: string; hex: string; value: unknown };
        return [n, { name: n, bytes: Buffer.from(hex, 'hex'), value }];
      }),
  );
  const vector = cache.get(name);
  if (vector === undefined) throw new Error(`no bplist vector named ${name}`);
  return vector;
}
