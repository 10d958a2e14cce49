/**
 * Every MRP frame pyatv 0.16.1 and its fake Apple TV exchanged (test/fixtures/pyatv-0.16.1):
 * cut by our framing, decrypted after pair-verify, decoded by our schema. Proves our .proto
 * files agree with an implementation we did not write, field by field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTlv8, Tlv8Type } from '../../../../lib/codecs/tlv8';
import { encodeMrpMessage, isMrpMessageOf, MrpMessageType, type MrpMessageOf } from '../../../../lib/protocols/mrp/messages';
import {
  MrpCommand,
  MrpConnectionState,
  MrpHandlerReturnStatus,
  MrpMediaType,
  MrpPlaybackState,
  MrpRepeatMode,
  MrpSendError,
  MrpShuffleMode,
  MrpVolumeCapabilities,
} from '../../../../lib/protocols/mrp/proto-types';
import { mrpClientDeviceInfo } from '../../../../lib/protocols/mrp/exchange';
import { capturedFrames, pairingState, readKeys, type CapturedFrame } from './capture';

const SESSIONS = ['mrp-session-playing.jsonl', 'mrp-session-pause.jsonl', 'mrp-session-artwork_save.jsonl'] as const;
const ALL = ['mrp-pair.jsonl', ...SESSIONS] as const;
const FAKE_DEVICE_UID = 'E510C430-B01D-45DF-B558-6EA6F8251069';

/** The client id pyatv pairs with: the 4th field of the credentials, hex of an ASCII UUID. */
const CLIENT_ID = Buffer.from(readKeys().credentials_from_pairing.mrp!.split(':')[3]!, 'hex').toString('ascii');

function only<T extends MrpMessageType>(frames: CapturedFrame[], type: T): MrpMessageOf<T>[] {
  return frames.map((f) => f.message).filter((m): m is typeof m & MrpMessageOf<T> => isMrpMessageOf(m, type));
}

function one<T extends MrpMessageType>(frames: CapturedFrame[], type: T): MrpMessageOf<T> {
  const found = only(frames, type);
  assert.equal(found.length, 1, `exactly one ${MrpMessageType[type]}`);
  return found[0]!;
}

describe('pyatv 0.16.1 MRP captures', () => {
  for (const name of ALL) {
    for (const dir of ['c2s', 's2c'] as const) {
      it(`${name} ${dir}: every frame decodes to a known type and re-encodes byte for byte`, () => {
        const frames = capturedFrames(name, dir);
        assert.ok(frames.length >= 5, `${frames.length} frames`);
        for (const frame of frames) {
          const { message } = frame;
          const where = `${name} ${dir} frame ${frame.index} (${message.typeName})`;
          assert.equal(message.typeNumber, message.type, `${where}: type known to the schema`);
          assert.match(message.typeName, /^[A-Z_]+$/, where);
          if (message.type === MrpMessageType.UNKNOWN_MESSAGE) {
            // The fake device acknowledges some requests with a bare envelope of type 0 that
            // only echoes the request identifier.
            assert.equal(dir, 's2c', where);
            assert.ok(message.identifier, `${where}: a type-0 frame is an acknowledgement`);
          } else if (message.type !== MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE && message.type !== MrpMessageType.KEYBOARD_MESSAGE) {
            assert.notEqual(message.payload, undefined, `${where}: carries its payload`);
          }
          assert.equal(encodeMrpMessage(message).toString('hex'), frame.plaintext.toString('hex'), `${where}: re-encodes identically`);
        }
      });
    }
  }

  it('every type-0 acknowledgement and every reply answers a request of the other direction', () => {
    for (const name of ALL) {
      const requests = new Map(capturedFrames(name, 'c2s').flatMap((f) => (f.message.identifier ? [[f.message.identifier, f.message.type]] : [])));
      for (const reply of capturedFrames(name, 's2c').filter((f) => f.message.identifier)) {
        assert.ok(requests.has(reply.message.identifier!), `${name}: ${reply.message.typeName} answers ${reply.message.identifier}`);
      }
    }
  });

  describe('mrp-pair.jsonl (plaintext)', () => {
    const c2s = capturedFrames('mrp-pair.jsonl', 'c2s');
    const s2c = capturedFrames('mrp-pair.jsonl', 's2c');

    it('opens with our DEVICE_INFO, as pyatv fills it (pyatv: MrpProtocol.start in protocols/mrp/protocol.py)', () => {
      assert.equal(c2s[0]?.message.type, MrpMessageType.DEVICE_INFO_MESSAGE);
      const info = one(c2s, MrpMessageType.DEVICE_INFO_MESSAGE);
      assert.match(info.identifier ?? '', /^[0-9A-F-]{36}$/);
      // What pyatv sent is exactly what our client builds for the same name and id.
      assert.deepEqual(info.payload, mrpClientDeviceInfo('pyatv', CLIENT_ID));
      assert.equal(info.payload!.systemBuildVersion, '18G82');
    });

    it("answers with the device's DEVICE_INFO under the same identifier", () => {
      const ours = one(c2s, MrpMessageType.DEVICE_INFO_MESSAGE);
      const theirs = one(s2c, MrpMessageType.DEVICE_INFO_MESSAGE);
      assert.equal(theirs.identifier, ours.identifier);
      const info = theirs.payload!;
      assert.equal(info.name, 'Fake MRP ATV');
      assert.equal(info.uniqueIdentifier, FAKE_DEVICE_UID);
      assert.equal(info.deviceUID, FAKE_DEVICE_UID);
      assert.equal(info.systemBuildVersion, '18M60');
      assert.equal(info.modelID, 'AppleTV6,2');
      assert.equal(info.logicalDeviceCount, 1);
      assert.equal(info.isGroupLeader, true);
      assert.equal(info.isProxyGroupPlayer, false);
      assert.equal(info.allowsPairing, true);
    });

    it('carries pair-setup M1..M6 and pair-verify M1..M4 in CRYPTO_PAIRING messages (pyatv: auth/hap_srp.py)', () => {
      const ours = only(c2s, MrpMessageType.CRYPTO_PAIRING_MESSAGE);
      const theirs = only(s2c, MrpMessageType.CRYPTO_PAIRING_MESSAGE);
      assert.deepEqual(ours.map((m) => pairingState(m)), [1, 3, 5, 1, 3]);
      assert.deepEqual(theirs.map((m) => pairingState(m)), [2, 4, 6, 2, 4]);
      // The first message announces pairing: state 2; all others state 0.
      assert.deepEqual(ours.map((m) => m.payload?.state), [2, 0, 0, 0, 0]);
      for (const m of [...ours, ...theirs]) {
        assert.equal(m.payload?.status, 0);
        assert.equal(m.payload?.isRetrying, false);
        assert.equal(m.payload?.isUsingSystemPairing, false);
        assert.ok(m.payload?.pairingData && m.payload.pairingData.length > 0);
        assert.equal(m.identifier, undefined, 'pairing messages are matched by type, not identifier');
      }
      assert.equal(ours[0]!.payload!.pairingData!.toString('hex'), '000100060101', 'M1 = Method 0, State 1');
      const m2 = decodeTlv8(theirs[0]!.payload!.pairingData!);
      assert.equal(m2.get(Tlv8Type.Salt)?.length, 16);
      assert.equal(m2.get(Tlv8Type.PublicKey)?.length, 384);
    });
  });

  describe('sessions (decrypted after pair-verify)', () => {
    for (const name of SESSIONS) {
      it(`${name}: DEVICE_INFO and pair-verify in the clear, then the setup sequence encrypted (pyatv: MrpProtocol.start in protocols/mrp/protocol.py)`, () => {
        const c2s = capturedFrames(name, 'c2s');
        const s2c = capturedFrames(name, 's2c');
        assert.deepEqual(
          c2s.filter((f) => !f.encrypted).map((f) => f.message.type),
          [MrpMessageType.DEVICE_INFO_MESSAGE, MrpMessageType.CRYPTO_PAIRING_MESSAGE, MrpMessageType.CRYPTO_PAIRING_MESSAGE],
        );
        assert.deepEqual(
          s2c.filter((f) => !f.encrypted).map((f) => f.message.type),
          [MrpMessageType.DEVICE_INFO_MESSAGE, MrpMessageType.CRYPTO_PAIRING_MESSAGE, MrpMessageType.CRYPTO_PAIRING_MESSAGE],
        );
        const encrypted = c2s.filter((f) => f.encrypted);
        assert.ok(encrypted.every((f) => f.wire.length === f.plaintext.length + 16), 'ciphertext + 16-byte tag');
        assert.deepEqual(
          encrypted.slice(0, 3).map((f) => f.message.type),
          [MrpMessageType.SET_CONNECTION_STATE_MESSAGE, MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE, MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE],
        );
        const connection = one(c2s, MrpMessageType.SET_CONNECTION_STATE_MESSAGE);
        assert.deepEqual(connection.payload, { state: MrpConnectionState.Connected });
        assert.equal(connection.identifier, undefined, 'no reply expected');
        const config = one(c2s, MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE);
        assert.deepEqual(config.payload, {
          artworkUpdates: true,
          nowPlayingUpdates: false,
          volumeUpdates: true,
          keyboardUpdates: true,
          outputDeviceUpdates: true,
        });
        const ack = s2c.find((f) => f.message.identifier === config.identifier);
        assert.equal(ack?.message.type, MrpMessageType.UNKNOWN_MESSAGE);
        const keyboard = one(c2s, MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE);
        assert.ok(keyboard.identifier);
        assert.equal(keyboard.payload, undefined, 'pyatv sends it without the (string) extension');
        assert.equal(one(s2c, MrpMessageType.KEYBOARD_MESSAGE).identifier, keyboard.identifier);
      });

      it(`${name}: the device pushes the now-playing state of "Fake Title"`, () => {
        const s2c = capturedFrames(name, 's2c');
        const state = only(s2c, MrpMessageType.SET_STATE_MESSAGE)[0]!.payload!;
        const queue = state.playbackQueue!;
        assert.equal(queue.location, 0);
        const item = queue.contentItems![queue.location!]!;
        const meta = item.metadata!;
        assert.equal(meta.title, 'Fake Title');
        assert.equal(meta.trackArtistName, 'Fake Artist');
        assert.equal(meta.albumName, 'Fake Album');
        assert.equal(meta.genre, 'Fake Genre');
        assert.equal(meta.duration, 215);
        assert.equal(meta.mediaType, MrpMediaType.Audio);
        assert.equal(meta.artworkAvailable, true);
        assert.equal(meta.artworkMIMEType, 'image/png');
        assert.equal(meta.artworkIdentifier, 'fake-artwork-1');
        assert.ok(meta.elapsedTime! >= 0 && meta.elapsedTime! <= 215, `elapsedTime ${meta.elapsedTime}`);
        // Cocoa epoch (2001-01-01): the capture was taken in this century, not in 1970 or 2001.
        const taken = new Date((meta.elapsedTimeTimestamp! + 978307200) * 1000);
        assert.ok(taken.getUTCFullYear() >= 2024, taken.toISOString());
        assert.equal(state.displayName, 'Fake Player');
        assert.deepEqual(state.playerPath?.client, {
          processIdentifier: 123,
          bundleIdentifier: 'com.github.postlund.pyatv',
          displayName: 'Fake Music App',
        });
        assert.deepEqual(state.playerPath?.player, { identifier: 'MediaRemote-DefaultPlayer', displayName: 'Default Player' });
        const commands = state.supportedCommands!.supportedCommands!;
        for (const c of [MrpCommand.Play, MrpCommand.Pause, MrpCommand.TogglePlayPause, MrpCommand.NextTrack, MrpCommand.SkipForward]) {
          assert.equal(commands.find((i) => i.command === c)?.enabled, true, MrpCommand[c]);
        }
        assert.equal(commands.find((i) => i.command === MrpCommand.ChangeRepeatMode)?.repeatMode, MrpRepeatMode.Off);
        assert.equal(commands.find((i) => i.command === MrpCommand.ChangeShuffleMode)?.shuffleMode, MrpShuffleMode.Off);

        const client = one(s2c, MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE);
        assert.equal(client.payload?.client?.bundleIdentifier, 'com.github.postlund.pyatv');
        assert.deepEqual(one(s2c, MrpMessageType.VOLUME_CONTROL_AVAILABILITY_MESSAGE).payload, {
          volumeControlAvailable: true,
          volumeCapabilities: MrpVolumeCapabilities.Both,
        });
        assert.deepEqual(one(s2c, MrpMessageType.VOLUME_CONTROL_CAPABILITIES_DID_CHANGE_MESSAGE).payload, {
          capabilities: { volumeControlAvailable: true, volumeCapabilities: MrpVolumeCapabilities.Both },
          outputDeviceUID: FAKE_DEVICE_UID,
        });
        assert.deepEqual(one(s2c, MrpMessageType.VOLUME_DID_CHANGE_MESSAGE).payload, { volume: 0.5, outputDeviceUID: FAKE_DEVICE_UID });
      });
    }

    it('mrp-session-playing.jsonl: the state is Playing at rate 1', () => {
      const state = only(capturedFrames('mrp-session-playing.jsonl', 's2c'), MrpMessageType.SET_STATE_MESSAGE)[0]!.payload!;
      assert.equal(state.playbackState, MrpPlaybackState.Playing);
      assert.equal(state.playbackQueue?.contentItems?.[0]?.metadata?.playbackRate, 1);
    });

    it('mrp-session-pause.jsonl: SEND_COMMAND Pause, its result, then a Paused state at rate 0', () => {
      const c2s = capturedFrames('mrp-session-pause.jsonl', 'c2s');
      const s2c = capturedFrames('mrp-session-pause.jsonl', 's2c');
      const command = one(c2s, MrpMessageType.SEND_COMMAND_MESSAGE);
      assert.deepEqual(command.payload, { command: MrpCommand.Pause });
      const result = one(s2c, MrpMessageType.SEND_COMMAND_RESULT_MESSAGE);
      assert.equal(result.identifier, command.identifier);
      assert.deepEqual(result.payload, { sendError: MrpSendError.NoError, handlerReturnStatus: MrpHandlerReturnStatus.Success });
      const resultAt = s2c.findIndex((f) => f.message === result);
      const after = s2c.slice(resultAt + 1).find((f) => f.message.type === MrpMessageType.SET_STATE_MESSAGE)?.message as
        | MrpMessageOf<MrpMessageType.SET_STATE_MESSAGE>
        | undefined;
      assert.equal(after?.payload?.playbackState, MrpPlaybackState.Paused);
      const meta = after?.payload?.playbackQueue?.contentItems?.[0]?.metadata;
      assert.equal(meta?.title, 'Fake Title');
      assert.equal(meta?.playbackRate, 0);
    });

    it('mrp-session-artwork_save.jsonl: PLAYBACK_QUEUE_REQUEST answered by a SET_STATE carrying the PNG', () => {
      const c2s = capturedFrames('mrp-session-artwork_save.jsonl', 'c2s');
      const s2c = capturedFrames('mrp-session-artwork_save.jsonl', 's2c');
      const request = one(c2s, MrpMessageType.PLAYBACK_QUEUE_REQUEST_MESSAGE);
      assert.deepEqual(request.payload, {
        location: 0,
        length: 1,
        artworkWidth: 0,
        artworkHeight: -1,
        returnContentItemAssetsInUserCompletion: true,
      });
      const reply = only(s2c, MrpMessageType.SET_STATE_MESSAGE).find((m) => m.identifier === request.identifier);
      assert.ok(reply, 'a SET_STATE with the request identifier');
      const item = reply.payload!.playbackQueue!.contentItems![reply.payload!.playbackQueue!.location!]!;
      const png = item.artworkData!;
      assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
      assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
      // The artworkDataWidth/Height fields agree with the image's own header.
      assert.equal(item.artworkDataWidth, png.readUInt32BE(16));
      assert.equal(item.artworkDataHeight, png.readUInt32BE(20));
      assert.equal(item.artworkDataWidth, 16);
    });
  });

});
