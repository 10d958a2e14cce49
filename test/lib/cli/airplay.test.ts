/**
 * The CLI through the AirPlay tunnel: `pair --protocol airplay` against the simulator playing
 * a tvOS 18 Apple TV (the PIN it shows typed on stdin), then state, command, set, artwork and
 * watch with `--protocol airplay` and the credentials pair printed; a HomePod needing none;
 * and `simulate --protocols airplay` / `--device homepod` as child processes. Every value
 * asserted crossed real sockets; every effect is checked in the simulator's state.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../../lib/cli/exit-codes';
import type { NowPlaying } from '../../../lib/device/state';
import { parseFullHapCredentials } from '../../../lib/hap/credentials';
import { Simulator, type SimulatorPinRequest } from '../../../lib/simulator';
import { argsOf, cli, spawnCli, startCli, stopChild, type Child } from './support';

const PIN = '3141';
const HAP_CREDENTIALS = /^[0-9a-f]{64}:[0-9a-f]{64}:[0-9a-f]+:[0-9a-f]+$/;

describe('atvlink through the AirPlay tunnel of a simulated tvOS 18 Apple TV', () => {
  let sim: Simulator;
  let dir: string;
  let host: string[];
  let conn: string[];
  const pins: SimulatorPinRequest[] = [];

  before(async () => {
    sim = new Simulator({ name: 'CLI AirPlay TV', protocols: ['airplay'], pin: PIN, mdnsPort: 0, trackSeconds: 60 });
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    host = ['--host', '127.0.0.1', '--port', String(sim.airplayPort), '--protocol', 'airplay'];
    dir = await mkdtemp(join(tmpdir(), 'atvlink-cli-airplay-'));
  });

  after(async () => {
    await sim?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pair --protocol airplay: the PIN the TV shows, typed on stdin; credentials in pyatv’s format, holding the device key', async () => {
    const run = startCli(['pair', ...host, '--name', 'CLI AirPlay Remote', '--timeout', '20', '--json']);
    await run.stderr.waitFor(/Enter the PIN shown on the TV/);
    assert.equal(pins.length, 1, 'the TV showed a PIN when pairing began');
    run.stdin.write(`${pins[0]!.pin}\n`);
    assert.equal(await run.done, 0, run.stderr.text);
    const printed = JSON.parse(run.stdout.text) as { protocol: string; credentials: string };
    assert.equal(printed.protocol, 'airplay');
    assert.match(printed.credentials, HAP_CREDENTIALS);
    assert.deepEqual(parseFullHapCredentials(printed.credentials).ltpk, sim.server('airplay')!.ltpk);
    conn = [...host, '--credentials', `airplay=${printed.credentials}`];
  });

  it('state --json over the tunnel equals the simulator state; also by --id over a unicast scan', async () => {
    const { code, stdout, stderr } = await cli(['state', ...conn, '--json']);
    assert.equal(code, 0, stderr);
    const state = JSON.parse(stdout) as NowPlaying;
    const truth = sim.state.nowPlaying();
    for (const f of ['deviceState', 'title', 'artist', 'album', 'totalTime', 'app'] as const) assert.deepEqual(state[f], truth[f], f);
    const credentials = conn[conn.length - 1]!.slice('airplay='.length);
    const byId = await cli(['state', '--id', sim.config().identifier!, '--hosts', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--json'], {
      ATVLINK_AIRPLAY_CREDENTIALS: credentials,
    });
    assert.equal(byId.code, 0, byId.stderr);
    assert.equal((JSON.parse(byId.stdout) as NowPlaying).title, truth.title);
  });

  it('command: transport commands and keys single, double, hold reach the device', async () => {
    assert.equal((await cli(['command', 'play', ...conn])).code, 0);
    assert.equal(sim.state.status, 'playing');
    assert.equal((await cli(['command', 'pause', ...conn])).code, 0);
    assert.equal(sim.state.status, 'paused');
    for (const action of ['single', 'double', 'hold'] as const) {
      const before = sim.state.keys.length;
      const run = await cli(['command', 'select', '--action', action, ...conn]);
      assert.equal(run.code, 0, run.stderr);
      const arrived = sim.state.keys.slice(before).map((k) => k.action);
      assert.deepEqual(arrived, action === 'double' ? ['single', 'single'] : [action]);
    }
  });

  it('set and get: volume, shuffle, repeat, position', async () => {
    sim.state.play();
    for (const [name, value] of [
      ['volume', '25'],
      ['shuffle', 'songs'],
      ['repeat', 'all'],
    ] as const) {
      const run = await cli(['set', name, value, ...conn]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${name}: ${value}\n`);
    }
    assert.equal(sim.state.volume, 25);
    assert.equal(sim.state.shuffle, 'songs');
    assert.equal(sim.state.repeat, 'all');
    const position = await cli(['set', 'position', '12', ...conn, '--json']);
    assert.equal(position.code, 0, position.stderr);
    assert.ok(Math.abs(sim.state.position! - 12) <= 1);
    assert.equal((await cli(['get', 'volume', ...conn])).stdout, 'volume: 25\n');
  });

  it('artwork --out saves a PNG of the requested size', async () => {
    const file = join(dir, 'cover.png');
    const run = await cli(['artwork', '--out', file, '--width', '40', '--height', '30', ...conn]);
    assert.equal(run.code, 0, run.stderr);
    const bytes = await readFile(file);
    assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(bytes.readUInt32BE(16), 40);
    assert.equal(bytes.readUInt32BE(20), 30);
  });

  it('watch --count 2: the state, then the pushed change', async () => {
    sim.state.pause();
    const run = startCli(['watch', '--count', '2', '--json', ...conn]);
    await run.stdout.waitFor(/\n/);
    sim.state.next();
    assert.equal(await run.done, 0, run.stderr.text);
    const lines = run.stdout.lines.map((l) => JSON.parse(l) as NowPlaying);
    assert.equal(lines[1]!.title, sim.state.nowPlaying().title);
  });

  it('play FILE: serves the file to the device, which plays it to the end; --json reports playing, then ended', async () => {
    const file = join(dir, 'clip.mp4');
    await writeFile(file, Buffer.alloc(2048, 7));
    sim.state.pause();
    // A played URL lasts as long as a track (60 s here): start a second before its end.
    const run = startCli(['play', file, '--position', '59', ...conn, '--json']);
    await run.stdout.waitFor(/"event":"playing"/);
    assert.equal(await run.done, 0, run.stderr.text);
    assert.deepEqual(run.stdout.lines.map((l) => JSON.parse(l) as unknown), [
      { url: file, event: 'playing' },
      { url: file, event: 'ended' },
    ]);
    const playback = sim.server('airplay')!.playbacks.at(-1)!;
    assert.match(playback.url, /\/clip\.mp4$/);
    assert.equal(playback.fetched?.length, 2048);
    assert.equal(playback.position, 59);
    const missing = await cli(['play', join(dir, 'nope.mp4'), ...conn]);
    assert.equal(missing.code, EXIT.usage, missing.stderr);
  });

  it('no credentials: AUTH exit code and the hint to pair AirPlay', async () => {
    const run = await cli(['state', ...host]);
    assert.equal(run.code, EXIT.auth, run.stderr);
    assert.match(run.stderr, /pair AirPlay/);
    assert.match(run.stderr, /atvlink pair --protocol airplay/);
  });
});

describe('atvlink against a simulated HomePod', () => {
  it('state, command and set with --protocol airplay and no credentials at all', async () => {
    const sim = new Simulator({ name: 'CLI HomePod', device: 'homepod', trackSeconds: 60 });
    await sim.start();
    try {
      const host = ['--host', '127.0.0.1', '--port', String(sim.airplayPort), '--protocol', 'airplay'];
      const state = await cli(['state', ...host, '--json']);
      assert.equal(state.code, 0, state.stderr);
      assert.equal((JSON.parse(state.stdout) as NowPlaying).title, sim.state.nowPlaying().title);
      assert.equal((await cli(['command', 'play', ...host])).code, 0);
      assert.equal(sim.state.status, 'playing');
      assert.equal((await cli(['set', 'volume', '60', ...host])).stdout, 'volume: 60\n');
      const refused = await cli(['pair', ...host, '--pin', '1234']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /HomePod/);
    } finally {
      await sim.stop();
    }
  });
});

describe('atvlink simulate --protocols airplay (child process)', () => {
  const children: Child[] = [];
  after(async () => {
    for (const c of children) await stopChild(c);
  });

  it('prints where AirPlay listens and the PIN when a remote pairs; the CLI pairs and controls it through the tunnel', async () => {
    const child = spawnCli(['simulate', '--protocols', 'airplay', '--pin', PIN, '--no-multicast', '--name', 'CLI AirPlay Child Sim']);
    children.push(child);
    await child.stdout.waitFor(/^ready$/m);
    const [, port] = await child.stdout.waitFor(/^AirPlay on 127\.0\.0\.1:(\d+) \(Apple TV AppleTV14,1, OS 18\.1/m);
    const [pairLine] = await child.stdout.waitFor(/^ {2}atvlink pair --protocol airplay .*$/m);
    const [stateLine] = await child.stdout.waitFor(/^ {2}atvlink state .*--protocol airplay$/m);
    assert.ok(pairLine.includes(`--port ${port}`), pairLine);
    const pair = startCli([...argsOf(pairLine), '--name', 'Child AirPlay Remote', '--json']);
    const [, shown] = await child.stdout.waitFor(/^AIRPLAY pairing PIN shown on the TV: (\d{4})$/m);
    assert.equal(shown, PIN);
    await pair.stderr.waitFor(/Enter the PIN shown on the TV/);
    pair.stdin.write(`${shown}\n`);
    assert.equal(await pair.done, 0, pair.stderr.text);
    const { credentials } = JSON.parse(pair.stdout.text) as { credentials: string };
    await child.stdout.waitFor(/^paired remote "Child AirPlay Remote" [0-9a-f-]{36} \(AIRPLAY; /m);
    const state = await cli([...argsOf(stateLine), '--credentials', `airplay=${credentials}`, '--json']);
    assert.equal(state.code, 0, state.stderr);
    assert.ok((JSON.parse(state.stdout) as NowPlaying).title);
    child.process.kill('SIGINT');
    assert.equal((await child.exited).code, 0, child.stderr.text);
  });

  it('--device homepod: no PIN, a connect line without credentials that works', async () => {
    const child = spawnCli(['simulate', '--device', 'homepod', '--no-multicast', '--name', 'CLI HomePod Child Sim']);
    children.push(child);
    await child.stdout.waitFor(/^ready$/m);
    await child.stdout.waitFor(/^ {2}pairing: none \(transient pairing on every connection\)$/m);
    const [stateLine] = await child.stdout.waitFor(/^ {2}atvlink state .*--protocol airplay$/m);
    const state = await cli([...argsOf(stateLine), '--json']);
    assert.equal(state.code, 0, state.stderr);
    assert.equal((JSON.parse(state.stdout) as NowPlaying).mediaType, 'music');
    child.process.kill('SIGINT');
    assert.equal((await child.exited).code, 0, child.stderr.text);
  });

  it('refuses --pin for a HomePod, and an unknown device', async () => {
    const homepod = await cli(['simulate', '--device', 'homepod', '--pin', '1234', '--no-multicast']);
    assert.equal(homepod.code, EXIT.usage);
    const unknown = await cli(['simulate', '--device', 'toaster', '--no-multicast']);
    assert.equal(unknown.code, EXIT.usage);
    assert.match(unknown.stderr, /appletv or homepod/);
  });
});
