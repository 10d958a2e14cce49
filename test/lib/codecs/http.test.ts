import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  encodeHttpRequest,
  encodeHttpResponse,
  HTTP_MAX_HEADER_BYTES,
  HttpHeaders,
  HttpMessageDecoder,
  rtspEventReply,
  type HttpMessage,
  type HttpRequest,
} from '../../../lib/codecs/http';
import { decodeTlv8, Tlv8Type } from '../../../lib/codecs/tlv8';
import { DecodeError, InvalidArgumentError } from '../../../lib/errors';
import { CounterNonceCipher } from '../../../lib/hap/channel';
import { FrameCodec, HAP_BLOCKS } from '../../../lib/support/frames';
import { bplistVector } from '../../support/bplist-vectors';
import { fixture } from '../../support/paths';
import { readCapture, stream } from '../../support/pyatv-captures';
import { randomChunks, randomInt, seededRandom } from '../../support/random';

const PYATV_HEADERS = (length: number, hkp = '3'): Array<[string, string]> => [
  ['Content-Length', String(length)],
  ['User-Agent', 'AirPlay/320.20'],
  ['Connection', 'keep-alive'],
  ['X-Apple-HKP', hkp],
  ['Content-Type', 'application/octet-stream'],
];

const tlvState = (body: Buffer): number | undefined => decodeTlv8(body).get(Tlv8Type.State)?.[0];

/** Decodes `bytes` pushed in the given pieces; asserts nothing is left over. */
function decodeAll<M extends HttpMessage>(decoder: HttpMessageDecoder<M>, pieces: Buffer[]): M[] {
  const out = pieces.flatMap((p) => decoder.push(p));
  assert.equal(decoder.pendingBytes, 0, 'nothing left over');
  return out;
}

/** Comparable form of a message (headers as pairs, body as hex). */
const plain = (m: HttpMessage): unknown => ({ ...m, headers: m.headers.entries(), body: m.body.toString('hex') });

interface DecryptedCapture {
  encrypted_c2s_starts_at_byte: number;
  plaintext_c2s_messages_before_encryption: string[];
  decrypted_requests: Array<{ request_line: string; headers: Array<[string, string]>; body_hex: string }>;
}

const readDecrypted = (name: string): { json: DecryptedCapture; bin: Buffer } => ({
  json: JSON.parse(readFileSync(fixture('pyatv-0.16.1', `${name}.decrypted.json`), 'utf8')) as DecryptedCapture,
  bin: readFileSync(fixture('pyatv-0.16.1', `${name}.decrypted.bin`)),
});

/** The control-connection key pyatv encrypted its requests with, per capture. */
const CLIENT_WRITE_KEYS: Record<string, string> = {
  'airplay-tunnel-client': '72ae42c796913fc7e69f21d14019d06a57a2e41d9957c9b6eff0a37dbbbe0dd9',
  'airplay-tunnel-client-transient': '4a4b1a27babb6bce2aac908863367a14401dce0c7f6255ddfefb58e9973caac9',
};

/** What a receiver's control connection sees: plaintext HTTP pairing, then HAP blocks, one decoder throughout. */
function serverSide(name: string): { requests: HttpRequest[]; decrypted: Buffer } {
  const { json } = readDecrypted(name);
  const c2s = stream(readCapture(`${name}.jsonl`), 'c2s');
  const decoder = HttpMessageDecoder.forRequests();
  const requests = decoder.push(c2s.subarray(0, json.encrypted_c2s_starts_at_byte));
  assert.equal(decoder.pendingBytes, 0, 'encryption starts at a message boundary');
  // The device's side of the shared channel: HAP blocks opened with the client's write key.
  const channel = new FrameCodec(HAP_BLOCKS);
  channel.switchTo(HAP_BLOCKS, new CounterNonceCipher({ encryptKey: Buffer.alloc(32), decryptKey: Buffer.from(CLIENT_WRITE_KEYS[name]!, 'hex') }, 'zeros-then-counter'));
  const blocks: Buffer[] = [];
  channel.push(c2s.subarray(json.encrypted_c2s_starts_at_byte), (frame) => blocks.push(frame.payload));
  const decrypted = Buffer.concat(blocks);
  requests.push(...decoder.push(decrypted));
  assert.equal(decoder.pendingBytes, 0);
  return { requests, decrypted };
}

describe('HTTP/RTSP message codec', () => {
  describe('pyatv 0.16.1 captures', () => {
    for (const capture of ['airplay-pair.jsonl', 'airplay-tunnel-pair.jsonl']) {
      it(`${capture}: decodes the four pair-setup requests and their four responses`, () => {
        const chunks = readCapture(capture);
        const requests = decodeAll(HttpMessageDecoder.forRequests(), [stream(chunks, 'c2s')]);
        assert.deepEqual(
          requests.map((r) => `${r.method} ${r.target} ${r.protocol}`),
          ['POST /pair-pin-start HTTP/1.1', 'POST /pair-setup HTTP/1.1', 'POST /pair-setup HTTP/1.1', 'POST /pair-setup HTTP/1.1'],
        );
        // pyatv sends no Content-Length on the bodiless /pair-pin-start, and puts it first otherwise.
        assert.deepEqual(requests[0]!.headers.entries(), PYATV_HEADERS(0).slice(1));
        assert.deepEqual(requests[1]!.headers.entries(), PYATV_HEADERS(6));
        assert.equal(requests[1]!.body.toString('hex'), '000100060101', 'M1: Method 0, State 1');
        assert.deepEqual(requests.map((r) => r.body.length), [0, 6, 457, 173]);
        assert.deepEqual(requests.slice(1).map((r) => tlvState(r.body)), [1, 3, 5]);

        const responses = decodeAll(HttpMessageDecoder.forResponses(), [stream(chunks, 's2c')]);
        assert.deepEqual(responses.map((r) => [r.protocol, r.status, r.reason]), Array(4).fill(['HTTP/1.1', 200, 'OK']));
        // The fake device answers /pair-pin-start without Content-Length: an empty body.
        assert.deepEqual(responses[0]!.headers.entries(), [['Server', 'pyatv-www/0.16.1'], ['CSeq', '1']]);
        assert.deepEqual(responses.map((r) => r.body.length), [0, 409, 69, 159]);
        assert.deepEqual(responses.slice(1).map((r) => tlvState(r.body)), [2, 4, 6]);
        assert.equal(responses[1]!.headers.get('content-type'), 'application/x-apple-binary-plist');
      });

      it(`${capture}: re-encodes every message to the captured bytes`, () => {
        const chunks = readCapture(capture);
        const c2s = stream(chunks, 'c2s');
        const requests = HttpMessageDecoder.forRequests().push(c2s);
        assert.equal(Buffer.concat(requests.map(encodeHttpRequest)).toString('latin1'), c2s.toString('latin1'));

        const s2c = stream(chunks, 's2c');
        const responses = HttpMessageDecoder.forResponses().push(s2c);
        const reencoded = responses.map(encodeHttpResponse);
        // Our encoder always gives a response a length; that is the one difference.
        assert.equal(reencoded[0]!.toString('latin1'), 'HTTP/1.1 200 OK\r\nServer: pyatv-www/0.16.1\r\nCSeq: 1\r\nContent-Length: 0\r\n\r\n');
        const rest = s2c.subarray(s2c.indexOf('\r\n\r\n') + 4);
        assert.equal(Buffer.concat(reencoded.slice(1)).toString('latin1'), rest.toString('latin1'));
      });
    }

    for (const [name, verifyTargets] of [
      ['airplay-tunnel-client', ['/pair-verify', '/pair-verify']],
      ['airplay-tunnel-client-transient', ['/pair-pin-start', '/pair-setup', '/pair-setup']],
    ] as const) {
      it(`${name}: plaintext pairing, then the HAP-encrypted RTSP SETUP, through one decoder`, () => {
        const { json, bin } = readDecrypted(name);
        const { requests, decrypted } = serverSide(name);
        assert.equal(decrypted.toString('hex'), bin.toString('hex'), 'the HAP layer yields the recorded plaintext');
        assert.deepEqual(
          requests.slice(0, -1).map((r) => `${r.method} ${r.target} ${r.protocol}`),
          json.plaintext_c2s_messages_before_encryption,
        );
        assert.deepEqual(requests.slice(0, -1).map((r) => r.target), verifyTargets);
        const setup = requests.at(-1)!;
        const expected = json.decrypted_requests[0]!;
        assert.equal(`${setup.method} ${setup.target} ${setup.protocol}`, expected.request_line);
        assert.match(setup.target, /^rtsp:\/\/127\.0\.0\.1\/\d+$/);
        assert.deepEqual(setup.headers.entries(), expected.headers);
        assert.equal(setup.headers.get('cseq'), '0');
        assert.equal(setup.body.toString('hex'), expected.body_hex);
        assert.equal(setup.body.subarray(0, 8).toString('latin1'), 'bplist00');
        assert.equal(encodeHttpRequest(setup).toString('hex'), bin.toString('hex'), 'SETUP re-encodes byte for byte');
      });
    }

    it('airplay-tunnel-client: the fake device answers both pair-verify requests (M2, M4)', () => {
      const responses = decodeAll(HttpMessageDecoder.forResponses(), [stream(readCapture('airplay-tunnel-client.jsonl'), 's2c')]);
      assert.deepEqual(responses.map((r) => [r.status, r.headers.get('Content-Length'), tlvState(r.body)]), [
        [200, '159', 2],
        [200, '3', 4],
      ]);
    });

    it('cuts the same messages at every split point and byte by byte', () => {
      const pair = readCapture('airplay-pair.jsonl');
      const streams: Array<[string, Buffer, () => HttpMessageDecoder]> = [
        ['airplay-pair c2s', stream(pair, 'c2s'), () => HttpMessageDecoder.forRequests()],
        ['airplay-pair s2c', stream(pair, 's2c'), () => HttpMessageDecoder.forResponses()],
        ['decrypted SETUP', readDecrypted('airplay-tunnel-client').bin, () => HttpMessageDecoder.forMessages()],
      ];
      for (const [label, bytes, make] of streams) {
        const whole = decodeAll(make(), [bytes]).map(plain);
        assert.ok(whole.length > 0);
        for (let at = 0; at <= bytes.length; at++) {
          assert.deepEqual(decodeAll(make(), [bytes.subarray(0, at), bytes.subarray(at)]).map(plain), whole, `${label}: split at ${at}`);
        }
        const decoder = make();
        const got: HttpMessage[] = [];
        for (let i = 0; i < bytes.length; i++) {
          got.push(...decoder.push(bytes.subarray(i, i + 1)));
          const done = got.reduce((n, m) => n + (m.kind === 'request' ? encodeHttpRequest(m) : encodeHttpResponse(m)).length, 0);
          if (label !== 'airplay-pair s2c') assert.equal(decoder.pendingBytes + done, i + 1, `${label}: byte ${i}`);
        }
        assert.deepEqual(got.map(plain), whole, `${label}: byte by byte`);
      }
    });
  });

  describe('messages written by Apple devices (as quoted in pyatv’s protocol documentation)', () => {
    const body = (name: string): Buffer => bplistVector(name).bytes;
    const rtsp = (head: string, payload: Buffer): Buffer => Buffer.concat([Buffer.from(head.replace(/\n/g, '\r\n') + '\r\n'), payload]);

    it('decodes an iOS SETUP, the Apple TV’s reply, its updateInfo event and the feedback reply', () => {
      const fromIos = rtsp(
        'SETUP rtsp://10.0.10.254/14511846595692938970 RTSP/1.0\nContent-Length: 376\nContent-Type: application/x-apple-binary-plist\nCSeq: 7\nUser-Agent: AirPlay/550.10\n',
        body('doc-ios-setup-event-request'),
      );
      const [setup] = decodeAll(HttpMessageDecoder.forRequests(), [fromIos]);
      assert.equal(setup!.method, 'SETUP');
      assert.equal(setup!.protocol, 'RTSP/1.0');
      assert.equal(setup!.body.length, 376);
      assert.equal(encodeHttpRequest(setup!).toString('hex'), fromIos.toString('hex'));

      const fromAppleTv = Buffer.concat([
        rtsp(
          'RTSP/1.0 200 OK\nDate: Fri, 20 Aug 2021 17:09:58 GMT\nContent-Length: 59\nContent-Type: application/x-apple-binary-plist\nServer: AirTunes/550.10\nCSeq: 7\n',
          body('doc-appletv-setup-event-reply'),
        ),
        rtsp('RTSP/1.0 200 OK\nDate: Thu, 19 Aug 2021 20:17:58 GMT\nContent-Length: 0\nAudio-Latency: 0\nServer: AirTunes/550.10\nCSeq: 9\n', Buffer.alloc(0)),
        rtsp(
          'RTSP/1.0 200 OK\nDate: Thu, 19 Aug 2021 20:18:08 GMT\nContent-Length: 55\nContent-Type: application/x-apple-binary-plist\nServer: AirTunes/550.10\nCSeq: 12\n',
          body('doc-appletv-feedback-reply'),
        ),
      ]);
      const replies = decodeAll(HttpMessageDecoder.forResponses(), [fromAppleTv]);
      assert.deepEqual(replies.map((r) => [r.status, r.headers.get('CSeq'), r.body.length]), [
        [200, '7', 59],
        [200, '9', 0],
        [200, '12', 55],
      ]);
      assert.equal(Buffer.concat(replies.map(encodeHttpResponse)).toString('hex'), fromAppleTv.toString('hex'));
    });

    it('answers the Apple TV’s updateInfo event the way iOS does', () => {
      const event = rtsp(
        'POST /command RTSP/1.0\nCSeq: 0\nContent-Length: 1386\nContent-Type: application/x-apple-binary-plist\n',
        body('doc-appletv-event-updateInfo'),
      );
      const [request] = decodeAll(HttpMessageDecoder.forRequests(), [event]);
      assert.equal(request!.body.length, 1386);
      const reply = rtspEventReply(request!);
      assert.equal(
        encodeHttpResponse(reply).toString('latin1'),
        'RTSP/1.0 200 OK\r\nContent-Length: 0\r\nAudio-Latency: 0\r\nServer: AirTunes/550.10\r\nCSeq: 0\r\n\r\n',
      );
      // And the reply reads back as what it is.
      assert.deepEqual(plain(HttpMessageDecoder.forResponses().push(encodeHttpResponse(reply))[0]!), plain(reply));
    });

    it('rtspEventReply echoes CSeq and protocol, takes another Server, and leaves CSeq out when there was none', () => {
      const reply = rtspEventReply({ protocol: 'HTTP/1.1', headers: new HttpHeaders({ cseq: 41 }) }, 'atvlink');
      assert.equal(encodeHttpResponse(reply).toString('latin1'), 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAudio-Latency: 0\r\nServer: atvlink\r\nCSeq: 41\r\n\r\n');
      assert.equal(rtspEventReply({ protocol: 'RTSP/1.0', headers: new HttpHeaders() }).headers.has('CSeq'), false);
    });

    it('reads `Content-Length:0` without a space, as an Apple TV sent it', () => {
      const [reply] = HttpMessageDecoder.forResponses().push(Buffer.from('RTSP/1.0 200 OK\r\nContent-Length:0\r\nAudio-Latency: 0\r\nCSeq: 0\r\n\r\n'));
      assert.equal(reply!.headers.get('Content-Length'), '0');
    });
  });

  describe('decoding rules', () => {
    it('tells requests and responses apart in forMessages, and keeps pipelined messages in order', () => {
      const bytes = Buffer.from(
        'RECORD rtsp://10.0.10.254/1 RTSP/1.0\r\nCSeq: 9\r\n\r\n' +
          'RTSP/1.0 200 OK\r\nCSeq: 9\r\nContent-Length: 3\r\n\r\nabc' +
          'GET /info HTTP/1.0\r\n\r\n',
      );
      const messages = decodeAll(HttpMessageDecoder.forMessages(), [bytes]);
      assert.deepEqual(
        messages.map((m) => (m.kind === 'request' ? `${m.method} ${m.protocol}` : `${m.status} ${m.body.toString()}`)),
        ['RECORD RTSP/1.0', '200 abc', 'GET HTTP/1.0'],
      );
    });

    it('trims optional whitespace around values, keeps latin1 bytes, looks names up in any case', () => {
      const [r] = HttpMessageDecoder.forRequests().push(Buffer.from('GET / HTTP/1.1\r\nX-Name: \t caf\xe9 \t\r\nx-name:\r\n\r\n', 'latin1'));
      assert.deepEqual(r!.headers.entries(), [['X-Name', 'caf\xe9'], ['x-name', '']]);
      assert.deepEqual(r!.headers.getAll('X-NAME'), ['caf\xe9', '']);
      assert.equal(encodeHttpRequest(r!).toString('latin1'), 'GET / HTTP/1.1\r\nX-Name: caf\xe9\r\nx-name: \r\n\r\n');
    });

    it('reads a status line with an empty or missing reason phrase', () => {
      const got = HttpMessageDecoder.forResponses().push(Buffer.from('RTSP/1.0 200 \r\nContent-Length: 0\r\n\r\nHTTP/1.1 470\r\n\r\n'));
      assert.deepEqual(got.map((r) => [r.status, r.reason]), [
        [200, ''],
        [470, ''],
      ]);
    });

    it('gives 1xx, 204 and 304 responses no body whatever their Content-Length says', () => {
      const got = HttpMessageDecoder.forResponses().push(
        Buffer.from('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'),
      );
      assert.deepEqual(got.map((r) => [r.status, r.body.toString()]), [
        [204, ''],
        [304, ''],
        [200, 'hi'],
      ]);
    });

    it('accepts a repeated Content-Length with the same value', () => {
      const [r] = HttpMessageDecoder.forRequests().push(Buffer.from('POST / RTSP/1.0\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'));
      assert.equal(r!.body.toString(), 'ok');
    });

    it('takes a header section of exactly the limit and a body of exactly the limit', () => {
      const head = 'GET / HTTP/1.1\r\nContent-Length: 4\r\n\r\n';
      const [r] = HttpMessageDecoder.forRequests({ maxHeaderBytes: head.length, maxBodyBytes: 4 }).push(Buffer.from(`${head}body`));
      assert.equal(r!.body.toString(), 'body');
      const fields = Array.from({ length: 3 }, (_, i) => `A${i}: x\r\n`).join('');
      assert.equal(HttpMessageDecoder.forRequests({ maxHeaderCount: 3 }).push(Buffer.from(`GET / HTTP/1.1\r\n${fields}\r\n`)).length, 1);
    });
  });

  describe('hostile and malformed input', () => {
    const cases: Array<[string, 'request' | 'response', string, RegExp]> = [
      ['bare LF', 'request', 'GET / HTTP/1.1\nHost: x\r\n\r\n', /bare LF/],
      ['bare LF ending the head', 'request', 'GET / HTTP/1.1\r\nHost: x\n\n', /bare LF/],
      ['bare CR', 'request', 'GET / HTTP/1.1\rHost: x\r\n\r\n', /CR not followed by LF/],
      ['empty start line', 'request', '\r\nGET / HTTP/1.1\r\n\r\n', /empty line where a start line/],
      ['NUL in a value', 'request', 'GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n', /control byte 0x00/],
      ['binary garbage', 'response', '\x16\x03\x01\x02\x00', /control byte 0x16/],
      ['DEL in the start line', 'request', 'GET /\x7f HTTP/1.1\r\n\r\n', /control byte 0x7f/],
      ['obsolete line folding', 'request', 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n', /folded header line/],
      ['space before the colon', 'request', 'GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello', /malformed header line/],
      ['no colon', 'request', 'GET / HTTP/1.1\r\nJustText\r\n\r\n', /malformed header line/],
      ['bad name character', 'request', 'GET / HTTP/1.1\r\nA(b): c\r\n\r\n', /malformed header line/],
      ['two spaces in the request line', 'request', 'GET  / HTTP/1.1\r\n\r\n', /malformed request line/],
      ['no protocol', 'request', 'GET /\r\n\r\n', /malformed request line/],
      ['8-bit target', 'request', 'GET /\xe9 HTTP/1.1\r\n\r\n', /malformed request line/],
      ['lower-case protocol', 'request', 'GET / http/1.1\r\n\r\n', /unsupported protocol "http\/1.1"/],
      ['HTTP/2.0 request', 'request', 'GET / HTTP/2.0\r\n\r\n', /unsupported protocol "HTTP\/2.0"/],
      ['RTSP/2.0 response', 'response', 'RTSP/2.0 200 OK\r\n\r\n', /unsupported protocol/],
      ['two-digit status', 'response', 'HTTP/1.1 20 OK\r\n\r\n', /malformed status line/],
      ['four-digit status', 'response', 'HTTP/1.1 2000 OK\r\n\r\n', /malformed status line/],
      ['response where a request is expected', 'request', 'RTSP/1.0 200 OK\r\n\r\n', /expected a request/],
      ['request where a response is expected', 'response', 'POST /feedback RTSP/1.0\r\n\r\n', /expected a response/],
      ['non-numeric Content-Length', 'request', 'POST / HTTP/1.1\r\nContent-Length: five\r\n\r\n', /invalid Content-Length/],
      ['negative Content-Length', 'request', 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
      ['signed Content-Length', 'response', 'HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx', /invalid Content-Length/],
      ['Content-Length list', 'request', 'POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx', /invalid Content-Length/],
      ['conflicting Content-Lengths', 'request', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx', /invalid Content-Length "1, 2"/],
      ['huge Content-Length', 'response', 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n', /invalid Content-Length/],
      ['Content-Length over the body limit', 'response', 'HTTP/1.1 200 OK\r\nContent-Length: 8388609\r\n\r\n', /8388609 bytes exceeds the 8388608-byte limit/],
      ['chunked', 'response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', /Transfer-Encoding "chunked" is not supported/],
    ];
    for (const [label, expect, text, message] of cases) {
      it(`refuses ${label}, then stays failed`, () => {
        const decoder = expect === 'request' ? HttpMessageDecoder.forRequests() : HttpMessageDecoder.forResponses();
        let first: unknown;
        assert.throws(
          () => decoder.push(Buffer.from(text, 'latin1')),
          (err: unknown) => {
            first = err;
            return err instanceof DecodeError && err.code === 'PROTOCOL' && message.test(err.message);
          },
        );
        assert.equal(decoder.pendingBytes, 0, 'a failed decoder holds nothing');
        assert.equal(decoder.error, first);
        const valid = expect === 'request' ? 'GET / HTTP/1.1\r\n\r\n' : 'HTTP/1.1 200 OK\r\n\r\n';
        assert.throws(() => decoder.push(Buffer.from(valid)), (err: unknown) => err === first);
      });
    }

    it('points the error offset at the offending byte in the stream', () => {
      const good = 'GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok';
      const decoder = HttpMessageDecoder.forRequests();
      assert.equal(decoder.push(Buffer.from(good)).length, 1);
      assert.throws(
        () => decoder.push(Buffer.from('GET / HTTP/1.1\nX')),
        (err: unknown) => err instanceof DecodeError && err.offset === good.length + 'GET / HTTP/1.1'.length,
      );
    });

    it('refuses an endless header section once it passes the limit, without waiting for its end', () => {
      const decoder = HttpMessageDecoder.forRequests();
      const line = Buffer.from(`X-Filler: ${'a'.repeat(1000)}\r\n`);
      assert.deepEqual(decoder.push(Buffer.from('GET / HTTP/1.1\r\n')), []);
      let pushed = 16;
      assert.throws(() => {
        for (;;) {
          decoder.push(line);
          pushed += line.length;
          assert.ok(pushed <= HTTP_MAX_HEADER_BYTES + line.length, 'refused within one line of the limit');
        }
      }, /header section runs past the 16384-byte limit/);
    });

    it('refuses too many header fields as soon as there is one too many', () => {
      const decoder = HttpMessageDecoder.forRequests({ maxHeaderCount: 3 });
      assert.throws(() => decoder.push(Buffer.from('GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n')), /more than 3 header fields/);
    });

    it('refuses a body over a custom limit before the body arrives', () => {
      const decoder = HttpMessageDecoder.forResponses({ maxBodyBytes: 10 });
      assert.throws(() => decoder.push(Buffer.from('RTSP/1.0 200 OK\r\nContent-Length: 11\r\n\r\n')), /11 bytes exceeds the 10-byte limit/);
    });

    it('refuses nonsense limits', () => {
      assert.throws(() => HttpMessageDecoder.forRequests({ maxBodyBytes: 0 }), InvalidArgumentError);
      assert.throws(() => HttpMessageDecoder.forRequests({ maxHeaderBytes: 1.5 }), InvalidArgumentError);
      assert.throws(() => HttpMessageDecoder.forResponses({ maxHeaderCount: -1 }), InvalidArgumentError);
    });

    it('only ever returns messages or throws DecodeError: 3000 mutations in random chunks, memory bounded', () => {
      const pair = readCapture('airplay-pair.jsonl');
      const sources = [stream(pair, 'c2s'), stream(pair, 's2c'), readDecrypted('airplay-tunnel-client').bin];
      const random = seededRandom(0x5eed);
      const limits = { maxHeaderBytes: 2048, maxHeaderCount: 16, maxBodyBytes: 4096 };
      const seen = new Set<string>();
      for (let i = 0; i < 3000; i++) {
        const source = sources[i % sources.length]!;
        const bytes = Buffer.from(source);
        for (let k = 1 + randomInt(random, 4); k > 0; k--) {
          const at = randomInt(random, bytes.length);
          // Mostly bytes the grammar cares about, sometimes anything.
          bytes[at] = random() < 0.5 ? Buffer.from('\r\n :/0 9A')[randomInt(random, 9)]! : randomInt(random, 256);
        }
        const cut = random() < 0.2 ? bytes.subarray(0, randomInt(random, bytes.length)) : bytes;
        const decoder = HttpMessageDecoder.forMessages(limits);
        try {
          for (const piece of randomChunks(cut, random, 200)) {
            decoder.push(piece);
            assert.ok(decoder.pendingBytes <= limits.maxHeaderBytes + limits.maxBodyBytes, 'buffering stays bounded');
          }
          seen.add('decoded');
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          assert.equal(decoder.pendingBytes, 0);
          seen.add('refused');
        }
      }
      assert.deepEqual([...seen].sort(), ['decoded', 'refused']);
    });
  });

  describe('encoding', () => {
    it('appends Content-Length to a request with a body, and none to a bodiless one', () => {
      const withBody = encodeHttpRequest({ method: 'POST', target: '/pair-setup', protocol: 'HTTP/1.1', headers: { 'X-Apple-HKP': 3 }, body: Buffer.from([1, 2]) });
      assert.equal(withBody.toString('latin1'), 'POST /pair-setup HTTP/1.1\r\nX-Apple-HKP: 3\r\nContent-Length: 2\r\n\r\n\x01\x02');
      const bodiless = encodeHttpRequest({ method: 'RECORD', target: 'rtsp://10.0.0.2/1', protocol: 'RTSP/1.0', headers: [['CSeq', 2]] });
      assert.equal(bodiless.toString('latin1'), 'RECORD rtsp://10.0.0.2/1 RTSP/1.0\r\nCSeq: 2\r\n\r\n');
      assert.equal(encodeHttpRequest({ method: 'GET', target: '*', protocol: 'RTSP/1.0' }).toString(), 'GET * RTSP/1.0\r\n\r\n');
    });

    it('keeps a given Content-Length where it stands, and refuses one that does not match the body', () => {
      const bytes = encodeHttpRequest({ method: 'POST', target: '/', protocol: 'HTTP/1.1', headers: [['content-length', '1'], ['A', 'b']], body: Buffer.from('x') });
      assert.equal(bytes.toString(), 'POST / HTTP/1.1\r\ncontent-length: 1\r\nA: b\r\n\r\nx');
      assert.throws(
        () => encodeHttpRequest({ method: 'POST', target: '/', protocol: 'HTTP/1.1', headers: { 'Content-Length': 5 }, body: Buffer.from('x') }),
        /Content-Length "5" does not match the 1-byte body/,
      );
      assert.throws(() => encodeHttpRequest({ method: 'GET', target: '/', protocol: 'HTTP/1.1', headers: { 'Content-Length': 3 } }), InvalidArgumentError);
    });

    it('gives every response a Content-Length, except 1xx, 204 and 304', () => {
      assert.equal(encodeHttpResponse({ protocol: 'RTSP/1.0', status: 200, headers: { CSeq: 4 } }).toString(), 'RTSP/1.0 200 OK\r\nCSeq: 4\r\nContent-Length: 0\r\n\r\n');
      assert.equal(
        encodeHttpResponse({ protocol: 'HTTP/1.1', status: 470, body: Buffer.from('no') }).toString(),
        'HTTP/1.1 470 Connection Authorization Required\r\nContent-Length: 2\r\n\r\nno',
      );
      assert.equal(encodeHttpResponse({ protocol: 'HTTP/1.1', status: 204 }).toString(), 'HTTP/1.1 204 No Content\r\n\r\n');
      assert.equal(encodeHttpResponse({ protocol: 'HTTP/1.1', status: 299 }).toString(), 'HTTP/1.1 299\r\nContent-Length: 0\r\n\r\n');
      assert.equal(encodeHttpResponse({ protocol: 'HTTP/1.1', status: 200, reason: 'Fine' }).toString(), 'HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n');
      assert.throws(() => encodeHttpResponse({ protocol: 'HTTP/1.1', status: 204, body: Buffer.from('x') }), /no body/);
      assert.throws(() => encodeHttpResponse({ protocol: 'HTTP/1.1', status: 304, headers: { 'Content-Length': 0 } }), /no body/);
    });

    const request = { method: 'POST', target: '/x', protocol: 'RTSP/1.0' } as const;
    const refusals: Array<[string, () => Buffer, RegExp]> = [
      ['a line break in a value (header injection)', () => encodeHttpRequest({ ...request, headers: { A: 'b\r\nEvil: 1' } }), /line break/],
      ['a character above U+00FF', () => encodeHttpRequest({ ...request, headers: { Name: 'Wohnzimmer ☃' } }), /above U\+00FF/],
      ['a value with leading whitespace', () => encodeHttpRequest({ ...request, headers: { A: ' b' } }), /whitespace/],
      ['a header name with a space', () => encodeHttpRequest({ ...request, headers: { 'Bad Name': 'x' } }), /not a valid header name/],
      ['an empty header name', () => encodeHttpRequest({ ...request, headers: [['', 'x']] }), /not a valid header name/],
      ['Transfer-Encoding', () => encodeHttpRequest({ ...request, headers: { 'Transfer-Encoding': 'chunked' } }), /Transfer-Encoding is not supported/],
      ['a method with a space', () => encodeHttpRequest({ ...request, method: 'SET UP' }), /not a valid request method/],
      ['a target with a space', () => encodeHttpRequest({ ...request, target: '/a b' }), /not a valid request target/],
      ['an empty target', () => encodeHttpRequest({ ...request, target: '' }), /not a valid request target/],
      ['an unknown protocol', () => encodeHttpRequest({ ...request, protocol: 'HTTP/2' as 'HTTP/1.1' }), /protocol must be one of/],
      ['a status of two digits', () => encodeHttpResponse({ protocol: 'HTTP/1.1', status: 99 }), /three digits/],
      ['a fractional status', () => encodeHttpResponse({ protocol: 'HTTP/1.1', status: 200.5 }), /three digits/],
      ['a line break in the reason', () => encodeHttpResponse({ protocol: 'HTTP/1.1', status: 200, reason: 'OK\r\nX: y' }), /reason phrase/],
    ];
    for (const [label, encode, message] of refusals) {
      it(`refuses ${label}`, () => {
        assert.throws(encode, (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message));
      });
    }

    it('round-trips random messages through the encoder and the decoder', () => {
      const random = seededRandom(7);
      const token = (): string => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.!'.split('').filter(() => random() < 0.3).join('') || 'X';
      const messages: HttpMessage[] = [];
      for (let i = 0; i < 200; i++) {
        const headers = new HttpHeaders();
        for (let h = randomInt(random, 6); h > 0; h--) headers.append(token(), `${token()} ${randomInt(random, 1e6)}`);
        const body = Buffer.from(Array.from({ length: randomInt(random, 3) === 0 ? 0 : randomInt(random, 300) }, () => randomInt(random, 256)));
        if (body.length > 0) headers.set('Content-Length', body.length);
        const protocol = (['HTTP/1.1', 'HTTP/1.0', 'RTSP/1.0'] as const)[randomInt(random, 3)]!;
        if (random() < 0.5) messages.push({ kind: 'request', method: token().toUpperCase(), target: `/${token()}`, protocol, headers, body });
        else {
          headers.set('Content-Length', body.length);
          messages.push({ kind: 'response', protocol, status: 200 + randomInt(random, 300), reason: token(), headers, body });
        }
      }
      const bytes = Buffer.concat(messages.map((m) => (m.kind === 'request' ? encodeHttpRequest(m) : encodeHttpResponse(m))));
      const decoded = decodeAll(HttpMessageDecoder.forMessages(), randomChunks(bytes, random, 500));
      assert.deepEqual(decoded.map(plain), messages.map(plain));
    });
  });

  describe('HttpHeaders', () => {
    it('keeps order and case, finds names in any case, sets in place', () => {
      const h = new HttpHeaders([
        ['CSeq', '1'],
        ['X-Apple-HKP', '3'],
        ['cseq', '2'],
      ]);
      assert.equal(h.size, 3);
      assert.equal(h.get('CSEQ'), '1', 'the first of repeated fields');
      assert.deepEqual(h.getAll('cSeq'), ['1', '2']);
      assert.equal(h.has('x-apple-hkp'), true);
      assert.equal(h.get('Missing'), undefined);
      h.set('CSEQ', 7);
      assert.deepEqual(h.entries(), [
        ['CSEQ', '7'],
        ['X-Apple-HKP', '3'],
      ]);
      h.set('Server', 'x').append('server', 'y');
      assert.equal(h.delete('SERVER'), true);
      assert.equal(h.delete('SERVER'), false);
      assert.deepEqual([...h], [
        ['CSEQ', '7'],
        ['X-Apple-HKP', '3'],
      ]);
      assert.equal(JSON.stringify({ h }), '{"h":[["CSEQ","7"],["X-Apple-HKP","3"]]}');
      const copy = new HttpHeaders(h);
      copy.append('A', 'b');
      assert.equal(h.size, 2, 'a copy is independent');
      assert.deepEqual(new HttpHeaders(new Map([['K', 1]])).entries(), [['K', '1']]);
    });
  });
});
