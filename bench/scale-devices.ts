/**
 * The device side of the scale benchmark (bench/scale.ts), in a process of its own so the
 * Node-RED process measured holds only Node-RED and our nodes: one `Simulator` per device,
 * each on an address of its own (127.0.0.10, .11, ...), the devices spread evenly over the
 * protocols of `SCALE_PROTOCOLS`. On `run` every device changes its state (play ⇄ pause) at
 * the given rate, staggered so the changes do not all fall in one millisecond, and records
 * when each change happened, as epoch milliseconds with sub-millisecond precision, so the
 * Node-RED process can time each update from the change to the playstatus node's message.
 *
 * Messages (IPC): parent → `start` | `ping` | `run` | `stop`; child → `ready` | `pong` | `done`.
 */
import { performance } from 'node:perf_hooks';
import type { Protocol } from '../lib/device/interfaces';
import { hapCredentials, formatHapCredentials } from '../lib/hap/credentials';
import { ed25519PublicKey, randomKeyBytes } from '../lib/hap/keys';
import { DEMO_DMAP_CREDENTIALS, formatMrpPairingRecord, Simulator, type SimulatedProtocol, type SimulatorOptions } from '../lib/simulator';

/**
 * One protocol of the scale test: how to simulate a device that speaks it and the
 * credentials a remote connects with. A protocol joins the test with one entry here (its
 * simulator server must exist); the Node-RED side derives the config node's `<protocol>Port`
 * field and credential from `protocol`.
 */
export interface ScaleProtocol {
  protocol: SimulatedProtocol & Protocol;
  /** Options of each device's simulator (its protocols are set to this one). */
  options: SimulatorOptions;
  /** The credentials of a remote paired with `sim` (called once it runs). */
  credentials(sim: Simulator): string;
}

/**
 * What pair-setup leaves behind, without its SRP exchange (about 280 ms of CPU per device):
 * our controller's record in the simulator's store and the matching client credentials.
 * Every connection still runs the full pair-verify with both signatures checked.
 */
function seededMrpCredentials(sim: Simulator): string {
  const server = sim.server('mrp')!;
  const clientSeed = randomKeyBytes();
  const clientId = Buffer.from(`atvlink-scale-${sim.deviceId}`, 'utf8');
  sim['store'].add('mrp', formatMrpPairingRecord(clientId, ed25519PublicKey(clientSeed)));
  return formatHapCredentials(
    hapCredentials({ ltpk: server.ltpk, ltsk: clientSeed, atvId: Buffer.from(server.identity.uniqueIdentifier, 'utf8'), clientId }),
  );
}

/** Tracks long enough that none ends during a run (an end would be a change nobody asked for). */
const TRACK_SECONDS = 24 * 3600;

export const SCALE_PROTOCOLS: readonly ScaleProtocol[] = [
  { protocol: 'dmap', options: { homeSharing: false, trackSeconds: TRACK_SECONDS }, credentials: () => DEMO_DMAP_CREDENTIALS },
  { protocol: 'mrp', options: { trackSeconds: TRACK_SECONDS }, credentials: seededMrpCredentials },
];

/** One simulated device as the Node-RED side configures it. */
export interface ScaleDevice {
  index: number;
  protocol: Protocol;
  name: string;
  host: string;
  port: number;
  credentials: string;
}

export type ScaleParentMessage =
  | { type: 'start'; devices: number }
  | { type: 'ping'; sent: number }
  | { type: 'run'; seconds: number; rate: number }
  | { type: 'stop' };

export type ScaleChildMessage =
  | { type: 'ready'; devices: ScaleDevice[] }
  | { type: 'pong'; sent: number; at: number }
  /** Per device: when each change happened (epoch ms) and the state it left. */
  | { type: 'done'; changes: { at: number[]; states: string[] }[] };

/** Epoch milliseconds with the monotonic clock's precision. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

const simulators: Simulator[] = [];

async function start(count: number): Promise<ScaleDevice[]> {
  const devices: ScaleDevice[] = [];
  for (let index = 0; index < count; index++) {
    const spec = SCALE_PROTOCOLS[index % SCALE_PROTOCOLS.length]!;
    const host = `127.0.0.${10 + index}`;
    const name = `Scale TV ${index + 1}`;
    const sim = new Simulator({ ...spec.options, name, host, protocols: [spec.protocol] });
    await sim.start();
    simulators.push(sim);
    devices.push({ index, protocol: spec.protocol, name, host, port: sim.server(spec.protocol)!.port, credentials: spec.credentials(sim) });
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
        void start(message.devices).then((devices) => send({ type: 'ready', devices }));
        return;
      case 'ping':
        send({ type: 'pong', sent: message.sent, at: preciseNow() });
        return;
      case 'run':
        void run(message.seconds, message.rate).then((changes) => send({ type: 'done', changes }));
        return;
      case 'stop':
        void Promise.all(simulators.map((s) => s.stop())).then(() => process.exit(0));
        return;
    }
  });
}
