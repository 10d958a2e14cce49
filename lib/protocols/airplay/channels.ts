/**
 * The two extra connections of an AirPlay 2 remote-control session, from the sender's side
 * (pyatv: protocols/airplay/channels.py, auth/hap_channel.py). Both are HAP blocks on the
 * shared channel, keyed from the control channel's shared secret:
 *  - the event channel (`Events-Salt`, keys reversed because the receiver owns it): the
 *    receiver sends RTSP-style requests (`POST /command` with `updateInfo`) and closes the
 *    connection after about 30 s when one goes unanswered, so every request gets a 200;
 *  - the data channel (`DataStream-Salt<seed>`): 32-byte-header frames whose `sync`s carry
 *    MRP messages in a binary plist and are each answered with a `rply`.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { encodeHttpResponse, HttpMessageDecoder, rtspEventReply } from '../../codecs/http';
import { AtvError, ProtocolError } from '../../errors';
import { CounterNonceCipher } from '../../hap/channel';
import { deriveChannelKeys } from '../../hap/pair-verify';
import { silentLogger, type Logger } from '../../log';
import { FramedChannel } from '../../support/channel';
import { HAP_BLOCKS } from '../../support/frames';
import {
  DataStreamCommand,
  DataStreamFrameDecoder,
  DataStreamMessageType,
  dataStreamMessages,
  encodeDataStreamReply,
  encodeDataStreamSync,
} from './datastream';

export interface AirPlayChannelOptions {
  host: string;
  port: number;
  /** The control channel's shared secret (pair-verify X25519, or transient SRP key). */
  secret: Buffer;
  timeout: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface AirPlayChannelEvents {
  /** The connection ended: null after close(), the reason otherwise. Emitted once. */
  closed: [error: AtvError | null];
}

/** Opens a connection that is HAP blocks from its first byte, with `keys` for our side. */
async function openHapChannel(options: AirPlayChannelOptions, endpoint: string, keys: ReturnType<typeof deriveChannelKeys>): Promise<FramedChannel> {
  const channel = await FramedChannel.connect(
    {
      host: options.host,
      port: options.port,
      timeout: options.timeout,
      endpoint,
      format: HAP_BLOCKS,
      keepAlive: 1000,
      ...(options.logger !== undefined && { logger: options.logger }),
    },
    options.signal,
  );
  channel.switchTo(HAP_BLOCKS, new CounterNonceCipher(keys, 'zeros-then-counter'));
  return channel;
}

/** The sender's end of the event channel: answers whatever the receiver sends. */
export class AirPlayEventChannel extends EventEmitter<AirPlayChannelEvents> {
  private readonly decoder = HttpMessageDecoder.forRequests();
  /** Requests the receiver sent (and we answered) so far. */
  answered = 0;

  private constructor(
    private readonly channel: FramedChannel,
    private readonly logger: Logger,
  ) {
    super();
    channel.on('frame', ({ payload }) => this.receive(payload));
    channel.on('closed', (reason) => this.emit('closed', reason));
  }

  static async open(options: AirPlayChannelOptions): Promise<AirPlayEventChannel> {
    const endpoint = `AirPlay events ${options.host}:${options.port}`;
    const channel = await openHapChannel(options, endpoint, deriveChannelKeys(options.secret, 'airplayEvents'));
    return new AirPlayEventChannel(channel, options.logger ?? silentLogger);
  }

  get isOpen(): boolean {
    return this.channel.isOpen;
  }

  close(): void {
    this.channel.close();
  }

  private receive(bytes: Buffer): void {
    try {
      for (const request of this.decoder.push(bytes)) {
        this.logger.debug(`${this.channel.endpoint} << ${request.method} ${request.target}`);
        this.channel.send(encodeHttpResponse(rtspEventReply(request)));
        this.answered++;
      }
    } catch (err) {
      this.channel.abort(new ProtocolError(`${this.channel.endpoint}: ${(err as Error).message}`, { cause: err }));
    }
  }
}

export interface AirPlayDataChannelEvents extends AirPlayChannelEvents {
  /** One serialised MRP ProtocolMessage from the receiver, in order. */
  message: [message: Buffer];
}

/**
 * pyatv sends all its syncs with one seqno drawn from 0x1_0000_0000..0x1_FFFF_FFFF (upper 32
 * bits 1); an Apple TV accepts that, so we do the same.
 */
function senderSeqno(): bigint {
  return 0x100000000n + BigInt(randomInt(0, 0xffffffff));
}

/** The sender's end of the data channel: MRP messages in and out, a `rply` for every `sync`. */
export class AirPlayDataChannel extends EventEmitter<AirPlayDataChannelEvents> {
  private readonly decoder = new DataStreamFrameDecoder();
  private readonly seqno = senderSeqno();

  private constructor(
    private readonly channel: FramedChannel,
    private readonly logger: Logger,
  ) {
    super();
    channel.on('frame', ({ payload }) => this.receive(payload));
    channel.on('closed', (reason) => this.emit('closed', reason));
  }

  /** `seed`: the one our data-stream SETUP announced (it salts the keys). */
  static async open(options: AirPlayChannelOptions & { seed: bigint }): Promise<AirPlayDataChannel> {
    const endpoint = `AirPlay data stream ${options.host}:${options.port}`;
    const channel = await openHapChannel(options, endpoint, deriveChannelKeys(options.secret, 'airplayDataStream', { seed: options.seed }));
    return new AirPlayDataChannel(channel, options.logger ?? silentLogger);
  }

  get isOpen(): boolean {
    return this.channel.isOpen;
  }

  get endpoint(): string {
    return this.channel.endpoint;
  }

  get error(): AtvError | null {
    return this.channel.error;
  }

  /** Sends serialised MRP messages in one `sync`. Throws when the channel is closed. */
  send(message: Uint8Array): void {
    this.channel.send(encodeDataStreamSync([message], this.seqno, DataStreamCommand.Sender));
  }

  close(): void {
    this.channel.close();
  }

  abort(reason: AtvError): void {
    this.channel.abort(reason);
  }

  private receive(bytes: Buffer): void {
    const received: Buffer[] = [];
    try {
      for (const frame of this.decoder.push(bytes)) {
        received.push(...dataStreamMessages(frame));
        if (frame.messageType === DataStreamMessageType.Sync) this.channel.send(encodeDataStreamReply(frame.seqno));
        else if (frame.messageType !== DataStreamMessageType.Reply) this.logger.debug(`${this.channel.endpoint}: a "${frame.messageType}" frame ignored`);
      }
    } catch (err) {
      this.channel.abort(new ProtocolError(`${this.channel.endpoint}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const message of received) {
      if (!this.channel.isOpen) return;
      this.emit('message', message);
    }
  }
}
