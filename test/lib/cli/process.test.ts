/**
 * The built bin as a real process (exit codes, stdout/stderr separation, executable bit), and
 * `npm run --silent cli -- …` behaving exactly like it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../../lib/cli/exit-codes';
import type { DeviceConfig } from '../../../lib/device/interfaces';
import type { NowPlaying } from '../../../lib/device/state';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../../../lib/simulator';
import { REPO_ROOT } from '../../support/paths';
import { CLI_BIN, runChild } from './support';

describe('the atvlink executable', () => {
  let sim: Simulator;
  before(async () => {
    sim = new Simulator({ name: 'Process Test TV', mdnsPort: 0, homeSharing: false });
    await sim.start();
  });
  after(async () => {
    await sim?.stop();
  });

  it('is executable with a node shebang', () => {
    accessSync(CLI_BIN, constants.X_OK);
  });

  it('scan --json and state --json print parseable JSON on stdout only', async () => {
    const scan = await runChild(['scan', '--hosts', '127.0.0.1', '--mdns-port', String(sim.mdnsPort), '--timeout', '1', '--json']);
    assert.equal(scan.code, 0, scan.stderr);
    const devices = JSON.parse(scan.stdout) as DeviceConfig[];
    assert.equal(devices[0]!.identifier, sim.deviceId);

    const state = await runChild(['state', '--host', '127.0.0.1', '--port', String(sim.dmapPort), '--json'], {
      ATVLINK_DMAP_CREDENTIALS: DEMO_DMAP_CREDENTIALS,
    });
    assert.equal(state.code, 0, state.stderr);
    assert.equal(state.stderr, '');
    assert.equal((JSON.parse(state.stdout) as NowPlaying).title, sim.state.nowPlaying().title);
  });

  it('exits with the documented codes: auth 3, unreachable 4, usage 2', async () => {
    const auth = await runChild(['state', '--host', '127.0.0.1', '--port', String(sim.dmapPort), '--credentials', '0xDEADBEEFDEADBEEF']);
    assert.equal(auth.code, EXIT.auth);
    assert.match(auth.stderr, /wrong or missing credentials/);
    assert.ok(!auth.stderr.includes('DEADBEEF'));
    assert.equal(auth.stdout, '');

    const unreachable = await runChild(['command', 'play', '--host', '127.0.0.1', '--port', '1', '--credentials', DEMO_DMAP_CREDENTIALS]);
    assert.equal(unreachable.code, EXIT.unreachable);
    assert.match(unreachable.stderr, /device unreachable/);

    const usage = await runChild(['frobnicate']);
    assert.equal(usage.code, EXIT.usage);
    assert.match(usage.stderr, /unknown command "frobnicate"/);
  });

  it('`npm run --silent cli -- <args>` behaves like the bin', async () => {
    const direct = await runChild(['command', 'nope', '--host', '127.0.0.1', '--port', '1']);
    const viaNpm = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const npm = spawn('npm', ['run', '--silent', 'cli', '--', 'command', 'nope', '--host', '127.0.0.1', '--port', '1'], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      npm.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      npm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      npm.on('error', (err) => resolve({ code: null, stdout, stderr: `cannot run npm: ${err.message}` }));
      npm.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(viaNpm.code, direct.code, viaNpm.stderr);
    assert.equal(viaNpm.stdout, direct.stdout);
    // npm may add its own configuration warnings; the CLI's lines are all there.
    for (const line of direct.stderr.split('\n').filter((l) => l !== '')) assert.ok(viaNpm.stderr.includes(line), line);
  });
});
