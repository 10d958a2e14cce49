import { prng } from '../../lib/support/prng';

/**
 * A seeded pseudo-random source for mutation loops and random chunkings (the library's one
 * generator): the same inputs on every run, so a failure can be reproduced.
 */
export const seededRandom = (seed: number): (() => number) => prng(seed);

/** A whole number from 0 to `below` - 1. */
export const randomInt = (random: () => number, below: number): number => Math.floor(random() * below);

/** `bytes` cut into pieces of random lengths from 1 to `maxPiece`, in order. */
export function randomChunks(bytes: Buffer, random: () => number, maxPiece = 64): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + randomInt(random, maxPiece);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}
