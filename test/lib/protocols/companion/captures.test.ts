/**
 * pyatv 0.16.1's Companion captures (test/fixtures/pyatv-0.16.1/companion-*.jsonl, keys in
 * keys.json), read frame by frame with the library's own codecs: the shared FrameCodec with
 * Companion frames, the pairing dicts, then, from the device's pair-verify M4 on, the
 * session cipher (counter-first nonce, header as AAD) with the recorded keys, and every
 * E_OPACK message decoded. The values asserted are what pyatv and its fake device said.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTlv8, Tlv8Type } from '../../../../lib/codecs/tlv8';
import { CounterNonceCipher } from '../../../../lib/hap/channel';
import { powerStateOfSystemStatus } from '../../../../lib/protocols/companion/commands';
import {
  COMPANION_AUTH_FRAMES,
  COMPANION_FRAME,
  companionNumber,
  companionUint64,
  decodeCompanionMessage,
  decodeCompanionPairing,
  type CompanionMessage,
} from '../../../../lib/protocols/companion/messages';
import { readRtiSession } from '../../../../lib/protocols/companion/rti';
import { COMPANION_FRAMES, FrameCodec } from '../../../../lib/support/frames';
import { readCapture, readKeys, type Chunk } from '../../../support/pyatv-captures';

interface Read {
  dir: 'c2s' | 's2c';
  type: number;
  /** The pairing TLV8 of an auth frame. */
  tlv?: Buffer;
  message?: CompanionMessage;
}

/** Replays one connection in arrival order; encryption starts after the device's pair-verify M4. */
function replay(chunks: Chunk[], keys?: { client_write_key_client_to_device: string; client_read_key_device_to_client: string }): Read[] {
  const codecs = { c2s: new FrameCodec(COMPANION_FRAMES), s2c: new FrameCodec(COMPANION_FRAMES) };
  const reads: Read[] = [];
  for (const chunk of chunks) {
    codecs[chunk.dir].push(chunk.bytes, ({ type, payload }) => {
      if (COMPANION_AUTH_FRAMES.has(type)) {
        const tlv = decodeCompanionPairing(payload);
        reads.push({ dir: chunk.dir, type, tlv });
        const verified = chunk.dir === 's2c' && type === COMPANION_FRAME.PV_Next && decodeTlv8(tlv).get(Tlv8Type.State)?.[0] === 4;
        if (verified && keys) {
          const write = Buffer.from(keys.client_write_key_client_to_device, 'hex');
          const read = Buffer.from(keys.client_read_key_device_to_client, 'hex');
          // Each side opens what the other sealed: the client's frames with the write key, the device's with the read key.
          codecs.c2s.switchTo(COMPANION_FRAMES, new CounterNonceCipher({ encryptKey: write, decryptKey: write }, 'counter-then-zeros'));
          codecs.s2c.switchTo(COMPANION_FRAMES, new CounterNonceCipher({ encryptKey: read, decryptKey: read }, 'counter-then-zeros'));
        }
        return;
      }
      assert.equal(type, COMPANION_FRAME.E_OPACK);
      reads.push({ dir: chunk.dir, type, message: decodeCompanionMessage(payload) });
    });
  }
  for (const codec of Object.values(codecs)) assert.equal(codec.bufferedBytes, 0, 'no bytes left over');
  return reads;
}

const keys = readKeys();
const sessions = ['companion-session-power_state.jsonl', 'companion-session-app_list.jsonl', 'companion-session-launch_app_com.example.app.jsonl'];

describe("pyatv's Companion captures, read with our codecs", () => {
  it('pairing: PS_Start then PS_Next both ways, M1..M6 in order, then a pair-verify', () => {
    const reads = replay(readCapture('companion-pair.jsonl'));
    const states = reads.map((r) => `${r.dir}:${r.type}:${decodeTlv8(r.tlv!).get(Tlv8Type.State)?.[0]}`);
    assert.deepEqual(states.slice(0, 6), ['c2s:3:1', 's2c:4:2', 'c2s:4:3', 's2c:4:4', 'c2s:4:5', 's2c:4:6']);
    assert.equal(reads.every((r) => r.tlv && !decodeTlv8(r.tlv).has(Tlv8Type.Error)), true, 'the pairing succeeded');
  });

  for (const name of sessions) {
    it(`${name}: every frame decrypts and decodes; the connect and disconnect sequences are pyatv's`, () => {
      const reads = replay(readCapture(name), keys.session_keys[name]);
      const auth = reads.filter((r) => r.tlv);
      assert.deepEqual(
        auth.map((r) => `${r.dir}:${r.type}`),
        ['c2s:5', 's2c:6', 'c2s:6', 's2c:6'],
        'PV_Start, then PV_Next for everything else',
      );
      const sent = reads.filter((r) => r.dir === 'c2s' && r.message).map((r) => r.message!);
      assert.deepEqual(
        sent.slice(0, 5).map((m) => m.name),
        ['_systemInfo', '_touchStart', '_sessionStart', '_tiStart', '_interest'],
      );
      const stops = sent.filter((m) => m.name === '_sessionStop' || m.name === '_touchStop' || m.name === '_tiStop');
      assert.deepEqual(stops.map((m) => m.name), ['_sessionStop', '_touchStop', '_tiStop']);
      assert.equal(sent.at(-1)!.name, '_tiStop');
      const replies = new Map(reads.filter((r) => r.dir === 's2c' && r.message?.kind === 'response').map((r) => [r.message!.xid, r.message!]));
      for (const request of sent.filter((m) => m.kind === 'request')) assert.ok(replies.has(request.xid), `${request.name} answered by _x ${request.xid}`);

      // The session id pyatv stops is (the device's _sid << 32) | its own.
      const start = sent.find((m) => m.name === '_sessionStart')!;
      const remote = companionUint64(replies.get(start.xid)!.content.get('_sid'))!;
      const stop = sent.find((m) => m.name === '_sessionStop')!;
      assert.equal(companionUint64(stop.content.get('_sid')), (remote << 32n) | companionUint64(start.content.get('_sid'))!);

      const attention = replies.get(sent.find((m) => m.name === 'FetchAttentionState')!.xid)!;
      assert.equal(powerStateOfSystemStatus(companionNumber(attention.content.get('state'))), 'on');
      const text = replies.get(sent.find((m) => m.name === '_tiStart')!.xid)!.content.get('_tiD');
      assert.ok(Buffer.isBuffer(text));
      assert.equal(readRtiSession(text).text, 'Fake Companion Keyboard Text');
    });
  }

  it('the app list and the launch carry what the fake device and pyatv said', () => {
    const apps = replay(readCapture(sessions[1]!), keys.session_keys[sessions[1]!]);
    const fetch = apps.find((r) => r.message?.name === 'FetchLaunchableApplicationsEvent' && r.dir === 'c2s')!.message!;
    const list = apps.find((r) => r.dir === 's2c' && r.message?.kind === 'response' && r.message.xid === fetch.xid)!.message!;
    assert.deepEqual([...list.content], [
      ['com.apple.TVMusic', 'Music'],
      ['com.example.fake', 'Fake App'],
    ]);
    const launch = replay(readCapture(sessions[2]!), keys.session_keys[sessions[2]!]).find((r) => r.message?.name === '_launchApp')!.message!;
    assert.deepEqual([...launch.content], [['_bundleID', 'com.example.app']]);
  });
});
