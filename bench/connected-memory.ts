/**
 * Run in a fresh process by the benchmark: the memory of one connected Device with push
 * updates running, against a device the parent serves, and how long that first connection
 * took. Prints one JSON line: `{ baseline: {rss, heapUsed}, connected: {rss, heapUsed},
 * connectMs }` (bytes, ms).
 *
 *   node --expose-gc dist/bench/connected-memory.js <protocol> <host> <port> <credentials>
 */
import { performance } from 'node:perf_hooks';
// Loaded before the baseline is taken: the figure is what a connection costs on top.
import * as lib from '../lib/index';
import type { Protocol } from '../lib/device/interfaces';

function usage(): { rss: number; heapUsed: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

async function main(): Promise<void> {
  const [protocol, host, port, credentials] = process.argv.slice(2) as [Protocol, string, string, string];
  const baseline = usage();
  const config = lib.manualConfig({ address: host, services: [{ protocol, port: Number(port) }] });
  const started = performance.now();
  const device = await lib.connect(config, { credentials: { [protocol]: credentials } });
  const connectMs = performance.now() - started;
  const first = new Promise<void>((resolve) => device.once('nowPlaying', () => resolve()));
  device.startPushUpdates();
  await first;
  await device.nowPlaying();
  await new Promise((r) => setTimeout(r, 200));
  const connected = usage();
  await device.close();
  process.stdout.write(`${JSON.stringify({ baseline, connected, connectMs })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
