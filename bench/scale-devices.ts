/**
 * The device side of the scale benchmark (bench/scale.ts), in a process of its own so the
 * Node-RED process measured holds only Node-RED and our nodes: one `Simulator` per device,
 * each on an address of its own (127.0.0.10, .11, ...), the devices spread evenly over the
 * kinds of `SCALE_DEVICES`. On `run` every device changes its state (play ⇄ pause) at
 * the given rate, staggered so the changes do not all fall in one millisecond, and records
 * when each change happened, as epoch milliseconds with sub-millisecond precision, so the
 * Node-RED process can time each update from the change to the playstatus node's message.
 *
 * Messages (IPC): parent → `start` | `ping` | `run` | `stop`; child → `ready` | `pong` | `done`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Protocol } from '../lib/device/interfaces';
import { hapCredentials, formatHapCredentials } from '../lib/hap/credentials';
import { ed25519PublicKey, randomKeyBytes } from '../lib/hap/keys';
import { DEMO_DMAP_CREDENTIALS, formatPairingRecord, Simulator, type SimulatedProtocol, type SimulatorOptions } from '../lib/simulator';

/**
 * One kind of device in the scale test: how to simulate it and the credentials a remote
 * connects with. The devices are spread evenly over the kinds; a new protocol joins the test
 * with one entry here (its simulator server must exist), and the Node-RED side configures
 * each device node from `protocols` (its `<protocol>Port` fields and credentials).
 */
export interface ScaleDeviceKind {
  /** How the results name it. */
  name: string;
  /** The simulator's options, the protocols it serves included. */
  options: SimulatorOptions & { protocols: readonly SimulatedProtocol[] };
  /** The credentials, per protocol, of a remote paired with `sim` (called once it runs). */
  credentials(sim: Simulator): Partial<Record<Protocol, string>>;
}

/**
 * What pair-setup leaves behind, without its SRP exchange (about 280 ms of CPU per device):
 * our controller's record in the simulator's store and the matching client credentials, for
 * a device whose `protocol` server has long-term key `ltpk` and pair-verify identifier
 * `deviceId`. Every connection still runs the full pair-verify with both signatures checked.
 */
function seededHap(sim: Simulator, protocol: 'mrp' | 'airplay' | 'companion', ltpk: Buffer, deviceId: string): string {
  const clientSeed = randomKeyBytes();
  const clientId = Buffer.from(`atvlink-scale-${protocol}-${sim.deviceId}`, 'utf8');
  sim['store'].add(protocol, formatPairingRecord(clientId, ed25519PublicKey(clientSeed)));
  return formatHapCredentials(hapCredentials({ ltpk, ltsk: clientSeed, atvId: Buffer.from(deviceId, 'utf8'), clientId }));
}

/** Tracks long enough that none ends during a run (an end would be a change nobody asked for). */
const TRACK_SECONDS = 24 * 3600;

export const SCALE_DEVICES: readonly ScaleDeviceKind[] = [
  {
    name: 'DMAP',
    options: { protocols: ['dmap'], homeSharing: false, trackSeconds: TRACK_SECONDS },
    credentials: () => ({ dmap: DEMO_DMAP_CREDENTIALS }),
  },
  {
    name: 'MRP',
    options: { protocols: ['mrp'], trackSeconds: TRACK_SECONDS },
    credentials: (sim) => {
      const mrp = sim.server('mrp')!;
      return { mrp: seededHap(sim, 'mrp', mrp.ltpk, mrp.identity.uniqueIdentifier) };
    },
  },
  {
    // An Apple TV on tvOS 15 or later: MRP through the AirPlay tunnel, power and apps over Companion.
    name: 'AirPlay+Companion',
    options: { protocols: ['airplay', 'companion'], trackSeconds: TRACK_SECONDS },
    credentials: (sim) => {
      const airplay = sim.server('airplay')!;
      const companion = sim.server('companion')!;
      return {
        airplay: seededHap(sim, 'airplay', airplay.ltpk, airplay.identity.pairingId),
        companion: seededHap(sim, 'companion', companion.ltpk, companion.identity.pairingId),
      };
    },
  },
  {
    // A HomePod: AirPlay with transient pairing (no credentials), MRP through the tunnel.
    name: 'AirPlay (HomePod)',
    options: { protocols: ['airplay'], device: 'homepod', trackSeconds: TRACK_SECONDS },
    credentials: () => ({}),
  },
];

/** One simulated device as the Node-RED side configures it. */
export interface ScaleDevice {
  index: number;
  kind: string;
  name: string;
  host: string;
  ports: Partial<Record<Protocol, number>>;
  credentials: Partial<Record<Protocol, string>>;
}

export type ScaleParentMessage =
  /** Starts `devices` devices, of the kinds named (default every kind of SCALE_DEVICES, in turn). */
  | { type: 'start'; devices: number; kinds?: string[] }
  | { type: 'ping'; sent: number }
  /** How much CPU this process has used so far. */
  | { type: 'cpu' }
  | { type: 'run'; seconds: number; rate: number }
  | { type: 'stop' };

export type ScaleChildMessage =
  | { type: 'ready'; devices: ScaleDevice[] }
  | { type: 'pong'; sent: number; at: number }
  /** CPU used since the process started, µs. */
  | { type: 'cpu'; used: number }
  /** Per device: when each change happened (epoch ms) and the state it left; the CPU this process used meanwhile (µs). */
  | { type: 'done'; changes: { at: number[]; states: string[] }[]; cpu: number };

/** The parent's side: the first message of `type` from the device process. */
export function nextMessage<T extends ScaleChildMessage['type']>(
  child: ChildProcess,
  type: T,
  timeout = 60_000,
): Promise<Extract<ScaleChildMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the device process sent no ${type} within ${timeout} ms`)), timeout);
    const listener = (message: ScaleChildMessage): void => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', listener);
      resolve(message as Extract<ScaleChildMessage, { type: T }>);
    };
    child.on('message', listener);
  });
}

/** The parent's side: a device process running `count` devices (of the kinds named); stop it with a `stop` message. */
export async function startDeviceProcess(count: number, kinds?: string[]): Promise<{ child: ChildProcess; devices: ScaleDevice[] }> {
  const child = fork(join(__dirname, 'scale-devices.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const ready = nextMessage(child, 'ready');
  child.send({ type: 'start', devices: count, ...(kinds !== undefined && { kinds }) } satisfies ScaleParentMessage);
  return { child, devices: (await ready).devices };
}

/** Epoch milliseconds with the monotonic clock's precision. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

const simulators: Simulator[] = [];

async function start(count: number, kindNames?: string[]): Promise<ScaleDevice[]> {
  const kinds = kindNames === undefined ? SCALE_DEVICES : SCALE_DEVICES.filter((k) => kindNames.includes(k.name));
  if (kinds.length === 0) throw new Error(`no device kind named ${kindNames?.join(', ')}`);
  const devices: ScaleDevice[] = [];
  for (let index = 0; index < count; index++) {
    const kind = kinds[index % kinds.length]!;
    const host = `127.0.0.${10 + index}`;
    const name = `Scale TV ${index + 1}`;
    const sim = new Simulator({ ...kind.options, name, host });
    await sim.start();
    simulators.push(sim);
    const ports: Partial<Record<Protocol, number>> = {};
    for (const protocol of kind.options.protocols) ports[protocol] = sim.server(protocol)!.port;
    devices.push({ index, kind: kind.name, name, host, ports, credentials: kind.credentials(sim) });
  }
  return devices;
}

async function run(seconds: number, rate: number): Promise<{ at: number[]; states: string[] }[]> {
  const period = 1000 / rate;
  const perDevice = Math.round(seconds * rate);
  const log = simulators.map(() => ({ at: [] as number[], states: [] as string[] }));
  await Promise.all(
    simulators.map(
      (sim, i) =>
        new Promise<void>((resolve) => {
          const change = (): void => {
            sim.state.playPause();
            log[i]!.at.push(preciseNow());
            log[i]!.states.push(sim.state.status);
          };
          // Spread the devices over one period.
          setTimeout(() => {
            change();
            const timer = setInterval(() => {
              change();
              if (log[i]!.at.length >= perDevice) {
                clearInterval(timer);
                resolve();
              }
            }, period);
          }, (i * period) / simulators.length);
        }),
    ),
  );
  return log;
}

function send(message: ScaleChildMessage): void {
  process.send!(message);
}

if (require.main === module) {
  // The Node-RED process is gone (it failed or was stopped): nothing left to simulate for.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ScaleParentMessage) => {
    switch (message.type) {
      case 'start':
        void start(message.devices, message.kinds).then((devices) => send({ type: 'ready', devices }));
        return;
      case 'cpu': {
        const used = process.cpuUsage();
        send({ type: 'cpu', used: used.user + used.system });
        return;
      }
      case 'ping':
        send({ type: 'pong', sent: message.sent, at: preciseNow() });
        return;
      case 'run': {
        const before = process.cpuUsage();
        void run(message.seconds, message.rate).then((changes) => {
          const cpu = process.cpuUsage(before);
          send({ type: 'done', changes, cpu: cpu.user + cpu.system });
        });
        return;
      }
      case 'stop':
        void Promise.all(simulators.map((s) => s.stop())).then(() => process.exit(0));
        return;
    }
  });
}
