/**
 * The figures every protocol reports the same way, against the simulator on 127.0.0.1: the
 * command round trip through the facade, the push latency (a state change in the simulator
 * → the Device's 'nowPlaying' event) and the memory one connected Device costs (measured
 * in a fresh child process by connected-memory.ts).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { connect, type Device } from '../lib/core/facade';
import type { DeviceConfig, Protocol } from '../lib/device/interfaces';
import type { NowPlaying } from '../lib/device/state';
import type { Simulator } from '../lib/simulator';
import { latencies, missing, percentile, round, type Measurement } from './measure';

const COMMANDS = 300;
const PUSHES = 100;
const WARMUP = 5;

export interface LiveDeviceOptions {
  suite: string;
  sim: Simulator;
  config: DeviceConfig;
  protocol: Protocol;
  credentials: string;
  /** The protocol's port on the simulator (for the memory child). */
  port: number;
  /** How the command round trip is named and described. */
  commandName: string;
  commandDetail: string;
}

function latencyRows(suite: string, name: string, samples: number[], what: string): Measurement[] {
  return [
    { suite, name: `${name} p50`, value: round(percentile(samples, 50), 2), unit: 'ms', detail: `${samples.length} ${what}` },
    { suite, name: `${name} p99`, value: round(percentile(samples, 99), 2), unit: 'ms', detail: `max ${round(Math.max(...samples), 2)} ms` },
  ];
}

/** Resolves with the first 'nowPlaying' event that satisfies `wanted`. */
function nextState(device: Device, wanted: (state: NowPlaying) => boolean): Promise<NowPlaying> {
  return new Promise((resolve) => {
    const listener = (state: NowPlaying): void => {
      if (!wanted(state)) return;
      device.off('nowPlaying', listener);
      resolve(state);
    };
    device.on('nowPlaying', listener);
  });
}

async function memoryRows(options: LiveDeviceOptions): Promise<Measurement[]> {
  const { suite, protocol, port, credentials } = options;
  try {
    // Asynchronously: the simulator in this process must keep answering the child.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', join(__dirname, 'connected-memory.js'), protocol, '127.0.0.1', String(port), credentials],
      { encoding: 'utf8', timeout: 20_000 },
    );
    const { baseline, connected } = JSON.parse(stdout) as Record<'baseline' | 'connected', { rss: number; heapUsed: number }>;
    const mb = (n: number): number => round(n / 1024 / 1024, 1);
    return [
      {
        suite,
        name: 'connected Device, process RSS',
        value: mb(connected.rss),
        unit: 'MB',
        detail: `fresh process, push updates on (+${mb(connected.rss - baseline.rss)} MB over the loaded library)`,
      },
      {
        suite,
        name: 'connected Device, JS heap used',
        value: mb(connected.heapUsed),
        unit: 'MB',
        detail: `after GC (+${round((connected.heapUsed - baseline.heapUsed) / 1024, 0)} KB over the loaded library)`,
      },
    ];
  } catch (err) {
    return [missing(suite, 'connected Device memory', 'MB', `child process failed: ${(err as Error).message.split('\n')[0]}`)];
  }
}

/** Command round trip, push latency and memory of one protocol against a running simulator. */
export async function liveDeviceMeasurements(options: LiveDeviceOptions): Promise<Measurement[]> {
  const { suite, sim, config, protocol } = options;
  const credentials = { [protocol]: options.credentials };
  const commander = await connect(config, { credentials, protocols: [protocol] });
  const watcher = await connect(config, { credentials, protocols: [protocol] });
  try {
    const rows: Measurement[] = [];
    const commands = await latencies(COMMANDS, (i) => commander.command(i % 2 === 0 ? 'play' : 'pause'));
    rows.push(...latencyRows(suite, options.commandName, commands, options.commandDetail));

    const first = nextState(watcher, () => true);
    watcher.startPushUpdates();
    await first;
    const pushes: number[] = [];
    for (let i = 0; i < PUSHES + WARMUP; i++) {
      const start = performance.now();
      sim.state.playPause();
      const expected = sim.state.status;
      await nextState(watcher, (state) => state.deviceState === expected);
      if (i >= WARMUP) pushes.push(performance.now() - start);
    }
    rows.push(...latencyRows(suite, 'push latency (state change → event)', pushes, 'changes in the simulator, each awaited'));
    rows.push(...(await memoryRows(options)));
    return rows;
  } finally {
    await watcher.close();
    await commander.close();
  }
}
