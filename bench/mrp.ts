/**
 * MRP figures: against the simulator on 127.0.0.1 (paired once, then verified connections)
 * the command round trip, the push latency (state change in the simulator → the Device's
 * 'nowPlaying' event) and a connected Device's memory; the message layer's throughput on
 * the SET_STATE frames a device pushes on every change, in clear and through the session
 * cipher; and the cost of loading the MRP module and its protobuf schema in a fresh process.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pair } from '../lib/core/pairing';
import { CounterNonceCipher } from '../lib/hap/channel';
import { encodeMrpFrame, mrpFrameCodec } from '../lib/protocols/mrp/framing';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage, MrpMessageType } from '../lib/protocols/mrp/messages';
import { Simulator, SimulatorState } from '../lib/simulator';
import { setStatePayload } from '../lib/simulator/mrp-messages';
import { liveDeviceMeasurements } from './device';
import { median, missing, round, timeLoop, type Measurement, type Suite } from './measure';

const SUITE = 'MRP';
/** Frames per decode run: a long session's worth of state pushes. */
const FRAMES = 2_000;
/** How a socket hands the stream over (a typical read size). */
const CHUNK = 64 * 1024;
const REQUIRE_RUNS = 5;
const PIN = '1357';

/**
 * `count` SET_STATE message bodies as the simulator pushes them while the player moves
 * through its queue: full state, supported commands and the current item with its metadata.
 */
export function setStateBodies(count: number): Buffer[] {
  const state = new SimulatorState({ trackSeconds: 200 });
  const bodies: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 3 === 0) state.next();
    else state.playPause();
    bodies.push(encodeMrpMessage(createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, setStatePayload(state.snapshot(), state.app, 10))));
  }
  state.close();
  return bodies;
}

/** Cuts `stream` into socket-sized chunks. */
function chunks(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < stream.length; at += CHUNK) out.push(stream.subarray(at, at + CHUNK));
  return out;
}

function rate(bytes: number, messages: number, calls: number, ms: number): { mbPerSecond: number; perSecond: number } {
  const seconds = ms / 1000;
  return { mbPerSecond: (bytes * calls) / (1024 * 1024) / seconds, perSecond: (messages * calls) / seconds };
}

function decodeMeasurements(): Measurement[] {
  const bodies = setStateBodies(FRAMES);
  const plainStream = Buffer.concat(bodies.map(encodeMrpFrame));
  const plainChunks = chunks(plainStream);
  const size = `${FRAMES.toLocaleString('en-US')} SET_STATE frames of ~${Math.round(plainStream.length / FRAMES)} bytes, ${CHUNK / 1024} KiB reads`;

  let decoded = 0;
  const clear = timeLoop(() => {
    const decoder = mrpFrameCodec();
    for (const chunk of plainChunks) {
      decoder.push(chunk, (frame) => {
        decodeMrpMessage(frame.payload);
        decoded++;
      });
    }
  }, 1000);
  if (decoded !== FRAMES * (clear.calls + 1)) throw new Error(`decoded ${decoded} messages, expected ${FRAMES * (clear.calls + 1)}`);
  const clearRate = rate(plainStream.length, FRAMES, clear.calls, clear.ms);

  // The device seals each message body whole; the varint then counts ciphertext + tag.
  const deviceToUs = { encryptKey: randomBytes(32), decryptKey: randomBytes(32) };
  const device = new CounterNonceCipher(deviceToUs, 'zeros-then-counter');
  const sealedStream = Buffer.concat(bodies.map((body) => encodeMrpFrame(device.seal(body))));
  const sealedChunks = chunks(sealedStream);
  const sealed = timeLoop(() => {
    const decoder = mrpFrameCodec();
    decoder.switchTo(decoder.format, new CounterNonceCipher({ encryptKey: deviceToUs.decryptKey, decryptKey: deviceToUs.encryptKey }, 'zeros-then-counter'));
    for (const chunk of sealedChunks) decoder.push(chunk, (frame) => decodeMrpMessage(frame.payload));
  }, 1000);
  const sealedRate = rate(sealedStream.length, FRAMES, sealed.calls, sealed.ms);

  const row = (name: string, r: { mbPerSecond: number; perSecond: number }, calls: number, steps: string): Measurement[] => [
    { suite: SUITE, name: `${name}, MB/s`, value: round(r.mbPerSecond, 1), unit: 'MB/s', detail: `${size}, ${calls} runs` },
    { suite: SUITE, name: `${name}, messages/s`, value: Math.round(r.perSecond), unit: 'msg/s', detail: steps },
  ];
  return [
    ...row('frame decode (clear)', clearRate, clear.calls, 'framing + protobuf decode to objects'),
    ...row('frame decrypt + decode', sealedRate, sealed.calls, 'framing + ChaCha20-Poly1305 open + protobuf decode'),
  ];
}

/** ms for `require(module)` and for the first decode after it (the protobuf schema load), in fresh processes. */
function loadMeasurements(): Measurement[] {
  const mrpModule = join(__dirname, '..', 'lib', 'protocols', 'mrp', 'index.js');
  const entry = join(__dirname, '..', 'lib', 'index.js');
  if (!existsSync(mrpModule) || !existsSync(entry)) return [missing(SUITE, 'require() of the MRP module', 'ms', 'not built')];
  const frame = encodeMrpMessage(createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, setStatePayload(new SimulatorState().snapshot(), null, 10)));
  const script = (module: string): string =>
    [
      'const now = () => Number(process.hrtime.bigint()) / 1e6;',
      `const t0 = now(); const m = require(${JSON.stringify(module)}); const t1 = now();`,
      `m.decodeMrpMessage(Buffer.from(${JSON.stringify(frame.toString('hex'))}, 'hex')); const t2 = now();`,
      'process.stdout.write(JSON.stringify([t1 - t0, t2 - t1]));',
    ].join('\n');
  const sample = (module: string): [number, number][] =>
    Array.from({ length: REQUIRE_RUNS }, () => JSON.parse(execFileSync(process.execPath, ['-e', script(module)], { encoding: 'utf8' })) as [number, number]);
  const rows: Measurement[] = [];
  for (const [label, module] of [
    ['require() of dist/lib/protocols/mrp', mrpModule],
    ['require() of dist/lib/index.js', entry],
  ] as const) {
    const runs = sample(module);
    const load = runs.map((r) => r[0]);
    const first = runs.map((r) => r[1]);
    rows.push({
      suite: SUITE,
      name: label,
      value: round(median(load), 1),
      unit: 'ms',
      detail: `median of ${REQUIRE_RUNS} fresh processes (min ${round(Math.min(...load), 1)})`,
    });
    rows.push({
      suite: SUITE,
      name: '  then first decode (schema load)',
      value: round(median(first), 1),
      unit: 'ms',
      detail: `one SET_STATE of ${frame.length} bytes; protobufjs and proto.json load here`,
    });
  }
  return rows;
}

async function liveMeasurements(): Promise<Measurement[]> {
  const sim = new Simulator({ name: 'MRP Benchmark TV', protocols: ['mrp'], pin: PIN, trackSeconds: 600 });
  try {
    await sim.start();
    const config = sim.config();
    const pairing = pair('mrp', { config, name: 'atvlink benchmark' });
    await pairing.begin();
    pairing.setPin(PIN);
    const credentials = await pairing.finish();
    return await liveDeviceMeasurements({
      suite: SUITE,
      sim,
      config,
      protocol: 'mrp',
      credentials,
      port: sim.mrpPort,
      commandName: 'command round trip',
      commandDetail: 'commands (play/pause) to their SEND_COMMAND_RESULT, one at a time',
    });
  } finally {
    await sim.stop();
  }
}

export const mrpSuite: Suite = {
  name: SUITE,
  async run(): Promise<Measurement[]> {
    const rows: Measurement[] = [];
    for (const part of [decodeMeasurements, loadMeasurements]) {
      try {
        rows.push(...part());
      } catch (err) {
        rows.push(missing(SUITE, part.name, '', err instanceof Error ? err.message : String(err)));
      }
    }
    rows.push(...(await liveMeasurements()));
    return rows;
  },
};
