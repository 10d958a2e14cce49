/**
 * The MRP now-playing model on its own (no socket): the state rules of pyatv's protocols/mrp/player_state.py fed
 * with hand-made messages, decoded from bytes so they have the shape the wire gives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage, MrpMessageType, type MrpMessage } from '../../../../lib/protocols/mrp/messages';
import {
  MRP_COCOA_EPOCH_OFFSET,
  MRP_DEFAULT_PLAYER_ID,
  MRP_MAX_CLIENTS,
  MRP_MAX_PLAYERS_PER_CLIENT,
  MRP_MAX_QUEUE_ITEMS,
  MrpPlayerState,
} from '../../../../lib/protocols/mrp/player-state';
import { MrpCommand, MrpPlaybackState, type MrpContentItemMetadata, type MrpPlayerPath } from '../../../../lib/protocols/mrp/proto-types';

const APP = { bundleIdentifier: 'com.example.app', displayName: 'Example' };
const PATH: MrpPlayerPath = { client: APP, player: { identifier: MRP_DEFAULT_PLAYER_ID } };
const NOW = 1_700_000_000_000;
const stampAt = (ms: number) => ms / 1000 - MRP_COCOA_EPOCH_OFFSET;

/** Through the codec, as the connection would hand it over. */
function feed(model: MrpPlayerState, message: MrpMessage): boolean {
  return model.handle(decodeMrpMessage(encodeMrpMessage(message)));
}

function playing(model: MrpPlayerState, state: MrpPlaybackState | undefined, meta?: MrpContentItemMetadata, path = PATH): void {
  feed(
    model,
    createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, {
      playerPath: path,
      ...(state !== undefined && { playbackState: state }),
      ...(meta && { playbackQueue: { location: 0, contentItems: [{ identifier: 'item-1', metadata: meta }] } }),
    }),
  );
}

function activate(model: MrpPlayerState, client = APP): void {
  feed(model, createMrpMessage(MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE, { client }));
}

describe('MrpPlayerState', () => {
  it('nothing known: idle, no app', () => {
    const model = new MrpPlayerState();
    assert.deepEqual(model.nowPlaying(NOW).deviceState, 'idle');
    assert.equal(model.nowPlaying(NOW).app, null);
  });

  const states: [string, MrpPlaybackState | undefined, MrpContentItemMetadata | undefined, string][] = [
    ['no playback state', undefined, { title: 'x' }, 'idle'],
    ['Unknown', MrpPlaybackState.Unknown, { title: 'x' }, 'idle'],
    ['Paused with nothing queued', MrpPlaybackState.Paused, undefined, 'idle'],
    ['Paused with an item', MrpPlaybackState.Paused, { title: 'x' }, 'paused'],
    ['Playing at rate 0 (still playing, as pyatv)', MrpPlaybackState.Playing, { playbackRate: 0 }, 'playing'],
    ['Playing at rate 1', MrpPlaybackState.Playing, { playbackRate: 1 }, 'playing'],
    ['Playing at rate 2', MrpPlaybackState.Playing, { playbackRate: 2 }, 'seeking'],
    ['Playing without a rate', MrpPlaybackState.Playing, { title: 'x' }, 'playing'],
    ['Stopped', MrpPlaybackState.Stopped, { title: 'x' }, 'stopped'],
    ['Interrupted', MrpPlaybackState.Interrupted, { title: 'x' }, 'loading'],
    ['Seeking', MrpPlaybackState.Seeking, { title: 'x' }, 'seeking'],
  ];
  for (const [name, state, meta, expected] of states) {
    it(`device state: ${name} → ${expected}`, () => {
      const model = new MrpPlayerState();
      playing(model, state, meta);
      activate(model);
      assert.equal(model.nowPlaying(NOW).deviceState, expected);
    });
  }

  it('position: extrapolated only while playing at a non-zero rate, clamped to the duration', () => {
    const model = new MrpPlayerState();
    activate(model);
    playing(model, MrpPlaybackState.Playing, { elapsedTime: 10.7, elapsedTimeTimestamp: stampAt(NOW), playbackRate: 1, duration: 60.9 });
    assert.equal(model.nowPlaying(NOW).position, 10);
    assert.equal(model.nowPlaying(NOW + 5_500).position, 16);
    assert.equal(model.nowPlaying(NOW + 500_000).position, 60);
    assert.equal(model.nowPlaying(NOW).totalTime, 60);
    assert.equal(model.extrapolating(), true);
    playing(model, MrpPlaybackState.Playing, { elapsedTime: 10, elapsedTimeTimestamp: stampAt(NOW), playbackRate: 0 });
    assert.equal(model.nowPlaying(NOW + 5_000).position, 10, 'rate 0: standing still');
    playing(model, MrpPlaybackState.Playing, { elapsedTime: 12, elapsedTimeTimestamp: stampAt(NOW) });
    assert.equal(model.nowPlaying(NOW + 5_000).deviceState, 'playing');
    assert.equal(model.nowPlaying(NOW + 5_000).position, 12, 'no rate: standing still, as pyatv (it reads a missing rate as 0.0)');
    assert.equal(model.extrapolating(), false);
    playing(model, MrpPlaybackState.Paused, { elapsedTime: 20, elapsedTimeTimestamp: stampAt(NOW), playbackRate: 1 });
    assert.equal(model.nowPlaying(NOW + 5_000).position, 20, 'paused: standing still');
    playing(model, MrpPlaybackState.Paused, { elapsedTime: 33 });
    assert.equal(model.nowPlaying(NOW).position, 33, 'no timestamp: elapsedTime as is');
    playing(model, MrpPlaybackState.Paused, { title: 'no time', duration: Number.NaN });
    assert.equal(model.nowPlaying(NOW).position, null);
    assert.equal(model.nowPlaying(NOW).totalTime, null);
  });

  it('current item is items[location]; media types', () => {
    const model = new MrpPlayerState();
    activate(model);
    feed(
      model,
      createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, {
        playerPath: PATH,
        playbackState: MrpPlaybackState.Playing,
        playbackQueue: { location: 1, contentItems: [{ identifier: 'a', metadata: { title: 'A' } }, { identifier: 'b', metadata: { title: 'B', mediaType: 2 } }] },
      }),
    );
    const state = model.nowPlaying(NOW);
    assert.equal(state.title, 'B');
    assert.equal(state.mediaType, 'video');
  });

  it('UPDATE_CONTENT_ITEM merges by identifier and ignores items not in the queue', () => {
    const model = new MrpPlayerState();
    activate(model);
    playing(model, MrpPlaybackState.Playing, { title: 'Old', trackArtistName: 'Artist', genre: 'Jazz' });
    feed(
      model,
      createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, {
        playerPath: PATH,
        contentItems: [
          { identifier: 'item-1', metadata: { title: 'New', albumName: 'Album' } },
          { identifier: 'elsewhere', metadata: { title: 'Ignored' } },
        ],
      }),
    );
    const state = model.nowPlaying(NOW);
    assert.deepEqual([state.title, state.artist, state.album, state.genre], ['New', 'Artist', 'Album', 'Jazz']);
    assert.equal(model.activePlayer?.items.length, 1);
  });

  it('players: the default one unless SET_NOW_PLAYING_PLAYER names another; REMOVE_PLAYER falls back', () => {
    const model = new MrpPlayerState();
    activate(model);
    playing(model, MrpPlaybackState.Playing, { title: 'Default' });
    const pip: MrpPlayerPath = { client: APP, player: { identifier: 'PiP', displayName: 'Picture in picture' } };
    playing(model, MrpPlaybackState.Paused, { title: 'Other' }, pip);
    assert.equal(model.nowPlaying(NOW).title, 'Default');
    feed(model, createMrpMessage(MrpMessageType.SET_NOW_PLAYING_PLAYER_MESSAGE, { playerPath: pip }));
    assert.equal(model.nowPlaying(NOW).title, 'Other');
    assert.equal(model.activePlayer?.displayName, 'Picture in picture');
    assert.equal(feed(model, createMrpMessage(MrpMessageType.REMOVE_PLAYER_MESSAGE, { playerPath: pip })), true);
    assert.equal(model.nowPlaying(NOW).title, 'Default');
  });

  it('clients: display name from UPDATE_CLIENT; REMOVE_CLIENT of the active one leaves nothing playing', () => {
    const model = new MrpPlayerState();
    playing(model, MrpPlaybackState.Playing, { title: 'x' }, { client: { bundleIdentifier: 'com.example.app' }, player: { identifier: MRP_DEFAULT_PLAYER_ID } });
    activate(model, { bundleIdentifier: 'com.example.app', displayName: '' });
    assert.deepEqual(model.nowPlaying(NOW).app, { name: null, bundleId: 'com.example.app' });
    feed(model, createMrpMessage(MrpMessageType.UPDATE_CLIENT_MESSAGE, { client: { bundleIdentifier: 'com.example.app', displayName: 'Renamed' } }));
    assert.deepEqual(model.nowPlaying(NOW).app, { name: 'Renamed', bundleId: 'com.example.app' });
    assert.equal(feed(model, createMrpMessage(MrpMessageType.REMOVE_CLIENT_MESSAGE, { client: { bundleIdentifier: 'com.other' } })), false);
    feed(model, createMrpMessage(MrpMessageType.REMOVE_CLIENT_MESSAGE, { client: { bundleIdentifier: 'com.example.app' } }));
    assert.equal(model.nowPlaying(NOW).deviceState, 'idle');
    assert.equal(model.nowPlaying(NOW).app, null);
  });

  it('commands: the player’s own, else the client defaults; shuffle/repeat state rides on them', () => {
    const model = new MrpPlayerState();
    activate(model);
    feed(
      model,
      createMrpMessage(MrpMessageType.SET_DEFAULT_SUPPORTED_COMMANDS_MESSAGE, {
        playerPath: { client: APP },
        supportedCommands: { supportedCommands: [{ command: MrpCommand.Play, enabled: true }, { command: MrpCommand.ChangeRepeatMode, repeatMode: 2 }] },
      }),
    );
    feed(
      model,
      createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, {
        playerPath: PATH,
        supportedCommands: { supportedCommands: [{ command: MrpCommand.Pause, enabled: true }, { command: MrpCommand.ChangeShuffleMode, shuffleMode: 2 }] },
      }),
    );
    assert.equal(model.commandEnabled(MrpCommand.Play), true);
    assert.equal(model.commandEnabled(MrpCommand.Pause), true);
    assert.equal(model.commandEnabled(MrpCommand.NextTrack), false);
    const state = model.nowPlaying(NOW);
    assert.equal(state.shuffle, 'albums');
    assert.equal(state.repeat, 'track');
  });

  it('messages it does not model are not consumed', () => {
    const model = new MrpPlayerState();
    assert.equal(feed(model, createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, { volume: 0.5 })), false);
    assert.equal(feed(model, createMrpMessage(MrpMessageType.SET_STATE_MESSAGE)), false);
  });

  it('keeps no artwork bytes: artworkData of a pushed queue or item update is dropped (artwork is fetched on demand)', () => {
    const model = new MrpPlayerState();
    activate(model);
    const art = Buffer.alloc(64 * 1024, 0xab);
    feed(
      model,
      createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, {
        playerPath: PATH,
        playbackState: MrpPlaybackState.Playing,
        playbackQueue: { location: 0, contentItems: [{ identifier: 'item-1', artworkData: art, metadata: { title: 'With art', artworkAvailable: true } }] },
      }),
    );
    assert.equal(model.activePlayer?.item?.artworkData, undefined);
    assert.equal(model.activePlayer?.metadata?.artworkAvailable, true, 'the metadata saying there is artwork stays');
    feed(
      model,
      createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, {
        playerPath: PATH,
        contentItems: [{ identifier: 'item-1', artworkData: art, metadata: { title: 'Updated' } }],
      }),
    );
    assert.equal(model.activePlayer?.item?.artworkData, undefined);
    assert.equal(model.nowPlaying(NOW).title, 'Updated');
  });

  it('bounded: clients and players beyond the caps evict the least recently active (never the active one); long queues keep a window around the current item', () => {
    const model = new MrpPlayerState();
    const app = (i: number) => ({ bundleIdentifier: `com.example.app${i}`, displayName: `App ${i}` });
    const pathOf = (i: number, player = MRP_DEFAULT_PLAYER_ID): MrpPlayerPath => ({ client: app(i), player: { identifier: player } });
    playing(model, MrpPlaybackState.Playing, { title: 'App 0' }, pathOf(0));
    activate(model, app(0));
    for (let i = 1; i <= MRP_MAX_CLIENTS + 10; i++) {
      playing(model, MrpPlaybackState.Paused, { title: `App ${i}` }, pathOf(i));
      // App 1 stays busy, so it is never the least recently active.
      playing(model, MrpPlaybackState.Paused, { title: 'App 1 again' }, pathOf(1));
    }
    assert.equal(model.clients.size, MRP_MAX_CLIENTS);
    assert.ok(model.clients.has('com.example.app0'), 'the active client, although the oldest, is kept');
    assert.ok(model.clients.has('com.example.app1'), 'a recently active client is kept');
    assert.ok(model.clients.has(`com.example.app${MRP_MAX_CLIENTS + 10}`), 'the newest is kept');
    assert.ok(!model.clients.has('com.example.app2'), 'the least recently active went');
    assert.equal(model.nowPlaying(NOW).title, 'App 0');

    const client = model.activeClient!;
    for (let i = 0; i < MRP_MAX_PLAYERS_PER_CLIENT + 5; i++) playing(model, MrpPlaybackState.Paused, { title: `Player ${i}` }, pathOf(0, `player-${i}`));
    assert.equal(client.players.size, MRP_MAX_PLAYERS_PER_CLIENT);
    assert.ok(client.players.has(MRP_DEFAULT_PLAYER_ID), 'the active (default) player is kept');
    assert.ok(!client.players.has('player-0'));
    assert.equal(model.nowPlaying(NOW).title, 'App 0');

    const items = Array.from({ length: 1000 }, (_, i) => ({ identifier: `q${i}`, metadata: { title: `Track ${i}` } }));
    feed(model, createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, { playerPath: pathOf(0), playbackQueue: { location: 700, contentItems: items } }));
    const player = model.activePlayer!;
    assert.ok(player.items.length <= MRP_MAX_QUEUE_ITEMS, `${player.items.length} items kept`);
    assert.equal(player.item?.identifier, 'q700');
    assert.equal(model.nowPlaying(NOW).title, 'Track 700');
    feed(model, createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, { playerPath: pathOf(0), contentItems: [{ identifier: 'q700', metadata: { title: 'Renamed 700' } }] }));
    assert.equal(model.nowPlaying(NOW).title, 'Renamed 700');
  });
});
