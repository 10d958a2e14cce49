/**
 * Multicast DNS-SD on 224.0.0.251:5353. Runs only inside the private network namespace
 * `npm test` makes (ATV_TEST_NETNS=1), where the only link is a multicast-capable loopback.
 * Other test processes share that link, so every assertion filters by this run's own
 * identifiers and addresses.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { DeviceBrowser } from '../../../lib/discovery/browser';
import { ServiceAdvertiser } from '../../../lib/mdns/advertiser';
import { browseServices, scan } from '../../../lib/discovery/scan';
import type { DeviceConfig } from '../../../lib/device/interfaces';
import { UnreachableError } from '../../../lib/errors';
import { silentLogger } from '../../../lib/log';
import { closeMulticast, openMulticast } from '../../../lib/mdns/transport';
import { fakeAppleTv, fakeIds, hostilePackets, STALLING_PACKETS, waitForEvent, type FakeIds } from './fakes';
import type { DnsMessage } from '../../../lib/codecs/dns-message';
import { until } from '../../support/wait';

const skip = process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)';

async function advertise(name: string, address: string, ids: FakeIds, opts: { interface?: string; ttl?: number } = {}): Promise<ServiceAdvertiser> {
  const adv = new ServiceAdvertiser(opts.interface ? { interface: opts.interface } : {});
  for (const s of fakeAppleTv(name, address, ids, opts.ttl ? { ttl: opts.ttl } : {})) adv.add(s);
  await adv.start();
  return adv;
}

function hasAll(device: DeviceConfig | undefined, ids: FakeIds): boolean {
  return device !== undefined && [ids.airplay, ids.mrp, ids.companion, ids.raop, ids.dmap].every((id) => device.identifiers.includes(id));
}

/** Multicasts raw packets from port 5353 (what browsers accept answers from). */
function multicastRaw(packets: Buffer[]): Promise<void> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  return new Promise((resolve) => {
    socket.bind(5353, '127.0.0.1', async () => {
      socket.setMulticastInterface('127.0.0.1');
      for (const p of packets) await new Promise((r) => socket.send(p, 5353, '224.0.0.251', r));
      socket.close(() => resolve());
    });
  });
}

describe('multicast scan', { skip }, () => {
  it('groups two devices by address with all their identifiers', async () => {
    const one = fakeIds();
    const two = fakeIds();
    const advs = [await advertise('Living Room', '127.0.0.2', one), await advertise('Bedroom', '127.0.0.3', two)];
    try {
      const devices = await scan({ timeout: 700 });
      const a = devices.find((d) => d.address === '127.0.0.2');
      const b = devices.find((d) => d.address === '127.0.0.3');
      assert.ok(hasAll(a, one), `device 1: ${JSON.stringify(a?.identifiers)}`);
      assert.ok(hasAll(b, two), `device 2: ${JSON.stringify(b?.identifiers)}`);
      assert.ok(!a!.identifiers.includes(two.airplay) && !b!.identifiers.includes(one.airplay));
      assert.equal(a!.name, 'Living Room');
      assert.equal(b!.name, 'Bedroom');
      // _device-info (TXT only) joined its device by name.
      assert.equal(a!.deviceInfo.rawModel, 'AppleTV6,2');
      assert.equal(a!.deviceInfo.model, 'Apple TV 4K');
      assert.equal(a!.services.find((s) => s.protocol === 'mrp')!.port, 49152);
    } finally {
      await Promise.all(advs.map((a) => a.stop()));
    }
  });

  it('works pinned to an interface and stops early for a wanted identifier', async () => {
    const ids = fakeIds();
    const adv = await advertise('Pinned', '127.0.0.4', ids, { interface: '127.0.0.1' });
    try {
      const started = Date.now();
      const devices = await scan({ interface: '127.0.0.1', identifier: ids.companion, timeout: 5000 });
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 1500, `took ${elapsed} ms`);
      assert.equal(devices.length, 1);
      assert.ok(hasAll(devices[0], ids));
      await assert.rejects(scan({ interface: '10.123.45.67', timeout: 500 }), UnreachableError);
    } finally {
      await adv.stop();
    }
  });

  it('browses arbitrary types (the DMAP pairing remote)', async () => {
    const adv = new ServiceAdvertiser({ interface: '127.0.0.1' });
    const instance = `${Date.now()}`.padStart(40, '0');
    adv.add({
      type: '_touch-remote._tcp',
      instance,
      host: 'remote-test.local',
      addresses: ['127.0.0.5'],
      port: 50505,
      txt: { DvNm: 'Test', Pair: '0011223344556677' },
    });
    await adv.start();
    try {
      const records = await browseServices({ types: ['_touch-remote._tcp'], timeout: 500 });
      const mine = records.find((r) => r.instance === instance);
      assert.ok(mine, `not found among ${records.length}`);
      assert.equal(mine.port, 50505);
      assert.deepEqual(mine.addresses, ['127.0.0.5']);
      assert.equal(mine.txt.Pair, '0011223344556677');
    } finally {
      await adv.stop();
    }
  });
});

describe('DeviceBrowser (multicast)', { skip }, () => {
  it('adds, re-reads a changed TXT, and removes on goodbye', async () => {
    const ids = fakeIds();
    const address = '127.0.0.6';
    const mine = (d: DeviceConfig): boolean => d.address === address && d.identifiers.includes(ids.airplay);
    const browser = new DeviceBrowser({ interface: '127.0.0.1', queryInterval: 2000 });
    const adv = new ServiceAdvertiser({ interface: '127.0.0.1' });
    try {
      await browser.start();
      await adv.start();
      const services = fakeAppleTv('Den', address, ids);
      const added = waitForEvent<[DeviceConfig]>(browser, 'added', (d) => mine(d) && hasAll(d, ids), 3000);
      for (const s of services) adv.add(s);
      const [device] = await added;
      assert.equal(device.name, 'Den');
      assert.ok(browser.devices().some(mine));

      const changed = waitForEvent<[DeviceConfig, DeviceConfig]>(browser, 'changed', (d) => mine(d) && d.deviceInfo.osVersion === '14.8', 3000);
      const airplay = services.find((s) => s.type === '_airplay._tcp')!;
      adv.add({ ...airplay, txt: { ...airplay.txt, osvers: '14.8' } });
      const [, previous] = await changed;
      assert.equal(previous.deviceInfo.osVersion, '14.7');

      const removed = waitForEvent<[DeviceConfig]>(browser, 'removed', mine, 3000);
      for (const s of services) adv.remove(s);
      await removed;
      assert.ok(!browser.devices().some(mine));
    } finally {
      await adv.stop();
      await browser.stop();
    }
  });

  it('removes a device whose records expire without a goodbye', async () => {
    const ttlMs = 1000;
    const ids = fakeIds();
    const address = '127.0.0.7';
    const mine = (d: DeviceConfig): boolean => d.address === address && d.identifiers.includes(ids.airplay);
    const browser = new DeviceBrowser({ interface: '127.0.0.1', queryInterval: 5000 });
    try {
      await browser.start();
      // Generous waits: other suites share the CPUs, and a starved process must not fail
      // here; the bounds below are what the test proves.
      const added = waitForEvent<[DeviceConfig]>(browser, 'added', mine, 10_000);
      const firstAnnounced = Date.now();
      const adv = await advertise('Flaky', address, ids, { ttl: ttlMs / 1000, interface: '127.0.0.1' });
      await added;
      const removed = waitForEvent<[DeviceConfig]>(browser, 'removed', mine, ttlMs + 15_000);
      await adv.stop({ goodbye: false });
      const lastHeard = Date.now();
      await removed;
      const gone = Date.now();
      // No record was received before it was first announced, so none may expire sooner
      // than a TTL after that...
      assert.ok(gone - firstAnnounced >= ttlMs, `removed ${gone - firstAnnounced} ms after the first announcement, before the ${ttlMs} ms TTL ran out`);
      // ...and the last one can have arrived no later than the advertiser stopped: expired
      // records must go soon after their TTL, not whenever.
      assert.ok(gone - lastHeard < ttlMs + 5000, `removed only ${gone - lastHeard} ms after the advertiser went silent (TTL ${ttlMs} ms)`);
    } finally {
      await browser.stop();
    }
  });

  it('survives malformed and hostile multicast packets', async () => {
    const ids = fakeIds();
    const address = '127.0.0.8';
    const mine = (d: DeviceConfig): boolean => d.address === address && d.identifiers.includes(ids.airplay);
    const browser = new DeviceBrowser({ interface: '127.0.0.1', queryInterval: 5000 });
    const adv = new ServiceAdvertiser({ interface: '127.0.0.1' });
    try {
      await browser.start();
      await adv.start();
      const big = dnsPacket.encode({
        type: 'response',
        answers: Array.from({ length: 600 }, (_, i) => ({
          name: '_airplay._tcp.local',
          type: 'PTR' as const,
          ttl: 0xffffffff,
          data: `flood${i}._airplay._tcp.local`,
        })),
        additionals: [
          { name: 'x._airplay._tcp.local', type: 'SRV', ttl: 5, data: { port: 1, target: '.' } },
          { name: 'x._airplay._tcp.local', type: 'TXT', ttl: 5, data: Array.from({ length: 150 }, () => Buffer.alloc(200, 0x61)) },
          { name: 'x.local', type: 'AAAA', ttl: 5, data: '::1' },
        ],
      });
      const query = dnsPacket.encode({
        type: 'query',
        questions: Array.from({ length: 500 }, (_, i) => ({ name: `q${i}._airplay._tcp.local`, type: 'ANY' as 'A' })),
      });
      await multicastRaw([...hostilePackets(), big, query]);
      // Both still work afterwards.
      const added = waitForEvent<[DeviceConfig]>(browser, 'added', mine, 3000);
      for (const s of fakeAppleTv('Sturdy', address, ids)) adv.add(s);
      await added;
      assert.ok(!browser.devices().some((d) => d.identifiers.some((id) => id.startsWith('flood'))));
    } finally {
      await adv.stop();
      await browser.stop();
    }
  });
});

describe('the mDNS socket under hostile packets', { skip }, () => {
  it('drops what fails the decoder\'s checks before any listener sees it', async () => {
    const listener = await openMulticast('127.0.0.1', silentLogger);
    const seen: DnsMessage[] = [];
    listener.on('response', (m) => seen.push(m));
    listener.on('query', (m) => seen.push(m));
    const marker = `marker-${fakeIds().raop}.local`;
    try {
      // Loopback keeps the order: once the marker is in, so are the packets before it.
      await multicastRaw([...STALLING_PACKETS, ...hostilePackets(), dnsPacket.encode({ type: 'response', answers: [{ name: marker, type: 'A', ttl: 1, data: '127.0.0.1' }] })]);
      await until(() => seen.some((m) => m.answers.some((a) => a.name === marker)), 'the marker packet');
      assert.ok(listener.dropped >= STALLING_PACKETS.length, `dropped ${listener.dropped}`);
      for (const m of seen) assert.ok(m.answers.length + m.authorities.length + m.additionals.length <= 256, 'a hostile packet was handed on');
    } finally {
      await closeMulticast(listener);
    }
  });
});

describe('sleep proxy', { skip }, () => {
  it('asks the proxy for a sleeping device and flags it deep sleeping', async () => {
    const ids = fakeIds();
    const proxyAddress = '127.0.0.10';
    const instance = `Sleepy-${ids.raop}`;
    const full = `${instance}._airplay._tcp.local`;
    const host = `sleepy-${ids.raop}.local`;
    // The proxy hears multicast queries on *:5353 and answers from its own address, as a
    // proxy on another host would: first bare PTRs, then the records of each instance it is
    // asked about directly.
    const listener = await openMulticast('127.0.0.1', silentLogger);
    const own = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve) => own.bind(5353, proxyAddress, resolve));
    const answer = (packet: dnsPacket.Packet, to: dgram.RemoteInfo): void => {
      own.send(dnsPacket.encode({ type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, ...packet }), to.port, to.address);
    };
    let directQueries = 0;
    listener.on('query', (q, rinfo) => {
      if (q.questions.some((x) => x.name === '_airplay._tcp.local')) {
        const questions = q.questions.map((x) => ({ name: x.name, type: x.type as dnsPacket.RecordType }));
        answer({ id: q.id, questions, answers: [{ name: '_airplay._tcp.local', type: 'PTR', ttl: 10, data: full }] }, rinfo);
      }
    });
    own.on('message', (bytes, rinfo) => {
      const q = dnsPacket.decode(bytes);
      if (q.type !== 'query' || !q.questions?.some((x) => x.name === full)) return;
      directQueries++;
      answer(
        {
          id: q.id,
          questions: q.questions,
          answers: [
            { name: full, type: 'SRV', ttl: 10, data: { port: 7000, target: host } },
            { name: full, type: 'TXT', ttl: 10, data: [`deviceid=${ids.airplay}`, 'model=AppleTV11,1'] },
          ],
          additionals: [{ name: host, type: 'A', ttl: 10, data: '127.0.0.11' }],
        },
        rinfo,
      );
    });
    try {
      // The follow-up to the proxy goes out with the second round of queries, after 1 s.
      const devices = await scan({ interface: '127.0.0.1', timeout: 1400 });
      const device = devices.find((d) => d.identifiers.includes(ids.airplay));
      assert.ok(directQueries > 0, 'the proxy was never asked directly');
      assert.ok(device, 'the sleeping device was not found');
      assert.equal(device.address, '127.0.0.11');
      assert.equal(device.deepSleep, true);
      assert.equal(device.services[0]!.port, 7000);
      assert.equal(device.deviceInfo.model, 'Apple TV 4K (gen 2)');
    } finally {
      await closeMulticast(listener);
      await new Promise<void>((resolve) => own.close(() => resolve()));
    }
  });
});
