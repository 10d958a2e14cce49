/**
 * The CLI against a simulator on 127.0.0.1 (ephemeral ports, unicast DNS-SD): every value
 * asserted came back over a real socket, and every effect is checked in the simulator.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../../lib/cli/exit-codes';
import { COMMANDS, type CommandName } from '../../../lib/device/commands';
import type { DeviceConfig } from '../../../lib/device/interfaces';
import { NOW_PLAYING_FIELDS, type NowPlaying } from '../../../lib/device/state';
import { DMAP_COMMAND_ACTIONS } from '../../../lib/protocols/dmap/session';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../../../lib/simulator';
import { loginBody, pathOf, replyDmap, startServer } from '../protocols/dmap/servers';
import { cli, commandEffects, startCli, stateBefore, type Before } from './support';

const WRONG = '0x1111222233334444';

describe('atvlink against the simulator', () => {
  let sim: Simulator;
  let dir: string;
  let conn: string[];

  before(async () => {
    sim = new Simulator({ name: 'CLI Test TV', mdnsPort: 0, homeSharing: false });
    await sim.start();
    conn = ['--host', '127.0.0.1', '--port', String(sim.dmapPort), '--credentials', DEMO_DMAP_CREDENTIALS];
    dir = await mkdtemp(join(tmpdir(), 'atvlink-cli-'));
  });

  after(async () => {
    await sim?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('scan --hosts --mdns-port finds the simulator (table and --json)', async () => {
    const scanArgs = ['scan', '--hosts', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--timeout', '1'];
    const table = await cli(scanArgs);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME +ADDRESS +IDENTIFIER/m);
    assert.match(table.stdout, new RegExp(`CLI Test TV +127\\.0\\.0\\.1 +${sim.deviceId}`));
    assert.match(table.stdout, new RegExp(`dmap:${sim.dmapPort}`));

    const json = await cli([...scanArgs, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const devices = JSON.parse(json.stdout) as DeviceConfig[];
    assert.equal(devices.length, 1);
    assert.equal(devices[0]!.name, 'CLI Test TV');
    assert.equal(devices[0]!.identifier, sim.deviceId);
    assert.ok(devices[0]!.services.some((s) => s.protocol === 'dmap' && s.port === sim.dmapPort));
  });

  it('scan --json never prints the Home Sharing id discovery finds', async () => {
    const shared = new Simulator({ name: 'Shared Library', mdnsPort: 0 });
    await shared.start();
    try {
      const hsGuid = shared.config().services.find((s) => s.credentials)?.credentials;
      assert.ok(hsGuid, 'the simulator advertises a Home Sharing id');
      const json = await cli(['scan', '--hosts', '127.0.0.1', '--mdns-port', String(shared.mdnsPort), '--json', '--timeout', '1']);
      assert.equal(json.code, 0, json.stderr);
      const devices = JSON.parse(json.stdout) as DeviceConfig[];
      assert.equal(devices[0]!.name, 'Shared Library');
      assert.ok(devices[0]!.services.every((s) => s.credentials === null));
      assert.ok(!json.stdout.includes(hsGuid), 'no Home Sharing id in the output');
      // ... yet --id finds the device and logs in with it, no --credentials needed.
      const state = await cli(['state', '--id', shared.deviceId, '--hosts', '127.0.0.1', '--mdns-port', String(shared.mdnsPort), '--json']);
      assert.equal(state.code, 0, state.stderr);
      assert.equal((JSON.parse(state.stdout) as NowPlaying).title, shared.state.nowPlaying().title);
    } finally {
      await shared.stop();
    }
  });

  it('state --json prints the library shape with the simulator values', async () => {
    sim.state.setPosition(12);
    const { code, stdout, stderr } = await cli(['state', ...conn, '--json']);
    assert.equal(code, 0, stderr);
    const state = JSON.parse(stdout) as NowPlaying;
    assert.deepEqual(Object.keys(state).sort(), [...NOW_PLAYING_FIELDS].sort());
    const truth = sim.state.nowPlaying();
    for (const f of ['deviceState', 'mediaType', 'title', 'artist', 'album', 'genre', 'totalTime', 'shuffle', 'repeat'] as const) {
      assert.deepEqual(state[f], truth[f], f);
    }
    assert.ok(Math.abs(state.position! - 12) <= 1, `position ${state.position}`);
  });

  it('state prints human lines', async () => {
    const { code, stdout } = await cli(['state', ...conn]);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^Title: +${sim.state.nowPlaying().title}$`, 'm'));
    assert.match(stdout, /^Device state: +paused$/m);
    assert.match(stdout, /^Total time: +0:45 \(45 s\)$/m);
  });

  it('--id resolves the device with a unicast scan of --hosts', async () => {
    const { code, stdout, stderr } = await cli([
      'state', '--id', sim.deviceId, '--hosts', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--credentials', DEMO_DMAP_CREDENTIALS, '--json',
    ]);
    assert.equal(code, 0, stderr);
    assert.equal((JSON.parse(stdout) as NowPlaying).title, sim.state.nowPlaying().title);

    const byHost = await cli(['get', 'volume', '--host', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--credentials', DEMO_DMAP_CREDENTIALS, '--timeout', '1']);
    assert.equal(byHost.code, 0, byHost.stderr);
    assert.equal(byHost.stdout, `volume: ${sim.state.volume}\n`);

    const missing = await cli(['state', '--id', 'FFFFFFFFFFFFFFFF', '--hosts', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--timeout', '0.5']);
    assert.equal(missing.code, EXIT.unreachable);
    assert.match(missing.stderr, /no device with identifier FFFFFFFFFFFFFFFF answered at 127\.0\.0\.1/);
  });

  it('sends every command DMAP supports, each changing the simulator', async () => {
    const st = sim.state;
    const pressed = (name: CommandName) => (b: Before) => {
      assert.notEqual(st.lastKey, b.lastKey, `${name} arrived as a new key press`);
      assert.equal(st.lastKey?.name, name);
    };
    const expectations = commandEffects(st, pressed);
    let sent = 0;
    for (const spec of COMMANDS) {
      const expectation = expectations[spec.name];
      if (DMAP_COMMAND_ACTIONS[spec.name].kind === 'unsupported') {
        const { code, stderr } = await cli(['command', spec.name, ...conn]);
        assert.equal(code, EXIT.notSupported, `${spec.name}: ${stderr}`);
        assert.match(stderr, new RegExp(`command "${spec.name}" is not supported by this device/protocol`));
        continue;
      }
      expectation.arrange?.();
      const snapshot = stateBefore(st);
      const { code, stdout, stderr } = await cli(['command', spec.name, ...conn]);
      assert.equal(code, 0, `${spec.name}: ${stderr}`);
      assert.equal(stdout, `sent ${spec.name}\n`);
      expectation.check(snapshot);
      sent++;
    }
    assert.ok(sent >= 17, `sent ${sent} commands`);

    // Aliases from the table, button actions and --json.
    const json = await cli(['command', 'toggle', '--json', ...conn]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { command: 'playPause', action: 'single' });
    const keysBefore = st.keys.length;
    const double = await cli(['command', 'down', '--action', 'double', ...conn]);
    assert.equal(double.code, 0, double.stderr);
    assert.equal(st.keys.length - keysBefore, 2, 'DMAP sends a double press as two presses');
    const badAction = await cli(['command', 'play', '--action', 'hold', ...conn]);
    assert.equal(badAction.code, EXIT.usage);
    assert.match(badAction.stderr, /"play" is not a button/);
  });

  it('sets every property, prints what the device reports, and reads them back', async () => {
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

    const human = await cli(['set', 'repeat', 'track', ...conn]);
    assert.equal(human.stdout, 'repeat: track\n');
    assert.equal(sim.state.repeat, 'track');

    sim.state.setVolume(42);
    const get = await cli(['get', 'volume', ...conn, '--json']);
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(JSON.parse(get.stdout), { property: 'volume', value: 42 });
    const shuffle = await cli(['get', 'shuffle', ...conn]);
    assert.equal(shuffle.stdout, 'shuffle: songs\n');

    const unknown = await cli(['get', 'colour', ...conn]);
    assert.equal(unknown.code, EXIT.usage);
    assert.match(unknown.stderr, /unknown property "colour"/);
  });

  it('artwork --out writes the cover as a PNG of the asked size; exit 8 when there is none', async () => {
    sim.state.play();
    const file = join(dir, 'cover.png');
    const { code, stdout, stderr } = await cli(['artwork', '--out', file, '--width', '64', '--height', '48', ...conn, '--json']);
    assert.equal(code, 0, stderr);
    const bytes = await readFile(file);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(bytes.readUInt32BE(16), 64);
    assert.equal(bytes.readUInt32BE(20), 48);
    const report = JSON.parse(stdout) as { file: string; mimeType: string; width: number; height: number; bytes: number };
    assert.deepEqual(report, { file, mimeType: 'image/png', width: 64, height: 48, bytes: bytes.length });

    const human = await cli(['artwork', '--out', join(dir, 'big.png'), ...conn]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^saved image\/png, \d+×\d+, \d+ bytes to /);
    assert.ok((await stat(join(dir, 'big.png'))).size > 0);

    const piped = await cli(['artwork', '--out', '-', '--width', '32', '--height', '32', ...conn]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.stdout.startsWith('\x89PNG\r\n\x1a\n'), 'raw PNG bytes on stdout');

    sim.state.stop();
    const none = await cli(['artwork', '--out', join(dir, 'none.png'), ...conn]);
    assert.equal(none.code, EXIT.nothing, none.stderr);
    assert.match(none.stderr, /no artwork/);
    await assert.rejects(stat(join(dir, 'none.png')), /ENOENT/);
    sim.state.play();
  });

  it('artwork that is not an image: exit code 1, the reason, no file', async () => {
    // A DACP server that answers nowplayingartwork with an HTML page.
    const server = await startServer((req, res) => {
      if (pathOf(req.url) === '/login') return replyDmap(res, loginBody(5));
      if (pathOf(req.url) === '/ctrl-int/1/nowplayingartwork') return void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>oops</html>');
      res.writeHead(500).end();
    });
    try {
      const file = join(dir, 'not-an-image.png');
      const run = await cli(['artwork', '--out', file, '--host', '127.0.0.1', '--port', String(server.port), '--credentials', DEMO_DMAP_CREDENTIALS]);
      assert.equal(run.code, EXIT.failure, run.stderr);
      assert.match(run.stderr, /sent artwork that is not an image \(type text\/html/);
      await assert.rejects(stat(file), /ENOENT/);
    } finally {
      await server.close();
    }
  });

  it('watch --count 2 prints one JSON line per push update, then exits', async () => {
    sim.state.pause();
    const run = startCli(['watch', '--count', '2', '--json', ...conn]);
    await run.stdout.waitFor(/\n/);
    sim.state.next();
    const code = await run.done;
    assert.equal(code, 0, run.stderr.text);
    const lines = run.stdout.lines.map((l) => JSON.parse(l) as NowPlaying);
    assert.equal(lines.length, 2);
    assert.deepEqual(Object.keys(lines[1]!).sort(), [...NOW_PLAYING_FIELDS].sort());
    assert.equal(lines[1]!.title, sim.state.nowPlaying().title);
    assert.notEqual(lines[0]!.title, lines[1]!.title);
  });

  it('watch without --count runs until aborted, printing human lines', async () => {
    const run = startCli(['watch', ...conn]);
    await run.stdout.waitFor(/\n/);
    sim.state.playPause();
    await run.stdout.waitFor(/\n.*\n/);
    run.abort();
    assert.equal(await run.done, 0);
    assert.match(run.stdout.lines[0]!, /^\d\d:\d\d:\d\d {2}(playing|paused)/);
  });

  it('watch ends with the unreachable exit code when the device goes away', async () => {
    const doomed = new Simulator({ name: 'Doomed TV', homeSharing: false });
    await doomed.start();
    const run = startCli(['watch', '--host', '127.0.0.1', '--port', String(doomed.dmapPort), '--credentials', DEMO_DMAP_CREDENTIALS]);
    await run.stdout.waitFor(/\n/);
    await doomed.stop();
    assert.equal(await run.done, EXIT.unreachable, run.stderr.text);
    assert.match(run.stderr.text, /atvlink: (lost the connection|device unreachable)/);
  });

  it('watch --reconnect keeps watching through a restart of the device: says so on stderr and prints on', async () => {
    const flaky = new Simulator({ name: 'Flaky TV', homeSharing: false });
    await flaky.start();
    const port = flaky.dmapPort;
    const run = startCli(['watch', '--reconnect', '--json', '--host', '127.0.0.1', '--port', String(port), '--credentials', DEMO_DMAP_CREDENTIALS]);
    try {
      await run.stdout.waitFor(/\n/);
      await flaky.stop();
      await run.stderr.waitFor(/disconnected: .*next attempt in \d+ s/);
      const back = new Simulator({ name: 'Flaky TV', homeSharing: false, dmapPort: port, autoplay: true });
      await back.start();
      try {
        await run.stderr.waitFor(/connected again/, 15_000);
        await run.stdout.waitFor(/"deviceState":"playing"/, 15_000);
      } finally {
        run.abort();
        assert.equal(await run.done, 0, run.stderr.text);
        await back.stop();
      }
    } finally {
      run.abort();
      await flaky.stop();
    }
  });

  it('features lists commands and features with their state', async () => {
    const { code, stdout } = await cli(['features', ...conn, '--json']);
    assert.equal(code, 0);
    const features = JSON.parse(stdout) as Record<string, string>;
    assert.equal(features.home, 'unsupported');
    assert.equal(features.up, 'available');
    assert.equal(features.pushUpdates, 'available');
  });

  it('takes credentials from the environment, per protocol or generic', async () => {
    const host = ['--host', '127.0.0.1', '--port', String(sim.dmapPort)];
    const perProtocol = await cli(['get', 'volume', ...host], { ATVLINK_DMAP_CREDENTIALS: DEMO_DMAP_CREDENTIALS });
    assert.equal(perProtocol.code, 0, perProtocol.stderr);
    const generic = await cli(['get', 'volume', ...host], { ATVLINK_CREDENTIALS: DEMO_DMAP_CREDENTIALS });
    assert.equal(generic.code, 0, generic.stderr);
    const named = await cli(['get', 'volume', ...host, '--credentials', `dmap=${DEMO_DMAP_CREDENTIALS}`]);
    assert.equal(named.code, 0, named.stderr);
    // The option wins over the environment.
    const overridden = await cli(['get', 'volume', ...host, '--credentials', WRONG], { ATVLINK_DMAP_CREDENTIALS: DEMO_DMAP_CREDENTIALS });
    assert.equal(overridden.code, EXIT.auth);
  });

  it('wrong credentials: AUTH exit code and an actionable message without the credential', async () => {
    for (const json of [false, true]) {
      const { code, stdout, stderr } = await cli(['state', '--host', '127.0.0.1', '--port', String(sim.dmapPort), '--credentials', WRONG, '--debug', ...(json ? ['--json'] : [])]);
      assert.equal(code, EXIT.auth);
      assert.equal(stdout, '');
      assert.match(stderr, /wrong or missing credentials/);
      assert.match(stderr, /pair again with `atvlink pair --protocol dmap`/);
      assert.ok(!stderr.includes(WRONG.slice(2)), 'the credential is not echoed, even with --debug');
    }
    const missing = await cli(['state', '--host', '127.0.0.1', '--port', String(sim.dmapPort)]);
    assert.equal(missing.code, EXIT.auth);
  });

  it('--json before the command works as after it: JSON results on stdout, JSON errors on stderr', async () => {
    for (const argv of [['--json', 'state', ...conn], ['state', ...conn, '--json']]) {
      const { code, stdout, stderr } = await cli(argv);
      assert.equal(code, 0, stderr);
      assert.equal((JSON.parse(stdout) as NowPlaying).title, sim.state.nowPlaying().title, argv.join(' '));
    }
    const wrong = ['--host', '127.0.0.1', '--port', String(sim.dmapPort), '--credentials', WRONG];
    for (const argv of [['--json', 'state', ...wrong], ['state', ...wrong, '--json']]) {
      const { code, stdout, stderr } = await cli(argv);
      assert.equal(code, EXIT.auth);
      assert.equal(stdout, '');
      const { error } = JSON.parse(stderr) as { error: { code: string; exitCode: number; message: string } };
      assert.equal(error.code, 'AUTH', argv.join(' '));
      assert.equal(error.exitCode, EXIT.auth);
    }
    // A command without JSON output refuses it in either place, rather than ignoring it.
    for (const argv of [['--json', 'simulate'], ['simulate', '--json']]) {
      const { code, stdout, stderr } = await cli(argv);
      assert.equal(code, EXIT.usage, argv.join(' '));
      assert.equal(stdout, '');
      assert.match((JSON.parse(stderr) as { error: { message: string } }).error.message, /--json/);
    }
  });

  it('unreachable port: UNREACHABLE exit code naming the endpoint', async () => {
    const { code, stderr } = await cli(['state', '--host', '127.0.0.1', '--port', '1', '--credentials', DEMO_DMAP_CREDENTIALS]);
    assert.equal(code, EXIT.unreachable);
    assert.match(stderr, /device unreachable.*127\.0\.0\.1:1/);
    assert.match(stderr, /hint: is it on/);
    assert.ok(!/\n\s+at /.test(stderr), 'no stack trace without --debug');
    const debug = await cli(['state', '--host', '127.0.0.1', '--port', '1', '--credentials', DEMO_DMAP_CREDENTIALS, '--debug']);
    assert.equal(debug.code, EXIT.unreachable);
    assert.match(debug.stderr, /\n\s+at /, 'a stack trace with --debug');
    assert.ok(!debug.stderr.includes(DEMO_DMAP_CREDENTIALS), 'credentials scrubbed from --debug output');
  });

  it('--debug logs what the library does on stderr, stdout stays the result', async () => {
    const { code, stdout, stderr } = await cli(['get', 'volume', ...conn, '--debug', '--json']);
    assert.equal(code, 0);
    assert.ok(JSON.parse(stdout));
    assert.ok(!stderr.includes(DEMO_DMAP_CREDENTIALS));
  });
});
