/**
 * A seeded pseudo-random source (xorshift32) for mutation loops and random chunkings: the
 * same inputs on every run, so a failure can be reproduced.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

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
