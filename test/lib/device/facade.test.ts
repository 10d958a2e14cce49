import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { manualConfig } from '../../../lib/device/config';
import type { CommandName, CommandOptions } from '../../../lib/device/commands';
import { Device } from '../../../lib/core/facade';
import type {
  Artwork,
  FeatureName,
  FeatureState,
  PowerState,
  Protocol,
  ProtocolSession,
  SessionCapabilities,
  SessionContext,
  SessionFactory,
} from '../../../lib/device/interfaces';
import type { PropertyName, PropertyValues } from '../../../lib/device/properties';
import { idleNowPlaying, type NowPlaying } from '../../../lib/device/state';
import { AuthenticationError, InvalidArgumentError, NotSupportedError, UnreachableError } from '../../../lib/errors';

/** A protocol session that records calls; features are given per test. */
class FakeSession extends EventEmitter implements ProtocolSession {
  readonly capabilities: SessionCapabilities = { remoteControl: this, metadata: this, audio: this, power: this };
  readonly calls: string[] = [];
  closed = false;
  constructor(
    readonly protocol: Protocol,
    private readonly features: Partial<Record<FeatureName, FeatureState>>,
    readonly context: SessionContext,
    private readonly failConnect?: Error,
    private readonly gate?: Promise<void>,
  ) {
    super();
  }
  async connect(): Promise<void> {
    if (this.failConnect) throw this.failConnect;
    if (this.gate) {
      // Like a socket: a close() while connecting makes connect() fail.
      await Promise.race([this.gate, new Promise<never>((_, reject) => this.once('test:closed', () => reject(new Error('socket closed'))))]);
    }
  }
  async close(): Promise<void> {
    this.closed = true;
    this.emit('test:closed');
  }
  feature(name: FeatureName): FeatureState {
    return this.features[name] ?? 'unsupported';
  }
  async sendCommand(command: CommandName, options: CommandOptions): Promise<void> {
    this.calls.push(`${command}:${options.action}${options.interval ? `:${options.interval}` : ''}`);
  }
  async nowPlaying(): Promise<NowPlaying> {
    this.calls.push('nowPlaying');
    return { ...idleNowPlaying(), title: this.protocol };
  }
  async artwork(): Promise<Artwork | null> {
    return null;
  }
  async setProperty<N extends PropertyName>(name: N, value: PropertyValues[N]): Promise<PropertyValues[N]> {
    this.calls.push(`set:${name}=${String(value)}`);
    return value;
  }
  async setVolume(level: number): Promise<number> {
    this.calls.push(`set:volume=${level}`);
    return level;
  }
  async getVolume(): Promise<number | null> {
    return null;
  }
  startPushUpdates(): void {
    this.calls.push('push');
  }
  stopPushUpdates(): void {
    this.calls.push('stop push');
  }
  powerState(): PowerState {
    return 'unknown';
  }
  async turnOn(): Promise<void> {
    this.calls.push('turnOn:single');
  }
  async turnOff(): Promise<void> {
    this.calls.push('turnOff:single');
  }
}

interface FakeSpec {
  features: Partial<Record<FeatureName, FeatureState>>;
  fail?: Error;
  /** connect() resolves only when this does. */
  gate?: Promise<void>;
}

function setup(specs: Partial<Record<Protocol, FakeSpec>>): { device: Device; sessions: Map<Protocol, FakeSession> } {
  const sessions = new Map<Protocol, FakeSession>();
  const factories: Partial<Record<Protocol, SessionFactory>> = {};
  for (const [protocol, spec] of Object.entries(specs) as [Protocol, FakeSpec][]) {
    factories[protocol] = (ctx) => {
      const s = new FakeSession(protocol, spec.features, ctx, spec.fail, spec.gate);
      sessions.set(protocol, s);
      return s;
    };
  }
  const config = manualConfig({
    address: '127.0.0.1',
    name: 'Test TV',
    services: (Object.keys(specs) as Protocol[]).map((protocol, i) => ({ protocol, port: 1000 + i })),
  });
  return { device: new Device(config, { factories, credentials: { dmap: '0x0000000000000001' } }), sessions };
}

describe('Device facade', () => {
  it('relays to the highest-priority protocol that has the feature available', async () => {
    const { device, sessions } = setup({
      dmap: { features: { play: 'unknown', up: 'available', home: 'unsupported' } },
      mrp: { features: { play: 'available', up: 'available', home: 'available' } },
    });
    await device.connect();
    await device.command('play');
    await device.command('UP', { action: 'double' });
    assert.deepEqual(sessions.get('mrp')!.calls, ['play:single', 'up:double']);
    assert.deepEqual(sessions.get('dmap')!.calls, []);
    assert.deepEqual(device.protocols, ['mrp', 'dmap']);
    await device.close();
  });

  it('prefers an available feature over an unknown one, and skips unsupported', async () => {
    const { device, sessions } = setup({
      mrp: { features: { play: 'unavailable', select: 'unsupported' } },
      dmap: { features: { play: 'available', select: 'unknown' } },
    });
    await device.connect();
    await device.command('play');
    await device.command('select');
    assert.deepEqual(sessions.get('dmap')!.calls, ['play:single', 'select:single']);
    await assert.rejects(device.command('home'), NotSupportedError);
    await device.close();
  });

  it('passes each protocol its own credentials', async () => {
    const { device, sessions } = setup({ dmap: { features: {} }, mrp: { features: {} } });
    await device.connect();
    assert.equal(sessions.get('dmap')!.context.credentials, '0x0000000000000001');
    assert.equal(sessions.get('mrp')!.context.credentials, null);
    await device.close();
  });

  it('validates commands, actions, intervals and properties before touching the device', async () => {
    const { device, sessions } = setup({ dmap: { features: { play: 'available', skipForward: 'available', setVolume: 'available' } } });
    await device.connect();
    await assert.rejects(device.command('explode'), (e: unknown) => e instanceof InvalidArgumentError && /known commands: play/.test(e.message));
    await assert.rejects(device.command('play', { action: 'hold' }), /not a button/);
    await assert.rejects(device.command('up', { action: 'triple' as never }), /use single, double or hold/);
    await assert.rejects(device.command('skipForward', { interval: -3 }), /positive/);
    await assert.rejects(device.setProperty('volume', 101), /between 0 and 100/);
    await assert.rejects(device.setProperty('loudness' as PropertyName, 1), /unknown property/);
    await device.command('skip_forward', { interval: 30 });
    assert.equal(await device.setProperty('volume', '42'), 42);
    assert.deepEqual(sessions.get('dmap')!.calls, ['skipForward:single:30', 'set:volume=42']);
    await device.close();
  });

  it('connects when one protocol fails and reports the most telling error when all fail', async () => {
    const partial = setup({ dmap: { features: {} }, mrp: { features: {}, fail: new UnreachableError('refused') } });
    await partial.device.connect();
    assert.deepEqual(partial.device.protocols, ['dmap']);
    await partial.device.close();

    const none = setup({
      dmap: { features: {}, fail: new UnreachableError('refused') },
      mrp: { features: {}, fail: new AuthenticationError('bad credentials') },
    });
    await assert.rejects(none.device.connect(), AuthenticationError);
    assert.equal(none.sessions.get('dmap')!.closed, true);
    assert.deepEqual(
      [...none.device.connectFailures].map(([protocol, error]) => [protocol, error.constructor.name]),
      [['dmap', 'UnreachableError'], ['mrp', 'AuthenticationError']],
      'each protocol says why it failed',
    );
    assert.deepEqual([...partial.device.connectFailures.keys()], ['mrp']);
  });

  it('forwards push updates only from the session chosen for them, and tears down on loss', async () => {
    const { device, sessions } = setup({
      dmap: { features: { pushUpdates: 'available' } },
      mrp: { features: { pushUpdates: 'unsupported' } },
    });
    await device.connect();
    const seen: (string | null)[] = [];
    device.on('nowPlaying', (s) => seen.push(s.title));
    device.startPushUpdates();
    sessions.get('mrp')!.emit('nowPlaying', { ...idleNowPlaying(), title: 'ignored' });
    sessions.get('dmap')!.emit('nowPlaying', { ...idleNowPlaying(), title: 'from dmap' });
    assert.deepEqual(seen, ['from dmap']);
    assert.equal(device.lastNowPlaying?.title, 'from dmap');

    const lost = new Promise<Error>((resolve) => device.once('connectionLost', resolve));
    const closed = new Promise<void>((resolve) => device.once('closed', resolve));
    sessions.get('dmap')!.emit('connectionLost', new Error('socket closed'));
    assert.equal((await lost).message, 'socket closed');
    await closed;
    assert.equal(device.connected, false);
    assert.ok(sessions.get('dmap')!.closed && sessions.get('mrp')!.closed);
    await assert.rejects(device.command('play'), /closed/);
  });

  it('routes a call the way feature() ranks it: available, then unknown, then unavailable', async () => {
    const { device, sessions } = setup({
      mrp: { features: { setVolume: 'unavailable' } },
      dmap: { features: { setVolume: 'unknown' } },
    });
    await device.connect();
    assert.equal(device.feature('setVolume'), 'unknown');
    await device.setProperty('volume', 20);
    assert.deepEqual(sessions.get('dmap')!.calls, ['set:volume=20']);
    assert.deepEqual(sessions.get('mrp')!.calls, []);
    await device.close();
  });

  it('a device asleep behind a sleep proxy is unreachable for now, not unusable', async () => {
    const { device } = setup({ dmap: { features: {} } });
    const asleep = new Device(
      { ...device.config, deepSleep: true, services: device.config.services.map((s) => ({ ...s, port: 0 })) },
      { factories: {} },
    );
    await assert.rejects(asleep.connect(), (err: unknown) => err instanceof UnreachableError && /asleep/.test(err.message));
  });

  it('a second connect() while connecting waits for the same attempt', async () => {
    let open!: () => void;
    const { device } = setup({ dmap: { features: { play: 'available' }, gate: new Promise<void>((r) => (open = r)) } });
    const first = device.connect();
    const second = device.connect();
    let secondDone = false;
    void second.then(() => (secondDone = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(secondDone, false, 'not before the device is connected');
    open();
    await Promise.all([first, second]);
    assert.equal(device.connected, true);
    await device.command('play');
    await device.close();
  });

  it('a session that drops while another is still connecting does not count', async () => {
    let open!: () => void;
    const { device, sessions } = setup({
      mrp: { features: { play: 'available' } },
      dmap: { features: { play: 'unknown' }, gate: new Promise<void>((r) => (open = r)) },
    });
    const lost: Error[] = [];
    device.on('connectionLost', (e) => lost.push(e));
    const connecting = device.connect();
    await new Promise((r) => setImmediate(r));
    sessions.get('mrp')!.emit('connectionLost', new Error('mrp socket closed'));
    open();
    await connecting;
    assert.deepEqual(device.protocols, ['dmap']);
    assert.equal(sessions.get('mrp')!.closed, true);
    assert.equal(device.connectFailures.get('mrp')?.message, 'mrp socket closed');
    assert.deepEqual(lost, [], 'the device never was connected over MRP');
    await device.command('play');
    assert.deepEqual(sessions.get('dmap')!.calls, ['play:single']);
    await device.close();
  });

  it('close() during connect() ends the sessions still connecting, at once', async () => {
    const { device, sessions } = setup({
      dmap: { features: {} },
      mrp: { features: {}, gate: new Promise<void>(() => undefined) },
    });
    const connecting = device.connect();
    await new Promise((r) => setImmediate(r));
    await device.close();
    assert.equal(sessions.get('mrp')!.closed, true, 'the pending MRP session was closed by close()');
    assert.equal(sessions.get('dmap')!.closed, true);
    await assert.rejects(connecting, /closed while connecting/);
    assert.equal(device.connected, false);
  });

  it('a listener that throws neither breaks the other listeners nor escapes', async () => {
    const { device, sessions } = setup({ dmap: { features: { pushUpdates: 'available' } } });
    await device.connect();
    device.startPushUpdates();
    const seen: string[] = [];
    device.on('nowPlaying', () => {
      throw new Error('user code bug');
    });
    device.on('nowPlaying', (s) => seen.push(s.title ?? ''));
    sessions.get('dmap')!.emit('nowPlaying', { ...idleNowPlaying(), title: 'still delivered' });
    assert.deepEqual(seen, ['still delivered']);
    device.on('connectionLost', () => {
      throw new Error('another bug');
    });
    const closed = new Promise<void>((resolve) => device.once('closed', resolve));
    sessions.get('dmap')!.emit('connectionLost', new Error('gone'));
    await closed;
  });
});
