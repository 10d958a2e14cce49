import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { decodeTlv8, Tlv8Type, tlv8Uint } from '../../../lib/codecs/tlv8';
import { ED25519_KEY_LENGTH, ed25519PublicKey, randomKeyBytes } from '../../../lib/hap/keys';
import { hapCredentials, type HapCredentials } from '../../../lib/hap/credentials';
import { AuthenticationError, PairingError } from '../../../lib/errors';
import { MRP_HID_KEYS, mrpHidKeyEventData, type MrpHidKey } from '../../../lib/protocols/mrp/commands';
import { encodeMrpFrame } from '../../../lib/protocols/mrp/framing';
import { createMrpMessage, MrpMessageType, type MrpDecodedMessage } from '../../../lib/protocols/mrp/messages';
import {
  MrpCommand,
  MrpErrorCode,
  MrpKeyboardState,
  MrpMediaType,
  MrpPlaybackState,
  MrpRepeatMode,
  MrpSendError,
  MrpShuffleMode,
  MrpVolumeCapabilities,
  type MrpCommandOptions,
  type MrpSetStateMessage,
} from '../../../lib/protocols/mrp/proto-types';
import { PNG_SIGNATURE } from '../../../lib/codecs/image';
import { pngSize } from '../../../lib/simulator/artwork';
import { Simulator, type SimulatorCredentials, type SimulatorPinRequest } from '../../../lib/simulator/index';
import { formatMrpPairingRecord, MRP_SIMULATOR_MAX_REQUEST_BYTES } from '../../../lib/simulator/mrp';
import { MRP_COCOA_EPOCH_OFFSET } from '../../../lib/protocols/mrp/player-state';
import { MrpTestClient, verifiedClient } from './mrp-client';
import { sleep } from './http';

const PIN = '4321';

function setState(message: MrpDecodedMessage): MrpSetStateMessage {
  assert.equal(message.type, MrpMessageType.SET_STATE_MESSAGE);
  return (message as MrpDecodedMessage & { type: MrpMessageType.SET_STATE_MESSAGE }).payload!;
}

function currentTitle(message: MrpDecodedMessage): string | undefined {
  const state = setState(message);
  return state.playbackQueue?.contentItems?.[state.playbackQueue.location ?? 0]?.metadata?.title;
}

const isSetState = (m: MrpDecodedMessage): boolean => m.type === MrpMessageType.SET_STATE_MESSAGE && m.identifier === undefined;

describe('MRP simulator server (real loopback TCP)', () => {
  let sim: Simulator;
  let port: number;
  let credentials: HapCredentials;
  const pins: SimulatorPinRequest[] = [];
  const paired: SimulatorCredentials[] = [];
  const open: MrpTestClient[] = [];
  const server = () => sim.server('mrp')!;

  async function client(): Promise<MrpTestClient> {
    const c = await MrpTestClient.connect(port);
    open.push(c);
    return c;
  }

  async function session(): Promise<MrpTestClient> {
    const c = await verifiedClient(port, credentials);
    open.push(c);
    return c;
  }

  async function command(c: MrpTestClient, command: MrpCommand, options?: MrpCommandOptions): Promise<MrpDecodedMessage> {
    const reply = await c.request(createMrpMessage(MrpMessageType.SEND_COMMAND_MESSAGE, { command, ...(options ? { options } : {}) }));
    assert.equal(reply.type, MrpMessageType.SEND_COMMAND_RESULT_MESSAGE);
    return reply;
  }

  const sendError = (reply: MrpDecodedMessage): number | undefined =>
    reply.type === MrpMessageType.SEND_COMMAND_RESULT_MESSAGE ? reply.payload?.sendError : undefined;

  async function press(c: MrpTestClient, key: MrpHidKey, holdMs = 0): Promise<void> {
    c.send(createMrpMessage(MrpMessageType.SEND_HID_EVENT_MESSAGE, { hidEventData: mrpHidKeyEventData(key, true) }));
    if (holdMs > 0) await sleep(holdMs);
    c.send(createMrpMessage(MrpMessageType.SEND_HID_EVENT_MESSAGE, { hidEventData: mrpHidKeyEventData(key, false) }));
    // pyatv's "flush": a GENERIC_MESSAGE answered after the key events were handled.
    await c.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
  }

  before(async () => {
    sim = new Simulator({ name: 'MRP Den', protocols: ['dmap', 'mrp'], pin: PIN, trackSeconds: 30 });
    sim.on('pin', (p) => pins.push(p));
    sim.on('credentials', (c) => paired.push(c));
    await sim.start();
    port = sim.mrpPort;
    const c = await client();
    await c.hello('Pairing Phone');
    credentials = await c.pairSetup(PIN);
    await c.close();
  });

  after(async () => {
    for (const c of open) c.socket.destroy();
    await sim.stop();
  });

  beforeEach(() => {
    if (sim.state.status === 'stopped') sim.state.play();
    while (sim.state.index !== 0) sim.state.next();
    sim.state.pause();
    sim.state.turnOn();
  });

  describe('discovery and DEVICE_INFO', () => {
    it('advertises MRP so that config() lists it usable, with optional pairing, as an Apple TV 4K on tvOS 14', () => {
      const config = sim.config();
      const mrp = config.services.find((s) => s.protocol === 'mrp');
      assert.ok(mrp, 'an MRP service');
      assert.equal(mrp.port, port);
      assert.equal(mrp.serviceType, '_mediaremotetv._tcp');
      assert.equal(mrp.pairing, 'optional');
      assert.equal(mrp.enabled, true);
      assert.equal(mrp.identifier, server().identity.uniqueIdentifier);
      assert.ok(config.services.some((s) => s.protocol === 'dmap' && s.port === sim.dmapPort), 'DMAP is still served');
      assert.equal(config.name, 'MRP Den');
      assert.deepEqual(config.identifiers, [server().identity.uniqueIdentifier, sim.deviceId]);
      assert.equal(config.deviceInfo.model, 'Apple TV 4K');
      assert.equal(config.deviceInfo.operatingSystem, 'tvOS');
      assert.equal(config.deviceInfo.buildNumber, '18M60');
      assert.equal(config.deviceInfo.osVersion, '14.7');
      assert.equal(config.deviceInfo.mac, server().identity.macAddress);
      assert.match(server().identity.macAddress, /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/);
      assert.match(server().identity.uniqueIdentifier, /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
      assert.equal(sim.pin, PIN);
      assert.ok(!sim.describe().join('\n').includes(PIN), 'the banner does not print the PIN');
    });

    it('stays silent until DEVICE_INFO, then answers it with its own', async () => {
      const c = await client();
      c.send({ ...createMrpMessage(MrpMessageType.GENERIC_MESSAGE), identifier: 'EARLY-1' });
      c.send({ ...createMrpMessage(MrpMessageType.SET_CONNECTION_STATE_MESSAGE, { state: 2 }), identifier: 'EARLY-2' });
      assert.equal(await c.arrives(() => true, 200), false, 'nothing before DEVICE_INFO');
      const reply = await c.hello('Kitchen iPad');
      assert.equal(reply.type, MrpMessageType.DEVICE_INFO_MESSAGE);
      const info = reply.type === MrpMessageType.DEVICE_INFO_MESSAGE ? reply.payload! : assert.fail('no payload');
      assert.equal(info.name, 'MRP Den');
      assert.equal(info.uniqueIdentifier, server().identity.uniqueIdentifier);
      assert.equal(info.deviceUID, server().identity.deviceUID);
      assert.equal(info.systemBuildVersion, '18M60');
      assert.equal(info.modelID, 'AppleTV6,2');
      assert.equal(info.logicalDeviceCount, 1);
      assert.equal(info.allowsPairing, true);
      assert.equal(c.open, true);
      await c.close();
    });
  });

  describe('pairing', () => {
    it('showed the PIN when pairing started and remembers the controller (public record only)', () => {
      assert.deepEqual(pins[0], { protocol: 'mrp', pin: PIN, remoteName: 'Pairing Phone' });
      assert.equal(paired.length, 1);
      assert.equal(paired[0]!.protocol, 'mrp');
      assert.equal(paired[0]!.remoteName, 'Pairing Phone');
      assert.equal(paired[0]!.credentials, formatMrpPairingRecord(credentials.clientId, ed25519PublicKey(credentials.ltsk)));
      assert.ok(!paired[0]!.credentials.includes(credentials.ltsk.toString('hex')), 'the remote secret never reaches the device');
      // The client checked the device's SRP proof and M6 signature: these are its keys.
      assert.deepEqual(credentials.ltpk, server().ltpk);
      assert.equal(credentials.atvId.toString('ascii'), server().identity.uniqueIdentifier);
      assert.ok(server().stats().pairings >= 1);
    });

    it('refuses a wrong PIN with a TLV Authentication error and stores nothing', async () => {
      const before = server().stats();
      const c = await client();
      await c.hello();
      await assert.rejects(c.pairSetup('0000'), (err: unknown) => err instanceof PairingError && /wrong PIN/.test(err.message));
      assert.equal(server().stats().pairings, before.pairings);
      assert.equal(server().stats().failedPairings, before.failedPairings + 1);
      assert.equal(paired.length, 1);
      assert.equal(c.open, true, 'a wrong PIN is not a reason to hang up');
      await c.close();
    });

    it('answers a second pair-setup with Busy while one is under way, and accepts it once that remote left', async () => {
      const first = await client();
      await first.hello();
      const second = await client();
      await second.hello();
      first.send(pairingMessage(Buffer.from([0x00, 0x01, 0x00, 0x06, 0x01, 0x01])));
      await first.nextOfType(MrpMessageType.CRYPTO_PAIRING_MESSAGE);
      second.send(pairingMessage(Buffer.from([0x00, 0x01, 0x00, 0x06, 0x01, 0x01])));
      assert.deepEqual(tlvOf(await second.nextOfType(MrpMessageType.CRYPTO_PAIRING_MESSAGE)), { state: 2, error: 7 });
      // A stray M3 from the second remote does not disturb the first remote's attempt.
      second.send(pairingMessage(Buffer.from([0x06, 0x01, 0x03])));
      assert.deepEqual(tlvOf(await second.nextOfType(MrpMessageType.CRYPTO_PAIRING_MESSAGE)), { state: 4, error: 1 });
      await first.close();
      await sleep(20);
      second.send(pairingMessage(Buffer.from([0x00, 0x01, 0x00, 0x06, 0x01, 0x01])));
      assert.deepEqual(tlvOf(await second.nextOfType(MrpMessageType.CRYPTO_PAIRING_MESSAGE)), { state: 2, error: undefined });
      await second.close();
    });

    it('verifies a paired controller on a new connection and encrypts from then on', async () => {
      const before = server().stats().verifications;
      const c = await client();
      await c.hello();
      await c.pairVerify(credentials);
      assert.equal(c.encrypted, true);
      const reply = await c.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
      assert.equal(reply.errorCode, MrpErrorCode.NoError);
      assert.equal(server().stats().verifications, before + 1);
      assert.ok(server().stats().verifiedSessions >= 1);
      await c.close();
    });

    it('refuses pair-verify from an unknown controller and from a forged signature', async () => {
      const unknown = hapCredentials({
        ltpk: credentials.ltpk,
        ltsk: randomKeyBytes(ED25519_KEY_LENGTH),
        atvId: credentials.atvId,
        clientId: Buffer.from('a-controller-that-never-paired', 'ascii'),
      });
      const forged = hapCredentials({ ...credentials, ltsk: randomKeyBytes(ED25519_KEY_LENGTH) });
      const before = server().stats().failedVerifications;
      for (const attempt of [unknown, forged]) {
        const c = await client();
        await c.hello();
        await assert.rejects(c.pairVerify(attempt), (err: unknown) => err instanceof AuthenticationError && /rejected our credentials/.test(err.message));
        assert.equal(c.encrypted, false);
        // Still unpaired: requests are refused in clear, and nothing changes.
        const reply = await c.request(createMrpMessage(MrpMessageType.SEND_COMMAND_MESSAGE, { command: MrpCommand.Play }));
        assert.equal(reply.errorCode, MrpErrorCode.DeviceNotPaired);
        assert.equal(sim.state.status, 'paused');
        await c.close();
      }
      assert.equal(server().stats().failedVerifications, before + 2);
    });

    it('answers requests of an unpaired connection with DeviceNotPaired and pushes it nothing', async () => {
      const c = await client();
      await c.hello();
      const reply = await c.request(createMrpMessage(MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE, { nowPlayingUpdates: true }));
      assert.equal(reply.errorCode, MrpErrorCode.DeviceNotPaired);
      assert.match(reply.errorDescription ?? '', /pair/);
      sim.state.next();
      assert.equal(await c.arrives(isSetState, 150), false);
      await c.close();
    });
  });

  describe('encrypted session', () => {
    it('pushes the now-playing state after CLIENT_UPDATES_CONFIG, decrypted with the session keys', async () => {
      const c = await session();
      const state = setState(await c.next(isSetState));
      const item = state.playbackQueue!.contentItems![0]!;
      const track = sim.state.tracks[0]!;
      assert.equal(item.metadata?.title, track.title);
      assert.equal(item.metadata?.trackArtistName, track.artist);
      assert.equal(item.metadata?.albumName, track.album);
      assert.equal(item.metadata?.genre, track.genre);
      assert.equal(item.metadata?.duration, track.duration);
      assert.equal(item.metadata?.contentIdentifier, track.id);
      assert.equal(item.metadata?.mediaType, MrpMediaType.Audio);
      assert.equal(item.metadata?.artworkAvailable, true);
      assert.equal(item.metadata?.artworkMIMEType, 'image/png');
      assert.equal(item.metadata?.playbackRate, 0);
      assert.ok(item.metadata?.artworkIdentifier && !/^https?:/.test(item.metadata.artworkIdentifier));
      const cocoaNow = Date.now() / 1000 - MRP_COCOA_EPOCH_OFFSET;
      assert.ok(Math.abs(item.metadata!.elapsedTimeTimestamp! - cocoaNow) < 5, 'elapsedTimeTimestamp is Cocoa-epoch seconds');
      assert.equal(state.playbackState, MrpPlaybackState.Paused);
      assert.equal(state.playerPath?.client?.bundleIdentifier, 'com.apple.TVMusic');
      const commands = new Map(state.supportedCommands!.supportedCommands!.map((i) => [i.command, i]));
      assert.equal(commands.get(MrpCommand.Play)?.enabled, true);
      assert.deepEqual(commands.get(MrpCommand.SkipForward)?.preferredIntervals, [sim.state.skipInterval]);
      assert.equal(commands.get(MrpCommand.ChangeShuffleMode)?.shuffleMode, MrpShuffleMode.Off);
      assert.equal(commands.get(MrpCommand.ChangeRepeatMode)?.repeatMode, MrpRepeatMode.Off);

      const client = await c.nextOfType(MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE);
      assert.equal(client.type === MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE && client.payload?.client?.displayName, 'Music');
      const availability = await c.nextOfType(MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE);
      assert.equal(
        availability.type === MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE && availability.payload?.volumeCapabilities,
        MrpVolumeCapabilities.Both,
      );
      const volume = await c.nextOfType(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE);
      assert.ok(volume.type === MrpMessageType.VOLUME_DID_CHANGE_MESSAGE);
      assert.equal(volume.payload?.outputDeviceUID, server().identity.deviceUID);
      assert.ok(Math.abs(volume.payload!.volume! - sim.state.volume / 100) < 1e-6);
      const keyboard = c.received.find((m) => m.type === MrpMessageType.KEYBOARD_MESSAGE);
      assert.ok(keyboard?.type === MrpMessageType.KEYBOARD_MESSAGE && keyboard.payload?.state === MrpKeyboardState.NotEditing);
      assert.ok(c.received.every((m) => m.type !== MrpMessageType.CRYPTO_PAIRING_MESSAGE || m.identifier === undefined));
      await c.close();
    });

    it('carries out media commands, answers SEND_COMMAND_RESULT and pushes the new state to every session', async () => {
      const c = await session();
      const other = await session();
      c.drain();
      other.drain();
      assert.equal(sendError(await command(c, MrpCommand.Play)), MrpSendError.NoError);
      assert.equal(sim.state.status, 'playing');
      const pushed = setState(await other.next(isSetState));
      assert.equal(pushed.playbackState, MrpPlaybackState.Playing);
      assert.equal(pushed.playbackQueue?.contentItems?.[0]?.metadata?.playbackRate, 1);

      await command(c, MrpCommand.NextTrack);
      assert.equal(sim.state.index, 1);
      assert.equal(currentTitle(await other.next((m) => isSetState(m) && currentTitle(m) === sim.state.tracks[1]!.title)), sim.state.tracks[1]!.title);

      await command(c, MrpCommand.TogglePlayPause);
      assert.equal(sim.state.status, 'paused');
      await command(c, MrpCommand.SeekToPlaybackPosition, { playbackPosition: 12.5 });
      assert.equal(sim.state.position, 12.5);
      await command(c, MrpCommand.SkipForward, { skipInterval: 5 });
      assert.equal(sim.state.position, 17.5);
      await command(c, MrpCommand.SkipBackward, {});
      assert.equal(sim.state.position, 17.5 - sim.state.skipInterval);
      await command(c, MrpCommand.ChangeShuffleMode, { sendOptions: 0, shuffleMode: MrpShuffleMode.Songs });
      assert.equal(sim.state.shuffle, 'songs');
      await command(c, MrpCommand.ChangeRepeatMode, { sendOptions: 0, repeatMode: MrpRepeatMode.All });
      assert.equal(sim.state.repeat, 'all');
      const latest = setState(await other.next((m) => isSetState(m) && setState(m).supportedCommands!.supportedCommands!.some((i) => i.repeatMode === MrpRepeatMode.All)));
      const info = new Map(latest.supportedCommands!.supportedCommands!.map((i) => [i.command, i]));
      assert.equal(info.get(MrpCommand.ChangeShuffleMode)?.shuffleMode, MrpShuffleMode.Songs);
      sim.state.setShuffle('off');
      sim.state.setRepeat('off');

      await command(c, MrpCommand.PreviousTrack);
      await command(c, MrpCommand.Stop);
      assert.equal(sim.state.status, 'stopped');
      const stopped = setState(await other.next((m) => isSetState(m) && setState(m).playbackState === MrpPlaybackState.Stopped));
      // An empty repeated field is absent on the wire; the queue itself is there, with no item.
      assert.equal(stopped.playbackQueue?.location, 0);
      assert.deepEqual(stopped.playbackQueue?.contentItems ?? [], []);
      assert.equal(stopped.supportedCommands!.supportedCommands!.find((i) => i.command === MrpCommand.Pause)?.enabled, false);
      await c.close();
      await other.close();
    });

    it('answers disabled, unknown and malformed commands with an error and changes nothing', async () => {
      const c = await session();
      sim.state.stop();
      const disabled = await command(c, MrpCommand.Pause);
      assert.equal(sendError(disabled), MrpSendError.Ignored);
      assert.equal(sendError(await command(c, MrpCommand.SkipForward, { skipInterval: 10 })), MrpSendError.Ignored);
      sim.state.play();
      assert.equal(sendError(await command(c, MrpCommand.AdvanceShuffleMode)), MrpSendError.NoCommandHandlers);
      assert.equal(sendError(await command(c, MrpCommand.SeekToPlaybackPosition, {})), MrpSendError.InvalidOptions);
      assert.equal(sendError(await command(c, MrpCommand.SkipForward, { skipInterval: -3 })), MrpSendError.InvalidOptions);
      assert.equal(sendError(await command(c, MrpCommand.ChangeShuffleMode, { shuffleMode: MrpShuffleMode.Unknown })), MrpSendError.InvalidOptions);
      assert.equal(sim.state.status, 'playing');
      assert.equal(sim.state.shuffle, 'off');
      await c.close();
    });

    it('pushes changes made through another protocol (the shared state), but not for a volume change alone', async () => {
      const c = await session();
      c.drain();
      sim.state.next();
      assert.equal(currentTitle(await c.next(isSetState)), sim.state.tracks[1]!.title);
      sim.state.setVolume(42);
      await c.nextOfType(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE);
      assert.equal(await c.arrives(isSetState, 100), false);
      sim.state.setVolume(50);
      await c.close();
    });
  });

  describe('HID keys and power', () => {
    it('records navigation keys with their action; hold when the key stays down', async () => {
      const c = await session();
      const keys = sim.state.keys.length;
      await press(c, 'select');
      assert.deepEqual(
        sim.state.keys.slice(keys).map((k) => [k.name, k.action]),
        [['select', 'single']],
      );
      await press(c, 'topMenu');
      await press(c, 'menu', 650);
      await press(c, 'left');
      await press(c, 'left');
      assert.deepEqual(
        sim.state.keys.slice(keys + 1).map((k) => [k.name, k.action]),
        [
          ['topMenu', 'single'],
          ['menu', 'hold'],
          // A double press arrives as two presses (documented in lib/simulator/mrp.ts).
          ['left', 'single'],
          ['left', 'single'],
        ],
      );
      await c.close();
    });

    it('volume keys change the volume and push VOLUME_DID_CHANGE; SEND_BUTTON_EVENT works too', async () => {
      const c = await session();
      c.drain();
      await press(c, 'volumeUp');
      assert.equal(sim.state.volume, 55);
      const change = await c.nextOfType(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE);
      assert.ok(change.type === MrpMessageType.VOLUME_DID_CHANGE_MESSAGE && Math.abs(change.payload!.volume! - 0.55) < 1e-6);
      const { usagePage, usage } = MRP_HID_KEYS.volumeDown;
      c.send(createMrpMessage(MrpMessageType.SEND_BUTTON_EVENT_MESSAGE, { usagePage, usage, buttonDown: true }));
      c.send(createMrpMessage(MrpMessageType.SEND_BUTTON_EVENT_MESSAGE, { usagePage, usage, buttonDown: false }));
      await c.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
      assert.equal(sim.state.volume, 50);
      await c.close();
    });

    it('turns off on home (hold) + select, reports it in DEVICE_INFO_UPDATE, and wakes on WAKE_DEVICE', async () => {
      const c = await session();
      sim.state.play();
      c.drain();
      await press(c, 'select');
      assert.equal(sim.state.power, 'on', 'select alone does nothing to power');
      await press(c, 'home');
      await press(c, 'select');
      assert.equal(sim.state.power, 'on', 'home tapped (not held) then select does not sleep');
      await press(c, 'home', 650);
      await press(c, 'select');
      assert.equal(sim.state.power, 'off');
      assert.equal(sim.state.status, 'paused', 'going to sleep pauses playback');
      const off = await c.nextOfType(MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE);
      assert.equal(off.type === MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE && off.payload?.logicalDeviceCount, 0);
      const reply = await c.request(createMrpMessage(MrpMessageType.WAKE_DEVICE_MESSAGE, {}));
      assert.equal(sendError(reply), MrpSendError.NoError);
      assert.equal(sim.state.power, 'on');
      const on = await c.nextOfType(MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE);
      assert.equal(on.type === MrpMessageType.DEVICE_INFO_UPDATE_MESSAGE && on.payload?.logicalDeviceCount, 1);
      await press(c, 'suspend');
      assert.equal(sim.state.power, 'off');
      await press(c, 'wakeup');
      assert.equal(sim.state.power, 'on');
      await c.close();
    });

    it('media keys act on the player; unknown usages and key-ups without key-down are ignored', async () => {
      const c = await session();
      await press(c, 'next');
      assert.equal(sim.state.index, 1);
      const keys = sim.state.keys.length;
      c.send(createMrpMessage(MrpMessageType.SEND_HID_EVENT_MESSAGE, { hidEventData: mrpHidKeyEventData('up', false) }));
      c.send(createMrpMessage(MrpMessageType.SEND_HID_EVENT_MESSAGE, { hidEventData: Buffer.alloc(10) }));
      c.send(createMrpMessage(MrpMessageType.SEND_BUTTON_EVENT_MESSAGE, { usagePage: 7, usage: 4, buttonDown: true }));
      c.send(createMrpMessage(MrpMessageType.SEND_BUTTON_EVENT_MESSAGE, { usagePage: 7, usage: 4, buttonDown: false }));
      await c.request(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
      assert.equal(sim.state.keys.length, keys);
      assert.equal(c.open, true);
      await c.close();
    });
  });

  describe('artwork and volume', () => {
    async function artwork(c: MrpTestClient, width: number, height: number): Promise<MrpDecodedMessage> {
      return c.request(
        createMrpMessage(MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE, {
          location: 0,
          length: 1,
          artworkWidth: width,
          artworkHeight: height,
          returnContentItemAssetsInUserCompletion: true,
        }),
      );
    }

    it('answers PLAYBACK_QUEUE_REQUEST with a SET_STATE carrying a PNG of the requested size', async () => {
      const c = await session();
      for (const [w, h, expected] of [
        [200, -1, [200, 200]],
        [300, 150, [300, 150]],
        [0, -1, [600, 600]],
        [100_000, 100_000, [1024, 1024]],
      ] as const) {
        const reply = await artwork(c, w, h);
        const item = setState(reply).playbackQueue!.contentItems![0]!;
        assert.ok(item.artworkData!.subarray(0, 8).equals(PNG_SIGNATURE));
        assert.deepEqual(pngSize(item.artworkData!), { width: expected[0], height: expected[1] });
        assert.deepEqual([item.artworkDataWidth, item.artworkDataHeight], expected);
        assert.equal(item.metadata?.artworkMIMEType, 'image/png');
      }
      sim.state.stop();
      const none = setState(await artwork(c, 200, 200));
      assert.deepEqual(none.playbackQueue?.contentItems ?? [], []);
      await c.close();
    });

    it('sets the volume on SET_VOLUME and confirms with VOLUME_DID_CHANGE; refuses bad values', async () => {
      const c = await session();
      const other = await session();
      c.drain();
      other.drain();
      const uid = server().identity.deviceUID;
      const reply = await c.request(createMrpMessage(MrpMessageType.SET_VOLUME_MESSAGE, { volume: 0.3, outputDeviceUID: uid }));
      assert.equal(reply.errorCode, MrpErrorCode.NoError);
      assert.equal(sim.state.volume, 30);
      for (const remote of [c, other]) {
        const change = await remote.nextOfType(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE);
        assert.ok(change.type === MrpMessageType.VOLUME_DID_CHANGE_MESSAGE);
        assert.equal(change.payload?.outputDeviceUID, uid);
        assert.ok(Math.abs(change.payload!.volume! - 0.3) < 1e-6);
      }
      // The same value again still gets its confirmation (remotes wait for one).
      await c.request(createMrpMessage(MrpMessageType.SET_VOLUME_MESSAGE, { volume: 0.3, outputDeviceUID: uid }));
      await c.nextOfType(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE);
      const level = await c.request(createMrpMessage(MrpMessageType.GET_VOLUME_MESSAGE, { outputDeviceUID: uid }));
      assert.ok(level.type === MrpMessageType.GET_VOLUME_RESULT_MESSAGE && Math.abs(level.payload!.volume! - 0.3) < 1e-6);

      const tooLoud = await c.request(createMrpMessage(MrpMessageType.SET_VOLUME_MESSAGE, { volume: 1.5, outputDeviceUID: uid }));
      assert.equal(tooLoud.errorCode, MrpErrorCode.VolumeValueOutOfRange);
      const elsewhere = await c.request(createMrpMessage(MrpMessageType.SET_VOLUME_MESSAGE, { volume: 0.1, outputDeviceUID: 'NOT-THIS-ONE' }));
      assert.equal(elsewhere.errorCode, MrpErrorCode.OutputDeviceNotFound);
      assert.equal(sim.state.volume, 30);
      sim.state.setVolume(50);
      await c.close();
      await other.close();
    });
  });

  describe('hostile clients', () => {
    async function expectDropped(send: (c: MrpTestClient) => void, verify = false): Promise<void> {
      const c = verify ? await session() : await client();
      if (!verify) await c.hello();
      send(c);
      await Promise.race([c.closed, sleep(2000).then(() => assert.fail('the simulator kept the connection'))]);
    }

    it('drops only the offending connection (oversized frame, runaway varint, garbage protobuf, bad ciphertext)', async () => {
      const bystander = await session();
      const before = server().stats();
      const oversized = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04]); // 1 GiB announced
      await expectDropped((c) => c.socket.write(oversized));
      await expectDropped((c) => c.socket.write(Buffer.alloc(11, 0xff)));
      await expectDropped((c) => c.socket.write(encodeMrpFrame(Buffer.from([0x08, 0x96, 0x01, 0x12, 0xff, 0x01]))));
      await expectDropped((c) => c.socket.write(encodeMrpFrame(Buffer.alloc(MRP_SIMULATOR_MAX_REQUEST_BYTES + 1))));
      // After verify: a frame that does not authenticate, and plaintext sent where ciphertext belongs.
      await expectDropped((c) => c.socket.write(encodeMrpFrame(randomKeyBytes(40))), true);
      await expectDropped((c) => c.socket.write(encodeMrpFrame(Buffer.from([0x08, 0x2a]))), true);
      // Garbage before DEVICE_INFO is dropped too.
      const raw = await client();
      raw.socket.write(encodeMrpFrame(Buffer.from('GET / HTTP/1.1\r\n\r\n')));
      await Promise.race([raw.closed, sleep(2000).then(() => assert.fail('kept'))]);

      assert.equal(bystander.open, true);
      assert.equal(sendError(await command(bystander, MrpCommand.Play)), MrpSendError.NoError);
      assert.equal(server().stats().openConnections, before.openConnections);
      // Pairing garbage gets a TLV error, not a crash.
      const pairing = await client();
      await pairing.hello();
      pairing.send(pairingMessage(Buffer.from([0x06, 0x05, 0x01])));
      assert.equal(tlvOf(await pairing.nextOfType(MrpMessageType.CRYPTO_PAIRING_MESSAGE)).error, 1);
      await pairing.close();
      await bystander.close();
    });
  });
});

describe('MRP simulator lifecycle', () => {
  it('stop() closes every connection and the listener; nothing stays open', async () => {
    await sleep(20);
    const baseline = liveHandles();
    const sim = new Simulator({ protocols: ['mrp'], pin: '1111', trackSeconds: 1, autoplay: true });
    await sim.start();
    assert.equal(sim.model, 'J105aAP');
    assert.deepEqual(
      sim.config().services.map((s) => s.serviceType),
      ['_mediaremotetv._tcp'],
    );
    const port = sim.mrpPort;
    const idle = await MrpTestClient.connect(port);
    const greeted = await MrpTestClient.connect(port);
    await greeted.hello();
    const credentials = await greeted.pairSetup(() => sim.pin!);
    const verified = await verifiedClient(port, credentials);
    const mrp = sim.server('mrp')!;
    assert.equal(mrp.stats().openConnections, 3);
    assert.equal(mrp.stats().verifiedSessions, 1);
    await sim.stop();
    await Promise.all([idle.closed, greeted.closed, verified.closed]);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    await sleep(20);
    assert.equal(mrp.stats().openConnections, 0);
    assert.deepEqual(liveHandles(), baseline);
    await sim.stop();
  });

  it('validates its options and picks a random 4-digit PIN when none is given', () => {
    assert.throws(() => new Simulator({ protocols: ['mrp'], pin: '12345' }), /4 digits/);
    assert.throws(() => new Simulator({ protocols: ['mrp'], pin: 'abcd' }), /4 digits/);
    assert.throws(() => new Simulator({ protocols: ['mrp'], mrpPort: -1 }), /mrpPort/);
    assert.match(new Simulator({ protocols: ['mrp'] }).pin ?? '', /^\d{4}$/);
    assert.equal(new Simulator({ protocols: ['dmap'] }).pin, null);
    assert.equal(new Simulator({ protocols: ['dmap'] }).model, 'J33IAP');
  });
});

function liveHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) {
    if (/TCP|UDP|Timeout|Pipe/.test(name)) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

function pairingMessage(tlv: Buffer) {
  return createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, { pairingData: tlv, status: 0, state: 0 });
}

/** State and Error items of a pairing reply. */
function tlvOf(message: MrpDecodedMessage): { state: number | undefined; error: number | undefined } {
  assert.ok(message.type === MrpMessageType.CRYPTO_PAIRING_MESSAGE);
  const items = decodeTlv8(message.payload!.pairingData!);
  return { state: tlv8Uint(items, Tlv8Type.State), error: tlv8Uint(items, Tlv8Type.Error) };
}
