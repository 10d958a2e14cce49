/**
 * The figures every protocol reports the same way, against the simulator on 127.0.0.1: the
 * command round trip through the facade, the push latency (a state change in the simulator
 * → the Device's 'nowPlaying' event) and the memory one connected Device costs (measured
 * in a fresh child process by connected-memory.ts). Round trips and pushes are measured in
 * rounds that alternate with their floor (bench/floor.ts: the same bytes on the same kind of
 * connection with nothing of the library), and each figure is shown as a multiple of it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { connect, type Device } from '../lib/core/facade';
import { manualConfig } from '../lib/device/config';
import type { DeviceConfig, Protocol } from '../lib/device/interfaces';
import type { NowPlaying } from '../lib/device/state';
import type { Simulator } from '../lib/simulator';
import { describeExchange, floorPushes, floorRoundTrips, type FloorExchange, type FloorKind } from './floor';
import { interleaved, latencies, missing, percentile, round, type Measurement } from './measure';
import { nextMessage, startDeviceProcess, type ScaleParentMessage } from './scale-devices';

/** Rounds of commands (and of pushes), each followed by a round of its floor. */
const ROUNDS = 4;
/** 400 alternating play/pause commands in all, as in issue 12's side-by-side with pyatv. */
const COMMANDS_PER_ROUND = 100;
const PUSHES_PER_ROUND = 40;
/**
 * Unmeasured commands (pushes) first: figures of a long-running runtime, whose JIT has
 * compiled the paths (the first hundreds of commands of a process run slower; the cold side
 * is the 'first connect in a fresh process' row).
 */
const WARMUP = 1000;
const PUSH_WARMUP = 300;
/** Quiet time before each measured change (ms). */
const PUSH_GAP_MS = 3;
/** Unmeasured round trips on each fresh floor connection. */
const FLOOR_WARMUP = 200;

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
  /** The kind of connection the protocol runs on, for its floors. */
  floorKind: FloorKind;
  /** One command on the wire (request and answer, with any state push it triggers). */
  commandExchange: FloorExchange;
  /** One state push on the wire. */
  pushExchange: FloorExchange;
}

/**
 * p50 and p99 rows of `samples` beside those of `floor`. The p50 target is a multiple of the
 * floor's p50 (null: none); the p99 target is always 4× the figure's own p50.
 */
export function latencyRows(
  suite: string,
  name: string,
  samples: number[],
  floor: number[],
  what: string,
  floorWhat: string,
  p50Target: number | null,
): Measurement[] {
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  const floor50 = percentile(floor, 50);
  const floor99 = percentile(floor, 99);
  return [
    {
      suite,
      name: `${name} p50`,
      value: round(p50, 3),
      unit: 'ms',
      floor: round(floor50, 3),
      ...(p50Target !== null && { target: `≤ ${p50Target}× floor`, met: p50 <= p50Target * floor50 }),
      detail: `${samples.length} ${what}; floor: ${floorWhat}`,
    },
    {
      suite,
      name: `${name} p99`,
      value: round(p99, 3),
      unit: 'ms',
      floor: round(floor99, 3),
      target: '≤ 4× p50',
      met: p99 <= 4 * p50,
      detail: `p99/p50 ${round(p99 / p50, 1)} (floor's ${round(floor99 / floor50, 1)}), max ${round(Math.max(...samples), 2)} ms`,
    },
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
    const { baseline, connected, connectMs } = JSON.parse(stdout) as Record<'baseline' | 'connected', { rss: number; heapUsed: number }> & {
      connectMs: number;
    };
    const mb = (n: number): number => round(n / 1024 / 1024, 1);
    return [
      {
        suite,
        name: 'first connect in a fresh process',
        value: round(connectMs, 1),
        unit: 'ms',
        detail: 'library loaded; includes compiling the code paths (and any lazy schema load)',
      },
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
  const { suite, sim, config, protocol, floorKind } = options;
  const credentials = { [protocol]: options.credentials };
  const rows: Measurement[] = [];
  // Alone on the simulator while commands are timed: a second client would add its own work.
  const commander = await connect(config, { credentials, protocols: [protocol] });
  try {
    let n = 0;
    const command = (): Promise<void> => commander.command(n++ % 2 === 0 ? 'play' : 'pause');
    for (let i = 0; i < WARMUP; i++) await command();
    const { commands, floor } = await interleaved(ROUNDS, {
      commands: () => latencies(COMMANDS_PER_ROUND, command, 0),
      floor: () => floorRoundTrips(floorKind, options.commandExchange, COMMANDS_PER_ROUND, FLOOR_WARMUP),
    });
    rows.push(
      ...latencyRows(suite, options.commandName, commands, floor, options.commandDetail, `${floorKind} ${describeExchange(options.commandExchange)}`, 2),
    );
  } finally {
    await commander.close();
  }

  const watcher = await connect(config, { credentials, protocols: [protocol] });
  try {
    const first = nextState(watcher, () => true);
    watcher.startPushUpdates();
    await first;
    const push = async (): Promise<void> => {
      sim.state.playPause();
      const expected = sim.state.status;
      await nextState(watcher, (state) => state.deviceState === expected);
    };
    for (let i = 0; i < PUSH_WARMUP; i++) await push();
    // A pause before each change, as between real changes: a DMAP client has its next long
    // poll waiting again (back to back, a change would often find none and wait for it).
    const pushes = async (count: number): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < count; i++) {
        await new Promise((resolve) => setTimeout(resolve, PUSH_GAP_MS));
        samples.push(...(await latencies(1, push, 0)));
      }
      return samples;
    };
    const { pushes: pushSamples, floor } = await interleaved(ROUNDS, {
      pushes: () => pushes(PUSHES_PER_ROUND),
      floor: () => floorPushes(floorKind, options.pushExchange, PUSHES_PER_ROUND, FLOOR_WARMUP, PUSH_GAP_MS),
    });
    rows.push(
      ...latencyRows(
        suite,
        'push latency (state change → event)',
        pushSamples,
        floor,
        `changes in the simulator, ${PUSH_GAP_MS} ms apart, each awaited`,
        `one way after the same pause, ${floorKind} ${describeExchange(options.pushExchange).replace(/^.* out, /, '')}`,
        null,
      ),
    );
    rows.push(...(await memoryRows(options)));
    return rows;
  } finally {
    await watcher.close();
  }
}

/** One step of a connection's setup, with the least it could cost (ms). */
export interface ConnectPhase {
  name: string;
  floor: number;
  floorWhat: string;
}

/**
 * Connect figures: `once(mark)` opens (and closes) one connection and calls `mark(i)` as
 * step i of `phases` ends (the last mark when connected). Each step's p50 is shown beside its
 * floor, and the total beside the sum of the floors.
 */
export async function connectRows(
  suite: string,
  name: string,
  phases: readonly ConnectPhase[],
  runs: number,
  once: (mark: (phase: number) => void) => Promise<void>,
): Promise<Measurement[]> {
  const totals: number[] = [];
  const steps: number[][] = phases.map(() => []);
  for (let run = 0; run < runs + 2; run++) {
    const at: number[] = [];
    const start = performance.now();
    await once((phase) => {
      at[phase] ??= performance.now();
    });
    if (run < 2) continue; // the first connections compile the code paths
    let previous = start;
    phases.forEach((_, i) => {
      const end = at[i] ?? previous;
      steps[i]!.push(end - previous);
      previous = end;
    });
    totals.push(previous - start);
  }
  const floor = phases.reduce((sum, p) => sum + p.floor, 0);
  const p50 = percentile(totals, 50);
  return [
    {
      suite,
      name: `${name} p50`,
      value: round(p50, 2),
      unit: 'ms',
      floor: round(floor, 2),
      detail: `${runs} connections after 2 warm-up ones, each closed again; floor: the sum of the steps' floors`,
    },
    ...phases.map((phase, i) => ({
      suite,
      name: `  ${phase.name}`,
      value: round(percentile(steps[i]!, 50), 2),
      unit: 'ms',
      floor: round(phase.floor, 2),
      detail: `p50; floor: ${phase.floorWhat}`,
    })),
  ];
}

const SEPARATE_COMMANDS = 400;

/**
 * The command round trip with the device in a process of its own (one device of `kind` from
 * bench/scale-devices.ts), as a real device is: the round trip a user sees, and the CPU each
 * side spends per command, measured apart (this process: the library; the other: the
 * simulator). Says which side of a round trip costs what.
 */
export async function separateProcessRows(suite: string, kind: string, protocol: Protocol, name: string): Promise<Measurement[]> {
  let child: ChildProcess | null = null;
  try {
    const started = await startDeviceProcess(1, [kind]);
    child = started.child;
    const device = started.devices[0];
    const services = Object.entries(device!.ports).map(([p, port]) => ({ protocol: p as Protocol, port: port! }));
    const commander = await connect(manualConfig({ address: device!.host, services }), { credentials: device!.credentials, protocols: [protocol] });
    try {
      let n = 0;
      const command = (): Promise<void> => commander.command(n++ % 2 === 0 ? 'play' : 'pause');
      for (let i = 0; i < WARMUP; i++) await command();
      const cpu = async (): Promise<number> => {
        const answer = nextMessage(child!, 'cpu');
        child!.send({ type: 'cpu' } satisfies ScaleParentMessage);
        return (await answer).used;
      };
      const theirsBefore = await cpu();
      const oursBefore = process.cpuUsage();
      const samples = await latencies(SEPARATE_COMMANDS, command, 0);
      const ours = process.cpuUsage(oursBefore);
      const theirs = (await cpu()) - theirsBefore;
      const perCommand = (us: number): number => round(us / SEPARATE_COMMANDS, 1);
      return [
        {
          suite,
          name: `${name}, device in another process p50`,
          value: round(percentile(samples, 50), 3),
          unit: 'ms',
          detail: `${SEPARATE_COMMANDS} play/pause; p99 ${round(percentile(samples, 99), 3)} ms`,
        },
        {
          suite,
          name: '  CPU per command: the library',
          value: perCommand(ours.user + ours.system),
          unit: 'µs',
          detail: `this process (${perCommand(ours.system)} µs of it in the kernel): facade, session, protocol, codecs, cipher, socket calls`,
        },
        {
          suite,
          name: '  CPU per command: the simulator',
          value: perCommand(theirs),
          unit: 'µs',
          detail: 'the device process: its server, the state change and the answers (+ ~0.1 µs of CPU questions)',
        },
      ];
    } finally {
      await commander.close();
    }
  } catch (err) {
    return [missing(suite, `${name}, device in another process`, 'ms', (err as Error).message.split('\n')[0]!)];
  } finally {
    child?.send({ type: 'stop' } satisfies ScaleParentMessage);
  }
}
