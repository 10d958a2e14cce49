/**
 * The MRP client's connection against a scripted device over real loopback TCP: the
 * connection sequence of pyatv's MrpProtocol.start as it crosses the wire, pair-verify with right and
 * wrong credentials, hostile frames, timeouts, the heartbeat, and clean closing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { encodeVarint } from '../../../../lib/codecs/varint';
import { DEFAULT_CLIENT_NAME } from '../../../../lib/device/interfaces';
import { AuthenticationError, ClosedError, ConnectionLostError, ProtocolError, TimeoutError } from '../../../../lib/errors';
import { ed25519PublicKey } from '../../../../lib/hap/keys';
import { formatHapCredentials, hapCredentials, parseFullHapCredentials } from '../../../../lib/hap/credentials';
import { createMrpMessage, encodeMrpMessage, MrpMessageType } from '../../../../lib/protocols/mrp/messages';
import { MrpConnectionState, MrpDeviceClass, MrpErrorCode } from '../../../../lib/protocols/mrp/proto-types';
import { createMrpSession, MrpSession } from '../../../../lib/protocols/mrp/session';
import { capturedFrames } from './capture';
import { FakeMrpDevice, PYATV_CLIENT_ID, PYATV_CREDENTIALS } from './fake-device';
import { connected, mrpContext } from './helpers';
import { sleep, until } from '../../../support/wait';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A session whose connectionLost error is collected. */
function lostErrors(session: MrpSession): Error[] {
  const errors: Error[] = [];
  session.on('connectionLost', (e) => errors.push(e));
  return errors;
}


describe('MRP connection sequence (pyatv: MrpProtocol.start in protocols/mrp/protocol.py)', () => {
  it("sends pyatv's DEVICE_INFO first, pair-verifies, then SET_CONNECTION_STATE, CLIENT_UPDATES_CONFIG, GET_KEYBOARD_SESSION encrypted", async () => {
    const { device, session } = await connected(cleanups, { session: { name: 'pyatv' } });
    const conn = device.last;
    const types = conn.received.map((r) => r.message.type);
    assert.deepEqual(types, [
      MrpMessageType.DEVICE_INFO_MESSAGE,
      MrpMessageType.CRYPTO_PAIRING_MESSAGE,
      MrpMessageType.CRYPTO_PAIRING_MESSAGE,
      MrpMessageType.SET_CONNECTION_STATE_MESSAGE,
      MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE,
      MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE,
    ]);
    assert.deepEqual(
      conn.received.map((r) => r.encrypted),
      [false, false, false, true, true, true],
      'SET_CONNECTION_STATE is the first encrypted message',
    );
    // Same DEVICE_INFO as pyatv sent in the capture, given pyatv's name and credentials.
    const pyatvInfo = capturedFrames('mrp-session-playing.jsonl', 'c2s')[0]!.message;
    assert.deepEqual(conn.received[0]!.message.payload, pyatvInfo.payload);
    assert.match(conn.received[0]!.message.identifier ?? '', /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
    assert.ok(conn.received[0]!.message.uniqueIdentifier, 'every message carries a uniqueIdentifier');
    // Pair-verify messages: state 0, no identifier (matched by type).
    for (const r of conn.received.slice(1, 3)) {
      assert.equal(r.message.identifier, undefined);
      assert.equal((r.message.payload as { state?: number }).state, 0);
    }
    assert.deepEqual(conn.received[3]!.message.payload, { state: MrpConnectionState.Connected });
    assert.equal(conn.received[3]!.message.identifier, undefined, 'no reply expected');
    assert.deepEqual(conn.received[4]!.message.payload, {
      artworkUpdates: true,
      nowPlayingUpdates: false,
      volumeUpdates: true,
      keyboardUpdates: true,
      outputDeviceUpdates: true,
    });
    assert.equal(conn.received[5]!.message.payload, undefined, 'GET_KEYBOARD_SESSION without payload, as pyatv');
    // The pushes that came during setup (before the acknowledgement) were not lost.
    const state = await session.nowPlaying();
    assert.equal(state.title, 'Fake Title');
    assert.equal(session.deviceInfo?.modelID, 'AppleTV6,2');
  });

  it('names itself as configured and identifies with the client id of the credentials', async () => {
    const { device } = await connected(cleanups, { session: { name: 'Living room flow' } });
    const info = device.last.received[0]!.message.payload as { name: string; uniqueIdentifier: string; deviceClass: number };
    assert.equal(info.name, 'Living room flow');
    assert.equal(info.uniqueIdentifier, PYATV_CLIENT_ID);
    assert.equal(info.deviceClass, MrpDeviceClass.iPhone);
  });

  it('without credentials: a random UUID, no pair-verify, nothing encrypted', async () => {
    const { device, session } = await connected(cleanups, { credentials: null });
    const conn = device.last;
    assert.deepEqual(
      conn.received.map((r) => r.message.type),
      [
        MrpMessageType.DEVICE_INFO_MESSAGE,
        MrpMessageType.SET_CONNECTION_STATE_MESSAGE,
        MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE,
        MrpMessageType.GET_KEYBOARD_SESSION_MESSAGE,
      ],
    );
    assert.ok(conn.received.every((r) => !r.encrypted));
    const id = (conn.received[0]!.message.payload as { uniqueIdentifier: string }).uniqueIdentifier;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.notEqual(id, PYATV_CLIENT_ID);
    assert.equal((await session.nowPlaying()).title, 'Fake Title');
  });

  it('pair-verify proves the device: credentials of another device are refused by us (AuthenticationError), no crash', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    const real = parseFullHapCredentials(PYATV_CREDENTIALS);
    const otherDevice = formatHapCredentials(hapCredentials({ ...real, atvId: Buffer.from(randomUUID().toUpperCase()) }));
    const session = createMrpSession(mrpContext(device.port, otherDevice));
    await assert.rejects(session.connect(), (err: Error) => err instanceof AuthenticationError && /different device/.test(err.message));
    await device.socketsClosed();
    await session.close();

    // A key that is not the device's: its signature does not verify.
    const wrongKey = formatHapCredentials(hapCredentials({ ...real, ltpk: ed25519PublicKey(Buffer.alloc(32, 7)) }));
    const second = createMrpSession(mrpContext(device.port, wrongKey));
    await assert.rejects(second.connect(), (err: Error) => err instanceof AuthenticationError && /signature/.test(err.message));
    await device.socketsClosed();
  });

  it('a device that does not know us answers M4 with an error: AuthenticationError "pair again"', async () => {
    const device = await FakeMrpDevice.start({ controllers: new Map() });
    cleanups.push(() => device.close());
    const session = createMrpSession(mrpContext(device.port));
    await assert.rejects(session.connect(), (err: Error) => err instanceof AuthenticationError && /pair again/.test(err.message));
    await device.socketsClosed();
    assert.equal(device.last.received.at(-1)?.message.type, MrpMessageType.CRYPTO_PAIRING_MESSAGE, 'nothing sent after the refusal');
  });

  it('a device that only takes paired remotes (DeviceNotPaired) fails connect() with an AuthenticationError', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    device.on(MrpMessageType.CLIENT_UPDATES_CONFIG_MESSAGE, (conn, m) =>
      conn.reply(m, { ...createMrpMessage(MrpMessageType.UNKNOWN_MESSAGE), errorCode: MrpErrorCode.DeviceNotPaired }),
    );
    const session = createMrpSession(mrpContext(device.port, null));
    await assert.rejects(session.connect(), (err: Error) => err instanceof AuthenticationError && /pair MRP with it first/.test(err.message));
    await device.socketsClosed();
  });

  it('credentials that are not HAP credentials are refused before connecting', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    const session = createMrpSession(mrpContext(device.port, 'not:credentials'));
    await assert.rejects(session.connect(), /credentials/);
    assert.equal(device.connections.length, 0);
  });

  it('a refused connection is an UnreachableError naming the endpoint', async () => {
    const device = await FakeMrpDevice.start();
    const port = device.port;
    await device.close();
    const session = createMrpSession(mrpContext(port));
    await assert.rejects(session.connect(), (err: Error & { code?: string }) => err.code === 'UNREACHABLE' && err.message.includes(`127.0.0.1:${port}`));
  });

  it('a DEVICE_INFO without answer times out with a TimeoutError naming the message', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    device.on(MrpMessageType.DEVICE_INFO_MESSAGE, () => undefined);
    const session = createMrpSession(mrpContext(device.port, null, 150));
    await assert.rejects(session.connect(), (err: Error) => err instanceof TimeoutError && /DEVICE_INFO_MESSAGE/.test(err.message));
    await device.socketsClosed();
  });

  it('a request that gets no reply fails with a TimeoutError naming it; the session lives on', async () => {
    const { device, session } = await connected(cleanups, { timeout: 200 });
    device.on(MrpMessageType.GENERIC_MESSAGE, () => undefined);
    await assert.rejects(session.sendCommand('select'), (err: Error) => err instanceof TimeoutError && /GENERIC_MESSAGE/.test(err.message));
    device.on(MrpMessageType.GENERIC_MESSAGE, () => 'default');
    await session.sendCommand('select');
  });

  it('close() ends the socket, rejects requests in flight and is idempotent; later calls say closed', async () => {
    const { device, session } = await connected(cleanups);
    device.on(MrpMessageType.SEND_COMMAND_MESSAGE, () => undefined);
    const pending = session.sendCommand('play');
    const lost = lostErrors(session);
    await device.last.waitFor((r) => r.message.type === MrpMessageType.SEND_COMMAND_MESSAGE);
    await session.close();
    await session.close();
    await assert.rejects(pending, ClosedError);
    await device.socketsClosed();
    await assert.rejects(session.sendCommand('play'), ClosedError);
    assert.deepEqual(lost, [], 'our own close is no lost connection');
  });

  it('the device closing the connection is reported once through connectionLost', async () => {
    const { device, session } = await connected(cleanups);
    const lost = lostErrors(session);
    device.last.destroy();
    await until(() => lost.length > 0);
    assert.ok(lost[0] instanceof ConnectionLostError);
    await sleep(20);
    assert.equal(lost.length, 1);
    await assert.rejects(session.nowPlaying(), ConnectionLostError);
  });
});

describe('MRP heartbeat (pyatv: protocols/mrp/connection.py)', () => {
  it('sends a GENERIC_MESSAGE request every interval while the device answers', async () => {
    const { device, session } = await connected(cleanups, { session: { heartbeatInterval: 40 } });
    const lost = lostErrors(session);
    await sleep(200);
    const beats = device.last.messages(MrpMessageType.GENERIC_MESSAGE);
    assert.ok(beats.length >= 3, `${beats.length} heartbeats`);
    assert.ok(beats.every((m) => m.identifier !== undefined && m.payload === undefined));
    assert.deepEqual(lost, []);
  });

  it('closes the connection after a failed heartbeat and its one retry, reporting connectionLost', async () => {
    const { device, session } = await connected(cleanups, { session: { heartbeatInterval: 30 }, timeout: 60 });
    const lost = lostErrors(session);
    device.on(MrpMessageType.GENERIC_MESSAGE, () => undefined);
    await until(() => lost.length > 0, 'the connection loss', 3000);
    assert.ok(lost[0] instanceof ConnectionLostError);
    assert.match(lost[0]!.message, /heartbeat/);
    await device.socketsClosed();
    const beats = device.last.messages(MrpMessageType.GENERIC_MESSAGE);
    assert.equal(beats.length, 2, 'one attempt and one retry');
  });

  it('a device that keeps talking is never probed, and one that goes silent is lost within the bound', async () => {
    const { device, session } = await connected(cleanups, { session: { heartbeatInterval: 60 }, timeout: 40 });
    const lost = lostErrors(session);
    device.on(MrpMessageType.GENERIC_MESSAGE, () => undefined);
    // Pushes every 20 ms: signs of life, so no heartbeat goes out however long it lasts.
    const pushes = setInterval(() => device.last.send(createMrpMessage(MrpMessageType.GENERIC_MESSAGE)), 20);
    await sleep(300);
    clearInterval(pushes);
    assert.equal(device.last.messages(MrpMessageType.GENERIC_MESSAGE).length, 0, 'no heartbeat while the device talks');
    assert.equal(lost.length, 0);
    // Silent from now: heartbeat after 60 ms, its retry, lost by 60 + 2 × 40 ms (the deadline is slack for a loaded machine).
    await until(() => lost.length > 0, 'the loss', 3000);
    assert.equal(device.last.messages(MrpMessageType.GENERIC_MESSAGE).length, 2, 'one heartbeat and its retry');
    const error: unknown = lost[0];
    assert.ok(error instanceof ConnectionLostError);
  });

  it('after close() no heartbeat is sent any more', async () => {
    const { device, session } = await connected(cleanups, { session: { heartbeatInterval: 20 } });
    await session.close();
    const before = device.last.received.length;
    await sleep(80);
    assert.equal(device.last.received.length, before);
  });
});

describe('hostile input closes the connection with a ProtocolError, never a crash', () => {
  const cases: { name: string; send: (conn: import('./fake-device').FakeConnection) => void; expect: RegExp }[] = [
    {
      name: 'an oversized varint length (ten continuation bytes)',
      send: (conn) => conn.sendRaw(Buffer.alloc(10, 0xff)),
      expect: /varint longer than 10 bytes/,
    },
    {
      name: 'a frame announcing more than the frame limit',
      send: (conn) => conn.sendRaw(encodeVarint(64 * 1024 * 1024)),
      expect: /limit/,
    },
    {
      name: 'a bad tag (field number 0) in an encrypted, authentic frame',
      send: (conn) => conn.sendFrame(Buffer.from([0x00, 0x01])),
      expect: /could not be read/,
    },
    {
      name: 'a wrong wire type for a known field',
      send: (conn) => conn.sendFrame(Buffer.from([0x0d, 0, 0, 0, 0])),
      expect: /wire type/,
    },
    {
      name: 'garbage after verify (not sealed with the session key)',
      send: (conn) => conn.sendFrame(Buffer.from('this is not ciphertext at all, just text'), true),
      expect: /decryption failed/,
    },
    {
      name: 'a frame sealed with the wrong key',
      send: (conn) => {
        conn.enableCipher(Buffer.alloc(32, 1));
        conn.send(createMrpMessage(MrpMessageType.SET_NOW_PLAYING_CLIENT_MESSAGE, { client: { bundleIdentifier: 'x' } }));
      },
      expect: /decryption failed/,
    },
  ];
  for (const { name, send, expect } of cases) {
    it(name, async () => {
      const { device, session } = await connected(cleanups);
      const lost = lostErrors(session);
      send(device.last);
      await until(() => lost.length > 0);
      assert.ok(lost[0] instanceof ProtocolError, `${lost[0]?.constructor.name}: ${lost[0]?.message}`);
      assert.match(lost[0]!.message, expect);
      await device.socketsClosed();
      await assert.rejects(session.sendCommand('play'));
    });
  }

  it('during the connection sequence: connect() rejects with the ProtocolError', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    device.on(MrpMessageType.DEVICE_INFO_MESSAGE, (conn) => conn.sendRaw(Buffer.concat([encodeVarint(3), Buffer.from([0x00, 0x00, 0x00])])));
    const session = createMrpSession(mrpContext(device.port));
    await assert.rejects(session.connect(), ProtocolError);
    await device.socketsClosed();
  });

  it('a reply that is not DEVICE_INFO to DEVICE_INFO: not an MRP port', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    device.on(MrpMessageType.DEVICE_INFO_MESSAGE, (conn, m) => conn.ack(m));
    const session = createMrpSession(mrpContext(device.port));
    await assert.rejects(session.connect(), /is this port an MRP service/);
  });

  it('pairing data that is not TLV8 in pair-verify', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    device.on(MrpMessageType.CRYPTO_PAIRING_MESSAGE, (conn) =>
      conn.send(createMrpMessage(MrpMessageType.CRYPTO_PAIRING_MESSAGE, { pairingData: Buffer.from([0x06, 0x05, 0x01]) })),
    );
    const session = createMrpSession(mrpContext(device.port));
    await assert.rejects(session.connect(), ProtocolError);
  });

  it('a device message arriving in the same TCP write as the verify M4 is read with the new key', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    device.on(MrpMessageType.CRYPTO_PAIRING_MESSAGE, (conn, message) => {
      conn.socket.cork();
      conn.handleDefault(message);
      // After M4 the fake has switched to the session key: this push rides in the same write.
      if (conn.encrypted) {
        conn.send(
          createMrpMessage(MrpMessageType.SET_DEFAULT_SUPPORTED_COMMANDS_MESSAGE, {
            playerPath: { client: { bundleIdentifier: 'com.example.same-segment' } },
            supportedCommands: { supportedCommands: [] },
          }),
        );
      }
      process.nextTick(() => conn.socket.uncork());
    });
    const session = createMrpSession(mrpContext(device.port));
    cleanups.push(() => session.close());
    await session.connect();
    assert.ok(session.state.clients.has('com.example.same-segment'));
  });

  it('garbage of every length never throws out of the socket handler', async () => {
    for (let round = 0; round < 10; round++) {
      const { device, session } = await connected(cleanups, { credentials: round % 2 === 0 ? null : PYATV_CREDENTIALS });
      const lost = lostErrors(session);
      const junk = Buffer.alloc(1 + ((round * 37) % 300));
      for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + round * 17) & 0xff;
      device.last.sendFrame(junk, true);
      await until(() => lost.length > 0 || device.openSockets() === 0, 'the close', 1000).catch(() => undefined);
      await session.close();
      await device.close();
    }
  });
});

describe('our name', () => {
  it('without one given, DEVICE_INFO carries the default every protocol uses', async () => {
    const { device } = await connected(cleanups);
    assert.equal((device.last.received[0]!.message.payload as { name: string }).name, DEFAULT_CLIENT_NAME);
  });
});

describe('replies are matched by identifier before dispatch by type', () => {
  it('a SET_STATE answering a request does not reach the now-playing model; an unsolicited one does', async () => {
    const { device, session } = await connected(cleanups);
    const conn = device.last;
    device.on(MrpMessageType.SEND_COMMAND_MESSAGE, (c, m) => {
      c.reply(m, createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, { playbackQueue: { location: 0, contentItems: [{ metadata: { title: 'Reply' } }] } }));
    });
    await session.sendCommand('play');
    assert.equal((await session.nowPlaying()).title, 'Fake Title');
    conn.send(
      createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, {
        contentItems: [{ metadata: { title: 'Pushed' } }],
        playerPath: { client: { bundleIdentifier: 'com.github.postlund.pyatv' }, player: { identifier: 'MediaRemote-DefaultPlayer' } },
      }),
    );
    await until(() => session.state.activePlayer?.metadata?.title === 'Pushed');
  });

  it('an encoded message survives a split across many TCP writes', async () => {
    const { device, session } = await connected(cleanups, { credentials: null });
    const bytes = encodeMrpMessage(
      createMrpMessage(MrpMessageType.UPDATE_CONTENT_ITEM_MESSAGE, {
        contentItems: [{ metadata: { title: 'Split' } }],
        playerPath: { client: { bundleIdentifier: 'com.github.postlund.pyatv' }, player: { identifier: 'MediaRemote-DefaultPlayer' } },
      }),
    );
    const framed = Buffer.concat([encodeVarint(bytes.length), bytes]);
    for (const byte of framed) {
      device.last.sendRaw(Buffer.from([byte]));
      await sleep(0);
    }
    await until(() => session.state.activePlayer?.metadata?.title === 'Split');
  });

  it('a reply with an empty identifier counts as one without (pair-verify replies matched by type)', async () => {
    const device = await FakeMrpDevice.start();
    cleanups.push(() => device.close());
    device.on(MrpMessageType.CRYPTO_PAIRING_MESSAGE, (conn, message) => {
      const send = conn.send.bind(conn);
      conn.send = (reply) => send({ ...reply, identifier: '' });
      try {
        conn.handleDefault(message);
      } finally {
        conn.send = send;
      }
    });
    const session = createMrpSession(mrpContext(device.port, PYATV_CREDENTIALS, 1000));
    cleanups.push(() => session.close());
    await session.connect();
    const replies = device.last.received.filter((r) => r.message.type === MrpMessageType.CRYPTO_PAIRING_MESSAGE);
    assert.equal(replies.length, 2, 'pair-verify M1 and M3 were answered');
    assert.equal((await session.nowPlaying()).title, 'Fake Title', 'the verified session works');
  });
});
