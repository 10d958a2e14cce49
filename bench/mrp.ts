/**
 * MRP figures: against the simulator on 127.0.0.1 (paired once, then verified connections)
 * the command round trip, the push latency (state change in the simulator → the Device's
 * 'nowPlaying' event), the connection with pair-verify step by step beside the crypto it
 * must do, and a connected Device's memory; the message layer's throughput on the SET_STATE
 * frames a device pushes on every change, in clear and through the session cipher; and the
 * cost of loading the MRP module and its protobuf schema in a fresh process.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect } from '../lib/core/facade';
import { pair } from '../lib/core/pairing';
import { CounterNonceCipher } from '../lib/hap/channel';
import { hapCredentials } from '../lib/hap/credentials';
import { ed25519PublicKey, randomKeyBytes } from '../lib/hap/keys';
import { hapPairVerify } from '../lib/hap/pairing';
import { deriveChannelKeys, PairVerifyServer } from '../lib/hap/pair-verify';
import { mrpClientDeviceInfo } from '../lib/protocols/mrp/exchange';
import { encodeMrpFrame, mrpFrameCodec } from '../lib/protocols/mrp/framing';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage, MrpMessageType, newMrpIdentifier } from '../lib/protocols/mrp/messages';
import { MrpCommand, MrpHandlerReturnStatus, MrpSendError } from '../lib/protocols/mrp/proto-types';
import { Simulator, SimulatorState } from '../lib/simulator';
import { deviceInfoPayload, setStatePayload } from '../lib/simulator/mrp-messages';
import { connectRows, liveDeviceMeasurements, separateProcessRows, type ConnectPhase } from './device';
import { describeExchange, floorConnects, floorRoundTrips, type FloorExchange } from './floor';
import { median, missing, percentile, round, timeLoop, type Measurement, type Suite } from './measure';

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
      detail: `one SET_STATE of ${frame.length} bytes; proto.json is read and its plans made here`,
    });
  }
  return rows;
}

/** One command and one state push as MRP bodies: what the session and the simulator send. */
function mrpExchanges(state: SimulatorState): { command: FloorExchange; push: FloorExchange } {
  const request = encodeMrpMessage({ ...createMrpMessage(MrpMessageType.SEND_COMMAND_MESSAGE, { command: MrpCommand.Play }), identifier: newMrpIdentifier() });
  const setState = encodeMrpMessage(createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, setStatePayload(state.snapshot(), state.app, state.skipInterval)));
  const result = encodeMrpMessage(
    createMrpMessage(
      MrpMessageType.SEND_COMMAND_RESULT_MESSAGE,
      { sendError: MrpSendError.NoError, handlerReturnStatus: MrpHandlerReturnStatus.Success },
      { identifier: newMrpIdentifier() },
    ),
  );
  // The simulator pushes the new state before it answers, as pyatv's fake device does.
  return { command: { request: [request], answer: [setState, result] }, push: { request: [], answer: [setState] } };
}

const CRYPTO_RUNS = 50;

/**
 * The crypto a pair-verified connection must do, both sides in this process as in the
 * benchmark (the simulator verifies too): pair-verify (X25519 key pairs and agreements,
 * Ed25519 signatures made and checked, HKDF, ChaCha20-Poly1305), then the session keys.
 */
async function pairVerifyCrypto(): Promise<number[]> {
  const deviceSeed = randomKeyBytes();
  const clientSeed = randomKeyBytes();
  const credentials = hapCredentials({ ltpk: ed25519PublicKey(deviceSeed), ltsk: clientSeed, atvId: Buffer.from('device'), clientId: Buffer.from('client') });
  const controllers = new Map([['client', ed25519PublicKey(clientSeed)]]);
  const samples: number[] = [];
  for (let i = 0; i < CRYPTO_RUNS + 5; i++) {
    const start = performance.now();
    const device = new PairVerifyServer({ seed: deviceSeed, deviceId: 'device', controllers });
    let deviceSecret: Buffer | null = null;
    const secret = await hapPairVerify(credentials, async (message, step) => {
      const reply = device.handle(message);
      if (reply.kind === 'rejected') throw new Error(reply.reason);
      if (reply.kind === 'verified') deviceSecret = reply.sharedSecret;
      step.onReply?.(reply.message);
      return reply.message;
    });
    new CounterNonceCipher(deriveChannelKeys(secret, 'mrp'), 'zeros-then-counter');
    new CounterNonceCipher(deriveChannelKeys(deviceSecret!, 'mrp', { role: 'accessory' }), 'zeros-then-counter');
    if (i >= 5) samples.push(performance.now() - start);
  }
  return samples;
}

/**
 * The same asymmetric operations as pair-verify on both sides (per side: an X25519 key pair,
 * one agreement, one Ed25519 signature made and one checked) with node:crypto alone and the
 * raw keys imported as JWK, the cheapest way Node 20 offers: the least that crypto costs on
 * this machine. lib/hap/keys.ts imports every raw key by wrapping it in PKCS#8/SPKI DER,
 * which OpenSSL 3 decodes about ten times slower (~0.4 ms a key here).
 */
function cryptoPrimitivesAlone(): number[] {
  const b64 = (bytes: Buffer): string => bytes.toString('base64url');
  const jwkPrivate = (crv: 'Ed25519' | 'X25519', seed: Buffer): KeyObject =>
    // x is not checked on import (the public key is derived from d): a placeholder will do.
    createPrivateKey({ key: { kty: 'OKP', crv, d: b64(seed), x: b64(Buffer.alloc(32)) }, format: 'jwk' });
  const jwkPublic = (crv: 'Ed25519' | 'X25519', raw: Buffer): KeyObject => createPublicKey({ key: { kty: 'OKP', crv, x: b64(raw) }, format: 'jwk' });
  const rawPublic = (key: KeyObject): Buffer => Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url');
  const message = randomBytes(100);
  const samples: number[] = [];
  for (let i = 0; i < CRYPTO_RUNS + 5; i++) {
    const start = performance.now();
    for (let side = 0; side < 2; side++) {
      const mine = jwkPrivate('X25519', randomBytes(32));
      const peer = rawPublic(jwkPrivate('X25519', randomBytes(32)));
      diffieHellman({ privateKey: mine, publicKey: jwkPublic('X25519', peer) });
      const signer = jwkPrivate('Ed25519', randomBytes(32));
      const signature = sign(null, message, signer);
      verify(null, message, jwkPublic('Ed25519', rawPublic(signer)), signature);
    }
    if (i >= 5) samples.push(performance.now() - start);
  }
  return samples;
}

/** The log line that ends each step of the connection sequence (the transport logs every message). */
const CONNECT_STEPS: readonly { name: string; ends: RegExp; nth: number }[] = [
  { name: 'TCP connect, credentials parsed', ends: />> DEVICE_INFO_MESSAGE/, nth: 1 },
  { name: 'DEVICE_INFO round trip', ends: /<< DEVICE_INFO_MESSAGE/, nth: 1 },
  { name: 'pair-verify: 2 round trips + crypto', ends: /<< CRYPTO_PAIRING_MESSAGE/, nth: 2 },
  { name: 'CLIENT_UPDATES_CONFIG round trip (+ 6 state messages)', ends: /<< UNKNOWN_MESSAGE/, nth: 1 },
  { name: 'GET_KEYBOARD_SESSION round trip', ends: /<< KEYBOARD_MESSAGE/, nth: 1 },
  { name: 'session ready', ends: /^$/, nth: 1 },
];

async function connectMeasurements(sim: Simulator, credentials: string, command: FloorExchange): Promise<Measurement[]> {
  const crypto = await pairVerifyCrypto();
  const identity = sim.server('mrp')!.identity;
  const info: FloorExchange = {
    request: [encodeMrpMessage(createMrpMessage(MrpMessageType.DEVICE_INFO_MESSAGE, mrpClientDeviceInfo('atvlink', newMrpIdentifier())))],
    answer: [encodeMrpMessage(createMrpMessage(MrpMessageType.DEVICE_INFO_MESSAGE, deviceInfoPayload(identity, true)))],
  };
  const [tcp, plain, sealed] = [
    percentile(await floorConnects(50), 50),
    percentile(await floorRoundTrips('plain', info, 100), 50),
    percentile(await floorRoundTrips('sealed', command, 100), 50),
  ];
  const cryptoP50 = percentile(crypto, 50);
  const floors: Omit<ConnectPhase, 'name'>[] = [
    { floor: tcp, floorWhat: 'a TCP connect' },
    { floor: plain, floorWhat: `a plain round trip, ${describeExchange(info)}` },
    { floor: 2 * plain + cryptoP50, floorWhat: 'two plain round trips + the crypto alone (below)' },
    { floor: sealed, floorWhat: 'a sealed round trip' },
    { floor: sealed, floorWhat: 'a sealed round trip' },
    { floor: 0, floorWhat: 'nothing left to do' },
  ];
  const phases = CONNECT_STEPS.map((step, i) => ({ name: step.name, ...floors[i]! }));
  const rows = await connectRows(SUITE, 'connect incl. pair-verify', phases, 15, async (mark) => {
    let step = 0;
    let seen = 0;
    const logger = {
      debug(line: string): void {
        const current = CONNECT_STEPS[step];
        if (!current || !current.ends.test(line)) return;
        if (++seen < current.nth) return;
        mark(step++);
        seen = 0;
      },
      warn(): void {},
    };
    const device = await connect(sim.config(), { credentials: { mrp: credentials }, protocols: ['mrp'], logger });
    mark(CONNECT_STEPS.length - 1);
    await device.close();
  });
  rows.push({
    suite: SUITE,
    name: '  of which the crypto alone',
    value: round(cryptoP50, 2),
    unit: 'ms',
    detail: `p50 of ${CRYPTO_RUNS}: pair-verify client and device in process (lib/hap), then both session ciphers`,
  });
  rows.push({
    suite: SUITE,
    name: '  the same asymmetric crypto, keys as JWK',
    value: round(percentile(cryptoPrimitivesAlone(), 50), 2),
    unit: 'ms',
    detail: 'node:crypto alone: what the crypto could cost if lib/hap/keys.ts imported raw keys as JWK instead of DER',
  });
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
    const exchanges = mrpExchanges(sim.state);
    return [
      ...(await liveDeviceMeasurements({
        suite: SUITE,
        sim,
        config,
        protocol: 'mrp',
        credentials,
        port: sim.mrpPort,
        commandName: 'command round trip',
        commandDetail: 'play/pause to their SEND_COMMAND_RESULT, one at a time (each also brings a SET_STATE)',
        floorKind: 'sealed',
        commandExchange: exchanges.command,
        pushExchange: exchanges.push,
      })),
      ...(await connectMeasurements(sim, credentials, exchanges.command)),
      ...(await separateProcessRows(SUITE, 'MRP', 'mrp', 'command round trip')),
    ];
  } finally {
    await sim.stop();
  }
}

export const mrpSuite: Suite = {
  name: SUITE,
  async run(): Promise<Measurement[]> {
    // Live figures first: 2000 decoded SET_STATEs of the decode figures would be collected
    // in the middle of the round trips otherwise.
    const live = await liveMeasurements();
    const rows: Measurement[] = [];
    for (const part of [decodeMeasurements, loadMeasurements]) {
      try {
        rows.push(...part());
      } catch (err) {
        rows.push(missing(SUITE, part.name, '', err instanceof Error ? err.message : String(err)));
      }
    }
    return [...rows, ...live];
  },
};
