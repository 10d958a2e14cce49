/**
 * One Companion connection, client side (pyatv: protocols/companion/protocol.py): the shared
 * framed channel with Companion frames, plain while pairing and ChaCha20-Poly1305 after
 * pair-verify (12-byte counter-first nonce, the frame header as AAD). On top of it:
 *  - HAP pairing: each TLV8 goes out in an OPACK dict (`_pd`), in a PS_Start or PV_Start frame
 *    for the first message of pair-setup or pair-verify and a `_Next` frame for the rest; the
 *    device answers with `_Next` frames, matched by frame type (one exchange at a time);
 *  - requests: an E_OPACK dict with a fresh `_x`, answered by the response carrying that `_x`
 *    (the one request/response matcher, RequestTable); a response with `_em` is an error;
 *  - events (`_t` 1) both ways: ours are sent and forgotten, the device's are handed on by name.
 * A frame that cannot be read ends the connection with a ProtocolError.
 */
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import type { OpackValue } from '../../codecs/opack';
import { AtvError, ClosedError, NotSupportedError, ProtocolError } from '../../errors';
import { CounterNonceCipher } from '../../hap/channel';
import type { HapExchange, HapExchangeStep } from '../../hap/pairing';
import { deriveChannelKeys } from '../../hap/pair-verify';
import { silentLogger, type Logger } from '../../log';
import { FramedChannel } from '../../support/channel';
import { COMPANION_FRAMES } from '../../support/frames';
import { RequestTable } from '../../support/requests';
import {
  COMPANION_AUTH_FRAMES,
  COMPANION_FRAME,
  COMPANION_NOT_HANDLED,
  decodeCompanionMessage,
  decodeCompanionPairing,
  encodeCompanionMessage,
  encodeCompanionPairing,
  nextXid,
  type CompanionContent,
  type CompanionMessage,
} from './messages';

/**
 * Largest frame accepted from the device. Replies are small (an app list of a few hundred
 * apps is some 20 kB); more is a broken or hostile peer.
 */
export const COMPANION_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * TCP keep-alive idle time: Companion has no heartbeat of its own, so a device that left the
 * network is noticed by the keep-alive probes (as for MRP, whose value pyatv uses).
 */
export const COMPANION_KEEPALIVE_DELAY = 1000;

export interface CompanionConnectionOptions {
  host: string;
  port: number;
  /** Connect timeout and default per-request timeout, ms. */
  timeout: number;
  logger?: Logger;
  maxFrameBytes?: number;
}

export interface CompanionConnectionEvents {
  /** An event from the device (`_t` 1), by name. Listeners run synchronously. */
  event: [name: string, content: CompanionContent];
  /** The connection ended: null after close(), the reason otherwise. Emitted once. */
  closed: [error: AtvError | null];
}

/** kNotHandledErr, however wide the device wrote it (we read integers unsigned). */
function isNotHandled(code: number | null): boolean {
  return code !== null && (code === COMPANION_NOT_HANDLED || code === 2 ** 16 + COMPANION_NOT_HANDLED || code === 2 ** 32 + COMPANION_NOT_HANDLED);
}

/** A request the device answered with an error (`_em`) other than "no handler". */
export class CompanionRefusal extends ProtocolError {
  constructor(
    message: string,
    /** What the device said (`_em`). */
    readonly deviceMessage: string,
  ) {
    super(message);
  }
}

/** The error a device's `_em` reply means: an unknown request is one the device cannot do. */
export function companionRequestError(endpoint: string, request: string, reply: CompanionMessage): AtvError {
  const error = reply.error!;
  const detail = `${error.message}${error.code !== null ? ` (${error.domain ?? 'error'} ${error.code})` : ''}`;
  if (isNotHandled(error.code) || /no request handler/i.test(error.message)) {
    return new NotSupportedError(`${endpoint} does not handle ${request}: ${detail}`);
  }
  return new CompanionRefusal(`${endpoint} refused ${request}: ${detail}`, error.message);
}

export class CompanionConnection extends EventEmitter<CompanionConnectionEvents> {
  readonly endpoint: string;
  private readonly channel: FramedChannel;
  private readonly logger: Logger;
  private readonly timeout: number;
  private readonly responses: RequestTable<number, CompanionMessage>;
  /** Pairing replies, by the frame type they come in. */
  private readonly pairingReplies: RequestTable<number, Buffer>;
  private xid: number;
  private ended = false;

  private constructor(channel: FramedChannel, options: CompanionConnectionOptions) {
    super();
    this.channel = channel;
    this.endpoint = channel.endpoint;
    this.logger = options.logger ?? silentLogger;
    this.timeout = options.timeout;
    this.responses = new RequestTable(this.endpoint);
    this.pairingReplies = new RequestTable(this.endpoint);
    // pyatv starts its counter at a random point (protocols/companion/protocol.py).
    this.xid = randomInt(0, 0x10000);
    channel.on('frame', ({ type, payload }) => this.receive(type, payload));
    channel.on('closed', (reason) => this.onClosed(reason));
  }

  /** Connects to the device's Companion port. */
  static async open(options: CompanionConnectionOptions, signal?: AbortSignal): Promise<CompanionConnection> {
    const endpoint = `Companion ${options.host}:${options.port}`;
    const channel = await FramedChannel.connect(
      {
        host: options.host,
        port: options.port,
        timeout: options.timeout,
        endpoint,
        format: COMPANION_FRAMES,
        keepAlive: COMPANION_KEEPALIVE_DELAY,
        maxFrameBytes: options.maxFrameBytes ?? COMPANION_MAX_FRAME_BYTES,
        ...(options.logger && { logger: options.logger }),
      },
      signal,
    );
    return new CompanionConnection(channel, options);
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

  /**
   * HAP pairing over this connection: pair-setup messages go in PS_ frames with `_pwTy: 1`
   * (a PIN on screen), pair-verify's first in PV_Start with `_auTy: 4`, each with an `_x`
   * as pyatv sends them.
   */
  readonly pairingExchange: HapExchange = (tlv: Buffer, step: HapExchangeStep): Promise<Buffer> => {
    const setup = step.phase === 'setup';
    const first = step.state === 1;
    const frame = setup ? (first ? COMPANION_FRAME.PS_Start : COMPANION_FRAME.PS_Next) : first ? COMPANION_FRAME.PV_Start : COMPANION_FRAME.PV_Next;
    const replyFrame = setup ? COMPANION_FRAME.PS_Next : COMPANION_FRAME.PV_Next;
    const payload = encodeCompanionPairing(tlv, {
      ...(setup ? { passwordType: 1 } : first ? { authType: 4 } : {}),
      xid: this.takeXid(),
    });
    if (this.ended) return Promise.reject(this.error ?? new ClosedError(`${this.endpoint}: the connection was closed`));
    return this.pairingReplies.request(replyFrame, () => this.channel.send(payload, frame), {
      timeout: this.timeout,
      what: `${setup ? 'pair-setup' : 'pair-verify'} M${step.state}`,
      ...(step.onReply && { onReply: step.onReply }),
    });
  };

  /** Switches both directions to the session cipher of a pair-verify's shared secret (as its M4 is read). */
  enableEncryption(sharedSecret: Buffer): void {
    this.channel.switchTo(COMPANION_FRAMES, new CounterNonceCipher(deriveChannelKeys(sharedSecret, 'companion'), 'counter-then-zeros'));
  }

  /**
   * Sends a request and resolves with the device's response; a response carrying `_em` is a
   * NotSupportedError (the device has no handler) or a ProtocolError.
   */
  async request(name: string, content: OpackValue = {}, timeout = this.timeout): Promise<CompanionMessage> {
    if (this.ended) throw this.error ?? new ClosedError(`${this.endpoint}: the connection was closed`);
    const xid = this.takeXid();
    const payload = encodeCompanionMessage({ kind: 'request', name, xid, content });
    this.logger.debug(`${this.endpoint} >> ${name} (${xid})`);
    const reply = await this.responses.request(xid, () => this.channel.send(payload, COMPANION_FRAME.E_OPACK), { timeout, what: name });
    if (reply.error) throw companionRequestError(this.endpoint, name, reply);
    return reply;
  }

  /** Sends an event (nothing answers it). */
  event(name: string, content: OpackValue = {}): void {
    if (this.ended) throw this.error ?? new ClosedError(`${this.endpoint}: the connection was closed`);
    const xid = this.takeXid();
    this.channel.send(encodeCompanionMessage({ kind: 'event', name, xid, content }), COMPANION_FRAME.E_OPACK);
    this.logger.debug(`${this.endpoint} >> event ${name} (${xid})`);
  }

  close(): void {
    this.channel.close();
  }

  abort(reason: AtvError): void {
    this.channel.abort(reason);
  }

  private takeXid(): number {
    const xid = this.xid;
    this.xid = nextXid(xid);
    return xid;
  }

  private receive(type: number, payload: Buffer): void {
    if (COMPANION_AUTH_FRAMES.has(type)) {
      let tlv: Buffer;
      try {
        tlv = decodeCompanionPairing(payload);
      } catch (err) {
        this.channel.abort(new ProtocolError(`${this.endpoint}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      if (!this.pairingReplies.settle(type, tlv)) this.logger.debug(`${this.endpoint}: a pairing frame nobody waits for was ignored`);
      return;
    }
    if (type !== COMPANION_FRAME.E_OPACK && type !== COMPANION_FRAME.U_OPACK) {
      // NoOp and the family/session frames pyatv does not use either.
      this.logger.debug(`${this.endpoint}: frame type ${type} ignored`);
      return;
    }
    let message: CompanionMessage;
    try {
      message = decodeCompanionMessage(payload);
    } catch (err) {
      this.channel.abort(new ProtocolError(`${this.endpoint}: a message could not be read: ${(err as Error).message}`, { cause: err }));
      return;
    }
    switch (message.kind) {
      case 'response':
        if (message.xid === null || !this.responses.settle(message.xid, message)) {
          this.logger.debug(`${this.endpoint}: a response nobody waits for (${message.xid ?? 'no _x'}) was ignored`);
        }
        return;
      case 'event':
        if (message.name === null) {
          this.logger.debug(`${this.endpoint}: an event without a name was ignored`);
          return;
        }
        this.logger.debug(`${this.endpoint} << event ${message.name}`);
        this.emit('event', message.name, message.content);
        return;
      case 'request':
        // A device does not ask a remote anything pyatv knows of.
        this.logger.debug(`${this.endpoint}: a request from the device (${message.name ?? '?'}) was ignored`);
        return;
    }
  }

  private onClosed(reason: AtvError | null): void {
    if (this.ended) return;
    this.ended = true;
    const error = reason ?? new ClosedError(`${this.endpoint}: the connection was closed`);
    this.responses.rejectAll(error);
    this.pairingReplies.rejectAll(error);
    this.emit('closed', reason);
  }
}
