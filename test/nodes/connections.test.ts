import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { manualConfig } from '../../lib/device/config';
import { Device } from '../../lib/core/facade';
import type { DeviceConfig, Protocol } from '../../lib/device/interfaces';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../../lib/simulator';
import { REPO_ROOT } from '../support/paths';
import { idleNowPlaying, type NowPlaying } from '../../lib/device/state';
import { AuthenticationError, InvalidArgumentError, NotSupportedError, TimeoutError, UnreachableError } from '../../lib/errors';
import { DEFAULT_RETRY, DeviceLink, displayStatus, fitted, MAX_RETRY_MS, MIN_RETRY_MS, retryDelay, retryPolicyFrom, type DeviceLinkOptions, type LinkStatus } from '../../nodes/connections';
import { unknownReadings } from '../../lib/core/supervisor';

/** A device whose connect outcome each test scripts. */
class FakeDevice extends EventEmitter {
  closed = false;
  pushStarted = false;
  lastNowPlaying: NowPlaying | null = null;
  protocols: Protocol[] = ['dmap'];
  connectFailures = new Map<Protocol, Error>();
  constructor(
    readonly name: string,
    private readonly outcome: () => Promise<void>,
  ) {
    super();
  }
  connect(): Promise<void> {
    return this.outcome();
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  startPushUpdates(): void {
    this.pushStarted = true;
  }
  async nowPlaying(): Promise<NowPlaying> {
    return { ...idleNowPlaying(), deviceState: 'playing', title: 'Track one' };
  }
}

const config = manualConfig({ address: '127.0.0.1', name: 'Fake TV', services: [{ protocol: 'dmap', port: 3689 }] });
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function setup(outcomes: (() => Promise<void>)[], retry = { initial: 20, max: 80 }, extra: Partial<DeviceLinkOptions<FakeDevice>> = {}) {
  const devices: FakeDevice[] = [];
  const delays: number[] = [];
  let next = 0;
  const link = new DeviceLink<FakeDevice>({
    name: 'Fake TV',
    resolve: async () => config,
    createDevice: () => {
      const outcome = outcomes[Math.min(next++, outcomes.length - 1)]!;
      const d = new FakeDevice('Fake TV', outcome);
      devices.push(d);
      return d;
    },
    retry,
    random: () => 1,
    logger: {
      debug: (m) => {
        const match = /next attempt in (\d+) ms/.exec(m);
        if (match) delays.push(Number(match[1]));
      },
      warn: () => undefined,
    },
    ...extra,
  });
  return { link, devices, delays };
}

/** Resolves with the first status a listener hears that satisfies `pred`. */
function statusWhere(link: DeviceLink<FakeDevice>, user: object, pred: (s: LinkStatus) => boolean): Promise<LinkStatus> {
  return new Promise((resolve) => {
    link.register(user, {
      status: (s) => {
        if (pred(s)) resolve(s);
      },
    });
  });
}

const ok = () => Promise.resolve();

describe('DeviceLink (one shared connection per config node)', () => {
  it('connects once for many users, fans the state out to all, closes with the last', async () => {
    const { link, devices } = setup([ok]);
    const seen = new Map<number, string[]>();
    const users = Array.from({ length: 10 }, (_, i) => ({ i }));
    for (const u of users) {
      seen.set(u.i, []);
      link.register(u, { status: (s) => seen.get(u.i)!.push(s.state) });
    }
    await tick(5);
    await new Promise((r) => setImmediate(r)); // users hear their first status on an immediate
    assert.equal(devices.length, 1, 'one device for ten users');
    assert.equal(link.state, 'connected');
    assert.ok(devices[0]!.pushStarted, 'push updates started');
    for (const states of seen.values()) assert.ok(states.includes('connected'), states.join());
    for (const u of users.slice(1)) await link.deregister(u);
    assert.equal(devices[0]!.closed, false, 'still used by one node');
    await link.deregister(users[0]!);
    assert.equal(devices[0]!.closed, true);
    assert.equal(link.state, 'idle');
  });

  it('relays now-playing and shows the title being played', async () => {
    const { link, devices } = setup([ok]);
    const states: NowPlaying[] = [];
    const connected = statusWhere(link, {}, (s) => s.state === 'connected' && s.nowPlaying !== null);
    link.register({}, { nowPlaying: (s) => states.push(s) });
    const status = await connected;
    assert.equal(status.nowPlaying?.title, 'Track one', 'first state read after connecting');
    await tick(); // the second user hears its first status on the next turn too
    devices[0]!.emit('nowPlaying', { ...idleNowPlaying(), deviceState: 'paused', title: 'Track two' });
    assert.deepEqual(
      states.map((s) => s.title),
      ['Track one', 'Track two'],
    );
    // the title is the playstatus node's to show; the connection itself just says connected
    const display = displayStatus({ ...status, readings: unknownReadings() }, (k) => k);
    assert.deepEqual(display, { fill: 'green', shape: 'dot', text: 'status.connected' });
    await link.close();
  });

  it('reconnects by itself after a drop, with a fresh device', async () => {
    const { link, devices } = setup([ok]);
    const user = {};
    await statusWhere(link, user, (s) => s.state === 'connected');
    const disconnected = statusWhere(link, {}, (s) => s.state === 'disconnected');
    devices[0]!.emit('connectionLost', new UnreachableError('gone'));
    const down = await disconnected;
    assert.equal(down.error?.message, 'gone');
    assert.ok(down.retryIn! >= 10 && down.retryIn! <= 20, `retry in ${down.retryIn}`);
    await statusWhere(link, {}, (s) => s.state === 'connected');
    assert.equal(devices.length, 2);
    assert.equal(link.device, devices[1]);
    await link.close();
    assert.equal(devices[1]!.closed, true);
  });

  it('backs off exponentially up to the cap, never in a tight loop', async () => {
    const refused = () => Promise.reject(new UnreachableError('refused'));
    const { link, devices, delays } = setup([refused]);
    link.register({});
    await tick(400);
    await link.close();
    assert.deepEqual(delays.slice(0, 5), [20, 40, 80, 80, 80]);
    assert.ok(devices.length <= 8, `${devices.length} attempts in 400 ms`);
    assert.ok(devices.every((d) => d.closed), 'every failed device closed');
    const count = devices.length;
    await tick(150);
    assert.equal(devices.length, count, 'no attempt after close');
  });

  it('takes retry settings only within sane bounds: a floor, max at least initial, defaults for junk', () => {
    assert.deepEqual(retryPolicyFrom(undefined), { policy: DEFAULT_RETRY, problems: [] });
    assert.deepEqual(retryPolicyFrom({ initial: 2000, max: 30_000 }).policy, { initial: 2000, max: 30_000 });
    assert.deepEqual(retryPolicyFrom({ max: 5000 }).policy, { initial: 1000, max: 5000 });
    const zero = retryPolicyFrom({ initial: 0, max: 0 });
    assert.deepEqual(zero.policy, { initial: MIN_RETRY_MS, max: MIN_RETRY_MS });
    assert.equal(zero.problems.length, 2, zero.problems.join('; '));
    assert.deepEqual(retryPolicyFrom({ initial: 5000, max: 1000 }).policy, { initial: 5000, max: 5000 });
    assert.deepEqual(retryPolicyFrom({ initial: 'soon', max: NaN }).policy, DEFAULT_RETRY);
    assert.deepEqual(retryPolicyFrom('fast').policy, DEFAULT_RETRY);
    // setTimeout turns anything above 2^31-1 ms into 1 ms: a ceiling keeps that from spinning
    assert.deepEqual(retryPolicyFrom({ initial: 1e12 }).policy, { initial: MAX_RETRY_MS, max: MAX_RETRY_MS });
  });

  it('jitters the delay between half and all of the exponential step', () => {
    const policy = { initial: 1000, max: 60_000 };
    assert.equal(retryDelay(0, policy, () => 0), 500);
    assert.equal(retryDelay(3, policy, () => 1), 8000);
    assert.equal(retryDelay(20, policy, () => 1), 60_000);
    assert.equal(retryDelay(1000, policy, () => 0.5), 45_000);
  });

  it('says "pairing required" on refused credentials and retries only at the slowest pace', async () => {
    const { link, delays } = setup([() => Promise.reject(new AuthenticationError('login refused'))]);
    const status = await statusWhere(link, {}, (s) => s.state === 'pairing');
    assert.equal(status.retryIn, 80);
    assert.equal(displayStatus(status).text, 'status.pairingRequired');
    assert.deepEqual(status.needsPairing, [], 'unknown which protocol');
    await link.close();
    assert.deepEqual(delays, [80]);
  });

  it('names the protocols whose credentials the device refused, and forgets them once connected', async () => {
    const refusedBy = new Map<FakeDevice, ('mrp' | 'dmap')[]>();
    let made = 0;
    const { link, devices } = setup([() => Promise.reject(new AuthenticationError('not paired')), ok], { initial: 20, max: 40 }, {
      refusedProtocols: (device) => refusedBy.get(device) ?? [],
      createDevice: () => {
        const d = new FakeDevice('Fake TV', made++ === 0 ? () => Promise.reject(new AuthenticationError('not paired')) : ok);
        refusedBy.set(d, ['mrp', 'dmap']);
        devices.push(d);
        return d;
      },
    });
    const status = await statusWhere(link, {}, (s) => s.state === 'pairing');
    assert.deepEqual(status.needsPairing, ['mrp', 'dmap']);
    const t = (key: string, v?: Record<string, string | number>) => (key === 'status.pairingRequiredFor' ? `unpaired: ${v?.protocols}` : key);
    assert.deepEqual(displayStatus(status, t), { fill: 'red', shape: 'dot', text: 'unpaired: MRP, DMAP' });
    const connected = await statusWhere(link, {}, (s) => s.state === 'connected');
    assert.deepEqual(connected.needsPairing, []);
    await link.close();
  });

  it('names no protocol when the failure was not about credentials', async () => {
    let asked = 0;
    const { link } = setup([() => Promise.reject(new UnreachableError('refused'))], undefined, {
      refusedProtocols: () => {
        asked++;
        return ['mrp'];
      },
    });
    const status = await statusWhere(link, {}, (s) => s.state === 'disconnected');
    assert.deepEqual(status.needsPairing, []);
    assert.equal(asked, 0);
    await link.close();
  });

  it('does not retry a configuration that cannot work', async () => {
    const { link, devices } = setup([() => Promise.reject(new InvalidArgumentError('bad address'))]);
    const status = await statusWhere(link, {}, (s) => s.state === 'invalid');
    assert.equal(status.retryIn, null);
    await tick(100);
    assert.equal(devices.length, 1);
    await link.close();
  });

  it('ready() waits for an attempt under way and explains why it is not connected', async () => {
    let release!: () => void;
    const slow = () => new Promise<void>((r) => (release = r));
    const { link } = setup([slow, () => Promise.reject(new UnreachableError('refused'))]);
    link.register({});
    const waiting = link.ready(2000);
    await tick(5);
    release();
    const device = await waiting;
    assert.equal(device.name, 'Fake TV');
    link.device!.emit('connectionLost', new UnreachableError('gone'));
    await assert.rejects(link.ready(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UNREACHABLE');
      assert.match(err.message, /Fake TV is not connected: gone/);
      return true;
    });
    await link.close();
  });

  it('close() during a connect ends that attempt and its device', async () => {
    let release!: () => void;
    const { link, devices } = setup([() => new Promise<void>((r) => (release = r))]);
    link.register({});
    await tick(5);
    const closing = link.close();
    release();
    await closing;
    assert.equal(devices[0]!.closed, true);
    assert.equal(link.state, 'closed');
    assert.equal(link.device, null);
  });

  it('tells a new user nothing from inside register(): its first status and state come on the next turn', async () => {
    const { link } = setup([ok]);
    await statusWhere(link, {}, (s) => s.state === 'connected' && s.nowPlaying !== null);
    const heard: string[] = [];
    let registering = true;
    link.register({}, {
      status: (s) => heard.push(`${registering ? 'inside ' : ''}status ${s.state}`),
      nowPlaying: (s) => heard.push(`${registering ? 'inside ' : ''}nowPlaying ${s.title}`),
    });
    registering = false;
    assert.deepEqual(heard, []);
    await tick();
    assert.deepEqual(heard, ['status connected', 'nowPlaying Track one']);
    await link.close();
  });

  it('keeps telling the other users when one listener throws', async () => {
    const { link } = setup([ok]);
    link.register({}, {
      status: () => {
        throw new Error('broken node');
      },
    });
    const status = await statusWhere(link, {}, (s) => s.state === 'connected');
    assert.equal(status.state, 'connected');
    await link.close();
  });
});

describe('DeviceLink with the real facade: only configuration errors are final', () => {
  let sim: Simulator;

  before(async () => {
    sim = await new Simulator({ name: 'Link TV', host: '127.0.0.1' });
    await sim.start();
  });
  after(async () => {
    await sim.stop();
  });

  function realLink(configs: (() => DeviceConfig)[]) {
    let resolved = 0;
    const states: string[] = [];
    const link = new DeviceLink<Device>({
      name: 'Link TV',
      resolve: async () => configs[Math.min(resolved++, configs.length - 1)]!(),
      createDevice: (config) => new Device(config, { credentials: { dmap: DEMO_DMAP_CREDENTIALS } }),
      retry: { initial: 20, max: 60 },
      random: () => 1,
    });
    const user = {};
    link.register(user, { status: (s) => states.push(s.state) });
    return { link, states, resolves: () => resolved };
  }

  it('a device asleep behind a sleep proxy, then found without its DMAP record, then found whole: connects by itself', async () => {
    const whole = sim.config();
    // what a sleep proxy answers for a sleeping device: every service, port 0
    const asleep = (): DeviceConfig => ({ ...whole, deepSleep: true, services: whole.services.map((s) => ({ ...s, port: 0 })) });
    // one lost mDNS answer: the device shows up with a service we do not speak only
    const partial = (): DeviceConfig => ({ ...whole, services: whole.services.map((s) => ({ ...s, protocol: 'raop' as const })) });
    const { link, states, resolves } = realLink([asleep, partial, () => sim.config()]);
    try {
      const end = Date.now() + 5000;
      while (link.state !== 'connected' && Date.now() < end) await tick(20);
      assert.equal(link.state, 'connected', `states: ${states.join(' → ')}; error: ${link.snapshot().error?.message}`);
      assert.ok(!states.includes('invalid'), states.join(' → '));
      assert.equal(resolves(), 3, 'the device was looked up again for every attempt');
      assert.deepEqual(link.device?.protocols, ['dmap']);
    } finally {
      await link.close();
    }
  });

  it('a device that definitively disables the only protocol we could use (direct MRP on tvOS 15+) is final, with its reason', async () => {
    const whole = sim.config();
    const tvos15 = (): DeviceConfig => ({
      ...whole,
      services: [
        {
          ...whole.services[0]!,
          protocol: 'mrp',
          enabled: false,
          disabledReason: 'tvOS 15 and later no longer accept direct MRP connections: pair AirPlay',
        },
      ],
    });
    const { link, states, resolves } = realLink([tvos15]);
    try {
      const end = Date.now() + 2000;
      while (link.state !== 'invalid' && Date.now() < end) await tick(20);
      assert.equal(link.state, 'invalid', states.join(' → '));
      assert.match(link.snapshot().error?.message ?? '', /tvOS 15 and later/);
      await tick(200);
      assert.equal(resolves(), 1, 'no retry');
    } finally {
      await link.close();
    }
  });

  it('a session refusing while it connects (NOT_SUPPORTED from the device, e.g. an AirPlay 501) on a tvOS 15+ device is retried, not final', async () => {
    const whole = sim.config();
    const tvos18 = (): DeviceConfig => ({
      ...whole,
      services: [
        { ...whole.services[0]!, protocol: 'mrp', enabled: false, disabledReason: 'tvOS 15 and later no longer accept direct MRP connections: pair AirPlay' },
        { ...whole.services[0]!, protocol: 'dmap' },
      ],
    });
    let attempts = 0;
    class Refusing extends Device {
      override async connect(): Promise<void> {
        attempts++;
        throw new NotSupportedError('the receiver answered 501 Not Implemented');
      }
    }
    const states: string[] = [];
    const link = new DeviceLink<Device>({
      name: 'Refusing TV',
      resolve: async () => tvos18(),
      createDevice: (config) => new Refusing(config),
      retry: { initial: 20, max: 40 },
      random: () => 1,
    });
    link.register({}, { status: (st) => states.push(st.state) });
    try {
      const end = Date.now() + 3000;
      while (attempts < 3 && Date.now() < end) await tick(20);
      assert.ok(attempts >= 3, `retried: ${attempts} attempts; ${states.join(' → ')}`);
      assert.ok(!states.includes('invalid'), states.join(' → '));
      assert.equal(link.state === 'disconnected' || link.state === 'connecting', true, link.state);
    } finally {
      await link.close();
    }
  });

  it('a bad value in the configuration (a resolver refusing it) is final', async () => {
    const link = new DeviceLink<Device>({
      resolve: async () => {
        throw new InvalidArgumentError('DMAP port must be a whole number from 1 to 65535');
      },
      createDevice: (config) => new Device(config),
      retry: { initial: 20, max: 60 },
    });
    link.register({});
    await tick(100);
    assert.equal(link.state, 'invalid');
    await link.close();
  });
});

/** The config node's English catalog, with Node-RED's `__name__` substitutions. */
function english(node: string): (key: string, v?: Record<string, string | number>) => string {
  const catalog = JSON.parse(readFileSync(join(REPO_ROOT, 'nodes', node, 'locales', 'en-US', `${node}.json`), 'utf8'))[node] as Record<string, unknown>;
  return (key, v = {}) => {
    const text = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], catalog);
    assert.equal(typeof text, 'string', `no text for ${key}`);
    return (text as string).replace(/__(\w+)__/g, (_, name: string) => String(v[name] ?? ''));
  };
}

describe('status texts stay under the editor convention of 20 characters', () => {
  const t = english('atvlink-device');
  const base: LinkStatus = {
    state: 'connected',
    nowPlaying: null,
    error: null,
    retryIn: null,
    needsPairing: [],
    failedProtocols: [],
    routes: [],
    readings: unknownReadings(),
  };
  const playing = (title: string): LinkStatus => ({ ...base, nowPlaying: { ...idleNowPlaying(), deviceState: 'playing', title } });
  const playstatus = english('atvlink-playstatus');
  const length = (text: string) => Array.from(text).length;

  it('says how the device is reached when MRP goes through the AirPlay tunnel', () => {
    const display = displayStatus({ ...base, routes: [{ protocol: 'mrp', via: 'airplay' }, { protocol: 'airplay', via: null }] }, t);
    assert.deepEqual(display, { fill: 'green', shape: 'dot', text: 'connected (AirPlay)' });
    assert.equal(displayStatus({ ...base, routes: [{ protocol: 'mrp', via: null }] }, t).text, 'connected');
  });

  it('every state, every protocol combination, every title', () => {
    const statuses: LinkStatus[] = [
      base,
      { ...base, state: 'connecting' },
      { ...base, state: 'disconnected' },
      { ...base, state: 'idle' },
      { ...base, state: 'closed' },
      { ...base, state: 'invalid' },
      { ...base, state: 'pairing' },
      { ...base, state: 'pairing', needsPairing: ['mrp'] },
      { ...base, state: 'pairing', needsPairing: ['dmap', 'mrp'] },
      { ...base, state: 'pairing', needsPairing: ['mrp', 'dmap', 'companion', 'airplay'] },
      { ...base, routes: [{ protocol: 'mrp', via: 'airplay' }, { protocol: 'companion', via: null }] },
      playing('Never Gonna Give You Up (Remastered 2022)'),
      playing('x'.repeat(200)),
      playing('Hi'),
    ];
    for (const status of statuses) {
      const { text } = displayStatus(status, t);
      assert.ok(length(text) <= 20, `"${text}" (${length(text)} characters) for ${JSON.stringify(status)}`);
    }
    for (const key of ['noDevice']) assert.ok(length(t(`status.${key}`)) <= 20, t(`status.${key}`));
    const discover = english('atvlink-discover');
    for (const key of ['starting', 'scanning', 'failed', 'badConfig']) assert.ok(length(discover(`status.${key}`)) <= 20, discover(`status.${key}`));
    assert.ok(length(discover('status.watching', { count: 12 })) <= 20);
  });

  it('the playstatus node cuts a long title at a word with an ellipsis, never inside a character', () => {
    assert.equal(displayStatus(playing('Hi'), t).text, 'connected', 'the connection does not repeat the title on every node');
    assert.equal(fitted(playstatus, 'status.playing', 'title', 'Hi'), '▶ Hi');
    const cut = fitted(playstatus, 'status.playing', 'title', 'Never Gonna Give You Up (Remastered)');
    assert.equal(cut, '▶ Never Gonna Give…', 'at the last whole word that fits');
    assert.ok(Array.from(cut).length <= 20);
    const emoji = fitted(playstatus, 'status.paused', 'title', '🎵'.repeat(30));
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(emoji), `a lone surrogate in ${emoji}`);
    assert.ok(emoji.endsWith('…'), emoji);
    assert.ok(Array.from(emoji).length <= 20, emoji);
    assert.equal(displayStatus({ ...base, state: 'pairing', needsPairing: ['dmap', 'mrp'] }, t).text, 'unpaired: DMAP, MRP');
  });
});

describe('DeviceLink: a protocol that failed while another connected', () => {
  const t = english('atvlink-device');

  /**
   * A device with DMAP and MRP where DMAP always connects and MRP fails with `mrpError()`
   * (null: MRP connects). `only` is what the link asked for (a background probe).
   */
  function partialSetup(mrpError: () => Error | null, extra: Partial<DeviceLinkOptions<FakeDevice>> = {}) {
    const made: { only: readonly Protocol[] | undefined; device: FakeDevice }[] = [];
    const link = new DeviceLink<FakeDevice>({
      name: 'Fake TV',
      resolve: async () => config,
      createDevice: (_config, only) => {
        const error = mrpError();
        const wanted = only ?? ['mrp', 'dmap'];
        const d = new FakeDevice('Fake TV', () => (wanted.includes('dmap') || !error ? Promise.resolve() : Promise.reject(error)));
        d.protocols = wanted.filter((p) => p === 'dmap' || !error) as Protocol[];
        if (error && wanted.includes('mrp')) d.connectFailures.set('mrp', error);
        made.push({ only, device: d });
        return d;
      },
      retry: { initial: 20, max: 80 },
      random: () => 1,
      ...extra,
    });
    return { link, made };
  }

  it('names it in the status, keeps the working device, retries it in the background and swaps in a device with both', async () => {
    let mrpDown = true;
    const { link, made } = partialSetup(() => (mrpDown ? new TimeoutError('MRP did not answer') : null));
    const states: string[] = [];
    const partial = statusWhere(link, {}, (s) => s.state === 'connected');
    link.register({}, { status: (_s, d) => states.push(d.text) });
    const status = await partial;
    assert.deepEqual(status.failedProtocols.map((f) => [f.protocol, f.error.message]), [['mrp', 'MRP did not answer']]);
    assert.deepEqual(displayStatus(status, t), { fill: 'yellow', shape: 'dot', text: 'without MRP' });
    const first = made[0]!.device;
    // background probes try MRP alone: the working DMAP session is not touched
    const end = Date.now() + 2000;
    while (made.filter((m) => m.only).length < 2 && Date.now() < end) await tick(10);
    assert.ok(made.filter((m) => m.only).every((m) => m.only!.join() === 'mrp'), JSON.stringify(made.map((m) => m.only)));
    assert.equal(link.device, first, 'still the first device');
    assert.equal(first.closed, false);

    // a request under way on the first device when the swap happens
    let finish!: () => void;
    const request = link.use((device) => new Promise<FakeDevice>((resolve) => (finish = () => resolve(device))));
    mrpDown = false;
    while (link.device?.protocols.length !== 2 && Date.now() < end + 2000) await tick(10);
    assert.deepEqual(link.device?.protocols, ['mrp', 'dmap'], 'swapped in a device with both');
    assert.notEqual(link.device, first);
    assert.deepEqual(link.snapshot().failedProtocols, []);
    assert.match(link.display().text, /^status\.(connected|playing)$/);
    assert.equal(first.closed, false, 'the old device finishes the request it serves');
    finish();
    assert.equal(await request, first);
    await tick();
    assert.equal(first.closed, true, 'and is closed right after');
    const count = made.length;
    await tick(200);
    assert.equal(made.length, count, 'no more background attempts once every protocol connected');
    await link.close();
  });

  it('refused credentials: "also pair MRP", retried only at the slowest pace', async () => {
    const { link, made } = partialSetup(() => new AuthenticationError('the device refused the MRP credentials: pair MRP again'));
    const status = await statusWhere(link, {}, (s) => s.state === 'connected');
    assert.deepEqual(status.needsPairing, ['mrp']);
    assert.equal(status.retryIn, 80, 'the next background attempt, at the slowest pace');
    assert.deepEqual(displayStatus(status, t), { fill: 'yellow', shape: 'dot', text: 'also pair MRP' });
    await tick(120);
    assert.equal(made.filter((m) => m.only).length, 1, 'one background attempt in 120 ms');
    await link.close();
  });

  it('a configuration error for that protocol (credentials that do not parse) is not retried', async () => {
    const { link, made } = partialSetup(() => new InvalidArgumentError('MRP credentials: expected 4 colon-separated fields'));
    const status = await statusWhere(link, {}, (s) => s.state === 'connected');
    assert.equal(displayStatus(status, t).text, 'without MRP');
    assert.equal(status.retryIn, null);
    await tick(150);
    assert.equal(made.length, 1);
    await link.close();
  });

  it('close() during a background attempt ends it and its device', async () => {
    let release!: () => void;
    let probes = 0;
    const devices: FakeDevice[] = [];
    const link = new DeviceLink<FakeDevice>({
      resolve: async () => config,
      createDevice: (_config, only) => {
        const d = new FakeDevice('Fake TV', only ? () => new Promise<void>((r) => (release = r)) : ok);
        if (only) probes++;
        else d.connectFailures.set('mrp', new TimeoutError('slow'));
        devices.push(d);
        return d;
      },
      retry: { initial: 20, max: 80 },
      random: () => 1,
    });
    link.register({});
    const end = Date.now() + 2000;
    while (probes === 0 && Date.now() < end) await tick(5);
    assert.equal(probes, 1);
    const closing = link.close();
    release();
    await closing;
    assert.ok(devices.every((d) => d.closed), 'every device closed');
  });
});
