/**
 * The benchmark's small toolkit: named measurements collected into one table, percentiles,
 * and a timed loop. A suite (one per protocol, plus the package itself) returns rows; the
 * runner prints them side by side, so MRP figures land next to the DMAP ones.
 */
import { performance } from 'node:perf_hooks';

export interface Measurement {
  /** The suite the figure belongs to: `package`, `DMAP`, `MRP`, ... */
  suite: string;
  name: string;
  /** The figure, already rounded for printing; null when it could not be measured. */
  value: number | null;
  unit: string;
  /** How it was measured (sample size, input size), or why it is missing. */
  detail: string;
  /** What the machine allows for the same work (bench/floor.ts), in the same unit. */
  floor?: number | null;
  /** The figure it is judged against (`≤ 2× floor`, `≤ 4× p50`, `≥ 30 MB/s`) ... */
  target?: string;
  /** ... and whether it is met. */
  met?: boolean;
}

export interface Suite {
  name: string;
  run(): Promise<Measurement[]>;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The p-th percentile (0–100) of `samples`, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Runs `fn` repeatedly for at least `minMs` (after one warm-up call); returns calls and ms. */
export function timeLoop(fn: () => void, minMs = 400): { calls: number; ms: number } {
  fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    calls++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return { calls, ms: elapsed };
}

/** MB/s of a codec that handles `bytes` per call. */
export function throughput(bytes: number, fn: () => void, minMs?: number): { mbPerSecond: number; calls: number } {
  const { calls, ms } = timeLoop(fn, minMs);
  return { mbPerSecond: (bytes * calls) / (1024 * 1024) / (ms / 1000), calls };
}

/** Latency samples (ms) of `count` sequential runs of `fn`, after `warmup` unmeasured ones. */
export async function latencies(count: number, fn: (i: number) => Promise<void>, warmup = 10): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await fn(i);
    samples.push(performance.now() - start);
  }
  return samples;
}

/**
 * Runs each of `runs` `rounds` times, in turn, and pools each one's samples: load that comes
 * and goes (other processes on a small machine) then falls on a figure and its floor alike.
 */
export async function interleaved<K extends string>(rounds: number, runs: Readonly<Record<K, () => Promise<number[]>>>): Promise<Record<K, number[]>> {
  const keys = Object.keys(runs) as K[];
  const pooled = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    for (const key of keys) pooled[key].push(...(await runs[key]()));
  }
  return pooled;
}

export const missing = (suite: string, name: string, unit: string, why: string): Measurement => ({ suite, name, value: null, unit, detail: why });

const number = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** The figure as a multiple of its floor, e.g. `2.31×`. */
export function ratioText(value: number | null, floor: number | null | undefined): string {
  if (value === null || floor === null || floor === undefined || floor <= 0) return '';
  const ratio = value / floor;
  return `${ratio < 10 ? ratio.toFixed(2) : ratio.toFixed(1)}×`;
}

/** Right-aligned columns: value, floor, × floor. */
const NUMERIC = new Set([2, 4, 5]);

export function formatTable(rows: readonly Measurement[]): string[] {
  const cells = rows.map((r) => [
    r.suite,
    r.name,
    r.value === null ? 'n/a' : number(r.value),
    r.unit,
    r.floor === undefined || r.floor === null ? '' : number(r.floor),
    ratioText(r.value, r.floor),
    r.target === undefined ? '' : `${r.target} ${r.met === undefined ? '' : r.met ? 'met' : 'NOT met'}`.trimEnd(),
    r.detail,
  ]);
  const header = ['suite', 'measurement', 'value', 'unit', 'floor', '× floor', 'target', 'how'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c.map((cell, i) => (NUMERIC.has(i) ? cell.padStart(widths[i]!) : i === c.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w, i) => (i === widths.length - 1 ? '-'.repeat(Math.min(w, 40)) : '-'.repeat(w))).join('  '), ...cells.map(line)];
}
