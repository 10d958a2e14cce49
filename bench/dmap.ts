/**
 * DMAP figures: the TLV codec's throughput on a large library listing and on a real
 * playstatus body, and, against the simulator on 127.0.0.1, the DACP command round trip,
 * the push latency (state change in the simulator → the Device's 'nowPlaying' event) and
 * the memory a connected Device costs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeDmap, encodeDmap, encodeTag } from '../lib/codecs/dmap';
import { connect } from '../lib/device/facade';
import type { NowPlaying } from '../lib/device/state';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../lib/simulator';
import { fixture } from '../test/support/paths';
import { latencies, missing, percentile, round, throughput, type Measurement, type Suite } from './measure';

const SUITE = 'DMAP';
const LISTING_ITEMS = 20_000;
const COMMANDS = 300;
const PUSHES = 100;

/** A `daap.playlistsongs` answer with `items` tracks, as a music server sends for a big library. */
export function libraryListing(items: number): Buffer {
  const tracks: Buffer[] = [];
  for (let i = 0; i < items; i++) {
    tracks.push(
      encodeTag('mlit', [
        encodeTag('mikd', 2),
        encodeTag('miid', i + 1),
        encodeTag('mper', 0x0123456789abcdefn + BigInt(i)),
        encodeTag('minm', `Track ${i + 1}: a song title of ordinary length`),
        encodeTag('asar', `Artist ${i % 500}`),
        encodeTag('asal', `Album ${i % 1500} (Deluxe Edition)`),
        encodeTag('asgn', ['Rock', 'Jazz', 'Electronic', 'Classical'][i % 4]!),
        encodeTag('astm', 180_000 + (i % 120_000)),
        encodeTag('asai', 0x1000n + BigInt(i % 1500)),
      ]),
    );
  }
  return encodeTag('apso', [
    encodeTag('mstt', 200),
    encodeTag('muty', 0),
    encodeTag('mtco', items),
    encodeTag('mrco', items),
    encodeTag('mlcl', tracks),
  ]);
}

function codecMeasurements(): Measurement[] {
  const rows: Measurement[] = [];
  const listing = libraryListing(LISTING_ITEMS);
  const size = `${LISTING_ITEMS.toLocaleString('en-US')} mlit items, ${round(listing.length / 1024 / 1024, 1)} MB`;
  const decode = throughput(listing.length, () => decodeDmap(listing), 1000);
  rows.push({ suite: SUITE, name: 'TLV decode, library listing', value: round(decode.mbPerSecond, 1), unit: 'MB/s', detail: `${size}, ${decode.calls} runs` });
  const tree = decodeDmap(listing);
  const encode = throughput(listing.length, () => encodeDmap(tree), 1000);
  rows.push({ suite: SUITE, name: 'TLV encode, library listing', value: round(encode.mbPerSecond, 1), unit: 'MB/s', detail: `${size}, ${encode.calls} runs` });

  const playstatusFile = fixture('owntone-29.3', 'playstatusupdate-2-playing.bin');
  if (existsSync(playstatusFile)) {
    const body = readFileSync(playstatusFile);
    const small = throughput(body.length, () => decodeDmap(body));
    rows.push({
      suite: SUITE,
      name: 'TLV decode, OwnTone playstatus',
      value: round(small.mbPerSecond, 1),
      unit: 'MB/s',
      detail: `${body.length} bytes, ${small.calls.toLocaleString('en-US')} runs (${round((small.mbPerSecond * 1024 * 1024) / body.length / 1000, 0)}k bodies/s)`,
    });
  } else {
    rows.push(missing(SUITE, 'TLV decode, OwnTone playstatus', 'MB/s', 'fixture not found'));
  }
  return rows;
}

function latencyRows(name: string, samples: number[], what: string): Measurement[] {
  return [
    { suite: SUITE, name: `${name} p50`, value: round(percentile(samples, 50), 2), unit: 'ms', detail: `${samples.length} ${what}` },
    { suite: SUITE, name: `${name} p99`, value: round(percentile(samples, 99), 2), unit: 'ms', detail: `max ${round(Math.max(...samples), 2)} ms` },
  ];
}

async function memoryRows(port: number): Promise<Measurement[]> {
  try {
    return await measureMemory(port);
  } catch (err) {
    return [missing(SUITE, 'connected Device memory', 'MB', `child process failed: ${(err as Error).message.split('\n')[0]}`)];
  }
}

async function measureMemory(port: number): Promise<Measurement[]> {
  const script = join(__dirname, 'connected-memory.js');
  // Asynchronously: the simulator in this process must keep answering the child.
  const { stdout: output } = await promisify(execFile)(process.execPath, ['--expose-gc', script, 'dmap', '127.0.0.1', String(port), DEMO_DMAP_CREDENTIALS], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  const { baseline, connected } = JSON.parse(output) as Record<'baseline' | 'connected', { rss: number; heapUsed: number }>;
  const mb = (n: number): number => round(n / 1024 / 1024, 1);
  return [
    {
      suite: SUITE,
      name: 'connected Device, process RSS',
      value: mb(connected.rss),
      unit: 'MB',
      detail: `fresh process, push updates on (+${mb(connected.rss - baseline.rss)} MB over the loaded library)`,
    },
    {
      suite: SUITE,
      name: 'connected Device, JS heap used',
      value: mb(connected.heapUsed),
      unit: 'MB',
      detail: `after GC (+${round((connected.heapUsed - baseline.heapUsed) / 1024, 0)} KB over the loaded library)`,
    },
  ];
}

async function liveMeasurements(): Promise<Measurement[]> {
  const sim = new Simulator({ name: 'Benchmark TV', homeSharing: false });
  await sim.start();
  const config = sim.config();
  const credentials = { dmap: DEMO_DMAP_CREDENTIALS };
  const commander = await connect(config, { credentials });
  const watcher = await connect(config, { credentials });
  try {
    const rows: Measurement[] = [];
    const commands = await latencies(COMMANDS, (i) => commander.command(i % 2 === 0 ? 'play' : 'pause'));
    rows.push(...latencyRows('DACP command round trip', commands, 'commands (play/pause), one at a time'));

    const first = new Promise<void>((resolve) => watcher.once('nowPlaying', () => resolve()));
    watcher.startPushUpdates();
    await first;
    const next = (): Promise<NowPlaying> => new Promise((resolve) => watcher.once('nowPlaying', resolve));
    const pushes: number[] = [];
    for (let i = 0; i < PUSHES + 5; i++) {
      const arrived = next();
      const start = performance.now();
      sim.state.playPause();
      await arrived;
      if (i >= 5) pushes.push(performance.now() - start);
    }
    rows.push(...latencyRows('push latency (state change → event)', pushes, 'changes in the simulator, each awaited'));
    rows.push(...(await memoryRows(sim.dmapPort)));
    return rows;
  } finally {
    await watcher.close();
    await commander.close();
    await sim.stop();
  }
}

export const dmapSuite: Suite = {
  name: SUITE,
  async run(): Promise<Measurement[]> {
    return [...codecMeasurements(), ...(await liveMeasurements())];
  },
};
