/**
 * Discovery under a hostile flood (issue 7, D1): the simulator's unicast DNS-SD responder
 * decodes every datagram it receives, as every DNS socket of ours does, while a DMAP Device in
 * the same process gets push updates. A second process sends 1000 hostile packets per second
 * at the responder; the event loop's delay and the push latency are measured quiet and under
 * the flood, side by side. Plus the cost of dropping one hostile packet.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { decodePacket } from '../lib/mdns/dns';
import { connect, type Device } from '../lib/core/facade';
import type { NowPlaying } from '../lib/device/state';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../lib/simulator';
import { percentile, round, timeLoop, type Measurement, type Suite } from './measure';

const SUITE = 'DNS flood';
const RATE = 1000;
const WINDOW_S = 4;
const D1_PACKET = Buffer.from('000084000000ffffffffffff00001000010000007800ff00', 'hex');

function nextState(device: Device, wanted: (state: NowPlaying) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const listener = (state: NowPlaying): void => {
      if (!wanted(state)) return;
      device.off('nowPlaying', listener);
      resolve();
    };
    device.on('nowPlaying', listener);
  });
}

/** Push latencies and the event loop's p99 delay over `WINDOW_S` seconds. */
async function window(sim: Simulator, watcher: Device): Promise<{ pushes: number[]; loopP99: number; loopMax: number }> {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const pushes: number[] = [];
  const end = performance.now() + WINDOW_S * 1000;
  while (performance.now() < end) {
    const start = performance.now();
    sim.state.playPause();
    const expected = sim.state.status;
    await nextState(watcher, (state) => state.deviceState === expected);
    pushes.push(performance.now() - start);
    await new Promise((r) => setTimeout(r, 20));
  }
  loop.disable();
  return { pushes, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6 };
}

async function floodMeasurements(): Promise<Measurement[]> {
  const sim = new Simulator({ name: 'Flooded TV', homeSharing: false, mdnsPort: 0 });
  await sim.start();
  const watcher = await connect(sim.config(), { credentials: { dmap: DEMO_DMAP_CREDENTIALS }, protocols: ['dmap'] });
  try {
    const first = nextState(watcher, () => true);
    watcher.startPushUpdates();
    await first;
    const quiet = await window(sim, watcher);
    const flooder = promisify(execFile)(process.execPath, [join(__dirname, 'dns-flooder.js'), String(sim.mdnsPort), String(RATE), String(WINDOW_S + 1)], {
      encoding: 'utf8',
    });
    await new Promise((r) => setTimeout(r, 500));
    const flooded = await window(sim, watcher);
    const sent = Number((await flooder).stdout.trim());
    const how = `${RATE} hostile packets/s at the simulator's DNS-SD responder (${sent} sent)`;
    const rows = (name: string, quietValue: number, floodValue: number, detail: string): Measurement[] => [
      { suite: SUITE, name: `${name}, quiet`, value: round(quietValue, 2), unit: 'ms', detail },
      { suite: SUITE, name: `${name}, under flood`, value: round(floodValue, 2), unit: 'ms', detail: how },
    ];
    return [
      ...rows('event loop delay p99', quiet.loopP99, flooded.loopP99, `${WINDOW_S} s window, max ${round(quiet.loopMax, 1)} ms quiet, ${round(flooded.loopMax, 1)} ms flooded`),
      ...rows('DMAP push latency p50', percentile(quiet.pushes, 50), percentile(flooded.pushes, 50), `${quiet.pushes.length} / ${flooded.pushes.length} state changes`),
      ...rows('DMAP push latency p99', percentile(quiet.pushes, 99), percentile(flooded.pushes, 99), 'same samples'),
    ];
  } finally {
    await watcher.close();
    await sim.stop();
  }
}

function dropCost(): Measurement {
  const { calls, ms } = timeLoop(() => decodePacket(D1_PACKET));
  return { suite: SUITE, name: 'dropping the 24-byte D1 packet', value: round((ms * 1000) / calls, 2), unit: 'µs', detail: `${calls.toLocaleString('en-US')} runs (dns-packet: ~300 ms)` };
}

export const dnsFloodSuite: Suite = {
  name: SUITE,
  async run(): Promise<Measurement[]> {
    return [dropCost(), ...(await floodMeasurements())];
  },
};
