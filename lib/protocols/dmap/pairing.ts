/**
 * DMAP pairing, remote side (pyatv: protocols/dmap/pairing.py). We play Apple's Remote app: announce a
 * `_touch-remote._tcp` service carrying a random pairing GUID, serve `GET /pair`, and wait
 * for the device (Apple TV Settings → Remotes, iTunes, OwnTone) to call it with
 * `pairingcode = MD5(GUID + each PIN digit followed by a NUL)`, the PIN being one the user
 * chose here and typed on the device. A right code is answered with a `cmpa` container; the
 * credentials are then `0x<GUID>`.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { encodeTag } from '../../codecs/dmap';
import { DEFAULT_CLIENT_NAME, type PairingSession } from '../../device/interfaces';
import { ServiceAdvertiser } from '../../mdns/advertiser';
import { announcedIPv4Addresses } from '../../mdns/transport';
import type { AdvertisedService, AdvertiserOptions } from '../../mdns/types';
import { AtvError, InvalidArgumentError, PairingError } from '../../errors';
import { silentLogger, type Logger } from '../../log';

export const TOUCH_REMOTE_TYPE = '_touch-remote._tcp';
export const DMAP_PAIRING_TIMEOUT = 5 * 60_000;

export interface DmapPairingOptions {
  /** The remote's name as the device lists it (TXT `DvNm`, `cmnm`). Default DEFAULT_CLIENT_NAME. */
  name?: string;
  /** 16 hex digits (an optional `0x` is dropped); random when absent. */
  pairingGuid?: string;
  /** The 4-digit PIN the user types on the device; random when absent (read it from `pin`). */
  pin?: string;
  /** IPv4 address to serve and announce on; default: every address discovery uses, but loopback. */
  interface?: string;
  /** Milliseconds to wait for the device (default 5 minutes). */
  timeout?: number;
  logger?: Logger;
  /** Advertiser settings (tests: `{ multicast: false, unicast: { host: '127.0.0.1', port: 0 } }`). */
  advertiser?: Omit<AdvertiserOptions, 'interface' | 'logger'>;
  /** Told when a device sent the code of a wrong PIN (the pairing goes on: it may call again). */
  onWrongPin?: () => void;
}

/** The code the device sends for a GUID and PIN: lower-case hex MD5 (pyatv: protocols/dmap/pairing.py). */
export function dmapPairingCode(guid: string, pin: string | number): string {
  const hash = createHash('md5');
  hash.update(guid.toUpperCase(), 'ascii');
  for (const digit of normalizeDmapPin(pin)) hash.update(`${digit}\0`, 'ascii');
  return hash.digest('hex');
}

/** The `cmpa` answer to a right pairing code: GUID as uint64, remote name, device type. */
export function dmapPairingAnswer(guid: string, name: string): Buffer {
  return encodeTag('cmpa', [encodeTag('cmpg', BigInt(`0x${guid}`)), encodeTag('cmnm', name), encodeTag('cmty', 'iPhone')]);
}

/** Instance name rule of the Remote app: the IPv4 address as a 40-digit decimal number. */
export function touchRemoteInstanceName(address: string): string {
  const n = address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  return String(n).padStart(40, '0');
}

/** A DMAP PIN as its 4 digits (shorter ones are zero-padded, as the Remote app does). */
export function normalizeDmapPin(pin: string | number): string {
  const value = String(pin).trim();
  if (!/^\d{1,4}$/.test(value)) throw new InvalidArgumentError('the DMAP pairing PIN must be 4 digits');
  return value.padStart(4, '0');
}

function normalizeGuid(guid: string): string {
  const value = guid.trim().replace(/^0x/i, '');
  if (!/^[0-9a-f]{16}$/i.test(value)) throw new InvalidArgumentError('the DMAP pairing GUID must be 16 hex digits');
  return value.toUpperCase();
}

export class DmapPairing implements PairingSession {
  readonly protocol = 'dmap' as const;
  readonly deviceProvidesPin = false;
  readonly name: string;
  readonly pairingGuid: string;
  private currentPin: string;
  private readonly iface: string | undefined;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly advertiserOptions: Omit<AdvertiserOptions, 'interface' | 'logger'>;
  private readonly onWrongPin: (() => void) | undefined;
  private server: http.Server | null = null;
  private boundPort: number | null = null;
  private listening: Promise<void> = Promise.resolve();
  private readonly sockets = new Set<Socket>();
  private advertiser: ServiceAdvertiser | null = null;
  private timer: NodeJS.Timeout | null = null;
  private state: 'new' | 'waiting' | 'answering' | 'closed' = 'new';
  private settled = false;
  private resolveResult!: (credentials: string) => void;
  private rejectResult!: (error: Error) => void;
  private readonly result: Promise<string>;
  private cleanup: Promise<void> | null = null;

  constructor(options: DmapPairingOptions = {}) {
    this.name = options.name?.trim() || DEFAULT_CLIENT_NAME;
    this.pairingGuid = options.pairingGuid !== undefined ? normalizeGuid(options.pairingGuid) : randomBytes(8).toString('hex').toUpperCase();
    this.currentPin = options.pin !== undefined ? normalizeDmapPin(options.pin) : String(randomInt(0, 10_000)).padStart(4, '0');
    this.iface = options.interface;
    this.timeoutMs = options.timeout ?? DMAP_PAIRING_TIMEOUT;
    this.logger = options.logger ?? silentLogger;
    this.advertiserOptions = options.advertiser ?? {};
    this.onWrongPin = options.onWrongPin;
    this.result = new Promise<string>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // finish() may never be called (a closed wizard); the rejection must not go unhandled.
    this.result.catch(() => undefined);
  }

  /** The PIN to type on the device. */
  get pin(): string {
    return this.currentPin;
  }

  /** The TCP port of the `/pair` server (null before `begin`; kept after it closed). */
  get port(): number | null {
    return this.boundPort;
  }

  /** The advertiser, e.g. to read its unicast port in tests (null before `begin` and once ended). */
  get serviceAdvertiser(): ServiceAdvertiser | null {
    return this.advertiser;
  }

  setPin(pin: string): void {
    this.currentPin = normalizeDmapPin(pin);
  }

  async begin(): Promise<void> {
    if (this.state !== 'new') throw new PairingError(this.state === 'closed' ? 'this pairing was closed; start a new one' : 'pairing has already begun');
    this.state = 'waiting';
    try {
      await this.startServer();
      if (this.settled) throw new PairingError('pairing was cancelled');
      const port = this.port!;
      const addresses = announcedIPv4Addresses(this.iface);
      if (addresses.length === 0) {
        throw new PairingError('this host has no IPv4 address to announce the remote on; set the interface to the address the device can reach');
      }
      const services: AdvertisedService[] = addresses.map((address) => {
        const instance = touchRemoteInstanceName(address);
        return {
          type: TOUCH_REMOTE_TYPE,
          instance,
          host: `${instance}.local`,
          addresses: [address],
          port,
          txt: { DvNm: this.name, RemV: '10000', DvTy: 'iPod', RemN: 'Remote', txtvers: '1', Pair: this.pairingGuid },
        };
      });
      this.advertiser = await startAdvertiser(services, {
        ...this.advertiserOptions,
        ...(this.iface ? { interface: this.iface } : {}),
        logger: this.logger,
      });
      // close() may have come while the advertiser started.
      if (this.settled) throw new PairingError('pairing was cancelled');
      this.logger.debug(`DMAP pairing: announcing "${this.name}" on ${addresses.join(', ')}, /pair server on port ${port}`);
      this.timer = setTimeout(() => {
        this.settle(
          new PairingError(
            `no device paired within ${Math.round(this.timeoutMs / 1000)} s; select the remote in the device's settings and type the PIN, then try again`,
          ),
        );
      }, this.timeoutMs);
    } catch (err) {
      const error = err instanceof AtvError ? err : new PairingError(`cannot start DMAP pairing: ${(err as Error).message}`, { cause: err });
      this.settle(error);
      await this.stop();
      throw error;
    }
  }

  /** Resolves with `0x<GUID>` once a device paired; rejects on timeout or close. */
  finish(): Promise<string> {
    if (this.state === 'new') return Promise.reject(new PairingError('call begin() before finish()'));
    return this.result;
  }

  async close(): Promise<void> {
    this.settle(new PairingError('pairing was cancelled'));
    this.state = 'closed';
    await this.stop();
  }

  /** Ends the attempt once: with credentials or an error; then stops announcing and serving. */
  private settle(outcome: string | Error): void {
    if (this.settled) return;
    this.settled = true;
    if (typeof outcome === 'string') this.resolveResult(outcome);
    else this.rejectResult(outcome);
    void this.stop();
  }

  /** Closes whatever runs now (announcement, server); safe to call again. */
  private stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const advertiser = this.advertiser;
    const server = this.server;
    this.advertiser = null;
    this.server = null;
    const sockets = this.sockets;
    const run = async (): Promise<void> => {
      // Goodbye first, so the device drops the remote from its list before the port closes.
      if (advertiser) await advertiser.stop().catch((err: Error) => this.logger.warn(`DMAP pairing: stopping the announcement failed: ${err.message}`));
      if (server) {
        await this.listening;
        if (server.listening) await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
      }
    };
    this.cleanup = (this.cleanup ?? Promise.resolve()).then(run);
    return this.cleanup;
  }

  private startServer(): Promise<void> {
    // A real device's GET /pair has no headers at all, not even Host.
    const server = http.createServer({ requireHostHeader: false }, (req, res) => this.handle(req, res));
    this.server = server;
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.iface ?? '0.0.0.0', () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.warn(`DMAP pairing server: ${err.message}`));
        const address = server.address();
        this.boundPort = address && typeof address === 'object' ? address.port : null;
        resolve();
      });
    });
    this.listening = listening.catch(() => undefined);
    return listening.catch((err: NodeJS.ErrnoException) => {
      throw new PairingError(
        `cannot open the pairing server on ${this.iface ?? 'all interfaces'} (${err.code ?? err.message}); is the interface an IPv4 address of this host?`,
        { cause: err },
      );
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://pairing.invalid');
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (req.method !== 'GET' || url.pathname !== '/pair') {
      res.writeHead(404).end();
      return;
    }
    const device = (url.searchParams.get('servicename') ?? 'unknown').replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
    const code = url.searchParams.get('pairingcode') ?? '';
    if (this.state !== 'waiting' || this.settled) {
      res.writeHead(503, { Connection: 'close' }).end();
      return;
    }
    if (!this.codeMatches(code)) {
      this.logger.debug(`DMAP pairing: device ${device} sent a wrong pairing code (wrong PIN typed?); still waiting`);
      res.writeHead(500, { 'Content-Length': 0 }).end();
      try {
        this.onWrongPin?.();
      } catch (err) {
        this.logger.warn(`DMAP pairing: a wrong-PIN listener failed: ${(err as Error).message}`);
      }
      return;
    }
    // Paired once the device has our answer; if it hangs up first, keep waiting.
    this.state = 'answering';
    const body = dmapPairingAnswer(this.pairingGuid, this.name);
    res.on('close', () => {
      if (this.state === 'answering' && !res.writableFinished) this.state = 'waiting';
    });
    res.writeHead(200, { 'Content-Type': 'application/x-dmap-tagged', 'Content-Length': body.length, Connection: 'close' });
    res.end(body, () => {
      this.logger.debug(`DMAP pairing: paired with device ${device}`);
      this.settle(`0x${this.pairingGuid}`);
    });
  }

  private codeMatches(received: string): boolean {
    if (!/^[0-9a-f]{32}$/i.test(received)) return false;
    const expected = Buffer.from(dmapPairingCode(this.pairingGuid, this.currentPin), 'hex');
    return timingSafeEqual(Buffer.from(received, 'hex'), expected);
  }
}

/** Starts announcing `services`; resolves with the advertiser to close later (sends goodbyes). */
async function startAdvertiser(services: AdvertisedService[], options: AdvertiserOptions): Promise<ServiceAdvertiser> {
  const advertiser = new ServiceAdvertiser(options);
  try {
    for (const service of services) advertiser.add(service);
    await advertiser.start();
  } catch (err) {
    await advertiser.stop().catch(() => undefined);
    throw err;
  }
  return advertiser;
}
