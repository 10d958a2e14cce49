import assert from 'node:assert/strict';
import { once } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { COMMANDS } from '../../../lib/device/commands';
import { NOW_PLAYING_FIELDS, type NowPlaying } from '../../../lib/device/state';
import { InvalidArgumentError, NotSupportedError } from '../../../lib/errors';
import { DEMO_TRACKS, SimulatorState, type SimulatorStateOptions } from '../../../lib/simulator/state';
import { sleep } from '../../support/wait';

const states: SimulatorState[] = [];
function make(options: SimulatorStateOptions = {}): { state: SimulatorState; changes: [NowPlaying, number][] } {
  const state = new SimulatorState(options);
  states.push(state);
  const changes: [NowPlaying, number][] = [];
  state.on('change', (np, rev) => changes.push([np, rev]));
  return { state, changes };
}

afterEach(() => {
  for (const s of states.splice(0)) s.close();
});


/**
 * The next 'change'. The state's boundary timer is unref'd (it must never keep a process
 * alive), so this holds a ref'd timer meanwhile, which also fails a test that never changes.
 */
async function nextChange(state: SimulatorState, ms = 2000): Promise<NowPlaying> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no change within ${ms} ms`)), ms);
  });
  try {
    const [np] = await Promise.race([once(state, 'change'), timeout]);
    return np as NowPlaying;
  } finally {
    clearTimeout(timer);
  }
}

describe('SimulatorState', () => {
  it('starts paused on the first demo track, in the library NowPlaying shape', () => {
    const { state } = make();
    const np = state.nowPlaying();
    assert.deepEqual(Object.keys(np).sort(), [...NOW_PLAYING_FIELDS].sort());
    assert.equal(np.deviceState, 'paused');
    assert.equal(np.title, DEMO_TRACKS[0]!.title);
    assert.equal(np.artist, DEMO_TRACKS[0]!.artist);
    assert.equal(np.totalTime, DEMO_TRACKS[0]!.duration);
    assert.equal(np.position, 0);
    assert.equal(np.shuffle, 'off');
    assert.equal(np.repeat, 'off');
    assert.equal(np.contentIdentifier, DEMO_TRACKS[0]!.id);
    assert.ok(state.revision >= 1, 'revision starts above 0 (0 means "answer at once" in DACP)');
    assert.ok(DEMO_TRACKS.length >= 3 && DEMO_TRACKS.length <= 5);
    assert.ok(DEMO_TRACKS.every((t) => t.duration >= 30 && t.duration <= 90));
  });

  it('has a handler for every command of THE command table', () => {
    const { state } = make();
    for (const spec of COMMANDS) {
      assert.doesNotThrow(() => state.command(spec.name, spec.name === 'skipBackward' ? { interval: 0 } : {}), spec.name);
    }
    assert.throws(() => state.command('launchRocket' as never), InvalidArgumentError);
  });

  it('emits exactly one change per change, with the new revision, and none for no-ops', () => {
    const { state, changes } = make();
    const start = state.revision;
    state.play();
    state.play(); // already playing: no change
    state.pause();
    state.setShuffle('songs');
    state.setShuffle('songs'); // same: no change
    state.setRepeat('all');
    state.setVolume(80);
    state.volumeUp();
    state.volumeUp(); // 85 → 90
    state.setVolume(100);
    state.volumeUp(); // already 100: no change
    assert.deepEqual(
      changes.map(([, rev]) => rev),
      [start + 1, start + 2, start + 3, start + 4, start + 5, start + 6, start + 7, start + 8],
    );
    assert.equal(state.revision, start + 8);
    assert.equal(changes[0]![0].deviceState, 'playing');
    assert.equal(changes[1]![0].deviceState, 'paused');
    assert.equal(changes[2]![0].shuffle, 'songs');
    assert.equal(changes[3]![0].repeat, 'all');
    assert.equal(state.volume, 100);
  });

  it('volume steps by 5 and stays within 0..100', () => {
    const { state } = make({ volume: 3 });
    state.volumeDown();
    assert.equal(state.volume, 0);
    state.volumeUp();
    state.volumeUp();
    assert.equal(state.volume, 10);
    assert.throws(() => state.setVolume(101), InvalidArgumentError);
  });

  it('play/pause/stop/next/previous move through the queue', () => {
    const { state } = make();
    state.playPause();
    assert.equal(state.status, 'playing');
    state.playPause();
    assert.equal(state.status, 'paused');
    state.next();
    assert.equal(state.index, 1);
    assert.equal(state.status, 'paused', 'next keeps play/pause');
    state.previous();
    assert.equal(state.index, 0);
    state.previous();
    assert.equal(state.index, DEMO_TRACKS.length - 1, 'previous from the first track wraps to the last');
    state.stop();
    assert.equal(state.status, 'stopped');
    const np = state.nowPlaying();
    assert.equal(np.deviceState, 'stopped');
    assert.equal(np.title, null);
    assert.equal(np.position, null);
    assert.equal(state.track, null);
    state.play();
    assert.equal(state.status, 'playing');
    assert.equal(state.position !== null && state.position < 1, true);
  });

  it('previous restarts the track when past its first seconds', () => {
    const { state } = make();
    state.next();
    state.setPosition(20);
    state.previous();
    assert.equal(state.index, 1);
    assert.equal(state.position, 0);
  });

  it('position follows the clock while playing and is frozen while paused', async () => {
    const { state } = make({ trackSeconds: 10 });
    state.play();
    await sleep(120);
    const p1 = state.position!;
    assert.ok(p1 >= 0.1 && p1 < 1, `position ${p1}`);
    state.pause();
    const frozen = state.position!;
    await sleep(60);
    assert.equal(state.position, frozen);
  });

  it('skipForward/skipBackward move by the interval (default 10 s), clamped to the track', () => {
    const { state } = make({ trackSeconds: 30 });
    state.skipForward();
    assert.equal(state.position, 10);
    state.skipForward(5);
    assert.equal(state.position, 15);
    state.skipBackward(100);
    assert.equal(state.position, 0);
    assert.throws(() => state.skipForward(-1), InvalidArgumentError);
    state.stop();
    assert.throws(() => state.skipForward(), NotSupportedError);
    assert.throws(() => state.setPosition(1), NotSupportedError);
  });

  it('advances to the next track at the end of one, and stops at the end of the queue', async () => {
    const tracks = DEMO_TRACKS.slice(0, 2);
    const { state, changes } = make({ tracks, trackSeconds: 0.15 });
    state.play();
    const np = await nextChange(state);
    assert.equal(np.title, tracks[1]!.title);
    assert.equal(np.deviceState, 'playing');
    const end = await nextChange(state);
    assert.equal(end.deviceState, 'stopped');
    assert.equal(state.index, 0, 'rewound to the start');
    assert.equal(changes.length, 3, 'play, advance, stop: one change each');
  });

  it('repeat track replays the track; repeat all wraps around', async () => {
    const tracks = DEMO_TRACKS.slice(0, 2);
    const { state } = make({ tracks, trackSeconds: 0.1 });
    state.setRepeat('track');
    state.play();
    await nextChange(state);
    assert.equal(state.index, 0);
    assert.equal(state.status, 'playing');
    state.setRepeat('all');
    state.next();
    await nextChange(state);
    assert.equal(state.index, 0, 'wrapped from the last track to the first');
    assert.equal(state.status, 'playing');
  });

  it('shuffle songs keeps the current track and visits every track once per round', () => {
    const { state } = make({ shuffleSeed: 7 });
    state.next();
    state.setShuffle('songs');
    assert.equal(state.index, 1);
    const seen = new Set([state.index]);
    for (let i = 1; i < DEMO_TRACKS.length; i++) {
      state.next();
      seen.add(state.index);
    }
    assert.equal(seen.size, DEMO_TRACKS.length);
  });

  it('shuffle albums keeps the tracks of an album together', () => {
    const { state } = make({ shuffleSeed: 3 });
    state.setShuffle('albums');
    const order = [state.index];
    for (let i = 1; i < DEMO_TRACKS.length; i++) {
      state.next();
      order.push(state.index);
    }
    const albums = order.map((i) => DEMO_TRACKS[i]!.album);
    const firstAt = albums.indexOf('Synthetic Sessions');
    assert.equal(albums[firstAt + 1], 'Synthetic Sessions');
  });

  it('records navigation and arrow keys without changing the revision', () => {
    const { state, changes } = make();
    const keys: string[] = [];
    state.on('key', (k) => keys.push(k.name));
    state.command('up');
    state.command('select', { action: 'hold' });
    state.command('home', { action: 'double' });
    assert.deepEqual(keys, ['up', 'select', 'home']);
    assert.deepEqual(
      state.keys.map((k) => [k.name, k.action]),
      [
        ['up', 'single'],
        ['select', 'hold'],
        ['home', 'double'],
      ],
    );
    assert.equal(state.lastKey?.name, 'home');
    assert.equal(changes.length, 0);
    assert.throws(() => state.pressKey('play'), InvalidArgumentError);
  });

  it('turnOff pauses and reports power; turnOn wakes', () => {
    const { state, changes } = make();
    const power: string[] = [];
    state.on('power', (p) => power.push(p));
    state.play();
    state.turnOff();
    assert.equal(state.power, 'off');
    assert.equal(state.status, 'paused');
    state.turnOff();
    state.turnOn();
    assert.deepEqual(power, ['off', 'on']);
    assert.equal(changes.length, 3);
  });

  it('setProperty/getProperty use THE property table', () => {
    const { state } = make();
    state.setProperty('volume', 30);
    state.setProperty('repeat', 'track');
    state.setProperty('shuffle', 'albums');
    state.setProperty('position', 12.5);
    assert.equal(state.getProperty('volume'), 30);
    assert.equal(state.getProperty('repeat'), 'track');
    assert.equal(state.getProperty('shuffle'), 'albums');
    assert.equal(state.getProperty('position'), 12.5);
    assert.throws(() => state.setProperty('repeat', 'sometimes' as never), InvalidArgumentError);
  });

  it('close() stops the boundary timer', async () => {
    const { state, changes } = make({ trackSeconds: 0.05 });
    state.play();
    state.close();
    await sleep(120);
    assert.equal(changes.length, 1, 'no advance after close');
  });

  it('rejects unusable tracks', () => {
    assert.throws(() => new SimulatorState({ tracks: [] }), InvalidArgumentError);
    assert.throws(() => new SimulatorState({ trackSeconds: 0 }), InvalidArgumentError);
  });
});
