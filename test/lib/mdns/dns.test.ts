import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { decodeDnsMessage, type DnsMessage } from '../../../lib/codecs/dns-message';
import { decodePacket, encodeQuery, RecordCache, serviceQueries } from '../../../lib/mdns/dns';
import { scanTypes } from '../../../lib/discovery/scan';

function response(answers: dnsPacket.Answer[], additionals: dnsPacket.Answer[] = [], extra: Partial<dnsPacket.Packet> = {}): DnsMessage {
  // Through the wire format, so the cache sees exactly what arrives from the network.
  return decodeDnsMessage(dnsPacket.encode({ type: 'response', answers, additionals, ...extra }));
}

function service(instance: string, opts: { ttl?: number; port?: number; host?: string; address?: string; txt?: string[] } = {}): dnsPacket.Answer[] {
  const ttl = opts.ttl ?? 120;
  const full = `${instance}._airplay._tcp.local`;
  const host = opts.host ?? `${instance.toLowerCase()}.local`;
  return [
    { name: '_airplay._tcp.local', type: 'PTR', ttl, data: full },
    { name: full, type: 'SRV', ttl, data: { port: opts.port ?? 7000, target: host } },
    { name: full, type: 'TXT', ttl, data: opts.txt ?? [`deviceid=${instance}`] },
    { name: host, type: 'A', ttl, data: opts.address ?? '10.0.0.5' },
  ];
}

describe('DNS-SD queries', () => {
  it('sets the QU bit that dns-packet cannot encode', () => {
    const bytes = encodeQuery(0x35ff, [
      { name: '_airplay._tcp.local', type: 'PTR', unicastResponse: true },
      { name: 'Kitchen._airplay._tcp.local', type: 'ANY' },
    ]);
    assert.equal(bytes.readUInt16BE(0), 0x35ff);
    // First question: 1+8 "_airplay" 1+4 "_tcp" 1+5 "local" 0 = 21 bytes of name.
    assert.equal(bytes.readUInt16BE(12 + 21), 12); // PTR
    assert.equal(bytes.readUInt16BE(12 + 21 + 2), 0x8001);
    const decoded = decodeDnsMessage(bytes);
    assert.deepEqual(decoded.questions, [
      { name: '_airplay._tcp.local', type: 'PTR', class: 1, unicastResponse: true },
      { name: 'Kitchen._airplay._tcp.local', type: 'ANY', class: 1, unicastResponse: false },
    ]);
  });

  it('asks three types per message plus the sleep proxy in each, with distinct ids', () => {
    const messages = serviceQueries(scanTypes(), { sleepProxy: true, unicastResponse: true, firstId: 100 });
    assert.equal(messages.length, 3);
    assert.deepEqual(messages.map((m) => m.id), [100, 101, 102]);
    const asked = messages.flatMap((m) => dnsPacket.decode(m.bytes).questions!.map((q) => q.name));
    assert.equal(asked.filter((n) => n === '_sleep-proxy._udp.local').length, 3);
    assert.equal(new Set(asked).size, 10);
    for (const m of messages) assert.equal(m.types.length, 4);
  });

  it('decodes garbage to null instead of throwing', () => {
    assert.equal(decodePacket(Buffer.alloc(3)), null);
    assert.equal(decodePacket(Buffer.from('000084000001000000000000c00c', 'hex')), null); // pointer to itself
    const counts = Buffer.alloc(12);
    counts.writeUInt16BE(0xffff, 4);
    counts.writeUInt16BE(0xffff, 6);
    assert.equal(decodePacket(counts), null);
  });

  it('drops the packets that stalled dns-packet (counts the packet cannot hold, a lying TXT length)', () => {
    // 24 bytes: dns-packet read past the TXT record, its offset became NaN and it decoded
    // 3 x 65535 records from offset 0 (a third of a second per packet).
    assert.equal(decodePacket(Buffer.from('000084000000ffffffffffff00001000010000007800ff00', 'hex')), null);
    // Counts alone, 13 bytes: dns-packet still walked records until it fell off the end.
    const header = Buffer.alloc(13);
    header.writeUInt16BE(0x8400, 2);
    for (const at of [4, 6, 8, 10]) header.writeUInt16BE(0xffff, at);
    assert.equal(decodePacket(header), null);
  });
});

describe('RecordCache', () => {
  it('assembles PTR + SRV + TXT + A into a service record', () => {
    const cache = new RecordCache(['_airplay._tcp']);
    assert.equal(cache.ingest(response(service('Kitchen').slice(0, 1), service('Kitchen').slice(1)), '10.0.0.99', { now: 0 }), true);
    assert.deepEqual(cache.records(0), [
      {
        type: '_airplay._tcp',
        instance: 'Kitchen',
        host: 'kitchen.local',
        port: 7000,
        addresses: ['10.0.0.5'],
        txt: { deviceid: 'Kitchen' },
        ttl: 120,
        source: '10.0.0.99',
      },
    ]);
    // The same records again change nothing.
    assert.equal(cache.ingest(response(service('Kitchen')), '10.0.0.99', { now: 10 }), false);
  });

  it('forgets a service on goodbye and on TTL expiry', () => {
    const cache = new RecordCache(['_airplay._tcp']);
    cache.ingest(response([...service('A'), ...service('B', { ttl: 2, address: '10.0.0.6' })]), '10.0.0.5', { now: 0 });
    assert.deepEqual(cache.records(0).map((r) => r.instance), ['A', 'B']);
    // Goodbye for A's PTR takes its SRV/TXT along.
    assert.equal(cache.ingest(response([{ name: '_airplay._tcp.local', type: 'PTR', ttl: 0, data: 'A._airplay._tcp.local' }]), '10.0.0.5', { now: 1 }), true);
    assert.deepEqual(cache.records(1).map((r) => r.instance), ['B']);
    assert.deepEqual(cache.dueForRefresh(1500), []);
    assert.deepEqual(cache.dueForRefresh(1700), ['_airplay._tcp']);
    assert.equal(cache.expire(1999), false);
    assert.equal(cache.expire(2000), true);
    assert.deepEqual(cache.records(2000), []);
  });

  it('replaces TXT and honours cache-flush on addresses', () => {
    const cache = new RecordCache(['_airplay._tcp']);
    cache.ingest(response(service('A')), '10.0.0.5', { now: 0 });
    const changed = response([
      { name: 'A._airplay._tcp.local', type: 'TXT', ttl: 120, flush: true, data: ['deviceid=A', 'osvers=18.0'] },
      { name: 'a.local', type: 'A', ttl: 120, flush: true, data: '10.0.0.50' },
    ]);
    assert.equal(cache.ingest(changed, '10.0.0.5', { now: 5 }), true);
    const [rec] = cache.records(5);
    assert.deepEqual(rec!.txt, { deviceid: 'A', osvers: '18.0' });
    assert.deepEqual(rec!.addresses, ['10.0.0.50']);
  });

  it('treats a unicast answer as the complete list for its questions', () => {
    const cache = new RecordCache(['_airplay._tcp']);
    cache.ingest(response([...service('A'), ...service('B')]), '10.0.0.5', { now: 0 });
    const onlyA = response(service('A'), [], { questions: [{ name: '_airplay._tcp.local', type: 'PTR' }] });
    assert.equal(cache.ingest(onlyA, '10.0.0.5', { now: 1, authoritative: true }), true);
    assert.deepEqual(cache.records(1).map((r) => r.instance), ['A']);
  });

  it('reports bare PTRs (a sleep proxy) and flags what the proxy answers later', () => {
    const cache = new RecordCache(['_airplay._tcp']);
    cache.ingest(response([service('Den')[0]!]), '10.0.0.1', { now: 0 });
    assert.deepEqual(cache.bareInstances(), [{ source: '10.0.0.1', name: 'Den._airplay._tcp.local' }]);
    assert.equal(cache.records(0)[0]!.sleepProxy, true);
    assert.equal(cache.records(0)[0]!.host, null);
    cache.ingest(response(service('Den', { address: '10.0.0.20' }).slice(1)), '10.0.0.1', {
      now: 1,
      sleepProxyNames: new Map([['den._airplay._tcp.local', '10.0.0.1']]),
    });
    assert.deepEqual(cache.bareInstances(), []);
    const [rec] = cache.records(1);
    assert.equal(rec!.sleepProxy, true);
    assert.deepEqual(rec!.addresses, ['10.0.0.20']);
    // Once the device answers for itself, it is awake.
    cache.ingest(response(service('Den', { address: '10.0.0.20' }).slice(1)), '10.0.0.20', {
      now: 2,
      sleepProxyNames: new Map([['den._airplay._tcp.local', '10.0.0.1']]),
    });
    assert.equal(cache.records(2)[0]!.sleepProxy, undefined);
  });

  it('ignores unwatched types, stray addresses and malformed records, and stays bounded', () => {
    const cache = new RecordCache(['_airplay._tcp'], { maxEntries: 100 });
    cache.ingest(
      response([
        { name: '_other._tcp.local', type: 'PTR', ttl: 120, data: 'X._other._tcp.local' },
        { name: '_airplay._tcp.local', type: 'PTR', ttl: 120, data: 'pointing.elsewhere.local' },
        { name: 'stranger.local', type: 'A', ttl: 120, data: '10.9.9.9' },
        { name: 'Y._airplay._tcp.local', type: 'SRV', ttl: 120, data: { port: 1, target: '' } },
      ]),
      '10.0.0.5',
    );
    assert.equal(cache.size, 0);
    for (let i = 0; i < 50; i++) cache.ingest(response(service(`S${i}`)), '10.0.0.5');
    assert.ok(cache.size <= 100, `cache grew to ${cache.size}`);
    assert.ok(cache.records().length > 0);
  });
});
