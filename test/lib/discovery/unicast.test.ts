/**
 * Unicast DNS-SD over real UDP on 127.0.0.1 (no multicast): a `ServiceAdvertiser` with only
 * its unicast responder, queried by `scan`, `browseServices` and a polling `DeviceBrowser`.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { after, before, describe, it } from 'node:test';
import { DeviceBrowser } from '../../../lib/discovery/browser';
import { ServiceAdvertiser } from '../../../lib/mdns/advertiser';
import { browseServices, scan } from '../../../lib/discovery/scan';
import { isOnLocalLink } from '../../../lib/mdns/transport';
import { ClosedError, InvalidArgumentError } from '../../../lib/errors';
import type { DeviceConfig } from '../../../lib/device/interfaces';
import { fakeAppleTv, fakeIds, hostilePackets, waitForEvent } from './fakes';

const LOOPBACK = '127.0.0.1';

async function unicastAdvertiser(): Promise<ServiceAdvertiser> {
  const adv = new ServiceAdvertiser({ multicast: false, unicast: { host: LOOPBACK, port: 0 } });
  await adv.start();
  return adv;
}

function sendRaw(bytes: Buffer, port: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => socket.send(bytes, port, LOOPBACK, () => socket.close(() => resolve())));
}

describe('unicast scan', () => {
  const ids = fakeIds();
  let adv: ServiceAdvertiser;

  before(async () => {
    adv = await unicastAdvertiser();
    for (const s of fakeAppleTv('Living Room', LOOPBACK, ids)) adv.add(s);
  });
  after(() => adv.stop());

  it('answers every query, with an empty answer for a service it does not have (pyatv waits for one answer per query)', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
    const replies: dnsPacket.DecodedPacket[] = [];
    socket.on('message', (bytes) => replies.push(dnsPacket.decode(bytes)));
    try {
      for (const [id, name] of [
        [0x35ff, '_airport._tcp.local'],
        [0x3600, '_mediaremotetv._tcp.local'],
      ] as const) {
        socket.send(dnsPacket.encode({ type: 'query', id, questions: [{ name, type: 'PTR', class: 'IN' }] }), adv.unicastPort!, LOOPBACK);
      }
      const end = Date.now() + 3000;
      while (replies.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      const byId = new Map(replies.map((r) => [r.id, r]));
      assert.deepEqual(byId.get(0x35ff)?.answers, []);
      assert.equal(byId.get(0x35ff)?.type, 'response');
      assert.ok((byId.get(0x3600)?.answers ?? []).some((a) => a.type === 'PTR'));
    } finally {
      socket.close();
    }
  });

  it('finds the device with every identifier, and returns as soon as every query was answered', async () => {
    const started = Date.now();
    const devices = await scan({ hosts: [LOOPBACK], port: adv.unicastPort!, timeout: 4000 });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    assert.equal(devices.length, 1);
    const [device] = devices;
    assert.equal(device!.address, LOOPBACK);
    assert.equal(device!.name, 'Living Room');
    assert.deepEqual(device!.identifiers, [ids.airplay, ids.mrp, ids.companion, ids.raop, ids.dmap]);
    assert.deepEqual(
      device!.services.map((s) => [s.protocol, s.port]),
      [
        ['mrp', 49152],
        ['airplay', 7000],
        ['companion', 49153],
        ['raop', 7000],
        ['dmap', 3689],
      ],
    );
    assert.equal(device!.services.find((s) => s.protocol === 'airplay')!.pairing, 'mandatory');
    assert.deepEqual(device!.deviceInfo, {
      operatingSystem: 'tvOS',
      model: 'Apple TV 4K',
      rawModel: 'AppleTV6,2',
      osVersion: '14.7',
      buildNumber: '18M60',
      mac: ids.airplay,
    });
    assert.equal(device!.deepSleep, false);
  });

  it('filters by protocol and by identifier', async () => {
    const [onlyMrp] = await scan({ hosts: [LOOPBACK], port: adv.unicastPort!, timeout: 2000, protocols: ['mrp'] });
    assert.deepEqual(onlyMrp!.services.map((s) => s.protocol), ['mrp']);
    const found = await scan({ hosts: [LOOPBACK], port: adv.unicastPort!, timeout: 2000, identifier: ids.companion.toLowerCase() });
    assert.deepEqual(found.map((d) => d.identifier), [ids.airplay]);
    const none = await scan({ hosts: [LOOPBACK], port: adv.unicastPort!, timeout: 2000, identifier: 'nobody' });
    assert.deepEqual(none, []);
  });

  it('returns nothing, without hanging, from a host that never answers', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, LOOPBACK, resolve));
    let queries = 0;
    silent.on('message', () => queries++);
    try {
      const started = Date.now();
      const devices = await scan({ hosts: [LOOPBACK], port: silent.address().port, timeout: 1200 });
      const elapsed = Date.now() - started;
      assert.deepEqual(devices, []);
      assert.ok(elapsed >= 1100 && elapsed < 2500, `took ${elapsed} ms`);
      // Three query messages, re-sent every second.
      assert.ok(queries >= 6, `only ${queries} queries arrived`);
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('ends at once, and stops asking, when its signal aborts', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, LOOPBACK, resolve));
    let queries = 0;
    silent.on('message', () => queries++);
    try {
      const controller = new AbortController();
      const started = Date.now();
      const scanning = scan({ hosts: [LOOPBACK], port: silent.address().port, timeout: 30_000, signal: controller.signal });
      setTimeout(() => controller.abort(), 200);
      await assert.rejects(scanning, ClosedError);
      assert.ok(Date.now() - started < 2000, 'not the 30 s timeout');
      assert.ok(queries > 0, 'it was asking');
      const atAbort = queries;
      await new Promise((r) => setTimeout(r, 1500)); // longer than the 1 s re-send interval
      assert.equal(queries, atAbort, 'no query after the abort: its timer and socket are gone');
      const browsing = browseServices({ types: ['_touch-remote._tcp'], hosts: [LOOPBACK], port: silent.address().port, timeout: 30_000, signal: AbortSignal.abort() });
      await assert.rejects(browsing, ClosedError);
      assert.equal(queries, atAbort, 'an already aborted browse sends nothing');
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('rejects bad options with a typed error', async () => {
    await assert.rejects(scan({ timeout: -1 }), InvalidArgumentError);
    await assert.rejects(scan({ hosts: [LOOPBACK], port: 70000 }), InvalidArgumentError);
    await assert.rejects(scan({ interface: 'eth0' }), InvalidArgumentError);
    await assert.rejects(scan({ protocols: ['gopher' as 'mrp'] }), InvalidArgumentError);
  });
});

describe('browseServices (unicast)', () => {
  it('finds a _touch-remote._tcp remote with its TXT', async () => {
    const adv = await unicastAdvertiser();
    try {
      adv.add({
        type: '_touch-remote._tcp',
        instance: '0000000000000000000000000000002130706433',
        host: 'remote.local',
        addresses: [LOOPBACK],
        port: 51234,
        txt: { DvNm: 'Node-RED', RemV: '10000', DvTy: 'iPod', RemN: 'Remote', txtvers: '1', Pair: 'CCE7C43F4EF57A0F' },
      });
      const started = Date.now();
      const records = await browseServices({ types: ['_touch-remote._tcp'], hosts: [LOOPBACK], port: adv.unicastPort!, timeout: 3000 });
      assert.ok(Date.now() - started < 1500);
      assert.equal(records.length, 1);
      const [r] = records;
      assert.equal(r!.type, '_touch-remote._tcp');
      assert.equal(r!.instance, '0000000000000000000000000000002130706433');
      assert.equal(r!.host, 'remote.local');
      assert.equal(r!.port, 51234);
      assert.deepEqual(r!.addresses, [LOOPBACK]);
      assert.equal(r!.txt.Pair, 'CCE7C43F4EF57A0F');
      // Legacy unicast answers carry at most 10 s TTLs.
      assert.ok(r!.ttl > 0 && r!.ttl <= 10, `ttl ${r!.ttl}`);
      assert.equal(r!.source, LOOPBACK);
    } finally {
      await adv.stop();
    }
  });
});

describe('ServiceAdvertiser (unicast responder)', () => {
  it('answers SRV, TXT, A and ANY questions and echoes the id', async () => {
    const adv = await unicastAdvertiser();
    const client = dgram.createSocket('udp4');
    try {
      adv.add({ type: '_touch-able._tcp', instance: 'ABC_1', host: 'den.local', addresses: ['127.0.0.9'], port: 3689, txt: { CtlN: 'Den' } });
      await new Promise<void>((resolve) => client.bind(0, LOOPBACK, resolve));
      const ask = (id: number, questions: dnsPacket.Question[]): Promise<dnsPacket.DecodedPacket> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no answer')), 1000);
          client.once('message', (bytes) => {
            clearTimeout(timer);
            resolve(dnsPacket.decode(bytes));
          });
          client.send(dnsPacket.encode({ type: 'query', id, questions }), adv.unicastPort!, LOOPBACK);
        });
      const any = await ask(7, [{ name: 'ABC_1._touch-able._tcp.local', type: 'ANY' as 'A' }]);
      assert.equal(any.id, 7);
      assert.deepEqual(any.answers!.map((a) => a.type).sort(), ['SRV', 'TXT']);
      assert.deepEqual(any.additionals!.map((a) => [a.type, (a as { data: unknown }).data]), [['A', '127.0.0.9']]);
      const a = await ask(8, [{ name: 'den.local', type: 'A' }]);
      assert.deepEqual(a.answers!.map((r) => (r as { data: unknown }).data), ['127.0.0.9']);
      const meta = await ask(9, [{ name: '_services._dns-sd._udp.local', type: 'PTR' }]);
      assert.deepEqual(meta.answers!.map((r) => (r as { data: unknown }).data), ['_touch-able._tcp.local']);
    } finally {
      client.close();
      await adv.stop();
    }
  });

  it('answers legacy unicast queries only from its own link', () => {
    assert.equal(isOnLocalLink('127.0.0.1'), true);
    assert.equal(isOnLocalLink('127.45.6.7'), true);
    // TEST-NET-3 (RFC 5737) is on no real link.
    assert.equal(isOnLocalLink('203.0.113.9'), false);
  });

  it('validates what it is asked to advertise', () => {
    const adv = new ServiceAdvertiser({ multicast: false });
    const good = { type: '_touch-remote._tcp', instance: 'R', host: 'r.local', addresses: ['127.0.0.1'], port: 1, txt: {} };
    assert.throws(() => adv.add({ ...good, type: 'touch-remote' }), InvalidArgumentError);
    assert.throws(() => adv.add({ ...good, instance: 'x'.repeat(64) }), InvalidArgumentError);
    assert.throws(() => adv.add({ ...good, addresses: ['::1'] }), InvalidArgumentError);
    assert.throws(() => adv.add({ ...good, txt: { k: 'v'.repeat(300) } }), InvalidArgumentError);
    assert.throws(() => new ServiceAdvertiser({ unicast: { host: 'localhost', port: 0 } }), InvalidArgumentError);
  });

  it('survives malformed and hostile packets and keeps answering', async () => {
    const ids = fakeIds();
    const adv = await unicastAdvertiser();
    try {
      for (const s of fakeAppleTv('Hardy', LOOPBACK, ids)) adv.add(s);
      const port = adv.unicastPort!;
      const manyQuestions = dnsPacket.encode({
        type: 'query',
        questions: Array.from({ length: 2000 }, () => ({ name: '_airplay._tcp.local', type: 'PTR' as const })),
      });
      const weird = dnsPacket.encode({
        type: 'query',
        questions: [
          { name: '.', type: 'PTR' },
          { name: '_airplay._tcp.local', type: 'PTR', class: 'CH' },
          { name: 'x'.repeat(60), type: 'NULL' },
        ],
      });
      for (const p of [...hostilePackets(), manyQuestions, weird]) await sendRaw(p, port);
      const devices = await scan({ hosts: [LOOPBACK], port, timeout: 2000 });
      assert.deepEqual(devices[0]?.identifiers, [ids.airplay, ids.mrp, ids.companion, ids.raop, ids.dmap]);
    } finally {
      await adv.stop();
    }
  });
});

describe('DeviceBrowser (unicast polling)', () => {
  it('adds, changes and removes a polled device', async () => {
    const ids = fakeIds();
    const adv = await unicastAdvertiser();
    const browser = new DeviceBrowser({ hosts: [LOOPBACK], port: adv.unicastPort!, queryInterval: 300 });
    const mine = (d: DeviceConfig): boolean => d.identifiers.includes(ids.airplay);
    try {
      const services = fakeAppleTv('Polled', LOOPBACK, ids);
      for (const s of services) adv.add(s);
      const added = waitForEvent<[DeviceConfig]>(browser, 'added', mine, 3000);
      await browser.start();
      const [device] = await added;
      assert.equal(device.name, 'Polled');
      assert.deepEqual(browser.devices().map((d) => d.address), [LOOPBACK]);

      const changed = waitForEvent<[DeviceConfig, DeviceConfig]>(browser, 'changed', (d) => mine(d), 3000);
      const airplay = services.find((s) => s.type === '_airplay._tcp')!;
      adv.add({ ...airplay, txt: { ...airplay.txt, osvers: '14.8' } });
      const [now, before] = await changed;
      assert.equal(before.deviceInfo.osVersion, '14.7');
      assert.equal(now.deviceInfo.osVersion, '14.8');

      // The host stops answering: its records outlive a few polls, then go.
      const removed = waitForEvent<[DeviceConfig]>(browser, 'removed', mine, 4000);
      for (const s of services) adv.remove(s);
      await removed;
      assert.deepEqual(browser.devices(), []);
    } finally {
      await browser.stop();
      await adv.stop();
    }
  });

  it('a throwing listener is logged and the other listeners still get the device', async () => {
    const ids = fakeIds();
    const adv = await unicastAdvertiser();
    const warnings: string[] = [];
    const browser = new DeviceBrowser({ hosts: [LOOPBACK], port: adv.unicastPort!, queryInterval: 300, logger: { debug() {}, warn: (m) => warnings.push(m) } });
    try {
      for (const s of fakeAppleTv('Polled', LOOPBACK, ids)) adv.add(s);
      browser.on('added', () => {
        throw new Error('bug in an added listener');
      });
      const added = waitForEvent<[DeviceConfig]>(browser, 'added', (d) => d.identifiers.includes(ids.airplay), 3000);
      await browser.start();
      const [device] = await added;
      assert.equal(device.name, 'Polled');
      assert.deepEqual(warnings, ['a "added" listener threw: bug in an added listener']);
    } finally {
      await browser.stop();
      await adv.stop();
    }
  });
});
