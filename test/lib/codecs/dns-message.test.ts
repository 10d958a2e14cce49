import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { decodeDnsMessage, DNS_MAX_MESSAGE_BYTES, MAX_DECODED_QUESTIONS, MAX_DECODED_RECORDS } from '../../../lib/codecs/dns-message';
import { DecodeError } from '../../../lib/errors';

const header = (flags: number, qd: number, an: number, ns = 0, ar = 0): Buffer => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
};
const name = (...labels: string[]): Buffer => Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
const record = (owner: Buffer, type: number, rdata: Buffer, cls = 1, ttl = 120): Buffer => {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(cls, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
};
const rejects = (bytes: Buffer, pattern: RegExp): void => assert.throws(() => decodeDnsMessage(bytes), (err: unknown) => err instanceof DecodeError && pattern.test(err.message));

describe('DNS message decoder', () => {
  it('decodes what dns-packet encodes: PTR, SRV, TXT, A, other types raw; cache-flush and QU bits', () => {
    const bytes = dnsPacket.encode({
      type: 'response',
      id: 0x1234,
      flags: dnsPacket.AUTHORITATIVE_ANSWER,
      questions: [{ name: '_airplay._tcp.local', type: 'PTR', class: 'IN' }],
      answers: [
        { name: '_airplay._tcp.local', type: 'PTR', ttl: 4500, data: 'Kitchen._airplay._tcp.local' },
        { name: 'Kitchen._airplay._tcp.local', type: 'SRV', ttl: 120, flush: true, data: { priority: 1, weight: 2, port: 7000, target: 'kitchen.local' } },
        { name: 'Kitchen._airplay._tcp.local', type: 'TXT', ttl: 120, flush: true, data: ['deviceid=AA:BB', '', 'model=AppleTV6,2'] },
      ],
      additionals: [
        { name: 'kitchen.local', type: 'A', ttl: 120, flush: true, data: '10.0.0.5' },
        { name: 'kitchen.local', type: 'AAAA', ttl: 120, data: '::1' },
      ],
    });
    const m = decodeDnsMessage(bytes);
    assert.equal(m.id, 0x1234);
    assert.equal(m.type, 'response');
    assert.deepEqual(m.questions, [{ name: '_airplay._tcp.local', type: 'PTR', class: 1, unicastResponse: false }]);
    assert.deepEqual(m.answers[0], { name: '_airplay._tcp.local', type: 'PTR', class: 1, flush: false, ttl: 4500, data: 'Kitchen._airplay._tcp.local' });
    assert.deepEqual(m.answers[1]!.data, { priority: 1, weight: 2, port: 7000, target: 'kitchen.local' });
    assert.equal(m.answers[1]!.flush, true);
    assert.deepEqual((m.answers[2]!.data as Buffer[]).map((b) => b.toString()), ['deviceid=AA:BB', '', 'model=AppleTV6,2']);
    assert.deepEqual(m.additionals[0], { name: 'kitchen.local', type: 'A', class: 1, flush: true, ttl: 120, data: '10.0.0.5' });
    assert.equal(m.additionals[1]!.type, 'AAAA');
    assert.deepEqual(m.additionals[1]!.data, Buffer.from('00000000000000000000000000000001', 'hex'));
    assert.deepEqual(m.authorities, []);
  });

  it('follows compression pointers backwards, in owner names and record data', () => {
    // answer: _airplay._tcp.local PTR Den.<pointer to the question's name>
    const q = name('_airplay', '_tcp', 'local');
    const bytes = Buffer.concat([
      header(0x8400, 1, 1),
      q,
      Buffer.from([0, 12, 0, 1]),
      record(Buffer.from([0xc0, 12]), 12, Buffer.concat([Buffer.from([3]), Buffer.from('Den'), Buffer.from([0xc0, 12])])),
    ]);
    const m = decodeDnsMessage(bytes);
    assert.equal(m.answers[0]!.name, '_airplay._tcp.local');
    assert.equal(m.answers[0]!.data, 'Den._airplay._tcp.local');
  });

  it('reads the QU bit of questions', () => {
    const bytes = Buffer.concat([header(0, 1, 0), name('a', 'local'), Buffer.from([0, 255, 0x80, 1])]);
    assert.deepEqual(decodeDnsMessage(bytes).questions, [{ name: 'a.local', type: 'ANY', class: 1, unicastResponse: true }]);
  });

  it('rejects header counts the packet cannot hold before decoding anything', () => {
    rejects(Buffer.from('000084000000ffffffffffff00001000010000007800ff00', 'hex'), /claims 0 questions and 196605 records/);
    rejects(Buffer.concat([header(0x8400, 0xffff, 0xffff, 0xffff, 0xffff), Buffer.alloc(1)]), /need at least/);
    // One record needs 11 bytes: 10 are not enough.
    rejects(Buffer.concat([header(0x8400, 0, 1), Buffer.alloc(10)]), /need at least 11 bytes; 10 follow/);
  });

  it('rejects every read past the end: labels, pointers, record headers and data, TXT strings', () => {
    rejects(Buffer.alloc(5), /12-byte header/);
    rejects(Buffer.concat([header(0, 1, 0), Buffer.from([0x3f, 0x41, 0x41, 0x41, 0x41])]), /runs past its end/);
    rejects(Buffer.concat([header(0x8400, 0, 1), record(name('a'), 12, Buffer.from([1, 0x61, 0xc0]))]), /pointer at offset \d+ is cut off/);
    rejects(Buffer.concat([header(0x8400, 0, 1), name('a'), Buffer.from([0, 16, 0, 1, 0, 0, 0, 120, 0, 9, 3, 0x61])]), /data at offset \d+ runs past the end/);
    // The lying TXT of D1, inside its record: a string of 255 bytes in 1 byte of data.
    rejects(Buffer.concat([header(0x8400, 0, 1), record(name('a'), 16, Buffer.from([0xff]))]), /TXT string at offset \d+ runs past its record/);
    // A PTR whose name leaves its RDLENGTH (but not the packet).
    rejects(Buffer.concat([header(0x8400, 0, 1), record(name('a'), 12, Buffer.from([3, 0x61])), Buffer.from('bc\0')]), /runs past its end/);
    rejects(Buffer.concat([header(0x8400, 0, 1), record(name('a'), 1, Buffer.from([1, 2, 3, 4, 5]))]), /A record .* 5 bytes of data, not 4/);
    rejects(Buffer.concat([header(0x8400, 0, 1), record(name('a'), 33, Buffer.alloc(6))]), /SRV record .* too short/);
    rejects(Buffer.concat([header(0x8400, 0, 1), record(name('a'), 12, Buffer.concat([name('b'), Buffer.from([0])]))]), /does not fill/);
  });

  it('rejects names that loop, point forwards, chain pointers or grow past 255 bytes', () => {
    rejects(Buffer.from('000084000001000000000000c00c000c0001', 'hex'), /does not point backwards/);
    rejects(Buffer.concat([header(0, 1, 0), Buffer.from([0xc0, 20, 0, 1, 0, 1])]), /does not point backwards/);
    rejects(Buffer.concat([header(0, 1, 0), Buffer.from([0x80, 1, 0, 1, 0, 1])]), /label type 0x80/);
    // A record whose raw data is a root label and n pointers, each to the one before it,
    // then a record whose owner name points at the last of them: n + 1 hops to decode.
    const pointer = (to: number): Buffer => Buffer.from([0xc0 | (to >> 8), to & 0xff]);
    const chain = (n: number): Buffer => {
      const data: Buffer[] = [Buffer.from([0])];
      for (let i = 0; i < n; i++) data.push(pointer(i === 0 ? 23 : 24 + 2 * (i - 1)));
      const first = record(Buffer.from([0]), 99, Buffer.concat(data));
      return Buffer.concat([header(0x8400, 0, 2), first, record(pointer(24 + 2 * (n - 1)), 99, Buffer.alloc(0))]);
    };
    assert.equal(decodeDnsMessage(chain(126)).answers[1]!.name, '.');
    rejects(chain(127), /chains more than 127 pointers/);
    const long = Buffer.concat([header(0, 1, 0), name(...Array.from({ length: 5 }, () => 'x'.repeat(60))), Buffer.from([0, 1, 0, 1])]);
    rejects(long, /longer than 255 bytes/);
  });

  it('is bounded: no message over 9000 bytes, at most 64 questions and 256 records decoded', () => {
    rejects(Buffer.concat([header(0x8400, 0, 0), Buffer.alloc(DNS_MAX_MESSAGE_BYTES)]), /larger than mDNS allows/);
    const many = dnsPacket.encode({
      type: 'response',
      answers: Array.from({ length: 300 }, (_, i) => ({ name: 'a.local', type: 'A' as const, ttl: 1, data: `10.0.${i >> 8}.${i & 255}` })),
    });
    assert.ok(many.length <= DNS_MAX_MESSAGE_BYTES);
    assert.equal(decodeDnsMessage(many).answers.length, MAX_DECODED_RECORDS);
    const questions = dnsPacket.encode({
      type: 'query',
      questions: Array.from({ length: 100 }, (_, i) => ({ name: `q${i}.local`, type: 'PTR' as const })),
      answers: [{ name: 'a.local', type: 'A', ttl: 1, data: '10.0.0.1' }],
    });
    const m = decodeDnsMessage(questions);
    assert.equal(m.questions.length, MAX_DECODED_QUESTIONS);
    assert.deepEqual(m.answers, []);
  });
});
