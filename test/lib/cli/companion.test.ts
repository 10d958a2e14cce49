/**
 * The CLI over Companion against the simulator, as a user types it: `pair --protocol
 * companion` (the PIN the TV shows, from --pin), then power, apps, launch, accounts,
 * switch-account, text and the commands Companion carries (turnOn/turnOff included).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../../lib/cli/exit-codes';
import { parseFullHapCredentials } from '../../../lib/hap/credentials';
import { Simulator } from '../../../lib/simulator';
import { until } from '../../support/wait';
import { cli } from './support';

const PIN = '7531';

describe('atvlink over Companion', () => {
  let sim: Simulator;
  let conn: string[];
  let env: Record<string, string>;

  before(async () => {
    sim = new Simulator({ name: 'CLI Companion TV', protocols: ['companion'], pin: PIN, trackSeconds: 600 });
    await sim.start();
    conn = ['--host', '127.0.0.1', '--port', String(sim.companionPort), '--protocol', 'companion'];
  });

  after(async () => {
    await sim?.stop();
  });

  it('pairs with the PIN the TV shows and prints pyatv-format credentials', async () => {
    const { code, stdout, stderr } = await cli(['pair', ...conn, '--pin', PIN, '--name', 'CLI test', '--json']);
    assert.equal(code, 0, stderr);
    const { protocol, credentials } = JSON.parse(stdout) as { protocol: string; credentials: string };
    assert.equal(protocol, 'companion');
    assert.deepEqual(parseFullHapCredentials(credentials).ltpk, sim.server('companion')!.ltpk);
    env = { ATVLINK_COMPANION_CREDENTIALS: credentials };
  });

  it('without credentials says to pair Companion', async () => {
    const { code, stderr } = await cli(['power', ...conn]);
    assert.equal(code, EXIT.auth, stderr);
    assert.match(stderr, /pair again with `atvlink pair --protocol companion`/);
  });

  it('power: prints the state, turns the device off and on', async () => {
    assert.deepEqual(await cli(['power', ...conn], env), { code: 0, stdout: 'on\n', stderr: '' });
    const off = await cli(['power', 'off', ...conn, '--json'], env);
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(JSON.parse(off.stdout), { power: 'off' });
    assert.equal(sim.state.power, 'off');
    assert.equal((await cli(['command', 'turnOn', ...conn], env)).code, 0);
    assert.equal(sim.state.power, 'on');
    assert.equal((await cli(['power', 'sideways', ...conn], env)).code, EXIT.usage);
  });

  it('apps and launch', async () => {
    const apps = await cli(['apps', ...conn, '--json'], env);
    assert.equal(apps.code, 0, apps.stderr);
    assert.deepEqual(JSON.parse(apps.stdout), sim.state.apps.map((a) => ({ name: a.name, bundleId: a.bundleId })));
    const table = await cli(['apps', ...conn], env);
    assert.match(table.stdout, /^NAME\s+BUNDLE ID\n/);
    assert.match(table.stdout, /Netflix\s+com\.netflix\.Netflix/);
    assert.deepEqual(await cli(['launch', 'com.google.ios.youtube', ...conn], env), { code: 0, stdout: 'launched com.google.ios.youtube\n', stderr: '' });
    assert.equal(sim.state.app?.bundleId, 'com.google.ios.youtube');
    const url = await cli(['launch', 'youtube://watch/abc', ...conn, '--json'], env);
    assert.deepEqual(JSON.parse(url.stdout), { launched: 'youtube://watch/abc' });
    assert.equal(sim.state.openedUrl, 'youtube://watch/abc');
    const missing = await cli(['launch', 'com.example.none', ...conn], env);
    assert.equal(missing.code, EXIT.notSupported);
    assert.match(missing.stderr, /not installed/);
  });

  it('accounts and switch-account', async () => {
    const list = await cli(['accounts', ...conn, '--json'], env);
    assert.deepEqual(JSON.parse(list.stdout), sim.state.accounts);
    assert.equal((await cli(['switch-account', 'sim-account-2', ...conn], env)).code, 0);
    assert.equal(sim.state.account?.id, 'sim-account-2');
  });

  it('text: get, set, append, clear on the focused field; nothing to get without one', async () => {
    const none = await cli(['text', 'get', ...conn], env);
    assert.equal(none.code, EXIT.nothing, none.stderr);
    sim.state.focusTextField('');
    assert.equal((await cli(['text', 'set', 'star wars', ...conn], env)).code, 0);
    await until(() => sim.state.text === 'star wars', 'the typed text');
    assert.equal((await cli(['text', 'append', '!', ...conn], env)).code, 0);
    await until(() => sim.state.text === 'star wars!', 'the appended text');
    const got = await cli(['text', 'get', ...conn, '--json'], env);
    assert.deepEqual(JSON.parse(got.stdout), { text: 'star wars!' });
    assert.equal((await cli(['text', 'clear', ...conn], env)).code, 0);
    await until(() => sim.state.text === '', 'the cleared field');
    assert.equal((await cli(['text', 'set', ...conn], env)).code, EXIT.usage);
    sim.state.unfocusTextField();
  });

  it('command: the buttons only Companion has', async () => {
    for (const name of ['guide', 'channelUp', 'channelDown', 'controlCenter', 'siri', 'screensaver']) {
      const { code, stderr } = await cli(['command', name, ...conn], env);
      assert.equal(code, 0, `${name}: ${stderr}`);
      assert.equal(sim.state.lastKey?.name, name);
    }
    assert.equal(sim.state.attention, 'screensaver');
  });
});
