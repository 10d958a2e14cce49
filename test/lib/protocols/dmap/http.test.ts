import assert from 'node:assert/strict';
import type net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { DACP_HEADERS, DacpHttp } from '../../../../lib/protocols/dmap/http';
import { startRawServer } from './servers';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A raw TCP server that hands every complete request head (and body of `Content-Length`) to
 * `answer`, with the socket and how many requests that socket carried before.
 */
async function rawServer(answer: (socket: net.Socket, request: string, index: number) => void) {
  const requests: string[] = [];
  let connections = 0;
  const srv = await startRawServer((socket) => {
    connections++;
    let pending = '';
    let index = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/\r\nContent-Length: (\d+)/.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const request = pending.slice(0, end + 4 + length);
        pending = pending.slice(request.length);
        requests.push(request);
        answer(socket, request, index++);
      }
    });
  });
  cleanups.push(() => srv.close());
  return { port: srv.port, requests, connections: () => connections };
}

function http(port: number, timeout = 2000): DacpHttp {
  const client = new DacpHttp({ host: '127.0.0.1', port, timeout });
  cleanups.push(() => client.close());
  return client;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('DACP HTTP transport', () => {
  it("writes node:http's bytes: the Remote headers in order, then Host and Connection: keep-alive", async () => {
    const srv = await rawServer((socket) => socket.write(OK));
    const client = http(srv.port);
    await client.request({ method: 'GET', path: '/server-info' });
    await client.request({ method: 'POST', path: '/ctrl-int/1/play?session-id=1&prompt-id=0', body: Buffer.from('ab') });
    const remote = Object.entries(DACP_HEADERS)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const host = `Host: 127.0.0.1:${srv.port}\r\nConnection: keep-alive\r\n\r\n`;
    assert.deepEqual(srv.requests, [
      `GET /server-info HTTP/1.1\r\n${remote}${host}`,
      `POST /ctrl-int/1/play?session-id=1&prompt-id=0 HTTP/1.1\r\n${remote}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 2\r\n${host}ab`,
    ]);
    assert.equal(srv.connections(), 1, 'one kept-alive connection for both');
  });

  it('reads chunked and close-delimited bodies, and skips a 100 Continue', async () => {
    const srv = await rawServer((socket, request) => {
      if (request.includes('/chunked')) socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      else socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
    });
    const client = http(srv.port);
    const chunked = await client.request({ method: 'GET', path: '/chunked' });
    assert.equal(chunked.body.toString(), 'abc');
    const closed = await client.request({ method: 'GET', path: '/closed' });
    assert.equal(closed.body.toString(), 'until the end');
    assert.equal(closed.headers['content-type'], 'text/plain');
    assert.equal(srv.connections(), 1, 'the chunked answer kept its connection; the close-delimited one ended it');
  });

  it('a kept-alive connection the device dropped meanwhile: the request is sent again, once, on a new one', async () => {
    const srv = await rawServer((socket, _request, index) => {
      if (index === 0) socket.write(OK);
      // The second request on a connection finds it closed by the device.
      else socket.destroy();
    });
    const client = http(srv.port);
    await client.request({ method: 'GET', path: '/a' });
    const again = await client.request({ method: 'GET', path: '/b' });
    assert.equal(again.body.toString(), 'ok');
    assert.deepEqual(
      srv.requests.map((r) => r.split(' ')[1]),
      ['/a', '/b', '/b'],
    );
    assert.equal(srv.connections(), 2);
  });

  it('retries after dropped kept-alive connections stay within the connection limit', async () => {
    let open = 0;
    let most = 0;
    const srv = await rawServer((socket, _request, index) => {
      if (index === 0) {
        open++;
        most = Math.max(most, open);
        socket.on('close', () => open--);
        // Answered a little later, so the connections opened meanwhile are all open at once.
        setTimeout(() => socket.write(OK), 30);
      } else socket.destroy();
    });
    const client = http(srv.port);
    await Promise.all([1, 2, 3, 4].map(() => client.request({ method: 'GET', path: '/warm' })));
    assert.equal(srv.connections(), 4);
    // Four requests find their kept-alive connection closed and are sent again; two more wait.
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => client.request({ method: 'GET', path: `/r${n}` })));
    assert.deepEqual(answers.map((a) => a.body.toString()), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    assert.ok(most <= 4, `at most 4 connections open at once (saw ${most})`);
  });

  it('a first request that finds the connection closed is not sent again (the device may have acted on it)', async () => {
    const srv = await rawServer((socket) => socket.destroy());
    const client = http(srv.port);
    await assert.rejects(client.request({ method: 'POST', path: '/ctrl-int/1/play' }), (err: Error) => (err as { code?: string }).code === 'CONNECTION_LOST');
    assert.equal(srv.requests.length, 1);
  });

  it('requests beyond the connection limit wait for a free connection; a request waiting times out', async () => {
    const held: net.Socket[] = [];
    const srv = await rawServer((socket, request) => {
      if (request.includes('/hold')) held.push(socket);
      else socket.write(OK);
    });
    const client = http(srv.port, 300);
    const holds = [1, 2, 3, 4].map(() => client.request({ method: 'GET', path: '/hold', timeout: null }));
    while (held.length < 4) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await assert.rejects(client.request({ method: 'GET', path: '/quick' }), /did not answer GET \/quick within 0\.3 s/);
    assert.ok(Date.now() - started >= 250);
    assert.equal(srv.connections(), 4);
    held[0]!.write(OK);
    assert.equal((await holds[0]!).body.toString(), 'ok');
    const next = await client.request({ method: 'GET', path: '/quick' });
    assert.equal(next.status, 200);
    assert.equal(srv.connections(), 4, 'the freed connection carried it');
    client.close();
    await Promise.all(holds.slice(1).map((h) => assert.rejects(h, (err: Error) => (err as { code?: string }).code === 'CLOSED')));
  });
});
