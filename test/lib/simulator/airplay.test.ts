/**
 * The simulator's AirPlay receiver over real loopback sockets, driven step by step with the
 * library's own sender pieces (connection, pairing exchange, RTSP session, channels) and by
 * misbehaving senders made of raw sockets: what it advertises and answers in clear, how it
 * pairs and refuses, the remote-control session's channels, and hostile input on each of them.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeBplist, encodeBplist } from '../../../lib/codecs/bplist';
import { HttpMessageDecoder } from '../../../lib/codecs/http';
import { AuthenticationError, PairingError } from '../../../lib/errors';
import { CounterNonceCipher } from '../../../lib/hap/channel';
import { parseFullHapCredentials, type HapCredentials } from '../../../lib/hap/credentials';
import { HapPairSetup } from '../../../lib/hap/pairing';
import { deriveChannelKeys } from '../../../lib/hap/pair-verify';
import { pair } from '../../../lib/core/pairing';
import { airplayHapExchange, airplayPinStart, transientControlChannel, verifyControlChannel } from '../../../lib/protocols/airplay/auth';
import { AirPlayDataChannel, AirPlayEventChannel } from '../../../lib/protocols/airplay/channels';
import { AirPlayConnection, BPLIST_CONTENT_TYPE, RtspSession } from '../../../lib/protocols/airplay/connection';
import { airplayInfoTxt, fetchAirPlayInfo } from '../../../lib/protocols/airplay/info';
import {
  AirPlayMrpTunnel,
  dataStreamSetupBody,
  eventChannelSetupBody,
  newDataStreamSeed,
  newRtspSessionIds,
  plistBody,
} from '../../../lib/protocols/airplay/tunnel';
import { createMrpMessage, decodeMrpMessage, encodeMrpMessage, MrpMessageType } from '../../../lib/protocols/mrp/messages';
import { Simulator, type SimulatorPinRequest } from '../../../lib/simulator/index';
import { FramedChannel } from '../../../lib/support/channel';
import { HAP_BLOCKS } from '../../../lib/support/frames';
import { until } from '../../support/wait';

const PIN = '2580';

interface Verified {
  connection: AirPlayConnection;
  secret: Buffer;
  rtsp: RtspSession;
}

describe('AirPlay simulator receiver (tvOS 18 Apple TV)', () => {
  let sim: Simulator;
  let credentials: HapCredentials;
  const pins: SimulatorPinRequest[] = [];
  const open: Array<{ close(): void }> = [];

  const connect = async (): Promise<AirPlayConnection> => {
    const c = await AirPlayConnection.connect({ host: '127.0.0.1', port: sim.airplayPort, timeout: 3000 });
    open.push(c);
    return c;
  };

  const verified = async (): Promise<Verified> => {
    const connection = await connect();
    const secret = await verifyControlChannel(connection, credentials);
    return { connection, secret, rtsp: new RtspSession(connection, newRtspSessionIds()) };
  };

  /** A verified sender that set up a remote-control session: its event port. */
  const session = async (): Promise<Verified & { eventPort: number }> => {
    const v = await verified();
    const reply = await v.rtsp.exchange('SETUP', { body: encodeBplist(eventChannelSetupBody('Test Sender')), contentType: BPLIST_CONTENT_TYPE });
    return { ...v, eventPort: plistBody(reply, 'SETUP', 'test')['eventPort'] as number };
  };

  before(async () => {
    sim = new Simulator({ name: 'Receiver TV', protocols: ['airplay'], pin: PIN, eventReplyTimeout: 300 });
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    const pairing = pair('airplay', { config: sim.config(), name: 'Receiver Test', pin: PIN, timeout: 5000 });
    await pairing.begin();
    credentials = parseFullHapCredentials(await pairing.finish());
  });

  after(async () => {
    for (const c of open) c.close();
    await sim.stop();
  });

  it('advertises the TXT of a tvOS 18 Apple TV, and GET /info describes the same device, TXT included', async () => {
    const server = sim.server('airplay')!;
    const txt = server.txt();
    assert.deepEqual(Object.keys(txt), ['acl', 'btaddr', 'deviceid', 'fex', 'features', 'flags', 'gid', 'igl', 'gcgl', 'model', 'protovers', 'pi', 'psi', 'pk', 'srcvers', 'osvers', 'vv']);
    assert.equal(txt['model'], 'AppleTV14,1');
    assert.equal(txt['osvers'], '18.1');
    assert.equal(txt['features'], '0x4A7FDFD5,0xBC155FDE');
    assert.equal(txt['fex'], Buffer.from('d5df7f4ade5f15bc', 'hex').toString('base64').replace(/=+$/, ''));
    assert.equal(txt['pk'], server.ltpk.toString('hex'));
    const learned = await fetchAirPlayInfo(await connect());
    assert.deepEqual(learned, txt);
    // Over HTTP/1.1 as well, in clear, before any pairing.
    const plain = await connect();
    const response = await plain.request({ method: 'GET', target: '/info' });
    assert.equal(response.status, 200);
    const info = decodeBplist(response.body) as Record<string, unknown>;
    assert.equal(info['model'], 'AppleTV14,1');
    assert.equal(info['osBuildVersion'], '22J580');
    assert.deepEqual(airplayInfoTxt(info as never), txt);
  });

  it('answers 470 to a sender that has not paired (SETUP, feedback, play)', async () => {
    const c = await connect();
    const rtsp = new RtspSession(c, newRtspSessionIds());
    await assert.rejects(rtsp.exchange('SETUP', { body: encodeBplist(eventChannelSetupBody('x')), contentType: BPLIST_CONTENT_TYPE }), AuthenticationError);
    await assert.rejects(rtsp.exchange('POST', { target: '/feedback' }), AuthenticationError);
    assert.equal((await c.request({ method: 'POST', target: '/play' })).status, 470);
  });

  it('shows the PIN on /pair-pin-start with X-Apple-HKP 3 only', async () => {
    const before = pins.length;
    const c = await connect();
    await airplayPinStart(c, 4);
    assert.equal(pins.length, before);
    await airplayPinStart(c, 3);
    assert.deepEqual(pins.slice(before), [{ protocol: 'airplay', pin: PIN, remoteName: null }]);
  });

  it('answers a second pair-setup with Busy while one is under way', async () => {
    const first = await connect();
    await airplayPinStart(first, 3);
    await new HapPairSetup(airplayHapExchange(first, 3)).start();
    const second = await connect();
    await assert.rejects(new HapPairSetup(airplayHapExchange(second, 3)).start(), (err: unknown) => err instanceof PairingError && /busy/i.test(err.message));
    first.close();
  });

  it('refuses pair-verify from a sender it never paired', async () => {
    const stranger: HapCredentials = { ...credentials, clientId: Buffer.from('11111111-2222-3333-4444-555555555555') };
    await assert.rejects(verifyControlChannel(await connect(), stranger), AuthenticationError);
  });

  it('sets up a remote-control session: event port, RECORD, data port, feedback, MRP through the data stream', async () => {
    const s = await session();
    const events = await AirPlayEventChannel.open({ host: '127.0.0.1', port: s.eventPort, secret: s.secret, timeout: 3000 });
    open.push(events);
    await until(() => events.answered === 1, 'the updateInfo event arrived and was answered');
    await s.rtsp.exchange('RECORD');
    const seed = newDataStreamSeed();
    const reply = await s.rtsp.exchange('SETUP', { body: encodeBplist(dataStreamSetupBody(seed)), contentType: BPLIST_CONTENT_TYPE });
    const stream = (plistBody(reply, 'SETUP', 'test')['streams'] as Array<Record<string, unknown>>)[0]!;
    assert.equal(stream['type'], 130);
    const data = await AirPlayDataChannel.open({ host: '127.0.0.1', port: stream['dataPort'] as number, secret: s.secret, seed, timeout: 3000 });
    open.push(data);
    const messages: number[] = [];
    data.on('message', (m) => messages.push(decodeMrpMessage(m).type));
    data.send(encodeMrpMessage({ ...createMrpMessage(MrpMessageType.DEVICE_INFO_MESSAGE, { name: 'x', uniqueIdentifier: 'y' }), identifier: 'A' }));
    await until(() => messages.includes(MrpMessageType.DEVICE_INFO_MESSAGE), 'DEVICE_INFO answered through the tunnel');
    assert.equal(sim.server('airplay')!.stats().tunnels, 1);
    const feedback = await s.rtsp.exchange('POST', { target: '/feedback' });
    assert.deepEqual(decodeBplist(feedback.body), { streams: [] });
    // TEARDOWN ends the session and its connections.
    const closed = new Promise((resolve) => data.once('closed', resolve));
    await s.rtsp.exchange('TEARDOWN');
    await closed;
    await until(() => sim.server('airplay')!.stats().tunnels === 0, 'no tunnel left');
  });

  it('refuses a data stream without a session, of another type, or a second one', async () => {
    const v = await verified();
    await assert.rejects(v.rtsp.exchange('SETUP', { body: encodeBplist(dataStreamSetupBody(1n)), contentType: BPLIST_CONTENT_TYPE }), /400/);
    const s = await session();
    const other = { streams: [{ type: 96, seed: 1 }] };
    await assert.rejects(s.rtsp.exchange('SETUP', { body: encodeBplist(other), contentType: BPLIST_CONTENT_TYPE }), /453|bandwidth/i);
    await s.rtsp.exchange('SETUP', { body: encodeBplist(dataStreamSetupBody(2n)), contentType: BPLIST_CONTENT_TYPE });
    await assert.rejects(s.rtsp.exchange('SETUP', { body: encodeBplist(dataStreamSetupBody(3n)), contentType: BPLIST_CONTENT_TYPE }), /453|bandwidth/i);
  });

  it('ends the session of a sender that leaves its updateInfo event unanswered', async () => {
    const s = await session();
    const socket = net.connect(s.eventPort, '127.0.0.1');
    open.push({ close: () => socket.destroy() });
    const mute = new FramedChannel(socket, { endpoint: 'mute sender', format: HAP_BLOCKS });
    mute.switchTo(HAP_BLOCKS, new CounterNonceCipher(deriveChannelKeys(s.secret, 'airplayEvents'), 'zeros-then-counter'));
    const requests: string[] = [];
    const decoder = HttpMessageDecoder.forRequests();
    mute.on('frame', ({ payload }) => requests.push(...decoder.push(payload).map((r) => `${r.method} ${r.target}`)));
    await new Promise((resolve) => mute.once('closed', resolve));
    assert.deepEqual(requests, ['POST /command']);
  });

  it('drops a sender whose bytes are not HTTP, or whose HAP block does not open; the others carry on', async () => {
    const garbage = net.connect(sim.airplayPort, '127.0.0.1');
    garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x00]));
    await new Promise((resolve) => garbage.once('close', resolve));

    const v = await verified();
    const raw = (v.connection as unknown as { channel: FramedChannel }).channel;
    const closed = new Promise((resolve) => v.connection.once('closed', resolve));
    // A block of 16 bytes whose tag is wrong.
    raw.write(Buffer.concat([Buffer.from([0x10, 0x00]), Buffer.alloc(32, 0x42)]));
    await closed;

    const fine = await verified();
    assert.equal((await fine.rtsp.exchange('POST', { target: '/feedback' })).status, 200);
  });

  it('ends the session when its data stream sends garbage', async () => {
    const s = await session();
    const events = await AirPlayEventChannel.open({ host: '127.0.0.1', port: s.eventPort, secret: s.secret, timeout: 3000 });
    open.push(events);
    const seed = newDataStreamSeed();
    const reply = await s.rtsp.exchange('SETUP', { body: encodeBplist(dataStreamSetupBody(seed)), contentType: BPLIST_CONTENT_TYPE });
    const port = (plistBody(reply, 'SETUP', 'test')['streams'] as Array<Record<string, number>>)[0]!['dataPort']!;
    const socket = net.connect(port, '127.0.0.1');
    open.push({ close: () => socket.destroy() });
    const sender = new FramedChannel(socket, { endpoint: 'bad data sender', format: HAP_BLOCKS });
    sender.switchTo(HAP_BLOCKS, new CounterNonceCipher(deriveChannelKeys(s.secret, 'airplayDataStream', { seed }), 'zeros-then-counter'));
    const eventsClosed = new Promise((resolve) => events.once('closed', resolve));
    sender.send(Buffer.from('00000008' + '00'.repeat(28), 'hex'));
    await eventsClosed;
  });

  it('sends feedback every interval through the tunnel', async () => {
    const before = sim.server('airplay')!.stats().feedbacks;
    const tunnel = new AirPlayMrpTunnel({ host: '127.0.0.1', port: sim.airplayPort, credentials, timeout: 3000, name: 'Feedback Test', feedbackInterval: 20 });
    open.push(tunnel);
    await tunnel.open();
    await until(() => sim.server('airplay')!.stats().feedbacks >= before + 3, 'three feedbacks');
    const closed = new Promise((resolve) => tunnel.once('closed', resolve));
    tunnel.close();
    assert.equal(await closed, null);
  });

  it('stop() closes every connection and listener', async () => {
    const other = new Simulator({ name: 'Stopping TV', protocols: ['airplay'], pin: PIN });
    await other.start();
    const pairing = pair('airplay', { config: other.config(), pin: PIN, timeout: 5000 });
    await pairing.begin();
    const creds = await pairing.finish();
    const tunnel = new AirPlayMrpTunnel({ host: '127.0.0.1', port: other.airplayPort, credentials: parseFullHapCredentials(creds), timeout: 3000, name: 'x' });
    await tunnel.open();
    const closed = new Promise((resolve) => tunnel.once('closed', resolve));
    await other.stop();
    assert.ok((await closed) instanceof Error);
    assert.equal(other.server('airplay')!.stats().openConnections, 0);
  });
});

describe('AirPlay simulator receiver (HomePod)', () => {
  it('pairs transiently with anyone, refuses PIN pairing, and shows no PIN', async () => {
    const sim = new Simulator({ name: 'Receiver HomePod', device: 'homepod' });
    const pins: SimulatorPinRequest[] = [];
    sim.on('pin', (p) => pins.push(p));
    await sim.start();
    try {
      const c = await AirPlayConnection.connect({ host: '127.0.0.1', port: sim.airplayPort, timeout: 3000 });
      await airplayPinStart(c, 3);
      await assert.rejects(new HapPairSetup(airplayHapExchange(c, 3)).start(), (err: unknown) => err instanceof PairingError && /does not accept pairing/.test(err.message));
      c.close();
      const t = await AirPlayConnection.connect({ host: '127.0.0.1', port: sim.airplayPort, timeout: 3000 });
      await transientControlChannel(t);
      assert.equal(t.encrypted, true);
      const rtsp = new RtspSession(t, newRtspSessionIds());
      assert.equal((await rtsp.exchange('POST', { target: '/feedback' })).status, 200);
      t.close();
      assert.deepEqual(pins, []);
      assert.equal(sim.server('airplay')!.txt()['model'], 'AudioAccessory5,1');
      assert.ok(!('btaddr' in sim.server('airplay')!.txt()));
    } finally {
      await sim.stop();
    }
  });

  it('refuses to play a HomePod serving DMAP or direct MRP', () => {
    assert.throws(() => new Simulator({ device: 'homepod', protocols: ['airplay', 'dmap'] }), /HomePod does not serve dmap/);
    assert.throws(() => new Simulator({ device: 'homepod', protocols: ['mrp'] }), /HomePod does not serve mrp/);
  });
});
