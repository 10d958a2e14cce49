import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DacpResponseReader, DACP_MAX_HEAD_BYTES, HttpSyntaxError, type DacpResponseHead } from '../../../../lib/protocols/dmap/http-response';
import { fixture } from '../../../support/paths';
import { readFileSync } from 'node:fs';

interface Read {
  heads: DacpResponseHead[];
  body: Buffer;
  ended: boolean | null;
}

/** Feeds `parts` one by one (then EOF when `eof`), returns what the reader reported. */
function read(parts: (string | Buffer)[], eof = false): Read {
  const out: Read = { heads: [], body: Buffer.alloc(0), ended: null };
  const reader = new DacpResponseReader({
    head: (h) => out.heads.push(h),
    data: (c) => (out.body = Buffer.concat([out.body, c])),
    end: (reusable) => (out.ended = reusable),
  });
  for (const part of parts) reader.push(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
  if (eof) reader.end();
  return out;
}

/** The same bytes cut at every position: the result must not depend on how TCP splits them. */
function everySplit(bytes: string, eof = false): Read {
  const whole = read([bytes], eof);
  for (let i = 1; i < bytes.length; i++) assert.deepEqual(read([bytes.slice(0, i), bytes.slice(i)], eof), whole, `split at ${i}`);
  return whole;
}

const refuses = (parts: string[], pattern: RegExp, eof = false): void => {
  assert.throws(() => read(parts, eof), (err: unknown) => err instanceof HttpSyntaxError && pattern.test((err as Error).message));
};

describe('DACP response reader', () => {
  it('reads a recorded OwnTone playstatus answer (Content-Length) at every split', () => {
    const head = readFileSync(fixture('owntone-29.3', 'playstatusupdate-2-playing.headers'), 'latin1').trimEnd().split(/\r?\n/).join('\r\n');
    const body = readFileSync(fixture('owntone-29.3', 'playstatusupdate-2-playing.bin'));
    const got = everySplit(`${head}\r\n\r\n${body.toString('latin1')}`);
    assert.equal(got.heads.length, 1);
    assert.equal(got.heads[0]!.status, 200);
    assert.equal(got.heads[0]!.length, 334);
    assert.equal(got.heads[0]!.headers['content-type'], 'application/x-dmap-tagged');
    assert.ok(got.body.equals(body));
    assert.equal(got.ended, true, 'HTTP/1.1 keeps the connection');
  });

  it('204 and 304 have no body; HTTP/1.0 or Connection: close ends the connection', () => {
    assert.deepEqual(everySplit('HTTP/1.1 204 No Content\r\nContent-Type: x\r\n\r\n').ended, true);
    assert.deepEqual(everySplit('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').ended, true);
    assert.equal(read(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok']).ended, false);
    assert.equal(read(['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok']).ended, false);
    assert.equal(read(['HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok']).ended, true);
  });

  it('chunked bodies, with extensions and trailers, at every split', () => {
    const got = everySplit('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n');
    assert.equal(got.body.toString(), 'hello, world!!!');
    assert.equal(got.heads[0]!.length, null);
    assert.equal(got.ended, true);
  });

  it('a body without length runs to the end of the connection, which is then not reused', () => {
    const open = read(['HTTP/1.1 200 OK\r\n\r\nsome ', 'bytes']);
    assert.equal(open.ended, null, 'not complete before the connection ends');
    const got = read(['HTTP/1.1 200 OK\r\n\r\nsome ', 'bytes'], true);
    assert.equal(got.body.toString(), 'some bytes');
    assert.equal(got.ended, false);
  });

  it('skips interim 1xx answers, takes bare LF line ends, joins repeated fields as node:http does', () => {
    const got = everySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nX-A: 1\nX-A: 2\nSet-Cookie: a\nSet-Cookie: b\nContent-Type: one\nContent-Type: two\nContent-Length: 0\n\n');
    assert.equal(got.heads.length, 1);
    assert.equal(got.heads[0]!.status, 200);
    assert.deepEqual(got.heads[0]!.headers, { 'x-a': '1, 2', 'set-cookie': ['a', 'b'], 'content-type': 'one', 'content-length': '0' });
  });

  it('refuses what is not HTTP/1.x, and answers cut short', () => {
    refuses(['SPEAK FRIEND AND ENTER\r\n\r\n'], /status line/);
    refuses(['HTTP/2 200 OK\r\n\r\n'], /status line/);
    refuses(['HTTP/1.1 200 OK\r\nBad Header\r\n\r\n'], /malformed header/);
    refuses(['HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n'], /control character/);
    refuses(['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'], /Content-Length/);
    refuses(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'], /chunk size/);
    refuses(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n'], /longer than its size/);
    refuses(['HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab'], /after the end/);
    refuses([`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(DACP_MAX_HEAD_BYTES)}`], /longer than/);
    refuses(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'], /cut off/, true);
    refuses([], /without an answer/, true);
  });
});
