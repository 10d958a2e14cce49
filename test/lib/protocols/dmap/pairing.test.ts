import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { decodeDmap, dmapToObject } from '../../../../lib/codecs/dmap';
import type { DnsRecord, DnsSrvData } from '../../../../lib/codecs/dns-message';
import { encodeQuery } from '../../../../lib/mdns/dns';
import { openMulticast } from '../../../../lib/mdns/transport';
import { DEFAULT_CLIENT_NAME } from '../../../../lib/device/interfaces';
import { InvalidArgumentError, PairingError } from '../../../../lib/errors';
import { silentLogger } from '../../../../lib/log';
import {
  DmapPairing,
  dmapPairingAnswer,
  dmapPairingCode,
  touchRemoteInstanceName,
} from '../../../../lib/protocols/dmap/pairing';
import { fixture } from '../../../support/paths';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const TRANSCRIPT = readFileSync(fixture('owntone-29.3', 'pairing-transcript.txt'), 'utf8');
const UNICAST = { multicast: false, unicast: { host: '127.0.0.1', port: 0 } };

/** A GET exactly as a real device sends it: request line, no headers at all. */
function rawGet(port: number, path: string): Promise<{ status: number; head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer'));
    }, 3000);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.toString('latin1', 0, end);
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(head.split(' ')[1]), head, body: data.subarray(end + 4, end + 4 + length) });
    });
    socket.write(`GET ${path} HTTP/1.1\r\n\r\n`);
  });
}

function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Asks a unicast DNS-SD responder for the `_touch-remote._tcp` services. */
function unicastQuery(port: number, ms = 2000): Promise<dnsPacket.Answer[]> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no DNS answer'));
    }, ms);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      const packet = dnsPacket.decode(msg);
      resolve([...(packet.answers ?? []), ...(packet.additionals ?? [])]);
    });
    socket.send(dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'PTR', name: '_touch-remote._tcp.local' }] }), port, '127.0.0.1');
  });
}

function txtOf(answers: readonly { type: string; data?: unknown }[]): Record<string, string> {
  const txt = answers.find((a) => a.type === 'TXT');
  assert.ok(txt, 'a TXT record');
  const out: Record<string, string> = {};
  for (const entry of txt.data as Buffer[]) {
    const s = entry.toString('utf8');
    out[s.slice(0, s.indexOf('='))] = s.slice(s.indexOf('=') + 1);
  }
  return out;
}

describe('DMAP pairing (remote side)', () => {
  it('pairing code and answer match the OwnTone transcript', () => {
    assert.match(TRANSCRIPT, /expecting pairingcode 7E6045A04A10EC8DBCCA71685F89532A \(Pair=1A2B3C4D5E6F7081 PIN=1234\)/);
    assert.equal(dmapPairingCode('1A2B3C4D5E6F7081', '1234'), '7e6045a04a10ec8dbcca71685f89532a');
    const answerHex = /\(57 bytes: ([0-9a-f]+)\)/.exec(TRANSCRIPT)![1]!;
    assert.equal(dmapPairingAnswer('FEEDFACECAFEBEEF', 'Fake Remote').toString('hex'), answerHex);
  });

  it('instance name: the IPv4 address as a 40-digit number', () => {
    assert.equal(touchRemoteInstanceName('192.168.1.65'), '0000000000000000000000000000003232235841');
    assert.equal(touchRemoteInstanceName('127.0.0.1'), '2130706433'.padStart(40, '0'));
  });

  it('validates the PIN and GUID without echoing them; random ones are well formed', () => {
    const p = new DmapPairing();
    assert.match(p.pin, /^\d{4}$/);
    assert.match(p.pairingGuid, /^[0-9A-F]{16}$/);
    assert.equal(p.deviceProvidesPin, false);
    assert.equal(p.name, DEFAULT_CLIENT_NAME);
    assert.throws(() => p.setPin('12a4'), (e: Error) => e instanceof InvalidArgumentError && !e.message.includes('12a4'));
    assert.throws(() => new DmapPairing({ pairingGuid: 'nothex' }), InvalidArgumentError);
    assert.equal(new DmapPairing({ pairingGuid: '0xfeedfacecafebeef' }).pairingGuid, 'FEEDFACECAFEBEEF');
    p.setPin('0042');
    assert.equal(p.pin, '0042');
  });

  it('finish() before begin() rejects', async () => {
    await assert.rejects(new DmapPairing().finish(), PairingError);
  });

  it('full flow over loopback: announce, header-less GET /pair, wrong code 500, right code 200 cmpa, credentials', async () => {
    const pairing = new DmapPairing({ name: 'Kitchen Remote', pairingGuid: '1A2B3C4D5E6F7081', interface: '127.0.0.1', advertiser: UNICAST });
    cleanups.push(() => pairing.close());
    pairing.setPin('1234');
    await pairing.begin();
    const port = pairing.port!;
    assert.ok(port > 0);

    const dnsPort = pairing.serviceAdvertiser!.unicastPort!;
    const answers = await unicastQuery(dnsPort);
    const instance = `${touchRemoteInstanceName('127.0.0.1')}._touch-remote._tcp.local`;
    assert.ok(answers.some((a) => a.type === 'PTR' && a.data === instance), JSON.stringify(answers.map((a) => [a.type, a.name])));
    const srv = answers.find((a) => a.type === 'SRV');
    assert.equal((srv?.data as { port: number }).port, port);
    assert.deepEqual(txtOf(answers), { DvNm: 'Kitchen Remote', RemV: '10000', DvTy: 'iPod', RemN: 'Remote', txtvers: '1', Pair: '1A2B3C4D5E6F7081' });

    const wrong = await rawGet(port, `/pair?pairingcode=${dmapPairingCode('1A2B3C4D5E6F7081', '4321')}&servicename=888C6AC2BA205523`);
    assert.equal(wrong.status, 500);
    const malformed = await rawGet(port, '/pair?servicename=888C6AC2BA205523');
    assert.equal(malformed.status, 500);
    const other = await rawGet(port, '/something');
    assert.equal(other.status, 404);

    // The transcript's code, upper case as OwnTone sent it.
    const right = await rawGet(port, '/pair?pairingcode=7E6045A04A10EC8DBCCA71685F89532A&servicename=888C6AC2BA205523');
    assert.equal(right.status, 200);
    assert.deepEqual(dmapToObject(decodeDmap(right.body)), { cmpa: { cmpg: 0x1a2b3c4d5e6f7081n, cmnm: 'Kitchen Remote', cmty: 'iPhone' } });

    assert.equal(await pairing.finish(), '0x1A2B3C4D5E6F7081');
    await pairing.close();
    assert.equal(await portClosed(port), true, 'the /pair port is closed after finish');
    await assert.rejects(unicastQuery(dnsPort, 300), /no DNS answer/, 'the announcement stopped');
  });

  it('times out with PairingError and closes the port', async () => {
    const pairing = new DmapPairing({ interface: '127.0.0.1', timeout: 200, advertiser: UNICAST });
    cleanups.push(() => pairing.close());
    await pairing.begin();
    const port = pairing.port!;
    await assert.rejects(pairing.finish(), (e: Error) => e instanceof PairingError && /within/.test(e.message));
    await pairing.close();
    assert.equal(await portClosed(port), true);
  });

  it('close() while waiting rejects finish() and closes the port', async () => {
    const pairing = new DmapPairing({ interface: '127.0.0.1', advertiser: UNICAST });
    await pairing.begin();
    const port = pairing.port!;
    const result = pairing.finish();
    await pairing.close();
    await pairing.close();
    await assert.rejects(result, (e: Error) => e instanceof PairingError && /cancelled/.test(e.message));
    assert.equal(await portClosed(port), true);
    await assert.rejects(pairing.begin(), PairingError);
  });

  it('a bad interface address → PairingError, nothing left open', async () => {
    const pairing = new DmapPairing({ interface: '127.0.0.1', advertiser: { multicast: false, unicast: { host: 'not-an-ip', port: 0 } } });
    await assert.rejects(pairing.begin(), (e: Error) => (e as { code?: string }).code === 'INVALID_ARGUMENT' || e instanceof PairingError);
    await assert.rejects(pairing.finish());
    await pairing.close();
  });

  it(
    'multicast: the device finds _touch-remote._tcp by mDNS and pairs',
    { skip: process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)' },
    async () => {
      const pairing = new DmapPairing({ name: 'Multicast Remote', pin: '2468', interface: '127.0.0.1' });
      cleanups.push(() => pairing.close());
      await pairing.begin();

      // Act as the device: browse for the remote, read its port and Pair GUID. Other test
      // files announce remotes in the same namespace, all under the instance name of
      // 127.0.0.1: take the answer whose TXT carries this pairing's GUID, and its SRV from
      // the same packet (one responder's records).
      const mdns = await openMulticast('127.0.0.1', silentLogger);
      cleanups.push(() => mdns.close());
      const found = await new Promise<{ port: number; txt: Record<string, string> }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no mDNS answer')), 3000);
        mdns.on('response', (packet) => {
          const all = [...packet.answers, ...packet.additionals];
          const ours = (a: DnsRecord): boolean =>
            a.type === 'TXT' && a.name.endsWith('_touch-remote._tcp.local') && txtOf([a]).Pair === pairing.pairingGuid;
          const txt = all.find(ours);
          const srv = txt && all.find((a) => a.type === 'SRV' && a.name === txt.name);
          if (!srv || !txt) return;
          clearTimeout(timer);
          resolve({ port: (srv.data as DnsSrvData).port, txt: txtOf([txt]) });
        });
        void mdns.send(encodeQuery(0, [{ name: '_touch-remote._tcp.local', type: 'PTR' }]));
      });
      assert.equal(found.port, pairing.port);
      assert.equal(found.txt.DvNm, 'Multicast Remote');
      const code = dmapPairingCode(found.txt.Pair!, '2468').toUpperCase();
      const res = await rawGet(found.port, `/pair?pairingcode=${code}&servicename=0123456789ABCDEF`);
      assert.equal(res.status, 200);
      assert.equal(await pairing.finish(), `0x${found.txt.Pair}`);
    },
  );
});
