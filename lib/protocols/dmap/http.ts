/**
 * The HTTP transport of a DACP remote: up to DACP_MAX_CONNECTIONS kept-alive TCP connections
 * to the device, the exact request headers Apple's Remote app sends, per-request timeouts, a
 * body size cap, gzip/deflate decoding, and every failure turned into a typed `AtvError`. It
 * knows nothing of DMAP.
 *
 * It speaks HTTP/1.1 itself (requests written here, responses read by http-response.ts)
 * rather than through node:http, whose client costs about three times a raw request/response
 * on loopback: per request it builds and validates an outgoing message, looks the socket up
 * in an agent, and re-parses with llhttp, and that was most of a DACP command's time. What
 * node:http did for us is kept: the same request bytes (headers in the same order, `Host` and
 * `Connection: keep-alive` last), keep-alive with TCP keep-alive probes, idle connections
 * that do not hold the process open, and any response framing a server may use.
 */
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { AtvError, ClosedError, InvalidArgumentError, ProtocolError, TimeoutError, networkError } from '../../errors';
import { silentLogger, type Logger } from '../../log';
import { DacpResponseReader, HttpSyntaxError, type DacpResponseHead } from './http-response';

/**
 * The headers of Apple's Remote app (as pyatv sends them, pyatv: protocols/dmap/daap.py). Some servers
 * check them; `Viewer-Only-Client` keeps iTunes from treating us as a full library client.
 */
export const DACP_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  Accept: '*/*',
  'Accept-Encoding': 'gzip',
  'Client-DAAP-Version': '3.13',
  'Client-ATV-Sharing-Version': '1.2',
  'Client-iTunes-Sharing-Version': '3.15',
  'User-Agent': 'Remote/1021',
  'Viewer-Only-Client': '1',
});

export const DACP_POST_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** Default per-request timeout (pyatv: protocols/dmap/daap.py). */
export const DACP_TIMEOUT = 10_000;
/** The largest response body accepted (after decompression); artwork is far smaller. */
export const DACP_MAX_BODY = 16 * 1024 * 1024;
/**
 * TCP connections open to one device at most; further requests wait for a free one. Four:
 * the playstatus long poll holds one all the time, commands (one at a time, see the
 * session's queue) need one, and two more let now-playing reads and a slow artwork download
 * go on beside them. Apple's Remote app keeps about as many; a small server (an Apple TV 3,
 * OwnTone on a NAS) should never see the hundreds that concurrent callers would open.
 */
export const DACP_MAX_CONNECTIONS = 4;

export interface DacpHttpOptions {
  host: string;
  port: number;
  /** Per-request timeout in ms (default 10 s). */
  timeout?: number;
  /** Largest accepted body in bytes, compressed or not (default 16 MiB). */
  maxBodySize?: number;
  logger?: Logger;
  /** Called whenever the device sends something (a response head or body bytes): a sign of life. */
  onAnswer?: () => void;
}

export interface DacpHttpRequest {
  method: 'GET' | 'POST';
  /** Path and query, starting with `/`. */
  path: string;
  body?: Buffer;
  /** Overrides the client's timeout; `null` waits forever (the playstatus long poll). */
  timeout?: number | null;
  /** Aborting rejects the request with `ClosedError` and destroys its socket. */
  signal?: AbortSignal;
}

export interface DacpHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The decoded (decompressed) body; empty for 204. */
  body: Buffer;
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);

/**
 * TCP keep-alive idle time: probes end a long poll to a host that vanished without a request
 * of ours (slowly: minutes with Linux defaults). A device that stops answering with its TCP
 * stack alive is the session's liveness check's business.
 */
const TCP_KEEPALIVE_MS = 10_000;

/** One request on its way: waiting for a connection, or on one. */
interface Job {
  req: DacpHttpRequest;
  what: string;
  bytes: Buffer;
  resolve(response: DacpHttpResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  connection: Connection | null;
  settled: boolean;
  /** Goes on a new connection (the retry after a kept-alive one turned out closed). */
  fresh: boolean;
  /** The answer so far: its head, its body chunks and their size; once complete, whether the connection may be reused. */
  head?: DacpResponseHead;
  chunks?: Buffer[];
  size?: number;
  reusable?: boolean;
}

/** One TCP connection to the device; carries one request at a time. */
interface Connection {
  socket: net.Socket;
  /** It has carried a request before (an idle keep-alive connection the server may have closed). */
  reused: boolean;
  job: Job | null;
  reader: DacpResponseReader | null;
}

export class DacpHttp {
  readonly endpoint: string;
  private readonly host: string;
  private readonly port: number;
  private readonly timeout: number;
  private readonly maxBody: number;
  private readonly logger: Logger;
  private readonly onAnswer: () => void;
  /** `Host: ...` and `Connection: keep-alive`, as node:http ended every request. */
  private readonly trailer: string;
  private readonly connections = new Set<Connection>();
  /** Connections waiting for a request, the most recently used last (taken first, as node:http's agent does). */
  private readonly idle: Connection[] = [];
  /** Requests waiting for a connection, oldest first. */
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(options: DacpHttpOptions) {
    this.host = options.host;
    this.port = options.port;
    this.endpoint = `DACP server ${options.host}:${options.port}`;
    this.timeout = options.timeout ?? DACP_TIMEOUT;
    this.maxBody = options.maxBodySize ?? DACP_MAX_BODY;
    this.logger = options.logger ?? silentLogger;
    this.onAnswer = options.onAnswer ?? (() => undefined);
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.trailer = `Host: ${options.port === 80 ? host : `${host}:${options.port}`}\r\nConnection: keep-alive\r\n\r\n`;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async request(req: DacpHttpRequest): Promise<DacpHttpResponse> {
    try {
      return await this.attempt(req);
    } catch (err) {
      // A keep-alive socket the server closed while idle fails at once with a reset before
      // any answer; the server never saw the request, so one retry on a new socket is safe.
      if (err instanceof StaleSocketError && !this.closed && !req.signal?.aborted) {
        this.logger.debug(`${this.endpoint}: reused connection was closed by the server, retrying once`);
        return this.attempt(req, false);
      }
      throw err instanceof StaleSocketError ? err.error : err;
    }
  }

  /** Aborts every request in flight or waiting (long poll included) and destroys the sockets. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new ClosedError(`${this.endpoint}: the client was closed`);
    for (const job of this.queue.splice(0)) this.settle(job, error);
    for (const connection of [...this.connections]) {
      if (connection.job) this.settle(connection.job, error);
      this.drop(connection);
    }
  }

  private attempt(req: DacpHttpRequest, reuse = true): Promise<DacpHttpResponse> {
    if (this.closed) return Promise.reject(new ClosedError(`${this.endpoint}: the client was closed`));
    if (req.signal?.aborted) return Promise.reject(new ClosedError(`${this.endpoint}: the request was cancelled`));
    if (!/^\/[\x21-\x7e]*$/.test(req.path)) return Promise.reject(new InvalidArgumentError(`a DACP request path is printable ASCII without spaces, got ${JSON.stringify(req.path.slice(0, 60))}`));
    return new Promise<DacpHttpResponse>((resolve, reject) => {
      const body = req.method === 'POST' ? req.body ?? Buffer.alloc(0) : null;
      let head = `${req.method} ${req.path} HTTP/1.1\r\n${HEADER_LINES}`;
      if (body !== null) head += `Content-Type: ${DACP_POST_CONTENT_TYPE}\r\nContent-Length: ${body.length}\r\n`;
      head += this.trailer;
      const job: Job = {
        req,
        what: `${req.method} ${req.path.replace(/\?.*$/, '')}`,
        bytes: body === null || body.length === 0 ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]),
        resolve,
        reject,
        timer: undefined,
        onAbort: undefined,
        connection: null,
        settled: false,
        fresh: !reuse,
      };
      const timeout = req.timeout === undefined ? this.timeout : req.timeout;
      if (timeout !== null && timeout > 0) {
        job.timer = setTimeout(() => this.fail(job, new TimeoutError(`${this.endpoint} did not answer ${job.what} within ${formatSeconds(timeout)}`)), timeout);
      }
      if (req.signal) {
        job.onAbort = () => this.fail(job, new ClosedError(`${this.endpoint}: the request was cancelled`));
        req.signal.addEventListener('abort', job.onAbort, { once: true });
      }
      // The retry after a stale connection goes first: it was sent once already.
      if (reuse) this.queue.push(job);
      else this.queue.unshift(job);
      this.pump();
    });
  }

  /** Hands waiting requests to idle connections, or to new ones while under the limit. */
  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      const job = this.queue[0]!;
      if (job.fresh) {
        // A new connection, within the limit: an idle one makes room if it must.
        if (this.connections.size >= DACP_MAX_CONNECTIONS && this.idle.length > 0) this.drop(this.idle[0]!, false);
        if (this.connections.size >= DACP_MAX_CONNECTIONS) return;
        this.start(this.queue.shift()!, this.open());
        continue;
      }
      const idle = this.idle.pop();
      if (idle) {
        this.start(this.queue.shift()!, idle);
        continue;
      }
      if (this.connections.size >= DACP_MAX_CONNECTIONS) return;
      this.start(this.queue.shift()!, this.open());
    }
  }

  private open(): Connection {
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    const connection: Connection = { socket, reused: false, job: null, reader: null };
    this.connections.add(connection);
    socket.on('data', (chunk: Buffer) => this.receive(connection, chunk));
    socket.on('end', () => this.ended(connection, null));
    socket.on('error', (err) => this.ended(connection, err));
    socket.on('close', () => this.ended(connection, null));
    return connection;
  }

  private start(job: Job, connection: Connection): void {
    job.connection = connection;
    connection.job = job;
    connection.reader = new DacpResponseReader({
      head: (head) => this.head(job, head),
      data: (chunk) => this.data(job, chunk),
      end: (reusable) => {
        job.reusable = reusable;
      },
    });
    connection.socket.ref();
    connection.socket.write(job.bytes);
  }

  private receive(connection: Connection, chunk: Buffer): void {
    const job = connection.job;
    const reader = connection.reader;
    if (!job || !reader) {
      // Nothing was asked on this connection: a server speaking out of turn. Not usable.
      this.drop(connection);
      return;
    }
    try {
      reader.push(chunk);
    } catch (err) {
      // Bytes after a complete answer: the answer stands, the connection is out of step.
      if (reader.complete) this.answered(job, connection, false);
      else this.fail(job, this.syntaxError(err, job));
      return;
    }
    if (reader.complete) this.answered(job, connection, job.reusable === true);
  }

  /** The socket ended (`err` null: closed or EOF). */
  private ended(connection: Connection, err: Error | null): void {
    const job = connection.job;
    const reader = connection.reader;
    if (!job || !reader) {
      this.drop(connection);
      return;
    }
    if (err === null) {
      try {
        reader.end();
        this.answered(job, connection, false);
        return;
      } catch (cut) {
        err = Object.assign(new Error(cut instanceof Error ? cut.message : String(cut)), { code: 'ECONNRESET' });
      }
    }
    const code = (err as NodeJS.ErrnoException).code;
    const typed = this.closed ? new ClosedError(`${this.endpoint}: the client was closed`, { cause: err }) : networkError(err, this.endpoint);
    const stale = connection.reused && !reader.started && (code === 'ECONNRESET' || code === 'EPIPE');
    this.fail(job, stale ? new StaleSocketError(typed) : typed);
  }

  private head(job: Job, head: DacpResponseHead): void {
    this.onAnswer();
    if (head.length !== null && head.length > this.maxBody) {
      throw new ProtocolError(`${this.endpoint} announced a ${head.length}-byte answer to ${job.what}, more than the ${this.maxBody}-byte limit`);
    }
    job.head = head;
    job.chunks = [];
    job.size = 0;
  }

  private data(job: Job, chunk: Buffer): void {
    this.onAnswer();
    job.size! += chunk.length;
    if (job.size! > this.maxBody) throw new ProtocolError(`${this.endpoint} sent more than ${this.maxBody} bytes in answer to ${job.what}`);
    job.chunks!.push(chunk);
  }

  /** `job` has its whole answer: the connection goes back to the pool (or away), the body is decoded. */
  private answered(job: Job, connection: Connection, reusable: boolean): void {
    connection.job = null;
    connection.reader = null;
    job.connection = null;
    if (reusable && !this.closed) this.release(connection);
    else this.drop(connection);
    const head = job.head!;
    const chunks = job.chunks!;
    const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, job.size!);
    this.decode(raw, head.headers['content-encoding'], job.what).then(
      (body) => this.settle(job, null, { status: head.status, headers: head.headers, body }),
      (err: unknown) => this.settle(job, err instanceof Error ? err : new Error(String(err))),
    );
  }

  private release(connection: Connection): void {
    connection.reused = true;
    connection.socket.unref();
    this.idle.push(connection);
    this.pump();
  }

  /** Fails `job` and ends the connection carrying it (its answer would be out of step). */
  private fail(job: Job, error: Error): void {
    if (job.settled) return;
    const connection = job.connection;
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    this.settle(job, error);
    if (connection) this.drop(connection);
  }

  private settle(job: Job, error: Error | null, response?: DacpHttpResponse): void {
    if (job.settled) return;
    job.settled = true;
    if (job.timer) clearTimeout(job.timer);
    if (job.onAbort) job.req.signal?.removeEventListener('abort', job.onAbort);
    if (error) job.reject(error);
    else job.resolve(response!);
  }

  /** Closes a connection for good and (unless told not to) lets a waiting request have its place. */
  private drop(connection: Connection, pump = true): void {
    if (!this.connections.delete(connection)) return;
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    connection.job = null;
    connection.reader = null;
    connection.socket.removeAllListeners('data');
    // A late error from a socket we gave up on has nobody to tell.
    connection.socket.on('error', () => undefined);
    connection.socket.destroy();
    if (pump) this.pump();
  }

  private syntaxError(err: unknown, job: Job): Error {
    if (err instanceof AtvError) return err;
    const detail = err instanceof Error ? err.message : String(err);
    if (err instanceof HttpSyntaxError) return new ProtocolError(`${this.endpoint} answered ${job.what} with something that is not valid HTTP (${detail})`, { cause: err });
    return new ProtocolError(`${this.endpoint}: reading the answer to ${job.what} failed: ${detail}`, { cause: err });
  }

  private async decode(raw: Buffer, encoding: string | undefined, what: string): Promise<Buffer> {
    const kind = (encoding ?? 'identity').trim().toLowerCase();
    if (raw.length === 0 || kind === 'identity' || kind === '') return raw;
    const options = { maxOutputLength: this.maxBody };
    try {
      if (kind === 'gzip' || kind === 'x-gzip') return await gunzip(raw, options);
      if (kind === 'deflate') {
        // "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
        try {
          return await inflate(raw, options);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw err;
          return await inflateRaw(raw, options);
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ProtocolError(`${this.endpoint}'s answer to ${what} decompresses to more than ${this.maxBody} bytes`, { cause: err });
      }
      throw new ProtocolError(`${this.endpoint} sent a corrupt ${kind} body in answer to ${what}`, { cause: err });
    }
    throw new ProtocolError(`${this.endpoint} answered ${what} with an unsupported content encoding ${JSON.stringify(kind.slice(0, 40))}`);
  }
}

/** Internal marker: the request failed on a reused socket before any answer. */
class StaleSocketError extends Error {
  constructor(readonly error: AtvError) {
    super(error.message);
  }
}

/** The Remote headers as request lines, in their order. */
const HEADER_LINES = Object.entries(DACP_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
