/**
 * A small mutation fuzzer for our codecs. A target (see test/fuzz/targets.ts) decodes one
 * input; `fuzz` feeds it mutations of valid seed inputs (bit flips, interesting byte and
 * length values, inserted, deleted, duplicated and spliced runs, truncations) from a seeded
 * generator, so every run can be repeated exactly from its seed.
 *
 * A case fails when the target throws anything but what its `expected` accepts (by default
 * our typed errors: a codec must refuse bad input with a DecodeError/ProtocolError/
 * InvalidArgumentError, never a TypeError or RangeError), when its `check` of the result
 * fails, or when it takes longer than `stallMs`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AtvError } from '../../lib/errors';
import { prng } from '../../lib/support/prng';
import { REPO_ROOT } from './paths';

/**
 * Every input that ever crashed or stalled a target, one file each:
 * test/fuzz/regressions/<target>/<name>.hex (hex; lines starting with # are notes).
 */
export const REGRESSIONS_DIR = join(REPO_ROOT, 'test', 'fuzz', 'regressions');

export function regressionCases(target: string): { name: string; input: Buffer }[] {
  const dir = join(REGRESSIONS_DIR, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.hex'))
    .sort()
    .map((f) => {
      const hex = readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((line) => !line.startsWith('#'))
        .join('')
        .replace(/\s+/g, '');
      return { name: f, input: Buffer.from(hex, 'hex') };
    });
}

/** Writes a failing input as a new regression case; returns its path. */
export function saveRegression(target: string, failure: FuzzFailure): string {
  const dir = join(REGRESSIONS_DIR, target);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${failure.kind}-${createHash('sha256').update(failure.input).digest('hex').slice(0, 12)}.hex`);
  const hex = failure.input.toString('hex').replace(/(.{64})/g, '$1\n');
  writeFileSync(path, `# ${failure.kind}: ${failure.detail.replace(/\s+/g, ' ').slice(0, 200)}\n${hex}\n`);
  return path;
}

export interface FuzzTarget {
  /** Short name: `npm run fuzz -- --target NAME` and the folder of its regression cases. */
  name: string;
  /** What the target decodes, in a few words (printed in the summary). */
  what: string;
  /** Decodes one input. */
  run(input: Buffer): unknown;
  /** Valid inputs to mutate: fixtures, encoder output. */
  seeds(): Buffer[];
  /** Errors that mean "refused cleanly" (default: any AtvError). */
  expected?(error: unknown): boolean;
  /** Checks a successful result (bounds, round trips); throws to report a failure. */
  check?(input: Buffer, output: unknown): void;
  /** Longest input made (default 4096 bytes). */
  maxLength?: number;
}

export interface FuzzFailure {
  input: Buffer;
  /** `crash` (unexpected error or failed check) or `stall` (slower than stallMs). */
  kind: 'crash' | 'stall';
  detail: string;
}

export interface FuzzReport {
  target: string;
  cases: number;
  failures: FuzzFailure[];
  slowest: { input: Buffer; ms: number };
  ms: number;
}

export interface FuzzOptions {
  cases: number;
  /** Seed of the generator (the same seed makes the same inputs). */
  seed?: number;
  /** A case slower than this is a stall (default 100 ms). */
  stallMs?: number;
  /** Inputs run first, unmutated (regression cases). */
  fixed?: readonly Buffer[];
  /** Keep at most this many failures (default 20). */
  maxFailures?: number;
}

/** Byte and word values that sit on boundaries: lengths of 0, 1, 127/128, 255, 2^15, 2^16 - 1, 2^31. */
const INTERESTING_BYTES = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xfe, 0xff];
const INTERESTING_WORDS = [0x0000, 0x0001, 0x007f, 0x0080, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_DWORDS = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

export function mutate(input: Buffer, random: () => number, pool: readonly Buffer[], maxLength: number): Buffer {
  const int = (n: number): number => Math.floor(random() * n);
  let out = Buffer.from(input);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const at = out.length === 0 ? 0 : int(out.length);
    switch (int(10)) {
      case 0:
        if (out.length > 0) out[at] = out[at]! ^ (1 << int(8));
        break;
      case 1:
        if (out.length > 0) out[at] = INTERESTING_BYTES[int(INTERESTING_BYTES.length)]!;
        break;
      case 2:
      case 3: {
        // A 16- or 32-bit boundary value, either byte order: where length fields live.
        const [values, width] = int(2) === 0 ? [INTERESTING_WORDS, 2] : [INTERESTING_DWORDS, 4];
        if (out.length >= width) {
          const v = values[int(values.length)]!;
          const pos = int(out.length - width + 1);
          if (random() < 0.5) out.writeUIntBE(v, pos, width);
          else out.writeUIntLE(v, pos, width);
        }
        break;
      }
      case 4: {
        const bytes = Buffer.alloc(1 + int(8));
        for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
        out = Buffer.concat([out.subarray(0, at), bytes, out.subarray(at)]);
        break;
      }
      case 5:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + int(16))]);
        break;
      case 6: {
        const from = int(out.length + 1);
        const chunk = out.subarray(from, from + 1 + int(32));
        out = Buffer.concat([out.subarray(0, at), chunk, out.subarray(at)]);
        break;
      }
      case 7:
        out = out.subarray(0, at);
        break;
      case 8: {
        const other = pool[int(pool.length)]!;
        const from = int(other.length + 1);
        out = Buffer.concat([out.subarray(0, at), other.subarray(from, from + 1 + int(64)), out.subarray(at + int(8))]);
        break;
      }
      default:
        if (out.length > 0) out[at] = int(256);
    }
  }
  return out.length > maxLength ? out.subarray(0, maxLength) : out;
}

const typedError = (error: unknown): boolean => error instanceof AtvError;

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Runs `options.cases` mutated inputs (after the fixed ones) through `target`. */
export function fuzz(target: FuzzTarget, options: FuzzOptions): FuzzReport {
  const random = prng(options.seed ?? 1);
  const stallMs = options.stallMs ?? 100;
  const maxFailures = options.maxFailures ?? 20;
  const maxLength = target.maxLength ?? 4096;
  const expected = target.expected ?? typedError;
  const seeds = target.seeds();
  if (seeds.length === 0) throw new Error(`fuzz target ${target.name} has no seeds`);
  const fixed = options.fixed ?? [];
  const failures: FuzzFailure[] = [];
  // The slowest few by one run; timed again at the end (a single run may have met a GC).
  const candidates: { input: Buffer; ms: number }[] = Array.from({ length: 5 }, () => ({ input: Buffer.alloc(0), ms: -1 }));
  const started = performance.now();
  const total = fixed.length + options.cases;
  for (let i = 0; i < total; i++) {
    const input = i < fixed.length ? fixed[i]! : random() < 0.02 ? randomInput(random, maxLength) : mutate(seeds[Math.floor(random() * seeds.length)]!, random, seeds, maxLength);
    let { failure, ms } = runCase(target, input, expected);
    // A garbage collection or a busy machine can make any case slow once: a stall is a case
    // that is slow every time.
    for (let again = 0; again < 2 && ms > stallMs && failure === null; again++) ms = Math.min(ms, runCase(target, input, expected).ms);
    if (ms > candidates[candidates.length - 1]!.ms) {
      candidates[candidates.length - 1] = { input, ms };
      candidates.sort((a, b) => b.ms - a.ms);
    }
    if (failures.length < maxFailures) {
      if (failure !== null) failures.push({ input, kind: 'crash', detail: failure });
      else if (ms > stallMs) failures.push({ input, kind: 'stall', detail: `took ${ms.toFixed(1)} ms` });
    }
  }
  const ms = performance.now() - started;
  const slowest = candidates
    .filter((c) => c.ms >= 0)
    .map((c) => ({ input: c.input, ms: Math.min(c.ms, ...[0, 1, 2].map(() => runCase(target, c.input, expected).ms)) }))
    .reduce((a, b) => (b.ms > a.ms ? b : a), { input: Buffer.alloc(0), ms: 0 });
  return { target: target.name, cases: total, failures, slowest, ms };
}

function runCase(target: FuzzTarget, input: Buffer, expected: (error: unknown) => boolean): { failure: string | null; ms: number } {
  const t0 = performance.now();
  let failure: string | null = null;
  try {
    const output = target.run(input);
    target.check?.(input, output);
  } catch (error) {
    if (!expected(error)) failure = describeError(error);
  }
  return { failure, ms: performance.now() - t0 };
}

function randomInput(random: () => number, maxLength: number): Buffer {
  const out = Buffer.alloc(Math.floor(random() * Math.min(maxLength, 512)));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(random() * 256);
  return out;
}
