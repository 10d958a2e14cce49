/**
 * MrpSession against the scripted device (pyatv's fake, replayed) over loopback: every
 * command and HID key as it arrives at the device, command results as typed errors, the
 * now-playing state from the captured pushes, push events, artwork (device and remote
 * URL), properties, volume, power and feature availability.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { COMMANDS, type CommandName } from '../../../../lib/device/commands';
import type { ProtocolSession } from '../../../../lib/device/interfaces';
import type { NowPlaying } from '../../../../lib/device/state';
import { InvalidArgumentError, NotSupportedError, ProtocolError, TimeoutError } from '../../../../lib/errors';
import { MRP_HID_KEYS, mrpHidEventData } from '../../../../lib/protocols/mrp/commands';
import { createMrpMessage, encodeMrpMessage, MrpMessageType, type MrpMessage } from '../../../../lib/protocols/mrp/messages';
import {
  MrpCommand,
  MrpHandlerReturnStatus,
  MrpPlaybackState,
  MrpSendError,
  MrpShuffleMode,
  MrpVolumeCapabilities,
  type MrpSetStateMessage,
} from '../../../../lib/protocols/mrp/proto-types';
import { MRP_COCOA_EPOCH_OFFSET } from '../../../../lib/protocols/mrp/player-state';
import { createMrpSession, MRP_COMMAND_ACTIONS } from '../../../../lib/protocols/mrp/session';
import { CAPTURED_ARTWORK, CAPTURED_SET_STATE, FAKE_DEVICE_UID, FakeMrpDevice, type FakeConnection, type Received } from './fake-device';
import { connected, mrpContext } from './helpers';
import { sleep, until } from '../../../support/wait';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const PLAYER_PATH = CAPTURED_SET_STATE.playerPath!;
const CAPTURED_META = CAPTURED_SET_STATE.playbackQueue!.contentItems![0]!.metadata!;
/** Unix ms at which the captured elapsedTime (49.58 s) was taken. */
const CAPTURE_MS = (CAPTURED_META.elapsedTimeTimestamp! + MRP_COCOA_EPOCH_OFFSET) * 1000;

function setState(overrides: Partial<MrpSetStateMessage>): MrpMessage {
  return createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, { ...CAPTURED_SET_STATE, ...overrides });
}

function withMeta(meta: Record<string, unknown>, extra: Partial<MrpSetStateMessage> = {}): MrpMessage {
  return setState({ playbackQueue: { location: 0, contentItems: [{ metadata: { ...CAPTURED_META, ...meta } }] }, ...extra });
}

/** Messages the device received after index `from`. */
function since(conn: FakeConnection, from: number): Received[] {
  return conn.received.slice(from);
}

function hidOf(r: Received): { page: number; usage: number; down: boolean } | null {
  if (r.message.type !== MrpMessageType.SEND_HID_EVENT_MESSAGE) return null;
  const data = (r.message.payload as { hidEventData: Buffer }).hidEventData;
  return { page: data.readUInt16BE(43), usage: data.readUInt16BE(45), down: data.readUInt16BE(47) === 1 };
}


describe('MrpSession', () => {
  it('createMrpSession is a SessionFactory producing an mrp session', () => {
    const session: ProtocolSession = createMrpSession(mrpContext(1));
    assert.equal(session.protocol, 'mrp');
  });

  it('maps every command of THE command table, in one place', () => {
    assert.deepEqual(Object.keys(MRP_COMMAND_ACTIONS).sort(), COMMANDS.map((c) => c.name).sort());
  });

  describe('media commands (SEND_COMMAND, pyatv: protocols/mrp/__init__.py)', () => {
    it('send the Command pyatv sends (protocols/mrp/__init__.py) and wait for the result', async () => {
      const { device, session } = await connected(cleanups);
      const expected: [CommandName, MrpCommand, object | undefined][] = [
        ['play', MrpCommand.Play, undefined],
        ['pause', MrpCommand.Pause, undefined],
        ['playPause', MrpCommand.TogglePlayPause, undefined],
        ['stop', MrpCommand.Stop, undefined],
        ['next', MrpCommand.NextTrack, undefined],
        ['previous', MrpCommand.PreviousTrack, undefined],
        ['skipForward', MrpCommand.SkipForward, { skipInterval: 15 }],
        ['skipBackward', MrpCommand.SkipBackward, { skipInterval: 15 }],
      ];
      for (const [name, command, options] of expected) {
        const from = device.last.received.length;
        await session.sendCommand(name);
        const sent = since(device.last, from);
        assert.equal(sent.length, 1, name);
        assert.equal(sent[0]!.message.type, MrpMessageType.SEND_COMMAND_MESSAGE, name);
        assert.ok(sent[0]!.message.identifier, `${name} is a request`);
        assert.ok(sent[0]!.encrypted);
        assert.deepEqual(sent[0]!.message.payload, options ? { command, options } : { command }, name);
      }
    });

    it('skip intervals: the caller, else the app’s first preferred interval, else 15 s', async () => {
      const { device, session } = await connected(cleanups);
      const last = () => device.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).at(-1)!.payload;
      await session.sendCommand('skipForward', { interval: 42.5 });
      assert.deepEqual(last(), { command: MrpCommand.SkipForward, options: { skipInterval: 42.5 } });
      const commands = CAPTURED_SET_STATE.supportedCommands!.supportedCommands!.map((c) =>
        c.command === MrpCommand.SkipBackward ? { ...c, preferredIntervals: [30, 60] } : c,
      );
      device.last.send(setState({ supportedCommands: { supportedCommands: commands } }));
      await until(() => session.state.commandInfo(MrpCommand.SkipBackward)?.preferredIntervals !== undefined);
      await session.sendCommand('skipBackward');
      assert.deepEqual(last(), { command: MrpCommand.SkipBackward, options: { skipInterval: 30 } });
    });

    it('playPause without TogglePlayPause: Pause while playing, Play while paused', async () => {
      const { device, session } = await connected(cleanups);
      const noToggle = CAPTURED_SET_STATE.supportedCommands!.supportedCommands!.filter((c) => c.command !== MrpCommand.TogglePlayPause);
      device.last.send(setState({ supportedCommands: { supportedCommands: noToggle } }));
      await until(() => !session.state.commandEnabled(MrpCommand.TogglePlayPause));
      assert.equal(session.feature('playPause'), 'available', 'Playing and Pause enabled');
      await session.sendCommand('playPause');
      device.last.send(withMeta({ playbackRate: 0 }, { supportedCommands: { supportedCommands: noToggle }, playbackState: MrpPlaybackState.Paused }));
      await until(() => session.state.effectivePlaybackState() === MrpPlaybackState.Paused);
      await session.sendCommand('playPause');
      assert.deepEqual(
        device.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).map((m) => (m.payload as { command: number }).command),
        [MrpCommand.Pause, MrpCommand.Play],
      );
    });

    const failures: [string, object, new (...a: never[]) => Error, RegExp][] = [
      ['NotSupported', { sendError: MrpSendError.NotSupported }, NotSupportedError, /does not support it.*SendError=NotSupported/],
      ['NoCommandHandlers', { sendError: MrpSendError.NoCommandHandlers }, NotSupportedError, /does not handle it/],
      ['TimedOut', { sendError: MrpSendError.TimedOut }, TimeoutError, /did not answer in time/],
      ['InvalidOptions', { sendError: MrpSendError.InvalidOptions }, InvalidArgumentError, /refused its options/],
      [
        'NoActionableNowPlayingItem',
        { sendError: 0, handlerReturnStatus: MrpHandlerReturnStatus.NoActionableNowPlayingItem },
        NotSupportedError,
        /nothing is playing.*HandlerReturnStatus=NoActionableNowPlayingItem/,
      ],
      ['CommandFailed', { sendError: 0, handlerReturnStatus: MrpHandlerReturnStatus.CommandFailed }, NotSupportedError, /failed to carry it out/],
      [
        'a per-player status (commandResult)',
        { commandResult: { sendError: 0, statuses: [{ statusCode: MrpHandlerReturnStatus.SkipLimitReached }] } },
        NotSupportedError,
        /skip limit/,
      ],
    ];
    for (const [name, result, type, message] of failures) {
      it(`a SEND_COMMAND_RESULT with ${name} becomes ${type.name}`, async () => {
        const { device, session } = await connected(cleanups);
        device.on(MrpMessageType.SEND_COMMAND_MESSAGE, (conn, m) => conn.reply(m, createMrpMessage(MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, result)));
        await assert.rejects(session.sendCommand('next'), (err: Error) => {
          assert.ok(err instanceof type, `${err.constructor.name}: ${err.message}`);
          assert.match(err.message, /^next failed: /);
          assert.match(err.message, message);
          return true;
        });
      });
    }

    it('a handler status newer than our schema is kept as its number and is a failure', async () => {
      const { device, session } = await connected(cleanups);
      device.on(MrpMessageType.SEND_COMMAND_MESSAGE, (conn, m) => {
        const known = encodeMrpMessage({
          ...createMrpMessage(MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, { sendError: 0 }),
          identifier: m.identifier,
        } as MrpMessage);
        // A second occurrence of extension 7 merges into the first: handlerReturnStatus (field 2) = 777.
        conn.sendFrame(Buffer.concat([known, Buffer.from([0x3a, 0x03, 0x10, 0x89, 0x06])]));
      });
      await assert.rejects(session.sendCommand('next'), (err: Error) => err instanceof NotSupportedError && /HandlerReturnStatus=777/.test(err.message));
    });

    it('UIKitLegacy and a bare acknowledgement count as success; an error code on the acknowledgement does not', async () => {
      const { device, session } = await connected(cleanups);
      device.on(MrpMessageType.SEND_COMMAND_MESSAGE, (conn, m) =>
        conn.reply(m, createMrpMessage(MrpMessageType.SEND_COMMAND_RESULT_MESSAGE, { sendError: 0, handlerReturnStatus: MrpHandlerReturnStatus.UIKitLegacy })),
      );
      await session.sendCommand('play');
      device.on(MrpMessageType.SEND_COMMAND_MESSAGE, (conn, m) => conn.ack(m));
      await session.sendCommand('play');
      device.on(MrpMessageType.SEND_COMMAND_MESSAGE, (conn, m) => conn.reply(m, { ...createMrpMessage(MrpMessageType.UNKNOWN_MESSAGE), errorCode: 6 }));
      await assert.rejects(session.sendCommand('play'), NotSupportedError);
    });
  });

  describe('HID keys (pyatv: protocols/mrp/__init__.py)', () => {
    it('hidEventData is the 60-byte layout of the reference, byte for byte', () => {
      const up = mrpHidEventData(1, 0x8c, true).toString('hex');
      assert.equal(
        up,
        '438922cf08020000' + '0000000000000000010000000000000002000000200000000300000001000000000000' + '0001' + '008c' + '0001' + '0000000000000001000000',
      );
    });

    const keys: [CommandName, number, number][] = [
      ['up', 1, 0x8c],
      ['down', 1, 0x8d],
      ['left', 1, 0x8b],
      ['right', 1, 0x8a],
      ['select', 1, 0x89],
      ['menu', 1, 0x86],
      ['home', 12, 0x40],
      ['topMenu', 12, 0x60],
    ];
    it('every button key, single/double/hold: down, up, GENERIC flush; double twice; hold keeps the key down', async () => {
      const { device, session } = await connected(cleanups, { session: { holdMs: 60 } });
      for (const [name, page, usage] of keys) {
        assert.deepEqual(MRP_HID_KEYS[name as keyof typeof MRP_HID_KEYS], { usagePage: page, usage });
        for (const action of ['single', 'double', 'hold'] as const) {
          const from = device.last.received.length;
          await session.sendCommand(name, { action });
          const sent = since(device.last, from);
          const press = [
            { page, usage, down: true },
            { page, usage, down: false },
            null,
          ];
          const expected = action === 'double' ? [...press, ...press] : press;
          assert.deepEqual(sent.map(hidOf), expected, `${name} ${action}`);
          for (const r of sent.filter((r) => r.message.type === MrpMessageType.SEND_HID_EVENT_MESSAGE)) {
            assert.equal(r.message.identifier, undefined, 'key events expect no reply');
            const event = hidOf(r)!;
            assert.ok((r.message.payload as { hidEventData: Buffer }).hidEventData.equals(mrpHidEventData(page, usage, event.down)));
          }
          for (const r of sent.filter((r) => r.message.type !== MrpMessageType.SEND_HID_EVENT_MESSAGE)) {
            assert.equal(r.message.type, MrpMessageType.GENERIC_MESSAGE);
            assert.ok(r.message.identifier, 'the flush is a request');
          }
          const gap = sent[1]!.at - sent[0]!.at;
          if (action === 'hold') assert.ok(gap >= 50, `${name} held ${gap} ms`);
          else assert.ok(gap < 50, `${name} ${action}: up followed down after ${gap} ms`);
        }
      }
    });

  });

  describe('now playing (pyatv: protocols/mrp/__init__.py derived state)', () => {
    it("derives pyatv's capture: Fake Title, artist, album, genre, duration, app; position moves with the clock", async () => {
      let now = CAPTURE_MS + 10_000;
      const { session } = await connected(cleanups, { session: { now: () => now } });
      const state = await session.nowPlaying();
      assert.deepEqual(state, {
        deviceState: 'playing',
        mediaType: 'music',
        title: 'Fake Title',
        artist: 'Fake Artist',
        album: 'Fake Album',
        genre: 'Fake Genre',
        position: 59,
        totalTime: 215,
        shuffle: 'off',
        repeat: 'off',
        app: { name: 'Fake Music App', bundleId: 'com.github.postlund.pyatv' },
        seriesName: null,
        seasonNumber: null,
        episodeNumber: null,
        contentIdentifier: null,
      } satisfies NowPlaying);
      now += 30_000;
      assert.equal((await session.nowPlaying()).position, 89);
      now += 1_000_000;
      assert.equal((await session.nowPlaying()).position, 215, 'never past the end');
      assert.equal((await session.nowPlaying()).shuffle, 'off');
      assert.equal((await session.nowPlaying()).repeat, 'off');
    });

    it('partial UPDATE_CONTENT_ITEM messages merge into the item; TV fields; a pause stops the clock', async () => {
      let now = CAPTURE_MS;
      const { device, session } = await connected(cleanups, { session: { now: () => now } });
      const conn = device.last;
      conn.send(
        createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, {
          contentItems: [{ metadata: { title: 'Episode 3', seriesName: 'Fake Series', seasonNumber: 2, episodeNumber: 3, contentIdentifier: 'tt-123' } }],
          playerPath: PLAYER_PATH,
        }),
      );
      await until(() => session.state.activePlayer?.metadata?.title === 'Episode 3');
      const merged = await session.nowPlaying();
      assert.equal(merged.artist, 'Fake Artist', 'untouched fields stay');
      assert.equal(merged.genre, 'Fake Genre');
      assert.deepEqual([merged.seriesName, merged.seasonNumber, merged.episodeNumber, merged.contentIdentifier], ['Fake Series', 2, 3, 'tt-123']);
      conn.send(
        createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, {
          contentItems: [{ metadata: { playbackRate: 0, elapsedTime: 100, elapsedTimeTimestamp: CAPTURED_META.elapsedTimeTimestamp! } }],
          playerPath: PLAYER_PATH,
        }),
      );
      conn.send(setState({ playbackState: MrpPlaybackState.Paused, playbackQueue: undefined }));
      await until(() => session.state.activePlayer?.playbackState === MrpPlaybackState.Paused);
      now += 60_000;
      const paused = await session.nowPlaying();
      assert.equal(paused.deviceState, 'paused');
      assert.equal(paused.position, 100, 'paused: no extrapolation');
      assert.equal(paused.title, 'Episode 3', 'SET_STATE without a queue keeps the items');
    });

    it('an item for another app does not change what plays; SET_NOW_PLAYING_CLIENT does; REMOVE_CLIENT makes it idle', async () => {
      const { device, session } = await connected(cleanups);
      const conn = device.last;
      const other = { client: { bundleIdentifier: 'com.apple.TVWatchList', displayName: 'TV' }, player: { identifier: 'MediaRemote-DefaultPlayer' } };
      conn.send(setState({ playerPath: other, playbackQueue: { location: 0, contentItems: [{ metadata: { title: 'Other', mediaType: 2 } }] } }));
      await until(() => session.state.clients.has('com.apple.TVWatchList'));
      assert.equal((await session.nowPlaying()).title, 'Fake Title');
      conn.send(createMrpMessage(MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE, { client: { bundleIdentifier: 'com.apple.TVWatchList' } }));
      await until(() => session.state.activeClient?.bundleIdentifier === 'com.apple.TVWatchList');
      const tv = await session.nowPlaying();
      assert.equal(tv.title, 'Other');
      assert.equal(tv.mediaType, 'video');
      assert.deepEqual(tv.app, { name: 'TV', bundleId: 'com.apple.TVWatchList' });
      conn.send(createMrpMessage(MrpMessageType.REMOVE_CLIENT_MESSAGE, { client: { bundleIdentifier: 'com.apple.TVWatchList' } }));
      await until(() => session.state.activeClient === undefined);
      const idle = await session.nowPlaying();
      assert.equal(idle.deviceState, 'idle');
      assert.equal(idle.title, null);
      assert.equal(idle.app, null);
      assert.equal(session.feature('play'), 'unavailable', 'no player: no enabled command');
      assert.equal(await session.artwork(), null, 'nothing plays: no artwork');
    });

    it('push events: the current state on start, then only real changes (not clock drift), none after stop', async () => {
      let now = CAPTURE_MS;
      const { device, session } = await connected(cleanups, { session: { now: () => now } });
      const conn = device.last;
      const events: NowPlaying[] = [];
      session.on('nowPlaying', (s) => events.push(s));
      session.startPushUpdates();
      session.startPushUpdates();
      await until(() => events.length === 1);
      assert.equal(events[0]!.title, 'Fake Title');

      // The same state again, 5 s later: only the extrapolated position moved.
      now += 5_000;
      conn.send(setState({}));
      // A volume change is no now-playing change either.
      conn.send(createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, { volume: 0.2, outputDeviceUID: FAKE_DEVICE_UID }));
      // A seek is.
      conn.send(withMeta({ elapsedTime: 150, elapsedTimeTimestamp: now / 1000 - MRP_COCOA_EPOCH_OFFSET }));
      await until(() => events.length >= 2);
      await sleep(30);
      assert.equal(events.length, 2);
      assert.equal(events[1]!.position, 150);

      conn.send(createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, { contentItems: [{ metadata: { title: 'Next Song' } }], playerPath: PLAYER_PATH }));
      await until(() => events.length === 3);
      assert.equal(events[2]!.title, 'Next Song');
      assert.equal(events[2]!.album, 'Fake Album');

      session.stopPushUpdates();
      conn.send(createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, { contentItems: [{ metadata: { title: 'Unseen' } }], playerPath: PLAYER_PATH }));
      await until(() => session.state.activePlayer?.metadata?.title === 'Unseen');
      await sleep(20);
      assert.equal(events.length, 3);
    });
  });

  describe('features (pyatv: MrpFeatures)', () => {
    it('follow the commands the app enables, the volume capabilities and the artwork flag', async () => {
      const { device, session } = await connected(cleanups);
      for (const name of ['up', 'down', 'left', 'right', 'select', 'menu', 'home', 'topMenu', 'turnOn', 'turnOff', 'powerState', 'nowPlaying', 'pushUpdates'] as const) {
        assert.equal(session.feature(name), 'available', name);
      }
      for (const name of ['play', 'pause', 'playPause', 'stop', 'next', 'previous', 'skipForward', 'skipBackward', 'setPosition'] as const) {
        assert.equal(session.feature(name), 'available', name);
      }
      // The capture's shuffle/repeat entries carry the state but no enabled flag.
      assert.equal(session.feature('setShuffle'), 'unavailable');
      assert.equal(session.feature('setRepeat'), 'unavailable');
      for (const name of ['volume', 'setVolume', 'volumeUp', 'volumeDown', 'artwork'] as const) assert.equal(session.feature(name), 'available', name);

      const fewer = CAPTURED_SET_STATE.supportedCommands!.supportedCommands!.map((c) =>
        c.command === MrpCommand.NextTrack ? { ...c, enabled: false } : c,
      );
      device.last.send(withMeta({ artworkAvailable: false }, { supportedCommands: { supportedCommands: fewer } }));
      device.last.send(createMrpMessage(MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE, { volumeControlAvailable: true, volumeCapabilities: MrpVolumeCapabilities.Relative }));
      await until(() => session.feature('next') === 'unavailable');
      assert.equal(session.feature('artwork'), 'unavailable');
      assert.equal(session.feature('volume'), 'unavailable');
      assert.equal(session.feature('setVolume'), 'unavailable');
      assert.equal(session.feature('volumeUp'), 'available');
    });

    it('client default commands apply when the player has none (SET_DEFAULT_SUPPORTED_COMMANDS)', async () => {
      const { device, session } = await connected(cleanups);
      device.last.send(setState({ supportedCommands: { supportedCommands: [] } }));
      await until(() => session.feature('play') === 'unavailable');
      device.last.send(
        createMrpMessage(MrpMessageType.SET_DEFAULT_SUPPORTED_COMMANDS_MESSAGE, {
          playerPath: { client: PLAYER_PATH.client },
          supportedCommands: { supportedCommands: [{ command: MrpCommand.Play, enabled: true }] },
        }),
      );
      await until(() => session.feature('play') === 'available');
      assert.equal(session.feature('pause'), 'unavailable');
    });
  });

  describe('artwork (pyatv: protocols/mrp/__init__.py)', () => {
    it('asks the device with PLAYBACK_QUEUE_REQUEST and returns the PNG; cached afterwards', async () => {
      const { device, session } = await connected(cleanups);
      const art = await session.artwork();
      assert.ok(art);
      assert.ok(art.bytes.equals(CAPTURED_ARTWORK));
      assert.equal(art.mimeType, 'image/png');
      assert.equal(art.width, 16);
      assert.equal(art.height, 16);
      // The reply carrying the bytes went to the request; the model keeps no image.
      for (const client of session.state.clients.values()) {
        for (const player of client.players.values()) assert.ok(player.items.every((i) => i.artworkData === undefined));
      }
      const requests = device.last.messages(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE);
      assert.equal(requests.length, 1);
      assert.deepEqual(requests[0]!.payload, { location: 0, length: 1, artworkWidth: 512, artworkHeight: -1, returnContentItemAssetsInUserCompletion: true });
      assert.deepEqual(await session.artwork(), art, 'same again');
      assert.equal(device.last.messages(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE).length, 1, 'from the cache');
      await session.artwork({ width: 64, height: 64 });
      assert.deepEqual(device.last.messages(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE)[1]!.payload, {
        location: 0,
        length: 1,
        artworkWidth: 64,
        artworkHeight: 64,
        returnContentItemAssetsInUserCompletion: true,
      });
      await session.artwork({ height: 100 });
      assert.deepEqual(
        (device.last.messages(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE)[2]!.payload as { artworkWidth: number; artworkHeight: number }),
        { location: 0, length: 1, artworkWidth: 0, artworkHeight: 100, returnContentItemAssetsInUserCompletion: true },
      );
    });

    it('a reply without artwork data is null', async () => {
      const { device, session } = await connected(cleanups);
      device.on(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE, (conn, m) =>
        conn.reply(m, createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, { playbackQueue: { location: 0, contentItems: [{}] } })),
      );
      assert.equal(await session.artwork(), null);
    });

    it('artwork data that is not an image is an error, as over every protocol', async () => {
      const { device, session } = await connected(cleanups);
      device.on(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE, (conn, m) =>
        conn.reply(
          m,
          createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, {
            playbackQueue: { location: 0, contentItems: [{ artworkData: Buffer.from('<html>no cover</html>') }] },
          }),
        ),
      );
      await assert.rejects(session.artwork({ width: 100 }), (err: unknown) => err instanceof ProtocolError && /not an image/.test(err.message));
    });

    it('fetches a remote artworkIdentifier template first, then artworkURL, then falls back to the device', async () => {
      const served: string[] = [];
      const png = CAPTURED_ARTWORK;
      const server = http.createServer((req, res) => {
        served.push(req.url ?? '');
        if (req.url?.startsWith('/missing')) {
          res.statusCode = 404;
          res.end();
        } else if (req.url?.startsWith('/moved')) {
          res.writeHead(302, { location: '/art/fixed.png' });
          res.end();
        } else {
          res.setHeader('content-type', 'image/png');
          res.end(png);
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise((r) => server.close(r)));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

      const { device, session } = await connected(cleanups);
      const conn = device.last;
      conn.send(withMeta({ artworkIdentifier: `${base}/art/{w}x{h}{c}.{f}?token=secret` }));
      await until(() => session.state.activePlayer?.metadata?.artworkIdentifier?.startsWith('http') === true);
      const art = await session.artwork({ width: 300 });
      assert.ok(art?.bytes.equals(png));
      assert.equal(art?.mimeType, 'image/png');
      assert.deepEqual([art?.width, art?.height], [16, 16], 'the size of the image itself');
      assert.deepEqual(served, ['/art/300x999999bb.png?token=secret']);

      conn.send(withMeta({ artworkIdentifier: `${base}/missing/{w}x{h}.{f}`, artworkURL: `${base}/moved` }));
      await until(() => session.state.activePlayer?.metadata?.artworkURL !== undefined);
      const viaUrl = await session.artwork();
      assert.ok(viaUrl?.bytes.equals(png));
      assert.deepEqual(served.slice(1), ['/missing/512x999999.png', '/moved', '/art/fixed.png']);
      assert.equal(conn.messages(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE).length, 0, 'the device was not asked');

      // Unreachable URL, then a non-http one, then the device.
      conn.send(withMeta({ artworkIdentifier: 'http://127.0.0.1:1/{w}.{f}', artworkURL: 'file:///etc/passwd', contentIdentifier: 'c-9' }));
      await until(() => session.state.activePlayer?.metadata?.contentIdentifier === 'c-9');
      const local = await session.artwork();
      assert.ok(local?.bytes.equals(CAPTURED_ARTWORK));
      assert.equal(conn.messages(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE).length, 1);
      assert.equal(served.length, 4, 'nothing else was fetched');
    });

    it('no artwork flag: null without asking', async () => {
      const { device, session } = await connected(cleanups);
      device.last.send(withMeta({ artworkAvailable: false }));
      await until(() => session.feature('artwork') === 'unavailable');
      assert.equal(await session.artwork(), null);
      assert.equal(device.last.messages(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE).length, 0);
    });
  });

  describe('properties', () => {
    it('position, shuffle and repeat go as SEND_COMMAND and resolve with what the device then reports', async () => {
      const { device, session } = await connected(cleanups, { session: { propertyConfirmTimeout: 100 } });
      device.on(MrpMessageType.SEND_COMMAND_MESSAGE, (conn, m) => {
        conn.handleDefault(m);
        const payload = m.payload as { command: number; options?: { shuffleMode?: number; playbackPosition?: number } };
        if (payload.command === MrpCommand.ChangeShuffleMode) {
          const commands = CAPTURED_SET_STATE.supportedCommands!.supportedCommands!.map((c) =>
            c.command === MrpCommand.ChangeShuffleMode ? { ...c, shuffleMode: payload.options!.shuffleMode! } : c,
          );
          conn.send(setState({ supportedCommands: { supportedCommands: commands } }));
        }
      });
      assert.equal(await session.setProperty('shuffle', 'songs'), 'songs');
      assert.equal(await session.setProperty('repeat', 'all'), 'off', 'the device did not change it: what it reports');
      const payloads = device.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).map((m) => m.payload);
      assert.deepEqual(payloads, [
        { command: MrpCommand.ChangeShuffleMode, options: { sendOptions: 0, shuffleMode: MrpShuffleMode.Songs } },
        { command: MrpCommand.ChangeRepeatMode, options: { sendOptions: 0, repeatMode: 3 } },
      ]);
      await session.setProperty('position', 100);
      assert.deepEqual(device.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).at(-1)!.payload, {
        command: MrpCommand.SeekToPlaybackPosition,
        options: { playbackPosition: 100 },
      });
    });
  });

  describe('volume (pyatv: protocols/mrp/__init__.py)', () => {
    it('reads the level the device pushed and sets it with SET_VOLUME, confirmed by VOLUME_DID_CHANGE', async () => {
      const { device, session } = await connected(cleanups);
      assert.equal(await session.getVolume(), 50);
      const levels: number[] = [];
      session.on('volume', (l) => levels.push(l));
      assert.equal(await session.setVolume(30), 30);
      const sent = device.last.messages(MrpMessageType.SET_VOLUME_MESSAGE);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.identifier, undefined, 'SET_VOLUME expects no reply');
      const payload = sent[0]!.payload as { outputDeviceUID: string; volume: number };
      assert.equal(payload.outputDeviceUID, FAKE_DEVICE_UID);
      assert.ok(Math.abs(payload.volume - 0.3) < 1e-6);
      assert.deepEqual(levels, [30]);
      assert.equal(await session.getVolume(), 30);
      // A change for another output device is not ours.
      device.last.send(createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, { volume: 0.9, outputDeviceUID: 'OTHER' }));
      device.last.send(createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, { volume: 0.25, outputDeviceUID: FAKE_DEVICE_UID }));
      await until(() => levels.length === 2);
      assert.deepEqual(levels, [30, 25]);
    });

    it('an unconfirmed change is a TimeoutError', async () => {
      const { device, session } = await connected(cleanups, { session: { volumeConfirmTimeout: 80 } });
      device.on(MrpMessageType.SET_VOLUME_MESSAGE, () => undefined);
      await assert.rejects(session.setVolume(10), (err: Error) => err instanceof TimeoutError && /volume/.test(err.message));
    });

    it('volumeUp/Down: the HID key (no flush) when relative, waiting for the level when also absolute', async () => {
      const { device, session } = await connected(cleanups);
      device.on(MrpMessageType.SEND_HID_EVENT_MESSAGE, (conn, m) => {
        const data = (m.payload as { hidEventData: Buffer }).hidEventData;
        if (data.readUInt16BE(47) === 0 && data.readUInt16BE(45) === 0xe9) {
          conn.send(createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, { volume: 0.55, outputDeviceUID: FAKE_DEVICE_UID }));
        }
      });
      const from = device.last.received.length;
      await session.sendCommand('volumeUp');
      assert.deepEqual(since(device.last, from).map(hidOf), [
        { page: 12, usage: 0xe9, down: true },
        { page: 12, usage: 0xe9, down: false },
      ]);
      assert.equal(await session.getVolume(), 55);
    });

    it('absolute only: volumeUp/Down step the level by 5', async () => {
      const { device, session } = await connected(cleanups);
      device.last.send(
        createMrpMessage(MrpMessageType.VOLUME_CONTROL_CAPABILITIES_DID_CHANGE_MESSAGE, {
          capabilities: { volumeControlAvailable: true, volumeCapabilities: MrpVolumeCapabilities.Absolute },
          outputDeviceUID: FAKE_DEVICE_UID,
        }),
      );
      await until(() => session.feature('volume') === 'available' && !(session as unknown as { volume: { relative: boolean } }).volume.relative);
      await session.sendCommand('volumeDown');
      await session.sendCommand('volumeDown');
      const levels = device.last.messages(MrpMessageType.SET_VOLUME_MESSAGE).map((m) => Math.round((m.payload as { volume: number }).volume * 100));
      assert.deepEqual(levels, [45, 40]);
      assert.equal(device.last.messages(MrpMessageType.SEND_HID_EVENT_MESSAGE).length, 0);
    });

    it('no volume control: clear NotSupportedErrors', async () => {
      const { device, session } = await connected(cleanups);
      device.last.send(createMrpMessage(MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE, { volumeControlAvailable: false, volumeCapabilities: 0 }));
      await until(() => session.feature('volumeUp') === 'unavailable');
      await assert.rejects(session.sendCommand('volumeUp'), NotSupportedError);
      await assert.rejects(session.setVolume(20), (err: Error) => err instanceof NotSupportedError && /not available/.test(err.message));
    });
  });

  describe('power (pyatv: protocols/mrp/__init__.py)', () => {
    it('from logicalDeviceCount; DEVICE_INFO_UPDATE changes it with a power event', async () => {
      const { device, session } = await connected(cleanups);
      assert.equal(session.powerState(), 'on');
      const events: string[] = [];
      session.on('power', (p) => events.push(p));
      device.last.send(createMrpMessage(MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE, { ...device.deviceInfo, logicalDeviceCount: 0 }));
      await until(() => events.length === 1);
      assert.deepEqual(events, ['off']);
      assert.equal(session.powerState(), 'off');
      assert.equal(session.deviceInfo?.modelID, 'AppleTV6,2', 'the update merged into what we knew');
    });

    it('turnOn sends WAKE_DEVICE; turnOff holds home, then selects', async () => {
      const { device, session } = await connected(cleanups, { session: { holdMs: 40 } });
      let from = device.last.received.length;
      await session.sendCommand('turnOn');
      await device.last.waitFor((r) => r.message.type === MrpMessageType.WAKE_DEVICE_MESSAGE);
      assert.deepEqual(
        since(device.last, from).map((r) => r.message.type),
        [MrpMessageType.WAKE_DEVICE_MESSAGE, MrpMessageType.GENERIC_MESSAGE],
        'WAKE_DEVICE, then a flush request so the command returns once the device read it',
      );
      from = device.last.received.length;
      await session.sendCommand('turnOff');
      const sent = since(device.last, from);
      assert.deepEqual(sent.map(hidOf), [
        { page: 12, usage: 0x40, down: true },
        { page: 12, usage: 0x40, down: false },
        null,
        { page: 1, usage: 0x89, down: true },
        { page: 1, usage: 0x89, down: false },
        null,
      ]);
      assert.ok(sent[1]!.at - sent[0]!.at >= 35, 'home is held');
    });
  });

  it('a second connect() while the first is under way waits for that attempt (one connection)', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    const session = createMrpSession(mrpContext(device.port), { holdMs: 50 });
    cleanups.push(() => session.close());
    const first = session.connect();
    const second = session.connect();
    await second;
    // The caller of the second connect() may use the session at once.
    await session.sendCommand('play');
    await first;
    await session.connect(); // connected: nothing more to do
    assert.equal(device.connections.length, 1);
    assert.equal(device.last.messages(MrpMessageType.DEVICE_INFO_MESSAGE).length, 1);
    assert.equal(device.last.messages(MrpMessageType.SEND_COMMAND_MESSAGE).length, 1);
  });

  it('a throwing listener is logged; other listeners still get the event and the process lives on', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    const warnings: string[] = [];
    const session = createMrpSession({ ...mrpContext(device.port), logger: { debug() {}, warn: (m) => warnings.push(m) } }, { holdMs: 50 });
    cleanups.push(() => session.close());
    await session.connect();
    const states: NowPlaying[] = [];
    const lost: Error[] = [];
    session.on('nowPlaying', () => {
      throw new Error('bug in a nowPlaying listener');
    });
    session.on('nowPlaying', (s) => states.push(s));
    session.on('connectionLost', () => {
      throw new Error('bug in a connectionLost listener');
    });
    session.on('connectionLost', (e) => lost.push(e));
    // The first state is delivered from a microtask: nothing of the caller's is on the stack.
    session.startPushUpdates();
    await until(() => states.length === 1);
    assert.equal(states[0]!.title, 'Fake Title');
    // A pushed change arrives from socket data.
    device.last.send(withMeta({ title: 'Pushed Title' }));
    await until(() => states.length === 2);
    assert.equal(states[1]!.title, 'Pushed Title');
    // The device hanging up is reported from the socket's close event.
    device.last.destroy();
    await until(() => lost.length === 1);
    assert.deepEqual(
      warnings.filter((w) => /listener threw/.test(w)),
      [
        'a "nowPlaying" listener threw: bug in a nowPlaying listener',
        'a "nowPlaying" listener threw: bug in a nowPlaying listener',
        'a "connectionLost" listener threw: bug in a connectionLost listener',
      ],
    );
  });

  it('startPushUpdates before connect and calls after close do not throw', async () => {
    const session = createMrpSession(mrpContext(1));
    session.startPushUpdates!();
    session.stopPushUpdates!();
    await session.close();
    await session.close();
    await assert.rejects(session.nowPlaying!(), /closed/);
  });
});

