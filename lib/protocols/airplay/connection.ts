/**
 * One connection to an AirPlay receiver's port, as a sender uses it: HTTP/1.1 requests
 * (`GET /info`, the pairing POSTs) in clear, then, once pair-verify (or transient pairing)
 * gave keys, HAP-framed ChaCha20-Poly1305 on the very same socket carrying RTSP/1.0 (SETUP,
 * RECORD, POST /feedback) and HTTP (/play, /playback-info). Built on the shared channel
 * (raw bytes, then HAP blocks) and the HTTP/RTSP codec; responses are matched to requests by
 * `CSeq` where the request carried one (RTSP), otherwise in order, as a receiver answers.
 *
 * The requests look as pyatv sends them (protocols/airplay/auth/hap.py, support/rtsp.py,
 * support/http.py `_format_message`), header order included, since that is what Apple TVs
 * are known to accept.
 */
import { EventEmitter } from 'node:events';
import { encodeHttpRequest, HttpHeaders, HttpMessageDecoder, type HttpHeaderValue, type HttpProtocol, type HttpResponse } from '../../codecs/http';
import { AtvError, AuthenticationError, ClosedError, HttpStatusError, NotSupportedError, ProtocolError } from '../../errors';
import { CounterNonceCipher } from '../../hap/channel';
import type { HapCipherKeys } from '../../hap/pair-verify';
import { silentLogger, type Logger } from '../../log';
import { FramedChannel } from '../../support/channel';
import { HAP_BLOCKS, RAW_BYTES } from '../../support/frames';
import { RequestTable } from '../../support/requests';

/** The User-Agent of pairing requests (pyatv: protocols/airplay/auth/hap.py). */
export const AIRPLAY_PAIRING_USER_AGENT = 'AirPlay/320.20';
/** The User-Agent of RTSP and playback requests (pyatv: support/rtsp.py). */
export const AIRPLAY_USER_AGENT = 'AirPlay/550.10';
export const BPLIST_CONTENT_TYPE = 'application/x-apple-binary-plist';

/**
 * What a user should do about HTTP 470 ("Connection Authorization Required"): the receiver
 * refuses senders that are not paired, or the credentials are no longer valid (pyatv maps
 * 470 to InvalidCredentialsError; issue reports show the "Allow Access" setting at fault).
 */
export const AIRPLAY_ACCESS_ADVICE =
  'AirPlay access: allow everyone on the network (Settings > AirPlay and HomeKit > Allow Access), or pair AirPlay again';

export interface AirPlayRequest {
  method: string;
  target: string;
  /** Default HTTP/1.1. */
  protocol?: HttpProtocol;
  /** Written first of all headers when given (pyatv's RTSP requests start with it). */
  userAgent?: string;
  /** Headers in the order to send, after the Content-Length a body gets (pyatv's order). */
  headers?: ReadonlyArray<readonly [string, HttpHeaderValue]>;
  body?: Uint8Array;
  /** Default: the connection's timeout. */
  timeout?: number;
  /**
   * Runs synchronously as the response is read, before the next bytes of the same read
   * (pair-verify's last answer switches on encryption there); a throw fails the request.
   */
  onResponse?: (response: HttpResponse) => void;
}

export interface AirPlayConnectionOptions {
  host: string;
  port: number;
  /** Connect and per-request timeout, ms. */
  timeout: number;
  logger?: Logger;
  /** Names the receiver in errors (default `AirPlay host:port`). */
  endpoint?: string;
}

export interface AirPlayConnectionEvents {
  /** The connection ended: null after close(), the reason otherwise. Emitted once. */
  closed: [error: AtvError | null];
}

interface Outstanding {
  key: number;
  /** The CSeq the request carried, when it carried one. */
  cseq: number | undefined;
}

export class AirPlayConnection extends EventEmitter<AirPlayConnectionEvents> {
  readonly endpoint: string;
  private readonly channel: FramedChannel;
  private readonly timeout: number;
  private readonly logger: Logger;
  private readonly decoder = HttpMessageDecoder.forResponses();
  private readonly table: RequestTable<number, HttpResponse>;
  /** Requests waiting for their response, in the order they were sent. */
  private readonly outstanding: Outstanding[] = [];
  private nextKey = 0;

  private constructor(channel: FramedChannel, options: AirPlayConnectionOptions, endpoint: string) {
    super();
    this.channel = channel;
    this.endpoint = endpoint;
    this.timeout = options.timeout;
    this.logger = options.logger ?? silentLogger;
    this.table = new RequestTable(endpoint);
    channel.on('frame', ({ payload }) => this.receive(payload));
    channel.on('closed', (reason) => {
      this.table.rejectAll(reason ?? new ClosedError(`${endpoint}: the connection was closed`));
      this.outstanding.length = 0;
      this.emit('closed', reason);
    });
  }

  /** Connects (plain bytes until `enableEncryption`). */
  static async connect(options: AirPlayConnectionOptions, signal?: AbortSignal): Promise<AirPlayConnection> {
    const endpoint = options.endpoint ?? `AirPlay ${options.host}:${options.port}`;
    const channel = await FramedChannel.connect(
      {
        host: options.host,
        port: options.port,
        timeout: options.timeout,
        endpoint,
        format: RAW_BYTES,
        // A receiver that leaves the network is then noticed within seconds, as for MRP.
        keepAlive: 1000,
        ...(options.logger !== undefined && { logger: options.logger }),
      },
      signal,
    );
    return new AirPlayConnection(channel, options, endpoint);
  }

  get isOpen(): boolean {
    return this.channel.isOpen;
  }

  get encrypted(): boolean {
    return this.channel.encrypted;
  }

  /** Why the connection ended (null while open or after close()). */
  get error(): AtvError | null {
    return this.channel.error;
  }

  /** The local address that reaches the receiver (RTSP URIs name it; a file server binds it). */
  get localAddress(): string {
    return this.channel.localAddress ?? '127.0.0.1';
  }

  /**
   * From the next byte on, both directions are HAP blocks sealed with `keys` (the control
   * channel's, from pair-verify or transient pairing). Only between messages.
   */
  enableEncryption(keys: HapCipherKeys): void {
    if (this.decoder.pendingBytes > 0) {
      throw new ProtocolError(`${this.endpoint}: the receiver sent more than its pairing answer before encryption started`);
    }
    this.channel.switchTo(HAP_BLOCKS, new CounterNonceCipher(keys, 'zeros-then-counter'));
  }

  /** Sends a request and resolves with the response, whatever its status (see `expectOk`). */
  request(request: AirPlayRequest): Promise<HttpResponse> {
    const key = this.nextKey++;
    const headers = new HttpHeaders();
    const body = request.body ?? Buffer.alloc(0);
    if (request.userAgent !== undefined) headers.append('User-Agent', request.userAgent);
    if (body.length > 0) headers.append('Content-Length', body.length);
    for (const [name, value] of request.headers ?? []) headers.append(name, value);
    const cseqText = headers.get('CSeq');
    const cseq = cseqText === undefined ? undefined : Number(cseqText);
    const bytes = encodeHttpRequest({ method: request.method, target: request.target, protocol: request.protocol ?? 'HTTP/1.1', headers, body });
    const entry: Outstanding = { key, cseq };
    const what = `${request.method} ${request.target}`;
    return this.table
      .request(
        key,
        () => {
          this.outstanding.push(entry);
          this.channel.write(this.channel.codec.encode(bytes));
          this.logger.debug(`${this.endpoint} >> ${what}`);
        },
        {
          timeout: request.timeout ?? this.timeout,
          what,
          ...(request.onResponse && { onReply: request.onResponse }),
        },
      )
      .finally(() => {
        const at = this.outstanding.indexOf(entry);
        if (at >= 0) this.outstanding.splice(at, 1);
      });
  }

  close(): void {
    this.channel.close();
  }

  abort(reason: AtvError): void {
    this.channel.abort(reason);
  }

  private receive(bytes: Buffer): void {
    let responses: HttpResponse[];
    try {
      responses = this.decoder.push(bytes);
    } catch (err) {
      this.channel.abort(new ProtocolError(`${this.endpoint}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const response of responses) {
      const cseq = response.headers.get('CSeq');
      // A receiver echoes the CSeq of an RTSP request; answers to requests without one come
      // in order (pyatv's fake device puts `CSeq: 1` on those, so that CSeq means nothing).
      const match =
        cseq === undefined
          ? this.outstanding[0]
          : (this.outstanding.find((o) => o.cseq !== undefined && String(o.cseq) === cseq) ?? this.outstanding.find((o) => o.cseq === undefined));
      if (match === undefined) {
        this.logger.debug(`${this.endpoint}: a response nobody waits for (${response.status}) ignored`);
        continue;
      }
      this.outstanding.splice(this.outstanding.indexOf(match), 1);
      this.logger.debug(`${this.endpoint} << ${response.status} ${response.reason}`);
      this.table.settle(match.key, response);
    }
  }
}

/**
 * Throws the typed error for a refused request, naming `what` (never a secret): 470 and 403
 * are AuthenticationErrors with what to do, 401 a password the library does not handle, 453
 * and 501 NotSupportedErrors, anything else not 2xx an HttpStatusError.
 */
export function expectOk(response: HttpResponse, what: string, endpoint: string): HttpResponse {
  const { status } = response;
  if (status >= 200 && status < 300) return response;
  switch (status) {
    case 470:
      return throwError(new AuthenticationError(`${endpoint} refused ${what} (470 Connection Authorization Required): ${AIRPLAY_ACCESS_ADVICE}`));
    case 403:
      return throwError(new AuthenticationError(`${endpoint} refused ${what} (403 Forbidden): the credentials are not accepted; pair AirPlay again`));
    case 401:
      return throwError(
        new AuthenticationError(`${endpoint} asks for an AirPlay password for ${what}: remove the password on the device (AirPlay settings); passwords are not supported`),
      );
    case 453:
      return throwError(new NotSupportedError(`${endpoint} cannot take another stream (453 Not Enough Bandwidth) for ${what}: stop what plays there and try again`));
    case 404:
    case 501:
      return throwError(new NotSupportedError(`${endpoint} does not support ${what} (${status} ${response.reason})`));
    default:
      return throwError(new HttpStatusError(status, `${endpoint} answered ${what} with ${status} ${response.reason}`.trim()));
  }
}

function throwError(error: AtvError): never {
  throw error;
}

/** Headers every RTSP request of one session carries (pyatv: support/rtsp.py `exchange`). */
export interface RtspSessionIds {
  /** Random 64-bit id, upper-case hex. */
  readonly dacpId: string;
  /** Random 32-bit number. */
  readonly activeRemote: number;
  /** Random 32-bit number naming the session in the request URI. */
  readonly sessionId: number;
}

/**
 * RTSP requests of one sender session: CSeq from 0, the session's ids, the URI
 * `rtsp://<our address>/<session id>`, and a binary-plist body where there is one.
 */
export class RtspSession {
  private cseq = 0;

  constructor(
    readonly connection: AirPlayConnection,
    readonly ids: RtspSessionIds,
  ) {}

  get uri(): string {
    return `rtsp://${this.connection.localAddress}/${this.ids.sessionId}`;
  }

  /**
   * One RTSP request (or HTTP, for the playback URLs that share the session's headers); the
   * response must be 2xx, else a typed error (expectOk).
   */
  async exchange(method: string, options: { target?: string; body?: Uint8Array; contentType?: string; protocol?: HttpProtocol; timeout?: number } = {}): Promise<HttpResponse> {
    const headers: Array<[string, HttpHeaderValue]> = [
      ['CSeq', this.cseq++],
      ['DACP-ID', this.ids.dacpId],
      ['Active-Remote', this.ids.activeRemote],
      ['Client-Instance', this.ids.dacpId],
    ];
    if (options.contentType !== undefined) headers.push(['Content-Type', options.contentType]);
    const target = options.target ?? this.uri;
    const response = await this.connection.request({
      method,
      target,
      protocol: options.protocol ?? 'RTSP/1.0',
      userAgent: AIRPLAY_USER_AGENT,
      headers,
      ...(options.body !== undefined && { body: options.body }),
      ...(options.timeout !== undefined && { timeout: options.timeout }),
    });
    return expectOk(response, `${method} ${target === this.uri ? '' : target}`.trim(), this.connection.endpoint);
  }
}
