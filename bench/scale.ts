/**
 * Fifty devices on one Node-RED runtime (issue 12): Node-RED runs in this process with our
 * nodes, one device config node and one playstatus node per simulated device; the devices
 * (bench/scale-devices.ts, one Simulator each, the kinds of SCALE_DEVICES in turn: DMAP, MRP,
 * AirPlay with Companion, a HomePod) run in a second process and change state (play ⇄ pause) ten times a second each. Measured in
 * the Node-RED process:
 *  - every update arrives (each change → one message of its playstatus node, in order);
 *  - push latency: the change in the device process → the playstatus node's message (the
 *    two processes' clocks lined up by the best of 20 IPC round trips);
 *  - memory per connected device (after GC, over Node-RED with our nodes loaded);
 *  - CPU while the devices change and while nothing changes.
 *
 *   node --expose-gc dist/bench/scale.js [--devices 50] [--seconds 60] [--idle 30] [--rate 10] [--json]
 *
 * `npm run bench` runs it short (`scaleSuite`: 5 s of changes, 3 s idle); `npm run
 * bench:scale` runs the long version (60 s of changes, 30 s idle, so every idle connection's
 * 20 s liveness probe falls inside the idle window). With `ATV_BENCH_PROFILE=<file>` the
 * Node-RED process's CPU profile of the changing window is written there (open it in Chrome's
 * DevTools) to see where each update's time goes.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { NodeMessage } from 'node-red';
import type { NowPlaying } from '../lib/device/state';
import { REPO_ROOT } from '../test/support/paths';
import { formatTable, percentile, round, type Measurement, type Suite } from './measure';
import { nextMessage, preciseNow, startDeviceProcess, type ScaleDevice, type ScaleParentMessage } from './scale-devices';

const SUITE = 'scale';
const PUSH_P99_TARGET_MS = 20;
const MEMORY_TARGET_MB = 2;
/** "No CPU when nothing changes": at most this share of one core. */
const IDLE_CPU_TARGET = 0.01;

export interface ScaleOptions {
  devices: number;
  /** Seconds of changes. */
  seconds: number;
  /** Changes per second per device. */
  rate: number;
  /** Seconds of nothing changing at the end. */
  idle: number;
}

export const SHORT_SCALE: ScaleOptions = { devices: 50, seconds: 5, rate: 10, idle: 3 };
export const LONG_SCALE: ScaleOptions = { devices: 50, seconds: 60, rate: 10, idle: 30 };

/** What the parts of Node-RED we use look like (its typings do not cover embedding). */
interface EmbeddedRed {
  init(server: Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  hooks: { add(name: string, hook: (events: { msg: NodeMessage; source: { id: string } }[]) => void): void };
  runtime: { flows: { setFlows(options: { flows: { flows: unknown[]; credentials: Record<string, unknown> }; deploymentType: string }): Promise<unknown> } };
}

interface Received {
  at: number;
  state: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  collect?.();
}

function memory(): { rss: number; heap: number } {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

/** Starts the CPU profiler when ATV_BENCH_PROFILE names a file; the function returned writes it there. */
async function startProfiler(): Promise<(() => Promise<void>) | null> {
  const file = process.env.ATV_BENCH_PROFILE;
  if (!file) return null;
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async () => {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/** The device process's clock minus ours (ms), from the IPC round trip that took least time. */
async function clockOffset(child: ChildProcess): Promise<{ offset: number; uncertainty: number }> {
  let best = { offset: 0, uncertainty: Infinity };
  for (let i = 0; i < 20; i++) {
    const sent = preciseNow();
    const pong = nextMessage(child, 'pong');
    child.send({ type: 'ping', sent } satisfies ScaleParentMessage);
    const { at } = await pong;
    const back = preciseNow();
    if ((back - sent) / 2 < best.uncertainty) best = { offset: at - (sent + back) / 2, uncertainty: (back - sent) / 2 };
  }
  return best;
}

function flowsFor(devices: readonly ScaleDevice[]): { flows: unknown[]; credentials: Record<string, Record<string, string>> } {
  const tab = 'scale-tab';
  const flows: unknown[] = [
    { id: tab, type: 'tab', label: 'scale' },
    { id: 'sink', type: 'debug', z: tab, active: false, tosidebar: false, console: 'false', tostatus: false, complete: 'true', wires: [] },
  ];
  const credentials: Record<string, Record<string, string>> = {};
  for (const d of devices) {
    const ports = Object.fromEntries(Object.entries(d.ports).map(([protocol, port]) => [`${protocol}Port`, String(port)]));
    flows.push({ id: `dev${d.index}`, type: 'atvlink-device', name: d.name, host: d.host, ...ports });
    flows.push({ id: `ps${d.index}`, type: 'atvlink-playstatus', z: tab, device: `dev${d.index}`, initial: true, wires: [['sink']] });
    credentials[`dev${d.index}`] = { ...d.credentials } as Record<string, string>;
  }
  return { flows, credentials };
}

export async function runScale(options: ScaleOptions): Promise<Measurement[]> {
  const userDir = mkdtempSync(join(tmpdir(), 'atvlink-scale-'));
  const red = require('node-red') as EmbeddedRed;
  // The editor's API wants an HTTP server to attach to; it never listens (no editor is needed).
  red.init(createServer(), {
    userDir,
    flowFile: 'flows.json',
    credentialSecret: false,
    nodesDir: [REPO_ROOT],
    uiHost: '127.0.0.1',
    logging: { console: { level: 'warn', metrics: false, audit: false } },
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    externalModules: { palette: { allowInstall: false } },
    editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
  });
  await red.start();
  const baseline = memory();
  const { child, devices } = await startDeviceProcess(options.devices);
  try {
    const clock = await clockOffset(child);

    // Every message of every playstatus node, as it leaves the node.
    const received = new Map<string, Received[]>(devices.map((d) => [`ps${d.index}`, []]));
    red.hooks.add('onSend.atvlinkScale', (events) => {
      const at = preciseNow();
      for (const event of events) {
        received.get(event.source.id)?.push({ at, state: (event.msg.payload as NowPlaying).deviceState });
      }
    });
    const deployed = preciseNow();
    await red.runtime.flows.setFlows({ flows: flowsFor(devices), deploymentType: 'full' });
    // Each playstatus node sends the state once on connecting (initial: true): all connected.
    const connectBy = Date.now() + 60_000;
    while ([...received.values()].some((list) => list.length === 0)) {
      if (Date.now() > connectBy) throw new Error(`${[...received.values()].filter((l) => l.length === 0).length} devices did not connect within 60 s`);
      await sleep(20);
    }
    const connectedIn = preciseNow() - deployed;
    await sleep(500);
    const connected = memory();
    for (const list of received.values()) list.length = 0;

    const profiler = await startProfiler();
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const cpuBefore = process.cpuUsage();
    const busyStart = preciseNow();
    child.send({ type: 'run', seconds: options.seconds, rate: options.rate } satisfies ScaleParentMessage);
    const { changes, cpu: deviceCpu } = await nextMessage(child, 'done', (options.seconds + 60) * 1000);
    const expected = changes.reduce((n, c) => n + c.at.length, 0);
    const settleBy = Date.now() + 2000;
    while ([...received.values()].reduce((n, l) => n + l.length, 0) < expected && Date.now() < settleBy) await sleep(10);
    const busyCpu = process.cpuUsage(cpuBefore);
    const busySeconds = (preciseNow() - busyStart) / 1000;
    loop.disable();
    await profiler?.();

    // Idle: nothing changes; only the liveness probes (one per device per 20 s of silence) may run.
    await sleep(500);
    const idleMessages = [...received.values()].reduce((n, l) => n + l.length, 0);
    const idleBefore = process.cpuUsage();
    const idleStart = preciseNow();
    await sleep(options.idle * 1000);
    const idleCpu = process.cpuUsage(idleBefore);
    const idleSeconds = (preciseNow() - idleStart) / 1000;
    const lateMessages = [...received.values()].reduce((n, l) => n + l.length, 0) - idleMessages;
    const after = memory();

    // Match the i-th message of each node to the i-th change of its device.
    const latencies: number[] = [];
    const byKind = new Map<string, number[]>();
    let lost = 0;
    let wrong = 0;
    for (const device of devices) {
      const sent = changes[device.index]!;
      const got = received.get(`ps${device.index}`)!;
      lost += Math.max(0, sent.at.length - got.length);
      for (let i = 0; i < Math.min(sent.at.length, got.length); i++) {
        if (got[i]!.state !== sent.states[i]) wrong++;
        const latency = got[i]!.at - (sent.at[i]! - clock.offset);
        latencies.push(latency);
        let list = byKind.get(device.kind);
        if (!list) byKind.set(device.kind, (list = []));
        list.push(latency);
      }
    }

    const count = devices.length;
    const perKind = [...new Set(devices.map((d) => d.kind))].map((k) => `${devices.filter((d) => d.kind === k).length} ${k}`).join(', ');
    const mbPerDevice = (bytes: number): number => round(bytes / count / 1024 / 1024, 2);
    const p99 = percentile(latencies, 99);
    const share = (cpu: NodeJS.CpuUsage, seconds: number): number => (cpu.user + cpu.system) / 1e6 / seconds;
    const idleShare = share(idleCpu, idleSeconds);
    const rows: Measurement[] = [
      { suite: SUITE, name: 'devices on one Node-RED runtime', value: count, unit: '', detail: `${perKind}; all connected ${round(connectedIn, 0)} ms after the deploy` },
      {
        suite: SUITE,
        name: 'updates lost',
        value: lost + wrong,
        unit: '',
        target: '0',
        met: lost + wrong === 0 && lateMessages === 0,
        detail: `${expected} changes (${options.rate}/s per device for ${options.seconds} s) → ${expected - lost} messages, ${wrong} out of order, ${lateMessages} after the changes stopped`,
      },
      {
        suite: SUITE,
        name: 'push latency p50',
        value: round(percentile(latencies, 50), 2),
        unit: 'ms',
        detail: `change in the device process → playstatus message (clocks lined up within ±${round(clock.uncertainty, 3)} ms)`,
      },
      {
        suite: SUITE,
        name: 'push latency p99',
        value: round(p99, 2),
        unit: 'ms',
        target: `< ${PUSH_P99_TARGET_MS} ms`,
        met: p99 < PUSH_P99_TARGET_MS,
        detail: [...byKind].map(([k, l]) => `${k} ${round(percentile(l, 50), 2)} / ${round(percentile(l, 99), 2)}`).join(', ') + ` (p50 / p99); max ${round(Math.max(...latencies), 1)} ms`,
      },
      {
        suite: SUITE,
        name: 'event loop delay p99 while changing',
        value: round(loop.percentile(99) / 1e6, 2),
        unit: 'ms',
        detail: `max ${round(loop.max / 1e6, 1)} ms`,
      },
      {
        suite: SUITE,
        name: 'memory per connected device, RSS',
        value: mbPerDevice(connected.rss - baseline.rss),
        unit: 'MB',
        target: `< ${MEMORY_TARGET_MB} MB`,
        met: (connected.rss - baseline.rss) / count / 1024 / 1024 < MEMORY_TARGET_MB,
        detail: `over Node-RED with our nodes loaded; after the changes ${mbPerDevice(after.rss - baseline.rss)} MB`,
      },
      {
        suite: SUITE,
        name: 'memory per connected device, JS heap + buffers',
        value: mbPerDevice(connected.heap - baseline.heap),
        unit: 'MB',
        detail: `after GC; after the changes ${mbPerDevice(after.heap - baseline.heap)} MB`,
      },
      {
        suite: SUITE,
        name: 'CPU while changing',
        value: round(share(busyCpu, busySeconds) * 100, 1),
        unit: '% core',
        detail: `${round((busyCpu.user + busyCpu.system) / Math.max(1, expected), 0)} µs per update in the Node-RED process; the simulators' process: ${round((deviceCpu / 1e6 / options.seconds) * 100, 0)} % core`,
      },
      {
        suite: SUITE,
        name: 'CPU while nothing changes',
        value: round(idleShare * 100, 2),
        unit: '% core',
        target: `< ${IDLE_CPU_TARGET * 100}%`,
        met: idleShare < IDLE_CPU_TARGET,
        detail: `${round(idleSeconds, 1)} s with no change; ${round((idleCpu.user + idleCpu.system) / 1000, 1)} ms of CPU in all`,
      },
    ];
    return rows;
  } finally {
    child.send({ type: 'stop' } satisfies ScaleParentMessage);
    await red.stop().catch(() => undefined);
    rmSync(userDir, { recursive: true, force: true });
  }
}

/** The short run, in a fresh process of its own (with --expose-gc for the memory figures). */
export const scaleSuite: Suite = {
  name: 'scale',
  async run(): Promise<Measurement[]> {
    const { devices, seconds, idle, rate } = SHORT_SCALE;
    const args = ['--expose-gc', __filename, '--json', '--devices', String(devices), '--seconds', String(seconds), '--idle', String(idle), '--rate', String(rate)];
    const { stdout } = await promisify(execFile)(process.execPath, args, { encoding: 'utf8', timeout: 5 * 60_000, maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(stdout.trim().split('\n').pop()!) as Measurement[];
  },
};

function option(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`);
  const value = at >= 0 ? Number(args[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a number above 0`);
  return value;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const options: ScaleOptions = {
    devices: option(args, 'devices', LONG_SCALE.devices),
    seconds: option(args, 'seconds', LONG_SCALE.seconds),
    rate: option(args, 'rate', LONG_SCALE.rate),
    idle: option(args, 'idle', LONG_SCALE.idle),
  };
  if (options.devices > 240) throw new Error('at most 240 devices (one loopback address each)');
  runScale(options).then(
    (rows) => {
      if (args.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else for (const line of formatTable(rows)) console.log(line);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`scale benchmark failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
