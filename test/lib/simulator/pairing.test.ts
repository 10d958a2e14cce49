import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { encodeTag } from '../../../lib/codecs/dmap';
import { ServiceAdvertiser } from '../../../lib/mdns/advertiser';
import { ClosedError, InvalidArgumentError, PairingError, TimeoutError, UnreachableError } from '../../../lib/errors';
import { dmapPairingCode as lowerCaseCode } from '../../../lib/protocols/dmap/pairing';

const dmapPairingCode = (guid: string, pin: string): string => lowerCaseCode(guid, pin).toUpperCase();
import { Simulator } from '../../../lib/simulator/index';
import { login, request } from './http';

/** A fake remote's /pair endpoint on a raw TCP server, so the test sees the exact bytes. */
interface FakeRemote {
  port: number;
  /** Everything each connection sent before the answer. */
  received: string[];
  close(): Promise<void>;
}

type Reply = (socket: Socket, request: string) => void;

async function fakeRemote(reply: Reply): Promise<FakeRemote> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        received.push(data);
        reply(socket, data);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function cmpaAnswer(guid: bigint, name = 'Fake Remote'): Buffer {
  return encodeTag('cmpa', [encodeTag('cmpg', guid), encodeTag('cmnm', name), encodeTag('cmty', 'iPhone')]);
}

const answerWith =
  (status: string, body: Buffer): Reply =>
  (socket) => {
    socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
  };

describe('DMAP pairing, device side', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  async function startSimulator(): Promise<Simulator> {
    const sim = new Simulator({ name: 'Pairing Den', homeSharing: false });
    await sim.start();
    cleanup.push(() => sim.stop());
    return sim;
  }

  it('computes the pairing code of the OwnTone transcript', () => {
    // test/fixtures/owntone-29.3/pairing-transcript.txt: Pair=1A2B3C4D5E6F7081, PIN 1234.
    assert.equal(dmapPairingCode('1A2B3C4D5E6F7081', '1234'), '7E6045A04A10EC8DBCCA71685F89532A');
    assert.throws(() => dmapPairingCode('1A2B3C4D5E6F7081', '12a4'), InvalidArgumentError);
  });

  it('calls /pair with no headers at all, then accepts the GUID the remote answered', async () => {
    const sim = await startSimulator();
    const remote = await fakeRemote(answerWith('200 OK', cmpaAnswer(0xfeedfacecafebeefn)));
    cleanup.push(() => remote.close());
    const events: string[] = [];
    sim.on('credentials', (c) => events.push(`${c.protocol} ${c.credentials} ${c.remoteName}`));

    // Not paired yet: a login with the remote's GUID is refused.
    assert.equal((await request(sim.dmapPort, '/login?pairing-guid=0xFEEDFACECAFEBEEF')).status, 401);

    const result = await sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: remote.port, pair: '1A2B3C4D5E6F7081' } });
    assert.deepEqual(result, { credentials: '0xFEEDFACECAFEBEEF', remoteName: 'Fake Remote', remoteType: 'iPhone' });
    assert.deepEqual(remote.received, [`GET /pair?pairingcode=7E6045A04A10EC8DBCCA71685F89532A&servicename=${sim.deviceId} HTTP/1.1\r\n\r\n`]);
    assert.deepEqual(events, ['dmap 0xFEEDFACECAFEBEEF Fake Remote']);
    assert.ok(sim.acceptedCredentials.includes('0xFEEDFACECAFEBEEF'));
    assert.ok((await login(sim.dmapPort, 'pairing-guid=0xFEEDFACECAFEBEEF')) > 0);
  });

  it('reads a chunked answer too', async () => {
    const sim = await startSimulator();
    const body = cmpaAnswer(0x0102030405060708n);
    const remote = await fakeRemote((socket) => {
      const half = Math.floor(body.length / 2);
      socket.end(
        Buffer.concat([
          Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
          Buffer.from(`${half.toString(16)}\r\n`),
          body.subarray(0, half),
          Buffer.from(`\r\n${(body.length - half).toString(16)}\r\n`),
          body.subarray(half),
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
      );
    });
    cleanup.push(() => remote.close());
    const result = await sim.pairWithRemote('0042', { remote: { host: '127.0.0.1', port: remote.port, pair: 'AAAABBBBCCCCDDDD' } });
    assert.equal(result.credentials, '0x0102030405060708');
    assert.match(remote.received[0]!, new RegExp(`pairingcode=${dmapPairingCode('AAAABBBBCCCCDDDD', '0042')}&`));
  });

  it('fails clearly when the remote refuses, answers garbage, never answers or is not there', async () => {
    const sim = await startSimulator();
    const before = sim.acceptedCredentials.length;
    const pair = '1A2B3C4D5E6F7081';

    const refusing = await fakeRemote(answerWith('500 Internal Server Error', Buffer.alloc(0)));
    cleanup.push(() => refusing.close());
    await assert.rejects(sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: refusing.port, pair } }), (err: Error) => {
      assert.ok(err instanceof PairingError);
      assert.match(err.message, /HTTP 500/);
      assert.ok(!err.message.includes('1234'), 'no PIN in the message');
      return true;
    });

    const garbage = await fakeRemote((socket) => socket.end('\u0000\u0001 definitely not http'));
    cleanup.push(() => garbage.close());
    await assert.rejects(sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: garbage.port, pair } }), PairingError);

    const notDmap = await fakeRemote(answerWith('200 OK', Buffer.from('cmpa\u0000\u0000\u0001\u0000oops')));
    cleanup.push(() => notDmap.close());
    await assert.rejects(sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: notDmap.port, pair } }), PairingError);

    const noGuid = await fakeRemote(answerWith('200 OK', encodeTag('cmpa', [encodeTag('cmnm', 'x')])));
    cleanup.push(() => noGuid.close());
    await assert.rejects(sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: noGuid.port, pair } }), /cmpg/);

    const silent = await fakeRemote(() => {});
    cleanup.push(() => silent.close());
    await assert.rejects(
      sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: silent.port, pair }, timeout: 200 }),
      TimeoutError,
    );

    const gone = await fakeRemote(() => {});
    const gonePort = gone.port;
    await gone.close();
    await assert.rejects(sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: gonePort, pair } }), UnreachableError);

    assert.equal(sim.acceptedCredentials.length, before, 'no failed pairing added a credential');
  });

  it('aborts a pending pairing on stop()', async () => {
    const sim = new Simulator();
    await sim.start();
    const silent = await fakeRemote(() => {});
    cleanup.push(() => silent.close());
    const pending = sim.pairWithRemote('1234', { remote: { host: '127.0.0.1', port: silent.port, pair: 'AB' }, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    await sim.stop();
    await assert.rejects(pending, ClosedError);
  });

  it('finds the remote by unicast DNS-SD (_touch-remote._tcp) and pairs with it', async () => {
    const sim = await startSimulator();
    const remote = await fakeRemote(answerWith('200 OK', cmpaAnswer(0x1122334455667788n, 'Unicast Remote')));
    cleanup.push(() => remote.close());
    const advertiser = new ServiceAdvertiser({ multicast: false, unicast: { host: '127.0.0.1', port: 0 } });
    advertiser.add({
      type: '_touch-remote._tcp',
      instance: '0000000000000000000000000000002130706433',
      host: 'fake-remote.local',
      addresses: ['127.0.0.1'],
      port: remote.port,
      txt: { DvNm: 'Unicast Remote', RemV: '10000', DvTy: 'iPod', RemN: 'Remote', txtvers: '1', Pair: '0F1E2D3C4B5A6978' },
    });
    await advertiser.start();
    cleanup.push(() => advertiser.stop());

    const result = await sim.pairWithRemote('2468', { hosts: ['127.0.0.1'], mdnsPort: advertiser.unicastPort!, timeout: 2000 });
    assert.equal(result.credentials, '0x1122334455667788');
    assert.equal(remote.received.length, 1);
    assert.ok(remote.received[0]!.startsWith(`GET /pair?pairingcode=${dmapPairingCode('0F1E2D3C4B5A6978', '2468')}&servicename=${sim.deviceId} `));
  });

  it(
    'finds the remote by multicast DNS-SD when the simulator multicasts',
    { skip: process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)' },
    async () => {
      const sim = new Simulator({ name: 'Multicast Pairing Den', multicast: true, homeSharing: false });
      await sim.start();
      cleanup.push(() => sim.stop());
      const remote = await fakeRemote(answerWith('200 OK', cmpaAnswer(0x0a0b0c0d0e0f1011n, 'Multicast Remote')));
      cleanup.push(() => remote.close());
      const advertiser = new ServiceAdvertiser({ multicast: true });
      advertiser.add({
        type: '_touch-remote._tcp',
        instance: '0000000000000000000000000000002130706433',
        host: 'fake-remote.local',
        addresses: ['127.0.0.1'],
        port: remote.port,
        txt: { DvNm: 'Multicast Remote', Pair: '0123456789ABCDEF', txtvers: '1' },
      });
      await advertiser.start();
      cleanup.push(() => advertiser.stop());
      const result = await sim.pairWithRemote('9999', { remoteName: 'Multicast Remote', timeout: 800 });
      assert.equal(result.credentials, '0x0A0B0C0D0E0F1011');
      assert.match(remote.received[0]!, new RegExp(`pairingcode=${dmapPairingCode('0123456789ABCDEF', '9999')}&`));
    },
  );

  it('says so when no remote is announced', async () => {
    const sim = await startSimulator();
    const advertiser = new ServiceAdvertiser({ multicast: false, unicast: { host: '127.0.0.1', port: 0 } });
    await advertiser.start();
    cleanup.push(() => advertiser.stop());
    await assert.rejects(
      sim.pairWithRemote('1234', { hosts: ['127.0.0.1'], mdnsPort: advertiser.unicastPort!, timeout: 400 }),
      /no remote announced _touch-remote\._tcp/,
    );
  });
});
