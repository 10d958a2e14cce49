/**
 * The sender's AirPlay connections against hand-made receivers on loopback: the control
 * connection (responses matched by CSeq or in order, refusals as typed errors, hostile bytes
 * ending it), the event channel (every request answered, garbage ending it) and the data
 * channel (MRP out as `sync`, in from the receiver's `sync`s, each answered with a `rply`;
 * hostile frames and payloads ending it). Keys are derived from one shared secret on both
 * sides, as after pair-verify.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { encodeBplist } from '../../../../lib/codecs/bplist';
import { encodeHttpRequest, HttpMessageDecoder, type HttpResponse } from '../../../../lib/codecs/http';
import { AuthenticationError, HttpStatusError, NotSupportedError, ProtocolError } from '../../../../lib/errors';
import { CounterNonceCipher } from '../../../../lib/hap/channel';
import { deriveChannelKeys, type HapSessionChannel } from '../../../../lib/hap/pair-verify';
import { AirPlayDataChannel, AirPlayEventChannel } from '../../../../lib/protocols/airplay/channels';
import { AirPlayConnection, expectOk } from '../../../../lib/protocols/airplay/connection';
import {
  DataStreamFrameDecoder,
  dataStreamMessages,
  encodeDataStreamFrame,
  encodeDataStreamSync,
  type DataStreamFrame,
} from '../../../../lib/protocols/airplay/datastream';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage, MrpMessageType } from '../../../../lib/protocols/mrp/messages';
import { FramedChannel } from '../../../../lib/support/channel';
import { HAP_BLOCKS, RAW_BYTES } from '../../../../lib/support/frames';
import { randomChunks, seededRandom } from '../../../support/random';
import { until } from '../../../support/wait';

/** A receiver accepting one connection at a time, handing each to `onConnection` as a shared channel. */
async function receiver(onConnection: (channel: FramedChannel) => void, keys?: { channel: HapSessionChannel; secret: Buffer; seed?: bigint }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const channel = new FramedChannel(socket, { endpoint: 'test receiver', format: keys ? HAP_BLOCKS : RAW_BYTES });
    if (keys) {
      const derived = deriveChannelKeys(keys.secret, keys.channel, { role: 'accessory', ...(keys.seed !== undefined && { seed: keys.seed }) });
      channel.switchTo(HAP_BLOCKS, new CounterNonceCipher(derived, 'zeros-then-counter'));
    }
    onConnection(channel);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const ok = (cseq?: string, body = ''): Buffer =>
  Buffer.from(`RTSP/1.0 200 OK\r\n${cseq === undefined ? '' : `CSeq: ${cseq}\r\n`}Content-Length: ${body.length}\r\n\r\n${body}`, 'latin1');

describe('AirPlay control connection (sender side)', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of closers) await close();
  });

  it('matches RTSP responses by CSeq, whatever their order, and HTTP ones in order', async () => {
    const seen: string[] = [];
    const recv = await receiver((channel) => {
      const decoder = HttpMessageDecoder.forRequests();
      const held: string[] = [];
      channel.on('frame', ({ payload }) => {
        for (const request of decoder.push(payload)) {
          seen.push(`${request.method} ${request.target}`);
          const cseq = request.headers.get('CSeq');
          if (cseq === undefined) channel.send(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${request.target.length}\r\n\r\n${request.target}`, 'latin1'));
          else held.push(cseq);
          // Answer the two RTSP requests in reverse order, each body naming its CSeq.
          if (held.length === 2) for (const c of held.reverse()) channel.send(ok(c, `cseq ${c}`));
        }
      });
    });
    closers.push(recv.close);
    const connection = await AirPlayConnection.connect({ host: '127.0.0.1', port: recv.port, timeout: 2000 });
    closers.push(async () => connection.close());
    const first = connection.request({ method: 'GET', target: '/a' });
    const second = connection.request({ method: 'GET', target: '/bb' });
    assert.equal((await first).body.toString(), '/a');
    assert.equal((await second).body.toString(), '/bb');
    const r0 = connection.request({ method: 'SETUP', target: 'rtsp://x/1', protocol: 'RTSP/1.0', headers: [['CSeq', 0]] });
    const r1 = connection.request({ method: 'RECORD', target: 'rtsp://x/1', protocol: 'RTSP/1.0', headers: [['CSeq', 1]] });
    assert.equal((await r0).body.toString(), 'cseq 0');
    assert.equal((await r1).body.toString(), 'cseq 1');
    assert.deepEqual(seen, ['GET /a', 'GET /bb', 'SETUP rtsp://x/1', 'RECORD rtsp://x/1']);
  });

  it('turns refusals into typed errors that say what to do: 470, 403, 401, 453, 404/501, others', () => {
    const response = (status: number): HttpResponse => ({ kind: 'response', protocol: 'RTSP/1.0', status, reason: '', headers: undefined as never, body: Buffer.alloc(0) });
    assert.throws(() => expectOk(response(470), 'SETUP', 'AirPlay x'), (e: unknown) => e instanceof AuthenticationError && /allow everyone on the network.*or pair AirPlay again/.test(e.message));
    assert.throws(() => expectOk(response(403), 'SETUP', 'AirPlay x'), (e: unknown) => e instanceof AuthenticationError && /pair AirPlay again/.test(e.message));
    assert.throws(() => expectOk(response(401), 'SETUP', 'AirPlay x'), (e: unknown) => e instanceof AuthenticationError && /password/.test(e.message));
    assert.throws(() => expectOk(response(453), 'SETUP', 'AirPlay x'), NotSupportedError);
    assert.throws(() => expectOk(response(501), 'SETUP', 'AirPlay x'), NotSupportedError);
    assert.throws(() => expectOk(response(500), 'SETUP', 'AirPlay x'), (e: unknown) => e instanceof HttpStatusError && e.status === 500);
    assert.equal(expectOk(response(204), 'SETUP', 'AirPlay x').status, 204);
  });

  it('ends with a ProtocolError when the receiver sends something that is not HTTP, and fails what waits', async () => {
    const recv = await receiver((channel) => channel.on('frame', () => channel.send(Buffer.from('\x00\x01garbage\r\n\r\n', 'latin1'))));
    closers.push(recv.close);
    const connection = await AirPlayConnection.connect({ host: '127.0.0.1', port: recv.port, timeout: 2000 });
    await assert.rejects(connection.request({ method: 'GET', target: '/info' }), ProtocolError);
    assert.equal(connection.isOpen, false);
    assert.ok(connection.error instanceof ProtocolError);
  });

  it('ignores a response whose CSeq nobody waits for', async () => {
    const recv = await receiver((channel) => {
      const decoder = HttpMessageDecoder.forRequests();
      channel.on('frame', ({ payload }) => {
        for (const request of decoder.push(payload)) {
          channel.send(ok('9', 'stray'));
          channel.send(ok(request.headers.get('CSeq'), 'mine'));
        }
      });
    });
    closers.push(recv.close);
    const connection = await AirPlayConnection.connect({ host: '127.0.0.1', port: recv.port, timeout: 2000 });
    closers.push(async () => connection.close());
    const response = await connection.request({ method: 'RECORD', target: 'rtsp://x/1', protocol: 'RTSP/1.0', headers: [['CSeq', 3]] });
    assert.equal(response.body.toString(), 'mine');
    assert.equal(connection.isOpen, true);
  });
});

describe('AirPlay event channel (sender side)', () => {
  it('answers every request the receiver sends with 200, its CSeq and Audio-Latency; garbage ends it', async () => {
    const secret = randomBytes(32);
    const answers: HttpResponse[] = [];
    let deviceSide: FramedChannel | null = null;
    const recv = await receiver(
      (channel) => {
        deviceSide = channel;
        const decoder = HttpMessageDecoder.forResponses();
        channel.on('frame', ({ payload }) => answers.push(...decoder.push(payload)));
        for (const cseq of [0, 1, 2]) {
          channel.send(
            encodeHttpRequest({ method: 'POST', target: '/command', protocol: 'RTSP/1.0', headers: [['CSeq', cseq]], body: encodeBplist({ type: 'updateInfo', value: {} }) }),
          );
        }
      },
      { channel: 'airplayEvents', secret },
    );
    try {
      const events = await AirPlayEventChannel.open({ host: '127.0.0.1', port: recv.port, secret, timeout: 2000 });
      await until(() => answers.length === 3, 'three answers');
      assert.deepEqual(answers.map((a) => [a.status, a.headers.get('CSeq'), a.headers.get('Audio-Latency')]), [
        [200, '0', '0'],
        [200, '1', '0'],
        [200, '2', '0'],
      ]);
      assert.equal(events.answered, 3);
      const closed = new Promise((resolve) => events.once('closed', resolve));
      deviceSide!.send(Buffer.from('not a request at all\r\n\r\n'));
      assert.ok((await closed) instanceof ProtocolError);
    } finally {
      await recv.close();
    }
  });
});

describe('AirPlay data channel (sender side)', () => {
  const seed = 0x1234_5678_9abc_def0n;
  const secret = randomBytes(64);

  async function pair(): Promise<{ data: AirPlayDataChannel; device: FramedChannel; frames: DataStreamFrame[]; close: () => Promise<void> }> {
    const frames: DataStreamFrame[] = [];
    let device: FramedChannel | null = null;
    const recv = await receiver(
      (channel) => {
        device = channel;
        const decoder = new DataStreamFrameDecoder();
        channel.on('frame', ({ payload }) => frames.push(...decoder.push(payload)));
      },
      { channel: 'airplayDataStream', secret, seed },
    );
    const data = await AirPlayDataChannel.open({ host: '127.0.0.1', port: recv.port, secret, seed, timeout: 2000 });
    await until(() => device !== null, 'the receiver accepted');
    return { data, device: device!, frames, close: recv.close };
  }

  it('sends MRP messages as syncs with one seqno (upper 32 bits 1), and reads the receiver’s, answering each', async () => {
    const { data, device, frames, close } = await pair();
    try {
      const info = encodeMrpMessage(createMrpMessage(MrpMessageType.GENERIC_MESSAGE));
      data.send(info);
      data.send(info);
      await until(() => frames.length === 2, 'two syncs');
      assert.ok(frames.every((f) => f.messageType === 'sync' && f.command === 'comm'));
      assert.equal(frames[0]!.seqno, frames[1]!.seqno);
      assert.equal(frames[0]!.seqno >> 32n, 1n);
      assert.deepEqual(dataStreamMessages(frames[0]!), [info]);

      const received: Buffer[] = [];
      data.on('message', (m) => received.push(m));
      const state = encodeMrpMessage(createMrpMessage(MrpMessageType.SET_STATE_MESSAGE, {}));
      const volume = encodeMrpMessage(createMrpMessage(MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, { volume: 0.5 }));
      // Two syncs in one write, cut anywhere: both are read, both answered.
      const bytes = Buffer.concat([encodeDataStreamSync([state, volume], 77n, 'cmnd'), encodeDataStreamSync([state], 78n, 'cmnd')]);
      for (const piece of randomChunks(bytes, seededRandom(3), 40)) device.send(piece);
      await until(() => received.length === 3 && frames.length === 4, 'three messages and two rplys');
      assert.deepEqual(received.map((m) => decodeMrpMessage(m).type), [MrpMessageType.SET_STATE_MESSAGE, MrpMessageType.VOLUME_DID_CHANGE_MESSAGE, MrpMessageType.SET_STATE_MESSAGE]);
      assert.deepEqual(frames.slice(2).map((f) => [f.messageType, f.seqno, f.payload.length]), [
        ['rply', 77n, 0],
        ['rply', 78n, 0],
      ]);
    } finally {
      data.close();
      await close();
    }
  });

  const hostile: Array<[string, () => Buffer]> = [
    ['a frame shorter than its header', () => Buffer.from('00000010' + '00'.repeat(28), 'hex')],
    ['a frame announcing 2 GiB', () => Buffer.from('80000000' + '00'.repeat(28), 'hex')],
    ['a payload that is not a binary plist', () => encodeDataStreamFrame({ messageType: 'sync', command: 'cmnd', seqno: 1n, payload: Buffer.from('hello world') })],
    [
      'MRP data whose length runs past the end',
      () => encodeDataStreamFrame({ messageType: 'sync', command: 'cmnd', seqno: 1n, payload: encodeBplist({ params: { data: Buffer.from([0x7f, 0x01]) } }) }),
    ],
  ];
  for (const [label, bytes] of hostile) {
    it(`ends with a ProtocolError on ${label}`, async () => {
      const { data, device, close } = await pair();
      try {
        const closed = new Promise((resolve) => data.once('closed', resolve));
        device.send(bytes());
        assert.ok((await closed) instanceof ProtocolError);
      } finally {
        await close();
      }
    });
  }

  it('ignores payloads without params.data and frames of other types', async () => {
    const { data, device, frames, close } = await pair();
    try {
      const received: Buffer[] = [];
      data.on('message', (m) => received.push(m));
      device.send(encodeDataStreamFrame({ messageType: 'sync', command: 'cmnd', seqno: 5n, payload: encodeBplist({ other: 1 }) }));
      device.send(encodeDataStreamFrame({ messageType: 'rply', command: '', seqno: 5n, payload: encodeBplist({}) }));
      device.send(encodeDataStreamFrame({ messageType: 'xxxx', command: '', seqno: 6n }));
      await until(() => frames.length === 1, 'the sync answered');
      assert.equal(frames[0]!.messageType, 'rply');
      assert.equal(received.length, 0);
      assert.equal(data.isOpen, true);
    } finally {
      data.close();
      await close();
    }
  });
});
