/**
 * THE table of fuzz targets: every codec that reads bytes from a device or the network, with
 * the valid inputs its mutations start from and what must hold of a successful decode. The
 * test (fuzz.test.ts) and `npm run fuzz` (run.ts) both run this table; a new codec is one
 * more entry here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { decodeDmap, encodeTag } from '../../lib/codecs/dmap';
import { decodeDnsMessage, DNS_HEADER_BYTES, MAX_DECODED_QUESTIONS, MAX_DECODED_RECORDS, type DnsMessage } from '../../lib/codecs/dns-message';
import { artworkImage, describeImage, sniffImage } from '../../lib/codecs/image';
import { decodeTlv8, decodeTlv8Items, encodeTlv8, Tlv8Type } from '../../lib/codecs/tlv8';
import { decodeVarint, encodeVarint, VARINT_MAX_BYTES } from '../../lib/codecs/varint';
import { decodeTxt, encodeTxt } from '../../lib/mdns/txt';
import { decodeBplist, encodeBplist, isBplistDict } from '../../lib/codecs/bplist';
import { HttpMessageDecoder } from '../../lib/codecs/http';
import { decodeOpack, encodeOpack } from '../../lib/codecs/opack';
import { decodeXmlPlist, encodeXmlPlist } from '../../lib/codecs/plist-xml';
import { airplayInfoTxt, txtStrings } from '../../lib/protocols/airplay/info';
import { CounterNonceCipher } from '../../lib/hap/channel';
import {
  DataStreamCommand,
  DataStreamFrameDecoder,
  DataStreamMessageType,
  encodeDataStreamFrame,
  splitDataStreamMessages,
} from '../../lib/protocols/airplay/datastream';
import { COMPANION_FRAMES, FrameCodec, HAP_BLOCKS } from '../../lib/support/frames';
import { decodeCompanionMessage, decodeCompanionPairing } from '../../lib/protocols/companion/messages';
import { readRtiSession, readRtiTextOperations, rtiSessionArchive } from '../../lib/protocols/companion/rti';
import { readCapture, stream } from '../support/pyatv-captures';
import { formatHapCredentials, parseHapCredentials } from '../../lib/hap/credentials';
import { dacpLoginParameter } from '../../lib/protocols/dmap/client';
import { encodeMrpFrame, mrpFrameCodec } from '../../lib/protocols/mrp/framing';
import { decodeMrpMessage } from '../../lib/protocols/mrp/messages';
import { encodePng } from '../../lib/simulator/artwork';
import { capturedFrames } from '../lib/protocols/mrp/capture';
import { fixture, REPO_ROOT } from '../support/paths';
import type { FuzzTarget } from '../support/fuzz';

function fail(message: string): never {
  throw new Error(message);
}

/** OwnTone's recorded DACP answers that are DMAP (not the artwork, not its HTML error pages). */
function owntoneDmapBodies(): Buffer[] {
  return readdirSync(fixture('owntone-29.3'))
    .filter((f) => f.endsWith('.bin') && !f.startsWith('nowplayingartwork'))
    .map((f) => readFileSync(fixture('owntone-29.3', f)))
    .filter((b) => b.length > 0 && b.length <= 8192 && !b.subarray(0, 16).toString('latin1').includes('<'));
}

let mrpPlaintexts: Buffer[] | undefined;
/** Every MRP message of the pyatv session captures, decrypted. */
function mrpMessages(): Buffer[] {
  mrpPlaintexts ??= ['mrp-session-playing.jsonl', 'mrp-session-pause.jsonl', 'mrp-pair.jsonl'].flatMap((name) =>
    (['c2s', 's2c'] as const).flatMap((dir) => capturedFrames(name, dir).map((f) => f.plaintext)),
  );
  return mrpPlaintexts.filter((m) => m.length <= 4096);
}

function dnsSeeds(): Buffer[] {
  const response = dnsPacket.encode({
    type: 'response',
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers: [
      { name: '_airplay._tcp.local', type: 'PTR', ttl: 4500, data: 'Kitchen._airplay._tcp.local' },
      { name: 'Kitchen._airplay._tcp.local', type: 'SRV', ttl: 120, flush: true, data: { port: 7000, target: 'kitchen.local' } },
      { name: 'Kitchen._airplay._tcp.local', type: 'TXT', ttl: 120, flush: true, data: ['deviceid=AA:BB:CC:DD:EE:FF', 'model=AppleTV6,2', 'flags=0x244'] },
    ],
    additionals: [
      { name: 'kitchen.local', type: 'A', ttl: 120, flush: true, data: '10.0.0.5' },
      { name: 'kitchen.local', type: 'AAAA', ttl: 120, data: 'fe80::1' },
    ],
  });
  const query = dnsPacket.encode({ type: 'query', questions: [{ name: '_mediaremotetv._tcp.local', type: 'PTR' }, { name: '_sleep-proxy._udp.local', type: 'PTR' }] });
  // With compression (dns-packet never compresses): PTR data and SRV target point back.
  const compressed = Buffer.from(
    '000084000000000200000000' +
      '085f616972706c6179045f746370056c6f63616c00' + '000c000100001194' + '0006' + '03446f6ec00c' +
      'c02b' + '0021800100000078' + '0008' + '000000001b58c01a',
    'hex',
  );
  return [response, query, compressed];
}

/** TXT record data: each string behind its length byte. */
function txtData(strings: readonly Buffer[]): Buffer {
  return Buffer.concat(strings.flatMap((s) => [Buffer.from([s.length]), s]));
}

/** A DNS decode's result must stay within what its input can hold. */
function checkDns(input: Buffer, output: unknown): void {
  const m = output as DnsMessage;
  const records = m.answers.length + m.authorities.length + m.additionals.length;
  const room = Math.floor((input.length - DNS_HEADER_BYTES) / 11);
  if (records > Math.min(MAX_DECODED_RECORDS, room)) fail(`${records} records from ${input.length} bytes`);
  if (m.questions.length > MAX_DECODED_QUESTIONS) fail(`${m.questions.length} questions`);
}


/** Every binary plist of the plistlib vectors (Python's writer and Apple devices'). */
function bplistSeeds(): Buffer[] {
  return readFileSync(fixture('plistlib', 'bplist-vectors.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Buffer.from((JSON.parse(line) as { hex: string }).hex, 'hex'))
    .filter((b) => b.length <= 4096);
}

/** The OPACK vectors (pyatv's encoder, an Apple TV's and an iPhone's payloads). */
function opackSeeds(): Buffer[] {
  return readFileSync(fixture('pyatv-0.16.1', 'opack-vectors.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Buffer.from((JSON.parse(line) as { hex: string }).hex, 'hex'))
    .filter((b) => b.length <= 4096);
}

/** The XML plists Python's plistlib wrote (AirPlay 1 bodies: /play, /playback-info, /server-info). */
function xmlPlistSeeds(): Buffer[] {
  return readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'plistlib', 'xml-plist-vectors.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Buffer.from((JSON.parse(line) as { xml: string }).xml, 'utf8'))
    .filter((b) => b.length <= 4096);
}

/** The OPACK vectors that are Companion messages (pyatv's) or payloads (an Apple TV's, an iPhone's). */
function companionSeeds(): Buffer[] {
  return readFileSync(fixture('pyatv-0.16.1', 'opack-vectors.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { name: string; hex: string })
    .filter((v) => v.name.startsWith('companion-') || v.name.startsWith('doc-'))
    .map((v) => Buffer.from(v.hex, 'hex'));
}

/** The keyboard archives (NSKeyedArchiver plists) pyatv sends, and a session archive of ours. */
function rtiSeeds(): Buffer[] {
  return [
    ...readFileSync(fixture('plistlib', 'bplist-vectors.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { name: string; hex: string })
      .filter((v) => v.name.startsWith('pyatv-rti-'))
      .map((v) => Buffer.from(v.hex, 'hex')),
    rtiSessionArchive(Buffer.alloc(16, 7), 'star wars'),
  ];
}

/** A fixed session key, so mutated sealed frames meet the cipher the seeds were sealed with. */
const FUZZ_KEYS = { encryptKey: Buffer.alloc(32, 0x11), decryptKey: Buffer.alloc(32, 0x11) };

/** A codec of `format` that opens with FUZZ_KEYS (a fresh one per input: counters from 0). */
function sealedCodec(format: typeof HAP_BLOCKS, layout: 'zeros-then-counter' | 'counter-then-zeros'): FrameCodec {
  const codec = new FrameCodec(format, { maxFrameBytes: 64 * 1024 });
  codec.switchTo(format, new CounterNonceCipher(FUZZ_KEYS, layout));
  return codec;
}

/** Feeds `input` in two chunks; returns the frames' payloads and checks no byte was invented. */
function framesOf(codec: FrameCodec, input: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const cut = input.length >> 1;
  codec.push(input.subarray(0, cut), (f) => frames.push(f.payload));
  codec.push(input.subarray(cut), (f) => frames.push(f.payload));
  const out = frames.reduce((n, f) => n + f.length, 0);
  if (out > input.length) fail(`${out} plaintext bytes out of ${input.length}`);
  return frames;
}

/** The AirPlay data-stream `sync` frames of the tunnel: MRP messages in a bplist. */
function dataStreamSeeds(): Buffer[] {
  const payloads = ['ap2-data-params-set-connection-state', 'ap2-data-params-device-info', 'doc-ios-data-sync-comm-payload'];
  const vectors = readFileSync(fixture('plistlib', 'bplist-vectors.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { name: string; hex: string });
  return [
    ...vectors
      .filter((v) => payloads.includes(v.name))
      .map((v) =>
        encodeDataStreamFrame({ messageType: DataStreamMessageType.Sync, command: DataStreamCommand.Sender, seqno: 0x1_0000_0042n, payload: Buffer.from(v.hex, 'hex') }),
      ),
    encodeDataStreamFrame({ messageType: DataStreamMessageType.Reply, command: '', seqno: 7n, payload: encodeBplist({}) }),
  ];
}

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'dmap',
    what: 'DMAP TLV (decodeDmap)',
    run: (input) => decodeDmap(input),
    seeds: () => [...owntoneDmapBodies(), encodeTag('cmst', [encodeTag('mstt', 200), encodeTag('cmsr', 7), encodeTag('minm', 'Title')])],
  },
  {
    name: 'tlv8',
    what: 'TLV8 (decodeTlv8Items, decodeTlv8)',
    run: (input) => {
      const items = decodeTlv8Items(input);
      try {
        decodeTlv8(input);
      } catch (err) {
        if (!/appears twice/.test((err as Error).message)) throw err;
      }
      return items;
    },
    seeds: () => [
      encodeTlv8([[Tlv8Type.State, 1], [Tlv8Type.Method, 0]]),
      encodeTlv8([[Tlv8Type.State, 2], [Tlv8Type.Salt, Buffer.alloc(16, 7)], [Tlv8Type.PublicKey, Buffer.alloc(384, 9)]]),
      encodeTlv8([[Tlv8Type.State, 4], [Tlv8Type.Error, 2]]),
    ],
  },
  {
    name: 'varint',
    what: 'protobuf varints (decodeVarint)',
    run: (input) => decodeVarint(input, 0),
    seeds: () => [encodeVarint(0), encodeVarint(127), encodeVarint(300), encodeVarint(2 ** 32), encodeVarint(Number.MAX_SAFE_INTEGER)],
    check: (_input, output) => {
      if (output === undefined) return;
      const { value, bytes } = output as { value: number; bytes: number };
      if (!Number.isSafeInteger(value) || value < 0 || bytes < 1 || bytes > VARINT_MAX_BYTES) fail(`varint ${value} in ${bytes} bytes`);
    },
    maxLength: 32,
  },
  {
    name: 'mrp-frame',
    what: 'MRP framing (the shared FrameCodec with varint frames, fed in two chunks)',
    run: (input) => {
      const decoder = mrpFrameCodec(64 * 1024);
      const cut = input.length >> 1;
      const frames: Buffer[] = [];
      decoder.push(input.subarray(0, cut), (f) => frames.push(f.payload));
      decoder.push(input.subarray(cut), (f) => frames.push(f.payload));
      const framed = frames.reduce((n, f) => n + f.length, 0);
      if (framed + decoder.bufferedBytes > input.length) fail(`${framed} + ${decoder.bufferedBytes} bytes out of ${input.length}`);
      return frames;
    },
    seeds: () => mrpMessages().slice(0, 20).map((m) => encodeMrpFrame(m)),
  },
  {
    name: 'mrp-message',
    what: 'MRP protobuf messages (decodeMrpMessage)',
    run: (input) => decodeMrpMessage(input),
    seeds: mrpMessages,
  },
  {
    name: 'dns',
    what: 'DNS messages (decodeDnsMessage)',
    run: (input) => decodeDnsMessage(input),
    seeds: dnsSeeds,
    check: checkDns,
    maxLength: 9100,
  },
  {
    name: 'dns-txt',
    what: 'TXT records: DNS TXT data and its key/values (decodeTxt)',
    run: (input) => {
      // The input is the data of one TXT record in an otherwise valid answer.
      const head = Buffer.from('000084000000000100000000' + '0178' + '00' + '0010' + '0001' + '00000078', 'hex');
      const length = Buffer.alloc(2);
      length.writeUInt16BE(Math.min(input.length, 0xffff));
      const message = decodeDnsMessage(Buffer.concat([head, length, input]));
      const txt = decodeTxt(message.answers[0]!.data as Buffer[]);
      if (Object.keys(txt).length > 256) fail(`${Object.keys(txt).length} TXT keys`);
      return txt;
    },
    seeds: () => [
      txtData(encodeTxt({ deviceid: 'AA:BB:CC:DD:EE:FF', model: 'AppleTV6,2', features: '0x5A7FFFF7,0x1E' })),
      txtData([Buffer.from('Name=\u00a0TV'), Buffer.from('a=b'), Buffer.alloc(0), Buffer.from('flag')]),
    ],
  },
  {
    name: 'image',
    what: 'image sniffing (sniffImage, describeImage, artworkImage)',
    run: (input) => {
      const sniffed = sniffImage(input);
      describeImage(input, 'image/png');
      if (sniffed && (sniffed.width ?? 1) <= 0) fail(`width ${sniffed.width}`);
      return artworkImage(input, null, 'fuzz');
    },
    seeds: () => [encodePng(16, 8, (x, y) => [x * 16, y * 32, 128]), readFileSync(fixture('owntone-29.3', 'nowplayingartwork-track1.bin')).subarray(0, 4096), Buffer.from('GIF89a\x20\x00\x10\x00', 'latin1')],
  },
  {
    name: 'credentials',
    what: 'credentials strings (parseHapCredentials, dacpLoginParameter)',
    run: (input) => {
      const text = input.toString('latin1');
      try {
        dacpLoginParameter(text);
      } catch (err) {
        if (!(err instanceof Error && err.name === 'InvalidArgumentError')) throw err;
      }
      const parsed = parseHapCredentials(text);
      if (formatHapCredentials(parseHapCredentials(formatHapCredentials(parsed))) !== formatHapCredentials(parsed)) fail('does not round-trip');
      return parsed;
    },
    seeds: () => [
      Buffer.from(`${'ab'.repeat(32)}:${'cd'.repeat(32)}:${'30'.repeat(36)}:${'31'.repeat(36)}`),
      Buffer.from(`:${'cd'.repeat(32)}::${'ef'.repeat(8)}`),
      Buffer.from('0x0000000000000001'),
      Buffer.from('01234567-89AB-CDEF-0123-456789ABCDEF'),
      Buffer.from('transient'),
    ],
    maxLength: 512,
  },
  {
    name: 'bplist',
    what: 'binary property lists (decodeBplist), re-encoded when they decode',
    run: (input) => decodeBplist(input),
    check: (_input, output) => {
      // Whatever decodes must encode and decode again to the same value.
      const again = encodeBplist(output as Parameters<typeof encodeBplist>[0]);
      decodeBplist(again);
    },
    expected: (err) => err instanceof Error && (err.name === 'DecodeError' || err.name === 'InvalidArgumentError'),
    seeds: bplistSeeds,
  },
  {
    name: 'opack',
    what: 'OPACK (decodeOpack), re-encoded when it decodes',
    run: (input) => decodeOpack(input),
    check: (_input, output) => {
      decodeOpack(encodeOpack(output as Parameters<typeof encodeOpack>[0]));
    },
    expected: (err) => err instanceof Error && (err.name === 'DecodeError' || err.name === 'InvalidArgumentError'),
    seeds: opackSeeds,
  },
  {
    name: 'xml-plist',
    what: 'XML property lists (decodeXmlPlist), re-encoded when they decode',
    run: (input) => decodeXmlPlist(input),
    check: (_input, output) => {
      decodeXmlPlist(encodeXmlPlist(output as Parameters<typeof encodeXmlPlist>[0]));
    },
    expected: (err) => err instanceof Error && (err.name === 'DecodeError' || err.name === 'InvalidArgumentError'),
    seeds: xmlPlistSeeds,
  },
  {
    name: 'airplay-info-txt',
    what: "an AirPlay receiver's TXT record in DNS wire form (txtStrings, airplayInfoTxt), as GET /info carries it",
    run: (input) => ({ strings: txtStrings(input), txt: airplayInfoTxt({ txtAirPlay: input, model: 'AppleTV14,1', features: 0x4a7fdfd5n }) }),
    check: (input, output) => {
      const { strings } = output as { strings: Buffer[] };
      const used = strings.reduce((n, s) => n + 1 + s.length, 0);
      if (used > input.length) fail(`the strings take ${used} bytes of ${input.length}`);
    },
    seeds: () => [
      Buffer.concat(
        ['deviceid=AA:BB:CC:DD:EE:FF', 'features=0x4A7FDFD5,0xBC157FDE', 'model=AppleTV14,1', 'osvers=18.1', 'pk=' + 'ab'.repeat(32), 'flags=0x244'].map((s) =>
          Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]),
        ),
      ),
    ],
    maxLength: 1024,
  },
  {
    name: 'http',
    what: 'HTTP/RTSP messages (HttpMessageDecoder, either kind, fed in two chunks)',
    run: (input) => {
      const decoder = HttpMessageDecoder.forMessages({ maxBodyBytes: 64 * 1024 });
      const cut = input.length >> 1;
      return [...decoder.push(input.subarray(0, cut)), ...decoder.push(input.subarray(cut))];
    },
    seeds: () => [
      ...(['airplay-pair.jsonl', 'airplay-tunnel-pair.jsonl'] as const).flatMap((name) =>
        (['c2s', 's2c'] as const).map((dir) => stream(readCapture(name), dir).subarray(0, 4096)),
      ),
      readFileSync(fixture('pyatv-0.16.1', 'airplay-tunnel-client.decrypted.bin')),
    ],
  },
  {
    name: 'hap-blocks',
    what: 'AirPlay HAP blocks (the shared FrameCodec, sealed, fed in two chunks)',
    run: (input) => framesOf(sealedCodec(HAP_BLOCKS, 'zeros-then-counter'), input),
    seeds: () => {
      const sender = new FrameCodec(HAP_BLOCKS);
      sender.switchTo(HAP_BLOCKS, new CounterNonceCipher(FUZZ_KEYS, 'zeros-then-counter'));
      return [sender.encode(readFileSync(fixture('pyatv-0.16.1', 'airplay-tunnel-client.decrypted.bin')))];
    },
  },
  {
    name: 'companion-frame',
    what: 'Companion frames (the shared FrameCodec: plain pairing frames, and sealed ones)',
    run: (input) => [...framesOf(new FrameCodec(COMPANION_FRAMES, { maxFrameBytes: 64 * 1024 }), input), ...framesOf(sealedCodec(COMPANION_FRAMES, 'counter-then-zeros'), input)],
    seeds: () => (['c2s', 's2c'] as const).map((dir) => stream(readCapture('companion-pair.jsonl'), dir).subarray(0, 4096)),
  },
  {
    name: 'data-stream',
    what: 'AirPlay data-stream frames, their bplist payloads and the MRP messages inside',
    run: (input) => {
      const decoder = new DataStreamFrameDecoder(64 * 1024);
      const frames = [...decoder.push(input.subarray(0, 40)), ...decoder.push(input.subarray(40))];
      for (const frame of frames) {
        if (frame.messageType !== DataStreamMessageType.Sync || frame.payload.length === 0) continue;
        // A device's plist can be any value: only {params: {data: <bytes>}} carries messages.
        const plist = decodeBplist(frame.payload);
        const params = isBplistDict(plist) ? plist.params : undefined;
        const data = isBplistDict(params) ? params.data : undefined;
        if (Buffer.isBuffer(data)) for (const message of splitDataStreamMessages(data)) decodeMrpMessage(message);
      }
      return frames;
    },
    seeds: dataStreamSeeds,
  },
  {
    name: 'companion-message',
    what: 'Companion messages and pairing dicts (decodeCompanionMessage, decodeCompanionPairing)',
    run: (input) => {
      let message: unknown = null;
      try {
        message = decodeCompanionMessage(input);
      } catch (err) {
        if (!(err instanceof Error && err.name === 'DecodeError')) throw err;
      }
      try {
        decodeCompanionPairing(input);
      } catch (err) {
        if (!(err instanceof Error && err.name === 'DecodeError')) throw err;
      }
      return message;
    },
    seeds: companionSeeds,
  },
  {
    name: 'rti',
    what: "Companion keyboard archives (readRtiSession, readRtiTextOperations)",
    run: (input) => {
      let session: unknown = null;
      try {
        session = readRtiSession(input);
      } catch (err) {
        if (!(err instanceof Error && err.name === 'DecodeError')) throw err;
      }
      return [session, readRtiTextOperations(input)];
    },
    seeds: rtiSeeds,
  },
];
