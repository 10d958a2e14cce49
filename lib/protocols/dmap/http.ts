/**
 * The HTTP transport of a DACP remote: node:http with a keep-alive agent, the exact request
 * headers Apple's Remote app sends, per-request timeouts, a body size cap, gzip/deflate
 * decoding, and every failure turned into a typed `AtvError`. It knows nothing of DMAP.
 */
import http from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { AtvError, ClosedError, ProtocolError, TimeoutError, networkError } from '../../errors';
import { silentLogger, type Logger } from '../../log';

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
  headers: http.IncomingHttpHeaders;
  /** The decoded (decompressed) body; empty for 204. */
  body: Buffer;
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);

export class DacpHttp {
  readonly endpoint: string;
  private readonly host: string;
  private readonly port: number;
  private readonly timeout: number;
  private readonly maxBody: number;
  private readonly logger: Logger;
  private readonly onAnswer: () => void;
  private readonly agent: http.Agent;
  private readonly inFlight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(options: DacpHttpOptions) {
    this.host = options.host;
    this.port = options.port;
    this.endpoint = `DACP server ${options.host}:${options.port}`;
    this.timeout = options.timeout ?? DACP_TIMEOUT;
    this.maxBody = options.maxBodySize ?? DACP_MAX_BODY;
    this.logger = options.logger ?? silentLogger;
    this.onAnswer = options.onAnswer ?? (() => undefined);
    // keepAlive also turns on TCP keep-alive probes, which end a long poll to a host that
    // vanished without a request of ours (slowly: minutes with Linux defaults). A device that
    // stops answering with its TCP stack alive is the session's liveness check's business.
    this.agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets: DACP_MAX_CONNECTIONS });
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
        return this.attempt(req);
      }
      throw err instanceof StaleSocketError ? err.error : err;
    }
  }

  /** Aborts every request in flight (long poll included) and destroys the sockets. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const req of this.inFlight) req.destroy(new ClosedError(`${this.endpoint}: the client was closed`));
    this.inFlight.clear();
    this.agent.destroy();
  }

  private attempt(req: DacpHttpRequest): Promise<DacpHttpResponse> {
    if (this.closed) return Promise.reject(new ClosedError(`${this.endpoint}: the client was closed`));
    if (req.signal?.aborted) return Promise.reject(new ClosedError(`${this.endpoint}: the request was cancelled`));

    return new Promise<DacpHttpResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...DACP_HEADERS };
      if (req.method === 'POST') {
        headers['Content-Type'] = DACP_POST_CONTENT_TYPE;
        headers['Content-Length'] = String(req.body?.length ?? 0);
      }
      const what = `${req.method} ${req.path.replace(/\?.*$/, '')}`;
      let settled = false;
      let gotResponse = false;
      let timer: NodeJS.Timeout | undefined;

      const cleanup = (): void => {
        settled = true;
        if (timer) clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        this.inFlight.delete(request);
      };
      const fail = (err: unknown): void => {
        if (settled) return;
        const reused = request.reusedSocket;
        cleanup();
        const typed = this.toError(err, what);
        const code = (err as NodeJS.ErrnoException | undefined)?.code;
        if (reused && !gotResponse && (code === 'ECONNRESET' || code === 'EPIPE')) reject(new StaleSocketError(typed));
        else reject(typed);
      };
      const onAbort = (): void => {
        request.destroy(new ClosedError(`${this.endpoint}: the request was cancelled`));
      };

      const request = http.request({
        host: this.host,
        port: this.port,
        method: req.method,
        path: req.path,
        headers,
        agent: this.agent,
      });
      this.inFlight.add(request);
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const timeout = req.timeout === undefined ? this.timeout : req.timeout;
      if (timeout !== null && timeout > 0) {
        timer = setTimeout(() => {
          request.destroy(new TimeoutError(`${this.endpoint} did not answer ${what} within ${formatSeconds(timeout)}`));
        }, timeout);
      }

      request.on('error', fail);
      request.on('response', (res) => {
        gotResponse = true;
        this.onAnswer();
        const status = res.statusCode ?? 0;
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxBody) {
          fail(new ProtocolError(`${this.endpoint} announced a ${declared}-byte answer to ${what}, more than the ${this.maxBody}-byte limit`));
          request.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          this.onAnswer();
          size += chunk.length;
          if (size > this.maxBody) {
            fail(new ProtocolError(`${this.endpoint} sent more than ${this.maxBody} bytes in answer to ${what}`));
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('close', () => {
          // A server that hangs up mid-body: no 'end', or an 'end' with the body incomplete.
          if (!res.complete) fail(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          if (settled || !res.complete) return;
          const raw = Buffer.concat(chunks, size);
          this.decode(raw, res.headers['content-encoding'], what).then(
            (body) => {
              if (settled) return;
              cleanup();
              resolve({ status, headers: res.headers, body });
            },
            fail,
          );
        });
      });
      request.end(req.method === 'POST' ? req.body ?? Buffer.alloc(0) : undefined);
    });
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

  private toError(err: unknown, what: string): AtvError {
    if (err instanceof AtvError) return err;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === 'string' && code.startsWith('HPE_')) {
      return new ProtocolError(`${this.endpoint} answered ${what} with something that is not valid HTTP (${code})`, { cause: err });
    }
    if (this.closed) return new ClosedError(`${this.endpoint}: the client was closed`, { cause: err });
    return networkError(err, this.endpoint);
  }
}

/** Internal marker: the request failed on a reused socket before any answer. */
class StaleSocketError extends Error {
  constructor(readonly error: AtvError) {
    super(error.message);
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
