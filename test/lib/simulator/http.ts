/**
 * Plain node:http requests against the simulator, one connection each (no agent), so tests
 * assert on what really crossed the socket.
 */
import http from 'node:http';
import { decodeDmap, dmapNumber, type DmapNode } from '../../../lib/codecs/dmap';
import { DACP_HEADERS } from '../../../lib/protocols/dmap/http';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT';
  /** Default: the Remote app's headers. Pass `{}` to send none of them. */
  headers?: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal;
}

export function request(port: number, path: string, options: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { ...(options.headers ?? DACP_HEADERS), ...(options.body ? { 'Content-Length': String(options.body.length) } : {}) },
        agent: false,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export function dmap(answer: Answer): DmapNode[] {
  return decodeDmap(answer.body);
}

/** Logs in with the demo pairing GUID (or `credentials`) and returns the session id. */
export async function login(port: number, query = 'pairing-guid=0x0000000000000001'): Promise<number> {
  const answer = await request(port, `/login?${query}&hasFP=1`);
  if (answer.status !== 200) throw new Error(`login answered ${answer.status}`);
  const id = dmapNumber(dmap(answer), 'mlog', 'mlid');
  if (id === undefined) throw new Error('login answer without mlid');
  return id;
}

export { sleep } from '../../support/wait';
