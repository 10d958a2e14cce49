/**
 * A small deterministic pseudo-random generator (mulberry32) for what must repeat run after
 * run: the simulator's shuffle order, the fuzzer's mutations, the tests' random inputs. Not
 * for anything secret (keys and nonces come from node:crypto).
 */

/** Numbers in [0, 1), the same sequence for the same seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
