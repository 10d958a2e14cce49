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

export const missing = (suite: string, name: string, unit: string, why: string): Measurement => ({ suite, name, value: null, unit, detail: why });

export function formatTable(rows: readonly Measurement[]): string[] {
  const cells = rows.map((r) => [r.suite, r.name, r.value === null ? 'n/a' : r.value.toLocaleString('en-US', { maximumFractionDigits: 2 }), r.unit, r.detail]);
  const header = ['suite', 'measurement', 'value', 'unit', 'how'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : i === c.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w, i) => (i === widths.length - 1 ? '-'.repeat(Math.min(w, 40)) : '-'.repeat(w))).join('  '), ...cells.map(line)];
}
