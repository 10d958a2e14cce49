/**
 * The CLI over MRP against the simulator on 127.0.0.1: `pair --protocol mrp` with the PIN the
 * simulated TV shows typed on stdin (in-process and as a child process), then every other
 * subcommand with the credentials it printed. Every value asserted crossed a real socket, and
 * every effect is checked in the simulator's state.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../../lib/cli/exit-codes';
import { COMMANDS, type CommandName } from '../../../lib/device/commands';
import { NOW_PLAYING_FIELDS, type NowPlaying } from '../../../lib/device/state';
import { formatHapCredentials, parseFullHapCredentials } from '../../../lib/hap/credentials';
import { ED25519_KEY_LENGTH, randomKeyBytes } from '../../../lib/hap/keys';
import { Simulator, type SimulatorPinRequest } from '../../../lib/simulator';
import { MRP_COMMAND_ACTIONS } from '../../../lib/protocols/mrp/session';
import { argsOf, cli, commandEffects, stateBefore, spawnCli, startCli, stopChild, type Before, type Child } from './support';

const PIN = '2468';
const HAP_CREDENTIALS = /^[0-9a-f]{64}:[0-9a-f]{64}:[0-9a-f]+:[0-9a-f]+$/;
// The buttons MRP sends as HID keys (guide, channels, ... travel over Companion only).
const BUTTONS = COMMANDS.filter((c) => c.button && MRP_COMMAND_ACTIONS[c.name].kind === 'key').map((c) => c.name);

/** The PIN as a word of its own in `text` (inside a port like 42468 or a hex key it does not count). */
const mentionsPin = (text: string, pin: string): boolean => new RegExp(`(^|[^0-9A-Za-z])${pin}([^0-9A-Za-z]|$)`).test(text);

describe('atvlink over MRP against the simulator', () => {
  let sim: Simulator;
  let dir: string;
  let host: string[];
  let conn: string[];
  let credentials: string;
  const pins: SimulatorPinRequest[] = [];
  const children: Child[] = [];

  before(async () => {
    sim = new Simulator({ name: 'CLI MRP TV', protocols: ['mrp'], pin: PIN, mdnsPort: 0, trackSeconds: 60 });
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    host = ['--host', '127.0.0.1', '--port', String(sim.mrpPort), '--protocol', 'mrp'];
    dir = await mkdtemp(join(tmpdir(), 'atvlink-cli-mrp-'));
  });

  after(async () => {
    for (const c of children) await stopChild(c);
    await sim?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pair --protocol mrp: asks for the PIN shown on the TV, reads it from stdin, prints credentials that work', async () => {
    const run = startCli(['pair', ...host, '--name', 'CLI MRP Remote', '--timeout', '20', '--json']);
    await run.stderr.waitFor(/Enter the PIN shown on the TV/);
    assert.equal(pins.length, 1, 'the TV showed a PIN when pairing began');
    assert.deepEqual(pins[0], { protocol: 'mrp', pin: PIN, remoteName: 'CLI MRP Remote' });
    // Something that is not a PIN is refused without echoing it, and the CLI asks again.
    run.stdin.write('12x4\n');
    await run.stderr.waitFor(/4 digits shown on the Apple TV; enter it again/);
    run.stdin.write(`${pins[0]!.pin}\n`);
    assert.equal(await run.done, 0, run.stderr.text);

    const printed = JSON.parse(run.stdout.text) as { protocol: string; credentials: string };
    assert.deepEqual(Object.keys(printed), ['protocol', 'credentials']);
    assert.equal(printed.protocol, 'mrp');
    assert.match(printed.credentials, HAP_CREDENTIALS);
    assert.deepEqual(parseFullHapCredentials(printed.credentials).ltpk, sim.server('mrp')!.ltpk, 'the device key of this simulator');
    assert.equal(sim.server('mrp')!.stats().pairings, 1);
    assert.ok(!run.stderr.text.includes('12x4'), 'a refused line is not echoed');
    assert.ok(!mentionsPin(run.stdout.text + run.stderr.text, PIN), 'the PIN is not echoed');
    assert.ok(!run.stderr.text.includes(printed.credentials.split(':')[1]!), 'the secret key only on stdout');
    credentials = printed.credentials;
    conn = [...host, '--credentials', `mrp=${credentials}`];
  });

  it('pair in human mode prints the one credentials line and how to use them', async () => {
    const run = startCli(['pair', ...host, '--pin', PIN]);
    assert.equal(await run.done, 0, run.stderr.text);
    assert.match(run.stdout.text, /^Pairing over MRP with 127\.0\.0\.1:\d+ as "atvlink" \(Ctrl-C cancels\)\.$/m);
    const lines = run.stdout.lines.filter((l) => HAP_CREDENTIALS.test(l.replace(/^mrp credentials: /, '')));
    assert.equal(lines.length, 1, run.stdout.text);
    assert.match(run.stdout.text, /Use them with --credentials mrp=…, or set ATVLINK_MRP_CREDENTIALS\./);
    assert.ok(!mentionsPin(run.stdout.text, PIN));
  });

  it('state --json over MRP equals the simulator state, app name and bundle id included', async () => {
    sim.state.setPosition(7);
    const { code, stdout, stderr } = await cli(['state', ...conn, '--json']);
    assert.equal(code, 0, stderr);
    const state = JSON.parse(stdout) as NowPlaying;
    assert.deepEqual(Object.keys(state).sort(), [...NOW_PLAYING_FIELDS].sort());
    const truth = sim.state.nowPlaying();
    for (const f of ['deviceState', 'mediaType', 'title', 'artist', 'album', 'genre', 'totalTime', 'shuffle', 'repeat', 'app'] as const) {
      assert.deepEqual(state[f], truth[f], f);
    }
    assert.deepEqual(state.app, { name: 'Music', bundleId: 'com.apple.TVMusic' });
    assert.ok(Math.abs(state.position! - 7) <= 1, `position ${state.position}`);

    const human = await cli(['state', ...conn]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^Title: +${truth.title}$`, 'm'));
    assert.match(human.stdout, /^App: +Music \(com\.apple\.TVMusic\)$/m);
  });

  it('credentials from ATVLINK_MRP_CREDENTIALS, and by --id over a unicast scan', async () => {
    const env = await cli(['get', 'volume', ...host], { ATVLINK_MRP_CREDENTIALS: credentials });
    assert.equal(env.code, 0, env.stderr);
    assert.equal(env.stdout, `volume: ${sim.state.volume}\n`);
    const id = sim.config().identifier!;
    const byId = await cli(['state', '--id', id, '--hosts', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--json'], {
      ATVLINK_MRP_CREDENTIALS: credentials,
    });
    assert.equal(byId.code, 0, byId.stderr);
    assert.equal((JSON.parse(byId.stdout) as NowPlaying).title, sim.state.nowPlaying().title);
  });

  it('sends every command of the table, each changing the simulator', async () => {
    const st = sim.state;
    const pressed = (name: CommandName) => (b: Before) => {
      assert.equal(st.keys.length, b.keys + 1, `${name} arrived as one key press`);
      assert.deepEqual([st.lastKey?.name, st.lastKey?.action], [name, 'single']);
    };
    const expectations = commandEffects(st, pressed);
    for (const spec of COMMANDS) {
      const expectation = expectations[spec.name];
      if (MRP_COMMAND_ACTIONS[spec.name].kind === 'unsupported') {
        const { code, stderr } = await cli(['command', spec.name, ...conn]);
        assert.equal(code, EXIT.notSupported, `${spec.name}: ${stderr}`);
        continue;
      }
      expectation.arrange?.();
      const snapshot = stateBefore(st);
      const { code, stdout, stderr } = await cli(['command', spec.name, ...conn]);
      assert.equal(code, 0, `${spec.name}: ${stderr}`);
      assert.equal(stdout, `sent ${spec.name}\n`);
      expectation.check(snapshot);
    }
    st.turnOn();
    const interval = await cli(['command', 'skipForward', '--interval', '20', ...conn, '--json']);
    assert.equal(interval.code, 0, interval.stderr);
    assert.deepEqual(JSON.parse(interval.stdout), { command: 'skipForward', action: 'single', interval: 20 });
  });

  it('sends every HID button with --action single, double and hold', async () => {
    const st = sim.state;
    for (const action of ['single', 'double', 'hold'] as const) {
      const before = st.keys.length;
      // One connection per button, all at once: a hold keeps its key down for a second.
      const runs = await Promise.all(BUTTONS.map((name) => cli(['command', name, '--action', action, ...conn, '--json'])));
      for (const [i, run] of runs.entries()) {
        assert.equal(run.code, 0, `${BUTTONS[i]} ${action}: ${run.stderr}`);
        assert.deepEqual(JSON.parse(run.stdout), { command: BUTTONS[i], action });
      }
      const arrived = st.keys.slice(before);
      for (const name of BUTTONS) {
        const presses = arrived.filter((k) => k.name === name).map((k) => k.action);
        // A double press travels as two quick presses (what the remote app sends, too).
        const expected = action === 'double' ? ['single', 'single'] : [action];
        assert.deepEqual(presses, expected, `${name} --action ${action}`);
      }
    }
  });

  it('sets and reads volume, position, shuffle and repeat', async () => {
    sim.state.play();
    const cases: [string, string, unknown][] = [
      ['volume', '30', 30],
      ['shuffle', 'songs', 'songs'],
      ['repeat', 'all', 'all'],
      ['position', '20', 20],
    ];
    for (const [name, input, expected] of cases) {
      const { code, stdout, stderr } = await cli(['set', name, input, ...conn, '--json']);
      assert.equal(code, 0, `${name}: ${stderr}`);
      const reported = JSON.parse(stdout) as { property: string; value: unknown };
      assert.equal(reported.property, name);
      if (name === 'position') assert.ok(Math.abs((reported.value as number) - 20) <= 1, `position ${String(reported.value)}`);
      else assert.equal(reported.value, expected);
    }
    assert.equal(sim.state.volume, 30);
    assert.equal(sim.state.shuffle, 'songs');
    assert.equal(sim.state.repeat, 'all');
    assert.ok(Math.abs(sim.state.position! - 20) <= 1);

    sim.state.setVolume(42);
    const volume = await cli(['get', 'volume', ...conn, '--json']);
    assert.equal(volume.code, 0, volume.stderr);
    assert.deepEqual(JSON.parse(volume.stdout), { property: 'volume', value: 42 });
    sim.state.setRepeat('track');
    const repeat = await cli(['get', 'repeat', ...conn]);
    assert.equal(repeat.stdout, 'repeat: track\n');
  });

  it('artwork --out saves a PNG of the requested size', async () => {
    sim.state.play();
    const file = join(dir, 'cover.png');
    const { code, stdout, stderr } = await cli(['artwork', '--out', file, '--width', '64', '--height', '48', ...conn, '--json']);
    assert.equal(code, 0, stderr);
    const bytes = await readFile(file);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(bytes.readUInt32BE(16), 64);
    assert.equal(bytes.readUInt32BE(20), 48);
    assert.deepEqual(JSON.parse(stdout), { file, mimeType: 'image/png', width: 64, height: 48, bytes: bytes.length });
  });

  it('watch --count 2 prints the state it starts with, then the pushed change', async () => {
    sim.state.pause();
    const run = startCli(['watch', '--count', '2', '--json', ...conn]);
    await run.stdout.waitFor(/\n/);
    sim.state.next();
    assert.equal(await run.done, 0, run.stderr.text);
    const lines = run.stdout.lines.map((l) => JSON.parse(l) as NowPlaying);
    assert.equal(lines.length, 2);
    assert.notEqual(lines[0]!.title, lines[1]!.title);
    assert.equal(lines[1]!.title, sim.state.nowPlaying().title);
    assert.deepEqual(lines[1]!.app, { name: 'Music', bundleId: 'com.apple.TVMusic' });
  });

  it('credentials the device never paired: AUTH exit code, nothing secret in the output', async () => {
    const forged = formatHapCredentials({ ...parseFullHapCredentials(credentials), ltsk: randomKeyBytes(ED25519_KEY_LENGTH) });
    const { code, stdout, stderr } = await cli(['state', ...host, '--credentials', `mrp=${forged}`, '--debug']);
    assert.equal(code, EXIT.auth, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /pair again with `atvlink pair --protocol mrp`/);
    assert.match(stderr, /ATVLINK_MRP_CREDENTIALS/);
    assert.ok(!stderr.includes(forged.split(':')[1]!), 'the secret key is not echoed');
    const missing = await cli(['state', ...host]);
    assert.equal(missing.code, EXIT.auth, missing.stderr);
  });

  it('child process: pairs by --id with the PIN on stdin; the credentials work', async () => {
    const id = sim.config().identifier!;
    const seen = pins.length;
    const child = spawnCli(['pair', '--protocol', 'mrp', '--id', id, '--hosts', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--timeout', '20']);
    children.push(child);
    await child.stdout.waitFor(/Enter the PIN shown on the TV/);
    assert.equal(pins.length, seen + 1);
    child.process.stdin.write(`${pins[seen]!.pin}\n`);
    const { code } = await child.exited;
    assert.equal(code, 0, child.stderr.text);
    const [, printed] = child.stdout.text.match(/^mrp credentials: (\S+)$/m) ?? [];
    assert.match(printed ?? '', HAP_CREDENTIALS);
    assert.ok(!mentionsPin(child.stdout.text + child.stderr.text, PIN));
    const state = await cli(['command', 'play', ...host], { ATVLINK_MRP_CREDENTIALS: printed! });
    assert.equal(state.code, 0, state.stderr);
    assert.equal(sim.state.status, 'playing');
  });

  it('refuses MRP pairing without a device, and DMAP-only options', async () => {
    const noDevice = await cli(['pair', '--protocol', 'mrp']);
    assert.equal(noDevice.code, EXIT.usage);
    assert.match(noDevice.stderr, /MRP pairing needs the device: give --host ADDR --port N, or --id ID/);
    const announce = await cli(['pair', ...host, '--no-multicast']);
    assert.equal(announce.code, EXIT.usage);
    const badPin = await cli(['pair', ...host, '--pin', '12345']);
    assert.equal(badPin.code, EXIT.usage, badPin.stderr);
    assert.ok(!badPin.stderr.includes('12345'));
  });
});

describe('atvlink pair over MRP: wrong PIN and back-off', () => {
  let sim: Simulator;
  before(async () => {
    sim = new Simulator({ name: 'CLI MRP Strict TV', protocols: ['mrp'], pin: '8642' });
    await sim.start();
  });
  after(async () => {
    await sim?.stop();
  });

  it('a wrong PIN exits 7 with "wrong PIN" and never echoes it; after three the device asks to wait, and says how long', async () => {
    const host = ['--host', '127.0.0.1', '--port', String(sim.mrpPort)];
    for (let i = 0; i < 3; i++) {
      const run = startCli(['pair', '--protocol', 'mrp', ...host, '--timeout', '20']);
      await run.stdout.waitFor(/Enter the PIN shown on the TV/);
      run.stdin.write('1357\n');
      assert.equal(await run.done, EXIT.pairing, run.stderr.text);
      assert.match(run.stderr.text, /^atvlink: pairing failed: wrong PIN\b.*start pairing again/m);
      assert.ok(!mentionsPin(run.stdout.text + run.stderr.text, '1357'), 'the typed PIN is not echoed');
      assert.ok(!mentionsPin(run.stdout.text + run.stderr.text, '8642'), 'the right PIN is not shown');
    }
    assert.equal(sim.server('mrp')!.stats().pairings, 0);

    const human = await cli(['pair', '--protocol', 'mrp', ...host, '--pin', '8642']);
    assert.equal(human.code, EXIT.pairing, human.stderr);
    assert.match(human.stderr, /wait 30 s/);
    const json = await cli(['pair', '--protocol', 'mrp', ...host, '--pin', '8642', '--json']);
    assert.equal(json.code, EXIT.pairing);
    const { error } = JSON.parse(json.stderr) as { error: { code: string; exitCode: number; retryAfter: number } };
    assert.equal(error.code, 'BACKOFF');
    assert.equal(error.exitCode, EXIT.pairing);
    assert.ok(error.retryAfter > 0 && error.retryAfter <= 30, `retryAfter ${error.retryAfter}`);
  });
});

describe('atvlink simulate --protocols dmap,mrp --pin (child process)', () => {
  const children: Child[] = [];
  after(async () => {
    for (const c of children) await stopChild(c);
  });

  it('prints where MRP listens and the PIN when a remote pairs; the CLI pairs and controls it', async () => {
    const pin = '1357';
    const child = spawnCli(['simulate', '--protocols', 'dmap,mrp', '--pin', pin, '--no-multicast', '--name', 'CLI MRP Child Sim']);
    children.push(child);
    await child.stdout.waitFor(/^ready$/m);
    const [, mrpPort] = await child.stdout.waitFor(/^MRP on 127\.0\.0\.1:(\d+) /m);
    const [pairLine] = await child.stdout.waitFor(/^ {2}atvlink pair --protocol mrp .*$/m);
    const [stateLine] = await child.stdout.waitFor(/^ {2}atvlink state .*--protocol mrp$/m);
    assert.ok(pairLine.includes(`--port ${mrpPort}`), pairLine);
    assert.ok(!mentionsPin(child.stdout.text, pin), 'the PIN is not in the banner');

    const pair = startCli([...argsOf(pairLine), '--name', 'Child Sim Remote', '--json']);
    // The user reads the PIN off the "TV" (the simulator's terminal) and types it into pair.
    const [, shown] = await child.stdout.waitFor(/^MRP pairing PIN shown on the TV: (\d{4}) \(remote "Child Sim Remote" is pairing\)$/m);
    assert.equal(shown, pin);
    await pair.stderr.waitFor(/Enter the PIN shown on the TV/);
    pair.stdin.write(`${shown}\n`);
    assert.equal(await pair.done, 0, pair.stderr.text);
    const { credentials } = JSON.parse(pair.stdout.text) as { credentials: string };
    assert.match(credentials, HAP_CREDENTIALS);

    // The simulator names the paired remote, and prints nothing one could paste as credentials.
    await child.stdout.waitFor(/^paired remote "Child Sim Remote" [0-9a-f-]{36} \(MRP; /m);
    assert.doesNotMatch(child.stdout.text, /accepted mrp credentials/);
    for (const part of credentials.split(':')) assert.ok(!child.stdout.text.includes(part), 'no part of the credentials on the TV side');
    const pinLines = child.stdout.lines.filter((l) => mentionsPin(l, pin));
    assert.equal(pinLines.length, 1, `the PIN appears once, as the TV shows it:\n${pinLines.join('\n')}`);

    const control = [...argsOf(stateLine), '--credentials', `mrp=${credentials}`];
    const before = await cli([...control, '--json']);
    assert.equal(before.code, 0, before.stderr);
    const title = (JSON.parse(before.stdout) as NowPlaying).title;
    const next = await cli(['command', 'next', ...control.slice(1)]);
    assert.equal(next.code, 0, next.stderr);
    const afterNext = await cli([...control, '--json']);
    assert.notEqual((JSON.parse(afterNext.stdout) as NowPlaying).title, title);
    const volume = await cli(['set', 'volume', '35', ...control.slice(1)]);
    assert.equal(volume.stdout, 'volume: 35\n');
    // The simulator's own view agrees (its stdin reads "state").
    child.process.stdin.write('state\n');
    await child.stdout.waitFor(new RegExp((JSON.parse(afterNext.stdout) as NowPlaying).title!));

    child.process.kill('SIGINT');
    assert.equal((await child.exited).code, 0, child.stderr.text);
  });

  it('refuses --pin without MRP, AirPlay or Companion', async () => {
    const { code, stderr } = await cli(['simulate', '--pin', '1234', '--no-multicast']);
    assert.equal(code, EXIT.usage);
    assert.match(stderr, /--pin is the MRP, AirPlay and Companion pairing PIN/);
  });
});
