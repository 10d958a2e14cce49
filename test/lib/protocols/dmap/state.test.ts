import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decodeDmap } from '../../../../lib/codecs/dmap';
import { idleNowPlaying, type NowPlaying } from '../../../../lib/device/state';
import { dmapMediaKind, nowPlayingFromPlaystatus, playstatusRevision, volumeControllable } from '../../../../lib/protocols/dmap/state';
import { fixture } from '../../../support/paths';
import { playstatusBody } from './servers';

const read = (name: string) => decodeDmap(readFileSync(fixture('owntone-29.3', `${name}.bin`)));
const expect = (fields: Partial<NowPlaying>): NowPlaying => ({ ...idleNowPlaying(), ...fields });

describe('DMAP playstatus → NowPlaying', () => {
  it('OwnTone 29.3: stopped, nothing loaded', () => {
    const nodes = read('playstatusupdate-1-stopped');
    assert.equal(playstatusRevision(nodes), 24);
    assert.equal(volumeControllable(nodes), true);
    // No cmmk and no artist/album: pyatv's fallback says video.
    assert.deepEqual(nowPlayingFromPlaystatus(nodes), expect({ deviceState: 'stopped', mediaType: 'video', shuffle: 'off', repeat: 'off' }));
  });

  const track = { artist: 'Test Artist', album: 'Loopback Album', genre: 'Test', totalTime: 30, mediaType: 'unknown' as const, repeat: 'off' as const };
  const cases: [string, Partial<NowPlaying>][] = [
    // cast 30040 ms, cant 29190 ms → 0.85 s in → 1; cmmk 1 is "unknown" in the media kind table.
    ['playstatusupdate-2-playing', { ...track, deviceState: 'playing', title: 'Sine A440', position: 1, shuffle: 'off' }],
    ['playstatusupdate-3-paused', { ...track, deviceState: 'paused', title: 'Sine A440', position: 1, shuffle: 'off' }],
    ['playstatusupdate-4-after-next', { ...track, deviceState: 'playing', title: 'Sine C523', position: 1, shuffle: 'off' }],
    ['playstatusupdate-5-shuffled', { ...track, deviceState: 'playing', title: 'Sine C523', position: 2, shuffle: 'songs' }],
    ['playstatusupdate-longpoll', { ...track, deviceState: 'paused', title: 'Sine C523', position: 4, shuffle: 'songs' }],
  ];
  for (const [name, fields] of cases) {
    it(`OwnTone 29.3: ${name}`, () => assert.deepEqual(nowPlayingFromPlaystatus(read(name)), expect(fields)));
  }

  it('caps → device state, including loading and both seeking codes', () => {
    const states = [0, 1, 2, 3, 4, 5, 6, 99].map((caps) => nowPlayingFromPlaystatus(decodeDmap(playstatusBody({ revision: 1, caps }))).deviceState);
    assert.deepEqual(states, ['idle', 'loading', 'stopped', 'paused', 'playing', 'seeking', 'seeking', 'idle']);
    assert.equal(nowPlayingFromPlaystatus(decodeDmap(playstatusBody({ revision: 1 }))).deviceState, 'idle');
  });

  it('position = total − remaining; 2^32−1 means unknown', () => {
    const at = (totalMs: number, remainingMs: number) =>
      nowPlayingFromPlaystatus(decodeDmap(playstatusBody({ revision: 1, caps: 4, totalMs, remainingMs })));
    assert.deepEqual([at(215_000, 173_000).position, at(215_000, 173_000).totalTime], [42, 215]);
    assert.deepEqual([at(215_000, 0).position, at(215_000, 0).totalTime], [215, 215], 'remaining 0 is the end, not unknown');
    assert.deepEqual([at(0xffffffff, 1000).position, at(0xffffffff, 1000).totalTime], [null, null]);
    assert.deepEqual([at(60_000, 0xffffffff).position, at(60_000, 0xffffffff).totalTime], [null, 60]);
  });

  it('media kinds and the artist/album fallback', () => {
    assert.deepEqual([1, 32770, 3, 7, 32, 2, 4, 36, 8, 64, 12345].map(dmapMediaKind), [
      'unknown', 'unknown', 'video', 'video', 'video', 'music', 'music', 'music', 'tv', 'tv', 'unknown',
    ]);
    const kind = (fields: Parameters<typeof playstatusBody>[0]) => nowPlayingFromPlaystatus(decodeDmap(playstatusBody(fields))).mediaType;
    assert.equal(kind({ revision: 1, caps: 4, mediaKind: 8 }), 'tv');
    assert.equal(kind({ revision: 1, caps: 4, artist: 'A' }), 'music');
    assert.equal(kind({ revision: 1, caps: 4, title: 'Film' }), 'video');
    assert.equal(kind({ revision: 1, caps: 0, mediaKind: 2 }), 'unknown', 'idle has no media type');
  });

  it('shuffle and repeat mapping; absent means unknown (null)', () => {
    const of = (shuffle?: number, repeat?: number) => {
      const s = nowPlayingFromPlaystatus(decodeDmap(playstatusBody({ revision: 1, caps: 4, ...(shuffle !== undefined ? { shuffle } : {}), ...(repeat !== undefined ? { repeat } : {}) })));
      return [s.shuffle, s.repeat];
    };
    assert.deepEqual(of(0, 0), ['off', 'off']);
    assert.deepEqual(of(1, 1), ['songs', 'track']);
    assert.deepEqual(of(2, 2), ['songs', 'all']);
    assert.deepEqual(of(undefined, 7), [null, null]);
  });

  it('app and the MRP-only fields stay null', () => {
    const s = nowPlayingFromPlaystatus(read('playstatusupdate-2-playing'));
    assert.equal(s.app, null);
    assert.equal(s.seriesName, null);
    assert.equal(s.contentIdentifier, null);
  });
});
