import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { decodeDmap, dmapString } from '../../../../lib/codecs/dmap';
import { COMMANDS, type CommandName } from '../../../../lib/device/commands';
import { FEATURES, type ProtocolSession } from '../../../../lib/device/interfaces';
import type { NowPlaying } from '../../../../lib/device/state';
import { createDmapSession, DMAP_COMMAND_ACTIONS, DmapSession } from '../../../../lib/protocols/dmap/session';
import { pathOf, sessionContext, startFakeDacp, type FakeDacp } from './servers';
import { sleep, until } from '../../../support/wait';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});


async function setup(initial: Parameters<typeof startFakeDacp>[0] = {}): Promise<{ fake: FakeDacp; session: DmapSession }> {
  const fake = await startFakeDacp(initial);
  cleanups.push(() => fake.srv.close());
  const session = new DmapSession(sessionContext(fake.srv.port, '0x0123456789ABCDEF'), { push: { initialDelay: 50 } });
  cleanups.push(() => session.close());
  await session.connect();
  return { fake, session };
}

const S = 'session-id=42';

describe('DmapSession', () => {
  it('createDmapSession is a SessionFactory producing a dmap session', async () => {
    const fake = await startFakeDacp();
    cleanups.push(() => fake.srv.close());
    const session: ProtocolSession = createDmapSession(sessionContext(fake.srv.port, '0x0123456789ABCDEF'));
    assert.equal(session.protocol, 'dmap');
    await session.connect();
    assert.equal((await session.capabilities.metadata!.nowPlaying()).title, 'Song');
    await session.close();
    await session.close(); // twice is fine
    await fake.srv.socketsClosed();
  });

  it('maps every command of THE command table, in one place', () => {
    assert.deepEqual(Object.keys(DMAP_COMMAND_ACTIONS).sort(), COMMANDS.map((c) => c.name).sort());
  });

  it('sends each command as the DACP request pyatv sends (protocols/dmap/__init__.py)', async () => {
    const { fake, session } = await setup();
    const expected: [CommandName, string[]][] = [
      ['play', [`POST /ctrl-int/1/play?${S}&prompt-id=0`]],
      ['pause', [`POST /ctrl-int/1/pause?${S}&prompt-id=0`]],
      ['playPause', [`POST /ctrl-int/1/playpause?${S}&prompt-id=0`]],
      ['stop', [`POST /ctrl-int/1/stop?${S}&prompt-id=0`]],
      ['next', [`POST /ctrl-int/1/nextitem?${S}&prompt-id=0`]],
      ['previous', [`POST /ctrl-int/1/previtem?${S}&prompt-id=0`]],
      ['volumeUp', [`POST /ctrl-int/1/volumeup?${S}&prompt-id=0`]],
      ['volumeDown', [`POST /ctrl-int/1/volumedown?${S}&prompt-id=0`]],
      ['select', [`POST /ctrl-int/1/controlpromptentry?${S}&prompt-id=0`]],
      ['menu', [`POST /ctrl-int/1/controlpromptentry?${S}&prompt-id=0`]],
      ['topMenu', [`POST /ctrl-int/1/controlpromptentry?${S}&prompt-id=0`]],
      ['up', Array(7).fill(`POST /ctrl-int/1/controlpromptentry?${S}&prompt-id=0`)],
      // Fake: 200 s long, 150 s remaining → at 50 s; ±10 s (default) and ±30 s.
      ['skipForward', [`POST /ctrl-int/1/setproperty?dacp.playingtime=60000&${S}`]],
    ];
    for (const [command, requests] of expected) {
      const before = fake.commands().length;
      await session.sendCommand(command);
      assert.deepEqual(fake.commands().slice(before), requests, command);
    }
    const prompts = fake.srv.requests.filter((r) => pathOf(r.url).endsWith('controlpromptentry')).slice(0, 3);
    assert.deepEqual(prompts.map((r) => dmapString(decodeDmap(r.body), 'cmbe')), ['select', 'menu', 'topmenu']);

    const before = fake.commands().length;
    await session.sendCommand('skipBackward', { interval: 30 });
    assert.deepEqual(fake.commands().slice(before), [`POST /ctrl-int/1/setproperty?dacp.playingtime=30000&${S}`]);
  });

  it("'double' sends a button twice, 'hold' once", async () => {
    const { fake, session } = await setup();
    await session.sendCommand('menu', { action: 'double' });
    assert.equal(fake.commands().length, 2);
    await session.sendCommand('select', { action: 'hold' });
    assert.equal(fake.commands().length, 3);
  });

  it('home, turnOn, turnOff: unsupported, NotSupportedError if called anyway', async () => {
    const { fake, session } = await setup();
    for (const command of ['home', 'turnOn', 'turnOff'] as const) {
      assert.equal(session.feature(command), 'unsupported');
      await assert.rejects(session.sendCommand(command), (err: Error) => (err as { code?: string }).code === 'NOT_SUPPORTED');
    }
    assert.equal(fake.commands().length, 0);
  });

  it('feature(): navigation available, transport unknown, volume keys per cavc', async () => {
    const { fake, session } = await setup({ volumeControllable: true });
    for (const f of ['up', 'down', 'left', 'right', 'select', 'menu', 'topMenu'] as const) assert.equal(session.feature(f), 'available', f);
    for (const f of ['play', 'pause', 'playPause', 'stop', 'next', 'previous', 'skipForward', 'skipBackward', 'artwork', 'setPosition', 'setShuffle', 'setRepeat'] as const) {
      assert.equal(session.feature(f), 'unknown', f);
    }
    assert.equal(session.feature('volumeUp'), 'available');
    assert.equal(session.feature('nowPlaying'), 'available');
    assert.equal(session.feature('pushUpdates'), 'available');
    assert.equal(session.feature('powerState'), 'unsupported');
    for (const f of FEATURES) assert.ok(['available', 'unavailable', 'unsupported', 'unknown'].includes(session.feature(f)));

    fake.status.volumeControllable = false;
    await session.nowPlaying();
    assert.equal(session.feature('volumeDown'), 'unavailable');
  });

  it('setProperty returns what the device reports afterwards', async () => {
    const { fake, session } = await setup();
    assert.equal(await session.setProperty('position', 120), 120);
    assert.equal(fake.status.remainingMs, 80_000);
    assert.equal(await session.setProperty('shuffle', 'albums'), 'songs', 'DMAP only knows songs');
    assert.equal(await session.setProperty('repeat', 'all'), 'all');
    const volumes: number[] = [];
    session.on('volume', (v) => volumes.push(v));
    assert.equal(session.feature('volume'), 'unknown');
    assert.equal(await session.setVolume(33.4), 33, 'the fake rounds; we return its report');
    assert.deepEqual(volumes, [33]);
    assert.equal(session.feature('volume'), 'available');
    assert.equal(await session.getVolume(), 33);
    assert.deepEqual(volumes, [33], 'no event when unchanged');
    assert.deepEqual(fake.commands().filter((c) => c.includes('setproperty')), [
      `POST /ctrl-int/1/setproperty?dacp.playingtime=120000&${S}`,
      `POST /ctrl-int/1/setproperty?dacp.shufflestate=1&${S}`,
      `POST /ctrl-int/1/setproperty?dacp.repeatstate=2&${S}`,
      `POST /ctrl-int/1/setproperty?dmcp.volume=33.400000&${S}`,
    ]);
  });

  it('push updates become nowPlaying events; close() ends the long poll and the server sees its socket closed', async () => {
    const { fake, session } = await setup({ title: 'One' });
    const states: NowPlaying[] = [];
    session.on('nowPlaying', (s) => states.push(s));
    session.startPushUpdates();
    while (fake.waiting() === 0) await sleep(5);
    fake.change({ title: 'Two' });
    while (states.length < 2) await sleep(5);
    assert.deepEqual(states.map((s) => s.title), ['One', 'Two']);
    while (fake.waiting() === 0) await sleep(5);
    assert.ok(fake.srv.openSockets() >= 1);
    await session.close();
    await fake.srv.socketsClosed();
    assert.equal(fake.waiting(), 0);
    await assert.rejects(session.nowPlaying(), (err: Error) => (err as { code?: string }).code === 'CLOSED');
  });

  it('stopPushUpdates aborts the long poll; start again resumes', async () => {
    const { fake, session } = await setup();
    session.startPushUpdates();
    while (fake.waiting() === 0) await sleep(5);
    session.stopPushUpdates();
    while (fake.waiting() > 0) await sleep(5);
    session.startPushUpdates();
    while (fake.waiting() === 0) await sleep(5);
  });

  it('a lost connection is reported as connectionLost and the session frees its sockets', async () => {
    const { fake, session } = await setup();
    const lost = new Promise<Error>((resolve) => session.once('connectionLost', resolve));
    session.startPushUpdates();
    while (fake.waiting() === 0) await sleep(5);
    await fake.srv.close();
    const err = await lost;
    assert.ok(['CONNECTION_LOST', 'UNREACHABLE'].includes((err as { code?: string }).code ?? ''), String(err));
    await assert.rejects(session.nowPlaying(), (e: Error) => (e as { code?: string }).code === 'CLOSED');
  });

  it('a throwing listener is logged; the others still get the event and push updates go on unharmed', async () => {
    const fake = await startFakeDacp({ title: 'One' });
    cleanups.push(() => fake.srv.close());
    const warnings: string[] = [];
    const session = new DmapSession(
      { ...sessionContext(fake.srv.port, '0x0123456789ABCDEF'), logger: { debug() {}, warn: (m) => warnings.push(m) } },
      { push: { initialDelay: 50 } },
    );
    cleanups.push(() => session.close());
    await session.connect();
    const states: NowPlaying[] = [];
    const pushErrors: Error[] = [];
    const lost: Error[] = [];
    session.on('nowPlaying', () => {
      throw new Error('bug in a nowPlaying listener');
    });
    session.on('nowPlaying', (s) => states.push(s));
    session.on('pushError', (e) => pushErrors.push(e));
    session.on('connectionLost', () => {
      throw new Error('bug in a connectionLost listener');
    });
    session.on('connectionLost', (e) => lost.push(e));
    session.startPushUpdates();
    await until(() => fake.waiting() > 0);
    fake.change({ title: 'Two' });
    await until(() => states.length >= 2);
    await until(() => fake.waiting() > 0);
    assert.deepEqual(states.map((s) => s.title), ['One', 'Two']);
    assert.deepEqual(pushErrors, [], "a listener's bug is no failed poll");
    const revisions = fake.srv.requests.filter((r) => pathOf(r.url) === '/ctrl-int/1/playstatusupdate').map((r) => new URLSearchParams(r.url.split('?')[1]).get('revision-number'));
    assert.deepEqual(revisions, ['0', '0', '1', '2'], 'connect, first poll, then long polls with the last revision, never back to 0');
    await fake.srv.close();
    await until(() => lost.length > 0);
    assert.deepEqual(warnings.filter((w) => /listener threw/.test(w)), [
      'a "nowPlaying" listener threw: bug in a nowPlaying listener',
      'a "nowPlaying" listener threw: bug in a nowPlaying listener',
      'a "connectionLost" listener threw: bug in a connectionLost listener',
    ]);
  });
});
