/**
 * Companion end to end: `pair('companion')` against the simulator (the PIN from its 'pin'
 * event, as read off the TV), then the Device facade with the credentials it produced, every
 * feature acting on the simulator's shared state, the pushes coming back, the connect and
 * disconnect sequences as the device sees them, and the power state after the device falls
 * asleep by itself. Every value asserted crossed a real loopback socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, Device } from '../../../../lib/core/facade';
import { pair } from '../../../../lib/core/pairing';
import { COMMANDS, type CommandName } from '../../../../lib/device/commands';
import type { PowerState, TextFocusState } from '../../../../lib/device/interfaces';
import { AuthenticationError, FeatureUnavailableError, NotSupportedError, PairingError } from '../../../../lib/errors';
import { formatHapCredentials, parseFullHapCredentials } from '../../../../lib/hap/credentials';
import { ED25519_KEY_LENGTH, randomKeyBytes } from '../../../../lib/hap/keys';
import { hapPairVerify } from '../../../../lib/hap/pairing';
import { COMPANION_COMMAND_ACTIONS } from '../../../../lib/protocols/companion/commands';
import { CompanionConnection } from '../../../../lib/protocols/companion/connection';
import { DEMO_DMAP_CREDENTIALS, Simulator, type SimulatorPinRequest } from '../../../../lib/simulator';
import { until } from '../../../support/wait';
import { commandEffects, stateBefore, type Before } from '../../cli/support';

const PIN = '4321';

/** The request names the simulator's Companion server handled since `from`. */
function handled(sim: Simulator, from = 0): string[] {
  return sim.server('companion')!.requests.slice(from).map((r) => r.path);
}

describe('Companion against the simulator', () => {
  let sim: Simulator;
  let credentials: string;
  let device: Device;
  const pins: SimulatorPinRequest[] = [];
  const powers: PowerState[] = [];
  const focus: TextFocusState[] = [];

  before(async () => {
    sim = new Simulator({ name: 'Companion TV', protocols: ['companion'], pin: PIN, trackSeconds: 600 });
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    const pairing = pair('companion', { config: sim.config(), name: 'Test Remote', timeout: 5000 });
    await pairing.begin();
    pairing.setPin(pins[0]!.pin);
    credentials = await pairing.finish();
    device = await connect(sim.config(), { credentials: { companion: credentials } });
    device.on('power', (p) => powers.push(p));
    device.on('textFocus', (f) => focus.push(f));
  });

  after(async () => {
    await device?.close();
    await sim?.stop();
  });

  it('paired with the PIN the TV showed; the credentials are pyatv-shaped and the device keeps a record', () => {
    assert.deepEqual(pins[0], { protocol: 'companion', pin: PIN, remoteName: null });
    const parsed = parseFullHapCredentials(credentials);
    assert.deepEqual(parsed.ltpk, sim.server('companion')!.ltpk);
    assert.equal(parsed.atvId.toString('utf8'), sim.server('companion')!.identity.pairingId);
    assert.equal(formatHapCredentials(parsed), credentials);
    const stats = sim.server('companion')!.stats();
    assert.equal(stats.pairings, 1);
    // The pairing proved the credentials with a pair-verify, and the device connection did again.
    assert.ok(stats.verifications >= 2, `${stats.verifications} verifications`);
  });

  it('connects with the sequence a remote sends, not waking anything', async () => {
    assert.deepEqual(device.protocols, ['companion']);
    await until(() => handled(sim).includes('_tiStart'), 'the text session to open');
    const sequence = handled(sim).filter((n) => !n.startsWith('_mcc'));
    assert.deepEqual(sequence.slice(0, 7), ['_systemInfo', '_sessionStart', 'TVRCSessionStart', '_interest', 'FetchAttentionState', '_touchStart', '_tiStart']);
    assert.equal(sim.server('companion')!.requests[0]!.query.identified, 'true', '_systemInfo carries a non-null _i');
  });

  it('reports the power state the device gives, and each change it pushes', async () => {
    assert.equal(device.powerState(), 'on');
    assert.equal(device.feature('powerState'), 'available');
    await device.command('turnOff');
    assert.equal(sim.state.power, 'off');
    await until(() => device.powerState() === 'off', 'power off reported');
    await device.command('turnOn');
    assert.equal(sim.state.power, 'on');
    await until(() => device.powerState() === 'on', 'power on reported');
    assert.deepEqual(powers.slice(-2), ['off', 'on']);
  });

  it('hears the device fall asleep by itself, and reconnects to it without waking it', async () => {
    const before = powers.length;
    sim.state.turnOff();
    await until(() => device.powerState() === 'off', 'the pushed power state');
    assert.deepEqual(powers.slice(before), ['off']);

    const from = sim.server('companion')!.requests.length;
    const second = await connect(sim.config(), { credentials: { companion: credentials } });
    try {
      assert.equal(second.powerState(), 'off');
      assert.equal(sim.state.power, 'off', 'connecting did not wake the device');
      const seen = handled(sim, from);
      assert.ok(seen.includes('FetchAttentionState'), seen.join());
      assert.ok(!seen.includes('_touchStart') && !seen.includes('_tiStart'), `no remote screen opened while asleep: ${seen.join()}`);
      const heard: PowerState[] = [];
      second.on('power', (p) => heard.push(p));
      sim.state.turnOn();
      await until(() => heard.includes('on'), 'the wake-up pushed');
      await until(() => handled(sim, from).includes('_touchStart'), 'the touch session once awake');
    } finally {
      await second.close();
    }
    await until(() => device.powerState() === 'on', 'the first device heard it too');
  });

  it('lists the installed apps and launches one by bundle id or URL', async () => {
    const apps = await device.appList();
    assert.deepEqual(apps, sim.state.apps.map((a) => ({ name: a.name, bundleId: a.bundleId })));
    await device.launchApp('com.netflix.Netflix');
    assert.deepEqual(sim.state.app, { name: 'Netflix', bundleId: 'com.netflix.Netflix' });
    await device.launchApp('https://example.com/watch?v=1');
    assert.equal(sim.state.openedUrl, 'https://example.com/watch?v=1');
    await assert.rejects(device.launchApp('com.example.notinstalled'), (err: Error) => {
      assert.ok(err instanceof NotSupportedError);
      assert.match(err.message, /refused to launch com\.example\.notinstalled: .*not installed/);
      return true;
    });
  });

  it('lists user accounts and switches between them', async () => {
    assert.deepEqual(await device.accountList(), sim.state.accounts);
    await device.switchAccount('sim-account-2');
    assert.equal(sim.state.account?.id, 'sim-account-2');
    await assert.rejects(device.switchAccount('nobody'), NotSupportedError);
  });

  it('types into the focused text field, and reports focus as the device pushes it', async () => {
    await until(() => device.textFocusState() === 'unfocused', 'the first text session');
    assert.equal(await device.textGet(), null);
    await assert.rejects(device.textSet('nothing to type into'), NotSupportedError);
    sim.state.focusTextField('Star');
    await until(() => device.textFocusState() === 'focused', 'focus pushed');
    assert.equal(await device.textGet(), 'Star');
    await device.textAppend(' Wars');
    await until(() => sim.state.text === 'Star Wars', 'the appended text');
    await device.textSet('Dune');
    await until(() => sim.state.text === 'Dune', 'the replaced text');
    assert.equal(await device.textGet(), 'Dune');
    await device.textClear();
    await until(() => sim.state.text === '', 'the cleared field');
    sim.state.unfocusTextField();
    await until(() => device.textFocusState() === 'unfocused', 'focus lost pushed');
    assert.deepEqual(focus.slice(-2), ['focused', 'unfocused']);
  });

  it('sends every command the table maps to Companion, each changing the simulator', async () => {
    const st = sim.state;
    const pressed = (name: CommandName) => (b: Before) => {
      assert.equal(st.keys.length, b.keys + 1, `${name} arrived as one key press`);
      assert.deepEqual([st.lastKey?.name, st.lastKey?.action], [name, 'single']);
    };
    const effects = commandEffects(st, pressed);
    for (const spec of COMMANDS) {
      if (COMPANION_COMMAND_ACTIONS[spec.name].kind === 'unsupported') {
        await assert.rejects(device.command(spec.name), NotSupportedError, spec.name);
        continue;
      }
      const effect = effects[spec.name];
      effect.arrange?.();
      const snapshot = stateBefore(st);
      await device.command(spec.name);
      effect.check(snapshot);
    }
    st.turnOn();
    await device.command('down', { action: 'hold' });
    assert.deepEqual([st.lastKey?.name, st.lastKey?.action], ['down', 'hold']);
    const keys = st.keys.length;
    await device.command('guide', { action: 'double' });
    assert.deepEqual(st.keys.slice(keys).map((k) => k.name), ['guide', 'guide']);
  });

  it('reads and sets the volume, and hears it change', async () => {
    assert.equal(await device.getProperty('volume'), sim.state.volume);
    assert.equal(await device.setProperty('volume', 30), 30);
    assert.equal(sim.state.volume, 30);
    const heard: number[] = [];
    device.on('volume', (v) => heard.push(v));
    sim.state.setVolume(42);
    await until(() => heard.includes(42), 'the volume change');
  });

  it('refuses connecting without credentials or with credentials the device does not know', async () => {
    await assert.rejects(connect(sim.config()), AuthenticationError);
    const stranger = formatHapCredentials({ ...parseFullHapCredentials(credentials), ltsk: randomKeyBytes(ED25519_KEY_LENGTH) });
    await assert.rejects(connect(sim.config(), { credentials: { companion: stranger } }), AuthenticationError);
  });

  it('refuses a wrong PIN', async () => {
    const pairing = pair('companion', { config: sim.config(), timeout: 5000 });
    try {
      await pairing.begin();
      pairing.setPin('0000');
      await assert.rejects(pairing.finish(), PairingError);
    } finally {
      await pairing.close();
    }
  });

  it('pushes power only to a remote that gave a non-null _systemInfo._i (as newer tvOS does)', async () => {
    const connection = await CompanionConnection.open({ host: '127.0.0.1', port: sim.companionPort, timeout: 5000 });
    try {
      await hapPairVerify(parseFullHapCredentials(credentials), connection.pairingExchange, (secret) => connection.enableEncryption(secret));
      await connection.request('_systemInfo', { name: 'no id' });
      connection.event('_interest', { _regEvents: ['SystemStatus', 'TVSystemStatus'] });
      const events: string[] = [];
      connection.on('event', (name) => events.push(name));
      sim.state.turnOff();
      sim.state.turnOn();
      // The stream is ordered: a push sent before this answer would have arrived first.
      const reply = await connection.request('FetchAttentionState', {});
      assert.equal(reply.content.get('state'), 3);
      assert.deepEqual(events, []);
    } finally {
      connection.close();
    }
  });

  it('closes with the disconnect sequence, and reports a lost connection', async () => {
    const from = sim.server('companion')!.requests.length;
    const other = await connect(sim.config(), { credentials: { companion: credentials } });
    await until(() => handled(sim, from).includes('_tiStart'), 'the text session');
    await other.close();
    const stops = sim.server('companion')!.requests.slice(from).filter((r) => ['_sessionStop', '_touchStop', '_tiStop'].includes(r.path));
    assert.deepEqual(stops.map((r) => [r.path, r.status]), [
      ['_sessionStop', 0],
      ['_touchStop', 0],
      ['_tiStop', 0],
    ]);

    // Closed at once, while the touch and text sessions are still being opened: they are stopped all the same.
    const mark = sim.server('companion')!.requests.length;
    const quick = await connect(sim.config(), { credentials: { companion: credentials } });
    await quick.close();
    const quickly = sim.server('companion')!.requests.slice(mark);
    const count = (path: string) => quickly.filter((r) => r.path === path).length;
    assert.equal(count('_tiStart'), count('_tiStop'), quickly.map((r) => r.path).join());
    assert.equal(count('_touchStart') > 0 ? count('_touchStop') : 0, count('_touchStart'));

    const lost = new Promise<Error>((resolve) => device.once('connectionLost', resolve));
    await sim.stop();
    assert.match((await lost).message, /closed/);
    assert.equal(device.connected, false);
  });
});

describe('a device that offers Companion unpaired', () => {
  it('names Companion as what could list apps or turn the TV off, once paired, and never tried it', async () => {
    const sim = new Simulator({ name: 'Half TV', protocols: ['dmap', 'companion'], pin: PIN });
    await sim.start();
    const device = await connect(sim.config(), { credentials: { dmap: DEMO_DMAP_CREDENTIALS } });
    try {
      assert.deepEqual(device.protocols, ['dmap']);
      const apps = await device.appList().then(
        () => assert.fail('listed apps over DMAP'),
        (err: unknown) => err,
      );
      assert.ok(apps instanceof FeatureUnavailableError, String(apps));
      assert.deepEqual([apps.unpaired, apps.failed], [['companion'], []]);
      assert.match(apps.message, /cannot do "appList" over dmap; Companion can, once paired/);
      await assert.rejects(device.command('turnOff'), (err: unknown) => err instanceof FeatureUnavailableError && err.unpaired.includes('companion'));
      assert.equal(sim.server('companion')!.stats().totalConnections, 0, 'Companion was never tried without credentials');
      assert.equal(sim.state.power, 'on');
    } finally {
      await device.close();
      await sim.stop();
    }
  });
});
