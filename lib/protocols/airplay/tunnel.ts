/**
 * MRP through the AirPlay 2 remote-control tunnel (tvOS 15 and later, HomePods): an
 * `MrpTransport`, so the MRP exchange, session and now-playing model run over it unchanged.
 * `open()` runs the AirPlay side of the session (pyatv: protocols/airplay/ap2_session.py):
 *   1. the control connection, pair-verify with HAP credentials (or transient pairing), then
 *      HAP-framed encryption of that connection;
 *   2. RTSP `SETUP` of the event channel (`isRemoteControlOnly`), and the event connection;
 *   3. `RECORD`;
 *   4. `SETUP` of a type-130 data stream (remote control, clientTypeUUID of MediaRemote) with
 *      a random seed, and the data connection keyed with it;
 *   5. `POST /feedback` every 2 s on the control connection, as iOS does: one failure is
 *      retried at once, a second ends the tunnel (connection lost).
 * The tunnel is already encrypted and kept alive, so `secure()` needs no second pair-verify
 * and MRP's own heartbeat stays off. Any of the three connections ending ends the tunnel.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodeBplist, encodeBplist, isBplistDict, type BplistValue } from '../../codecs/bplist';
import type { HttpResponse } from '../../codecs/http';
import { AtvError, ClosedError, ConnectionLostError, ProtocolError } from '../../errors';
import type { HapPairingCredentials } from '../../hap/credentials';
import type { HapExchange } from '../../hap/pairing';
import { silentLogger, type Logger } from '../../log';
import { decodeMrpFrame, type MrpTransport, type MrpTransportEvents } from '../mrp/transport';
import { encodeMrpMessage, mrpMessageTypeName, type MrpMessage } from '../mrp/messages';
import { authenticateControlChannel } from './auth';
import { AirPlayDataChannel, AirPlayEventChannel } from './channels';
import { AirPlayConnection, BPLIST_CONTENT_TYPE, RtspSession, type RtspSessionIds } from './connection';
import { AIRPLAY_FEEDBACK_INTERVAL, AirPlayFeedback } from './feedback';

/** The data stream type of remote control (MRP), and the client type that names MediaRemote. */
export const REMOTE_CONTROL_STREAM_TYPE = 130;
export const MEDIA_REMOTE_CLIENT_TYPE_UUID = '1910A70F-DBC0-4242-AF95-115DB30604E1';

/**
 * Who we say we are in the event-channel SETUP: pyatv's values (settings.py `InfoSettings`,
 * an iPhone on iOS 14.7.1), which Apple TVs accept, with our own name and identifiers.
 * `FF:…` is deliberately no real vendor's address (pyatv does the same).
 */
export const AIRPLAY_SENDER_INFO = {
  osName: 'iPhone OS',
  osVersion: '14.7.1',
  osBuildVersion: '18G82',
  model: 'iPhone10,6',
  deviceID: 'FF:61:74:76:6C:6B',
  macAddress: '02:61:74:76:6C:6B',
} as const;

/** A random RTSP session: DACP id (64-bit, upper-case hex), Active-Remote and session id (32-bit). */
export function newRtspSessionIds(): RtspSessionIds {
  return {
    dacpId: randomBytes(8).toString('hex').toUpperCase().replace(/^0+(?=.)/, ''),
    activeRemote: randomInt(0, 0xffffffff),
    sessionId: randomInt(0, 0xffffffff),
  };
}

/**
 * A data-stream seed. pyatv draws 0..2^64, iOS sends the same kind of value as a negative
 * int64; we keep it below 2^63 so it is a plain positive 8-byte plist int for every reader.
 * The key salt takes it as an unsigned decimal.
 */
export function newDataStreamSeed(): bigint {
  return randomBytes(8).readBigUInt64BE() >> 1n;
}

/** The SETUP body of the event channel: a remote-control-only session. */
export function eventChannelSetupBody(name: string, sessionUUID: string = randomUUID().toUpperCase()): Record<string, BplistValue> {
  return {
    isRemoteControlOnly: true,
    osName: AIRPLAY_SENDER_INFO.osName,
    sourceVersion: '550.10',
    timingProtocol: 'None',
    model: AIRPLAY_SENDER_INFO.model,
    deviceID: AIRPLAY_SENDER_INFO.deviceID,
    osVersion: AIRPLAY_SENDER_INFO.osVersion,
    osBuildVersion: AIRPLAY_SENDER_INFO.osBuildVersion,
    macAddress: AIRPLAY_SENDER_INFO.macAddress,
    sessionUUID,
    name,
  };
}

/** The SETUP body of the remote-control data stream. */
export function dataStreamSetupBody(seed: bigint): Record<string, BplistValue> {
  return {
    streams: [
      {
        controlType: 2,
        channelID: randomUUID().toUpperCase(),
        seed,
        clientUUID: randomUUID().toUpperCase(),
        type: REMOTE_CONTROL_STREAM_TYPE,
        wantsDedicatedSocket: true,
        clientTypeUUID: MEDIA_REMOTE_CLIENT_TYPE_UUID,
      },
    ],
  };
}

/** A reply body as a dict, or a ProtocolError naming what it answered. */
export function plistBody(response: HttpResponse, what: string, endpoint: string): Record<string, BplistValue> {
  let value: BplistValue;
  try {
    value = decodeBplist(response.body, { maxDepth: 16 });
  } catch (err) {
    throw new ProtocolError(`${endpoint} answered ${what} with a body that is not a binary plist`, { cause: err });
  }
  if (!isBplistDict(value)) throw new ProtocolError(`${endpoint} answered ${what} with a plist that is not a dictionary`);
  return value;
}

/** A TCP port read from a reply plist. */
export function portOf(value: BplistValue | undefined, what: string, endpoint: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ProtocolError(`${endpoint}: the ${what} in the SETUP reply is not a TCP port`);
  }
  return value;
}

export interface AirPlayTunnelOptions {
  host: string;
  /** The AirPlay port (7000 on Apple devices). */
  port: number;
  /** HAP credentials (Apple TV) or transient (HomePod). */
  credentials: HapPairingCredentials;
  /** Connect and per-request timeout, ms. */
  timeout: number;
  /** The name the device shows for us. */
  name: string;
  logger?: Logger;
  /** Feedback period, ms (default 2000). */
  feedbackInterval?: number;
}

export class AirPlayMrpTunnel extends EventEmitter<MrpTransportEvents> implements MrpTransport {
  readonly endpoint: string;
  readonly needsHeartbeat = false;
  readonly via = 'airplay' as const;
  private readonly options: AirPlayTunnelOptions;
  private readonly logger: Logger;
  private readonly opening = new AbortController();
  private state: 'idle' | 'opening' | 'open' | 'closed' = 'idle';
  private closeReason: AtvError | null = null;
  private control: AirPlayConnection | null = null;
  private events: AirPlayEventChannel | null = null;
  private data: AirPlayDataChannel | null = null;
  private feedback: AirPlayFeedback | null = null;

  constructor(options: AirPlayTunnelOptions) {
    super();
    this.options = options;
    this.endpoint = `MRP via AirPlay ${options.host}:${options.port}`;
    this.logger = options.logger ?? silentLogger;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get error(): AtvError | null {
    return this.closeReason;
  }

  /** Our HAP pairing id introduces us in DEVICE_INFO, as on direct MRP; transient has none. */
  get pairingId(): string | null {
    return this.options.credentials.kind === 'hap' ? this.options.credentials.clientId.toString('utf8') : null;
  }

  async open(): Promise<void> {
    if (this.state !== 'idle') throw new ClosedError(`${this.endpoint}: ${this.state === 'closed' ? 'the tunnel was closed' : 'already open'}`);
    this.state = 'opening';
    try {
      await this.establish();
    } catch (err) {
      this.teardown();
      this.state = 'closed';
      if (this.opening.signal.aborted) throw new ClosedError(`${this.endpoint}: closed while connecting`);
      throw err instanceof AtvError ? err : new ProtocolError(`${this.endpoint}: ${String(err)}`, { cause: err });
    }
    if ((this.state as string) === 'closed') {
      this.teardown();
      throw new ClosedError(`${this.endpoint}: closed while connecting`);
    }
    this.state = 'open';
    this.feedback?.start();
  }

  private async establish(): Promise<void> {
    const { host, timeout } = this.options;
    const signal = this.opening.signal;
    const logger = this.logger;
    const control = await AirPlayConnection.connect({ host, port: this.options.port, timeout, logger }, signal);
    this.control = control;
    const secret = await authenticateControlChannel(control, this.options.credentials);
    const rtsp = new RtspSession(control, newRtspSessionIds());
    this.feedback = new AirPlayFeedback(rtsp, this.options.feedbackInterval ?? AIRPLAY_FEEDBACK_INTERVAL, this.logger, (error) => {
      this.logger.warn(`${this.endpoint}: the receiver stopped answering feedback; closing the tunnel`);
      this.end(error);
    });

    const setup = await rtsp.exchange('SETUP', {
      body: encodeBplist(eventChannelSetupBody(this.options.name)),
      contentType: BPLIST_CONTENT_TYPE,
    });
    const eventPort = portOf(plistBody(setup, 'SETUP', control.endpoint)['eventPort'], 'eventPort', control.endpoint);
    // The receiver's address as the control connection reached it (pyatv: connection.remote_ip).
    this.events = await AirPlayEventChannel.open({ host, port: eventPort, secret, timeout, logger, signal });
    this.watch(this.events);

    await rtsp.exchange('RECORD');

    const seed = newDataStreamSeed();
    const streamSetup = await rtsp.exchange('SETUP', { body: encodeBplist(dataStreamSetupBody(seed)), contentType: BPLIST_CONTENT_TYPE });
    const streams = plistBody(streamSetup, 'the data-stream SETUP', control.endpoint)['streams'];
    const stream = Array.isArray(streams) ? streams.find((s) => isBplistDict(s) && s['type'] === REMOTE_CONTROL_STREAM_TYPE) ?? streams[0] : undefined;
    if (!isBplistDict(stream)) throw new ProtocolError(`${control.endpoint} did not set up the remote-control data stream`);
    const dataPort = portOf(stream['dataPort'], 'dataPort', control.endpoint);
    const data = await AirPlayDataChannel.open({ host, port: dataPort, secret, seed, timeout, logger, signal });
    this.data = data;
    data.on('message', (bytes) => this.receive(bytes));
    this.watch(data);
    control.on('closed', (reason) => this.end(reason ?? new ConnectionLostError(`${control.endpoint}: the control connection was closed`)));
  }

  /** An extra channel closing ends the whole tunnel: the receiver tore the session down. */
  private watch(channel: AirPlayEventChannel | AirPlayDataChannel): void {
    channel.on('closed', (reason) => {
      if (this.state === 'open') this.end(reason ?? new ConnectionLostError(`${this.endpoint}: the receiver closed a channel of the session`));
    });
  }

  private receive(bytes: Buffer): void {
    let message;
    try {
      message = decodeMrpFrame(bytes, this.endpoint, true);
    } catch (err) {
      this.end(err as AtvError);
      return;
    }
    this.logger.debug(`${this.endpoint} << ${message.typeName}${message.identifier ? ` (${message.identifier})` : ''}`);
    this.emit('message', message);
  }

  async secure(_exchange: HapExchange): Promise<boolean> {
    // The AirPlay pair-verify (or transient pairing) already authenticated the whole session.
    return true;
  }

  send(message: MrpMessage): void {
    const data = this.data;
    if (this.state !== 'open' || data === null) throw this.closeReason ?? new ClosedError(`${this.endpoint}: not connected`);
    data.send(encodeMrpMessage(message));
    this.logger.debug(`${this.endpoint} >> ${mrpMessageTypeName(message.type)}${message.identifier ? ` (${message.identifier})` : ''}`);
  }

  close(): void {
    if (this.state === 'idle' || this.state === 'opening') {
      this.state = 'closed';
      this.opening.abort();
      this.teardown();
      return;
    }
    this.end(null);
  }

  abort(reason: AtvError): void {
    if (this.state !== 'open') {
      this.close();
      return;
    }
    this.end(reason);
  }

  /** Ends the tunnel once: every connection closed, `closed` emitted with the reason. */
  private end(reason: AtvError | null): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.closeReason = reason;
    this.teardown();
    if (reason) this.logger.debug(`${this.endpoint}: closed: ${reason.message}`);
    if (wasOpen) this.emit('closed', reason);
  }

  private teardown(): void {
    this.feedback?.stop();
    this.data?.close();
    this.events?.close();
    this.control?.close();
  }
}
