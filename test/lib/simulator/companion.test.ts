/**
 * Hostile bytes on both sides of a Companion connection: the simulator drops a connection
 * that breaks the protocol (an oversized frame, garbage OPACK, a message before pair-verify,
 * a frame that does not decrypt) and keeps serving the others; our client turns a device
 * that sends such things into a ProtocolError, never a crash or a hang.
 */
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodeOpack } from '../../../lib/codecs/opack';
import { connect } from '../../../lib/core/facade';
import { pair } from '../../../lib/core/pairing';
import { manualConfig } from '../../../lib/device/config';
import { ProtocolError } from '../../../lib/errors';
import { parseFullHapCredentials } from '../../../lib/hap/credentials';
import { hapPairVerify } from '../../../lib/hap/pairing';
import { CompanionConnection } from '../../../lib/protocols/companion/connection';
import { COMPANION_FRAME, encodeCompanionMessage } from '../../../lib/protocols/companion/messages';
import { createCompanionSession } from '../../../lib/protocols/companion/session';
import { silentLogger } from '../../../lib/log';
import { Simulator } from '../../../lib/simulator';
import { until } from '../../support/wait';

const PIN = '5555';

function frame(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[0] = type;
  header.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([header, body]);
}

/** Sends raw bytes to the simulator and resolves once it has closed the connection. */
function closedAfter(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error('the simulator kept a broken connection open'));
    });
  });
}

describe('Companion simulator against hostile remotes', () => {
  let sim: Simulator;
  let credentials: string;

  before(async () => {
    sim = new Simulator({ name: 'Hostile TV', protocols: ['companion'], pin: PIN });
    await sim.start();
    const pairing = pair('companion', { config: sim.config(), timeout: 5000 });
    await pairing.begin();
    pairing.setPin(PIN);
    credentials = await pairing.finish();
  });

  after(async () => {
    await sim?.stop();
  });

  it('drops a connection that breaks the protocol, and keeps serving', async () => {
    const port = sim.companionPort;
    const message = encodeCompanionMessage({ kind: 'request', name: '_systemInfo', xid: 1 });
    await closedAfter(port, Buffer.from([COMPANION_FRAME.E_OPACK, 0xff, 0xff, 0xff]));
    await closedAfter(port, frame(COMPANION_FRAME.PS_Start, Buffer.from('ff00', 'hex')));
    await closedAfter(port, frame(COMPANION_FRAME.PV_Start, encodeOpack({ _pd: 'not bytes' })));
    await closedAfter(port, frame(COMPANION_FRAME.E_OPACK, message));
    assert.equal(sim.server('companion')!.stats().openConnections, 0);
    // A pair-verify with garbage TLV8 is refused in the protocol, not by closing.
    const device = await connect(sim.config(), { credentials: { companion: credentials } });
    try {
      assert.deepEqual(await device.accountList(), sim.state.accounts);
    } finally {
      await device.close();
    }
  });

  it('drops a verified connection whose frame does not decrypt, or whose message is garbage', async () => {
    for (const bad of [Buffer.from('00112233445566778899aabbccddeeff00', 'hex'), null]) {
      const connection = await CompanionConnection.open({ host: '127.0.0.1', port: sim.companionPort, timeout: 5000 });
      await hapPairVerify(parseFullHapCredentials(credentials), connection.pairingExchange, (secret) => connection.enableEncryption(secret));
      const closed = new Promise<void>((resolve) => connection.once('closed', () => resolve()));
      // Raw bytes past our cipher: a sealed-looking body that does not open, or an OPACK list.
      if (bad) (connection as unknown as { channel: { write(b: Buffer): void } }).channel.write(frame(COMPANION_FRAME.E_OPACK, bad));
      else (connection as unknown as { channel: { send(b: Buffer, t: number): void } }).channel.send(encodeOpack([1, 2, 3]), COMPANION_FRAME.E_OPACK);
      await closed;
    }
    await until(() => sim.server('companion')!.stats().openConnections === 0, 'the connections to close');
  });
});

describe('Companion client against a hostile device', () => {
  let server: net.Server;
  let port = 0;
  let reply: (socket: Socket) => void = () => undefined;

  before(async () => {
    server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => reply(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const config = () => manualConfig({ address: '127.0.0.1', services: [{ protocol: 'companion', port }] });
  const session = (creds: string) =>
    createCompanionSession({ config: config(), service: config().services[0]!, credentials: creds, timeout: 5000, logger: silentLogger });
  const someCredentials = `${'11'.repeat(32)}:${'22'.repeat(32)}:${Buffer.from('device').toString('hex')}:${Buffer.from('client').toString('hex')}`;

  for (const [what, answer] of [
    ['a pairing reply without pairing data', frame(COMPANION_FRAME.PV_Next, encodeOpack({ _x: 1 }))],
    ['a pairing reply that is not OPACK', frame(COMPANION_FRAME.PV_Next, Buffer.from('ffff', 'hex'))],
    ['a frame announcing 16 MiB', Buffer.from([COMPANION_FRAME.PV_Next, 0xff, 0xff, 0xff])],
  ] as const) {
    it(`fails the connect with a ProtocolError on ${what}`, async () => {
      reply = (socket) => socket.write(answer);
      await assert.rejects(session(someCredentials).connect(), ProtocolError);
    });
  }

  it('fails the connect when the device answers pair-verify with an error TLV', async () => {
    reply = (socket) => socket.write(frame(COMPANION_FRAME.PV_Next, encodeOpack({ _pd: Buffer.from('060102070102', 'hex') })));
    await assert.rejects(session(someCredentials).connect(), (err: Error) => err.name === 'AuthenticationError');
  });
});
