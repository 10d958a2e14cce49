/**
 * `ServiceAdvertiser`: a small DNS-SD responder for the services we publish — the
 * simulator's fake Apple TV (`_touch-able._tcp`, `_mediaremotetv._tcp`, ...) and the DMAP
 * pairing remote (`_touch-remote._tcp`, pyatv: protocols/dmap/pairing.py). It answers PTR/SRV/TXT/A/ANY
 * questions on 224.0.0.251:5353 (announcing on start, saying goodbye on stop) and, when
 * configured, on a unicast UDP socket that a unicast scan queries directly.
 *
 * Not done (not needed on a LAN we share with real devices for short pairings and tests):
 * probing and name-conflict resolution (RFC 6762 §8), known-answer suppression, and the
 * random 20–120 ms delay of shared answers.
 */
import type dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { isIPv4 } from 'node:net';
import { ClosedError, InvalidArgumentError } from '../errors';
import { silentLogger, type Logger } from '../log';
import type { DnsMessage } from '../codecs/dns-message';
import { answerableClass, decodePacket, MDNS_ADDRESS, MDNS_PORT } from './dns';
import { encodeTxt } from './txt';
import { closeMulticast, closeUdp, isOnLocalLink, localIPv4Addresses, openMulticast, openMulticastSender, openUdp, type MulticastDns } from './transport';
import type { AdvertisedService, AdvertiserOptions } from './types';

export const DEFAULT_ADVERTISED_TTL = 120;
/** RFC 6762 §6.7: answers to legacy unicast queries carry TTLs of at most 10 s. */
const LEGACY_UNICAST_MAX_TTL = 10;
/** RFC 6762 §8.3: announce at least twice, one second apart. */
const ANNOUNCE_REPEAT_MS = 1000;
const SERVICES_META_QUERY = '_services._dns-sd._udp.local';

type Answer = dnsPacket.Answer;

const serviceKey = (s: Pick<AdvertisedService, 'type' | 'instance'>): string => `${s.instance}.${s.type}`.toLowerCase();

function validate(service: AdvertisedService): void {
  const where = `service "${service.instance}.${service.type}"`;
  if (!/^_[A-Za-z0-9-]{1,62}\._(tcp|udp)$/.test(service.type)) {
    throw new InvalidArgumentError(`${where}: type must look like "_touch-remote._tcp"`);
  }
  const instanceBytes = Buffer.byteLength(service.instance, 'utf8');
  if (instanceBytes === 0 || instanceBytes > 63 || service.instance.includes('.')) {
    throw new InvalidArgumentError(`${where}: the instance name must be 1-63 bytes without dots`);
  }
  const labels = service.host.replace(/\.$/, '').split('.');
  if (labels.length < 2 || labels.some((l) => l.length === 0 || Buffer.byteLength(l) > 63)) {
    throw new InvalidArgumentError(`${where}: host must be a name like "living-room.local"`);
  }
  if (!Number.isInteger(service.port) || service.port < 0 || service.port > 65535) {
    throw new InvalidArgumentError(`${where}: port must be a whole number from 0 to 65535`);
  }
  for (const a of service.addresses) {
    if (!isIPv4(a)) throw new InvalidArgumentError(`${where}: "${a}" is not an IPv4 address`);
  }
  let txtBytes = 0;
  for (const [k, v] of Object.entries(service.txt)) {
    const len = Buffer.byteLength(`${k}=${v}`, 'utf8');
    if (k.length === 0 || k.includes('=') || len > 255) {
      throw new InvalidArgumentError(`${where}: TXT entry "${k}" must have a key without "=" and fit in 255 bytes`);
    }
    txtBytes += len + 1;
  }
  if (txtBytes > 8900) throw new InvalidArgumentError(`${where}: the TXT record is too large for one packet`);
  if (service.ttl !== undefined && (!Number.isInteger(service.ttl) || service.ttl < 1 || service.ttl > 86400)) {
    throw new InvalidArgumentError(`${where}: ttl must be 1-86400 seconds`);
  }
}

function copyService(s: AdvertisedService): AdvertisedService {
  return { ...s, addresses: [...s.addresses], txt: { ...s.txt } };
}

export class ServiceAdvertiser {
  private readonly options: AdvertiserOptions;
  private readonly logger: Logger;
  private readonly services = new Map<string, AdvertisedService>();
  private mdns: MulticastDns | null = null;
  /** One sender per local interface when no interface is pinned (see openMulticastSender). */
  private senders: dgram.Socket[] = [];
  private unicastSocket: dgram.Socket | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';

  constructor(options: AdvertiserOptions = {}) {
    if (options.interface !== undefined && !isIPv4(options.interface)) {
      throw new InvalidArgumentError(`interface must be the IPv4 address of a local interface, got "${options.interface}"`);
    }
    if (options.unicast) {
      const { host, port } = options.unicast;
      if (!isIPv4(host)) throw new InvalidArgumentError(`unicast host must be an IPv4 address, got "${host}"`);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new InvalidArgumentError(`unicast port must be a whole number from 0 to 65535, got ${String(port)}`);
      }
    }
    this.options = options;
    this.logger = options.logger ?? silentLogger;
  }

  private get multicast(): boolean {
    return this.options.multicast !== false;
  }

  /** The bound port of the unicast responder (after `start`), or null when there is none. */
  get unicastPort(): number | null {
    if (!this.unicastSocket) return null;
    try {
      return this.unicastSocket.address().port;
    } catch {
      return null;
    }
  }

  /** The services currently advertised. */
  list(): AdvertisedService[] {
    return [...this.services.values()].map(copyService);
  }

  /**
   * Advertises a service. Adding one with the type and instance of an advertised service
   * replaces it (a TXT change), and the new records are announced with the cache-flush bit
   * so browsers drop the old ones.
   */
  add(service: AdvertisedService): void {
    if (this.state === 'stopped') throw new ClosedError('the advertiser was stopped');
    validate(service);
    const copy = copyService(service);
    this.services.set(serviceKey(copy), copy);
    if (this.state === 'running') this.announce([copy]);
  }

  /** Stops advertising a service and sends its goodbye (TTL 0) records. */
  remove(service: Pick<AdvertisedService, 'type' | 'instance'>): void {
    const key = serviceKey(service);
    const existing = this.services.get(key);
    if (!existing) return;
    this.services.delete(key);
    if (this.state === 'running' && this.mdns) void this.sendMulticast(this.records([existing], { goodbye: true }));
  }

  async start(): Promise<void> {
    if (this.state === 'stopped') throw new ClosedError('the advertiser was stopped');
    if (this.state !== 'idle') return;
    this.state = 'starting';
    try {
      if (this.multicast) {
        const mdns = await openMulticast(this.options.interface, this.logger);
        this.mdns = mdns;
        mdns.on('query', (packet, rinfo) => this.onQuery(packet, rinfo, 'multicast'));
        if (this.options.interface === undefined) {
          const opened = await Promise.allSettled(localIPv4Addresses().map((address) => openMulticastSender(address)));
          for (const result of opened) {
            if (result.status === 'fulfilled') this.senders.push(result.value);
            else this.logger.debug(`mDNS: ${(result.reason as Error).message}`);
          }
        }
      }
      if (this.options.unicast) {
        const socket = await openUdp(this.options.unicast.host, this.options.unicast.port);
        this.unicastSocket = socket;
        socket.on('message', (bytes, rinfo) => this.onQuery(decodePacket(bytes), rinfo, 'unicast'));
        socket.on('error', (err) => this.logger.debug(`DNS-SD unicast responder: ${err.message}`));
      }
    } catch (err) {
      await this.closeSockets();
      this.state = 'idle';
      throw err;
    }
    if ((this.state as string) === 'stopped') {
      await this.closeSockets();
      return;
    }
    this.state = 'running';
    this.announce([...this.services.values()]);
  }

  /**
   * Sends goodbyes for every service (unless `goodbye: false`, which simulates a device
   * that vanishes without a word) and closes the sockets. Safe to call twice.
   */
  async stop(options: { goodbye?: boolean } = {}): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (wasRunning && this.mdns && options.goodbye !== false && this.services.size > 0) {
      await this.sendMulticast(this.records([...this.services.values()], { goodbye: true }));
    }
    await this.closeSockets();
  }

  private async closeSockets(): Promise<void> {
    const mdns = this.mdns;
    const socket = this.unicastSocket;
    const senders = this.senders.splice(0);
    this.mdns = null;
    this.unicastSocket = null;
    await Promise.all([mdns ? closeMulticast(mdns) : undefined, socket ? closeUdp(socket) : undefined, ...senders.map(closeUdp)]);
  }

  private announce(services: AdvertisedService[]): void {
    if (!this.mdns || services.length === 0) return;
    const send = (): void => void this.sendMulticast(this.records(services, { flush: true }));
    send();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      // Only what is still advertised, as it is now.
      const current = services.map((s) => this.services.get(serviceKey(s))).filter((s): s is AdvertisedService => s !== undefined);
      if (this.state === 'running' && current.length > 0) void this.sendMulticast(this.records(current, { flush: true }));
    }, ANNOUNCE_REPEAT_MS);
    this.timers.add(timer);
  }

  private sendMulticast(records: { answers: Answer[]; additionals: Answer[] }): Promise<void> {
    const mdns = this.mdns;
    if (!mdns) return Promise.resolve();
    const bytes = encodeResponse({ answers: records.answers, additionals: records.additionals });
    if (this.senders.length === 0) return mdns.send(bytes);
    return Promise.all(
      this.senders.map(
        (sender) =>
          new Promise<void>((resolve) =>
            sender.send(bytes, MDNS_PORT, MDNS_ADDRESS, (err) => {
              if (err) this.logger.debug(`mDNS announcement failed: ${err.message}`);
              resolve();
            }),
          ),
      ),
    ).then(() => undefined);
  }

  /** PTR + SRV + TXT answers, A records as additionals, for `services`. */
  private records(
    services: AdvertisedService[],
    opts: { goodbye?: boolean; flush?: boolean; maxTtl?: number } = {},
  ): { answers: Answer[]; additionals: Answer[] } {
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    for (const s of services) {
      answers.push(...this.serviceRecords(s, opts));
      additionals.push(...this.addressRecords(s, opts, services));
    }
    return { answers, additionals: dedupe(additionals, answers) };
  }

  private ttl(s: AdvertisedService, opts: { goodbye?: boolean; maxTtl?: number }): number {
    if (opts.goodbye) return 0;
    return Math.min(s.ttl ?? DEFAULT_ADVERTISED_TTL, opts.maxTtl ?? Infinity);
  }

  private serviceRecords(s: AdvertisedService, opts: { goodbye?: boolean; flush?: boolean; maxTtl?: number }): Answer[] {
    const ttl = this.ttl(s, opts);
    const full = `${s.instance}.${s.type}.local`;
    const flush = opts.flush === true;
    return [
      { name: `${s.type}.local`, type: 'PTR', ttl, data: full },
      { name: full, type: 'SRV', ttl, flush, data: { port: s.port, target: s.host, priority: 0, weight: 0 } },
      { name: full, type: 'TXT', ttl, flush, data: encodeTxt(s.txt) },
    ];
  }

  private addressRecords(
    s: AdvertisedService,
    opts: { goodbye?: boolean; flush?: boolean; maxTtl?: number },
    leaving: AdvertisedService[],
  ): Answer[] {
    // A goodbye for the host's addresses only when no remaining service still uses the host.
    if (opts.goodbye) {
      const host = s.host.toLowerCase();
      const stillUsed = [...this.services.values()].some(
        (o) => o.host.toLowerCase() === host && !leaving.some((l) => serviceKey(l) === serviceKey(o)),
      );
      if (stillUsed) return [];
    }
    const ttl = this.ttl(s, opts);
    return s.addresses.map((a): Answer => ({ name: s.host, type: 'A', ttl, flush: opts.flush === true, data: a }));
  }

  private onQuery(packet: DnsMessage | null, rinfo: dgram.RemoteInfo, via: 'multicast' | 'unicast'): void {
    if (this.state !== 'running' || !packet || packet.type !== 'query') return;
    try {
      const legacy = via === 'unicast' || rinfo.port !== MDNS_PORT;
      if (legacy && via === 'multicast' && !isOnLocalLink(rinfo.address)) return;
      const opts = legacy ? { maxTtl: LEGACY_UNICAST_MAX_TTL } : { flush: true };
      const answers: Answer[] = [];
      const additionals: Answer[] = [];
      const questions = packet.questions.slice(0, 32);
      for (const q of questions) {
        if (!answerableClass(q.class)) continue;
        const name = q.name.toLowerCase().replace(/\.$/, '');
        const type: string = q.type;
        for (const s of this.services.values()) {
          const full = `${s.instance}.${s.type}.local`.toLowerCase();
          if ((type === 'PTR' || type === 'ANY') && name === `${s.type}.local`.toLowerCase()) {
            answers.push(...this.serviceRecords(s, opts));
            additionals.push(...this.addressRecords(s, opts, []));
          } else if ((type === 'PTR' || type === 'ANY') && name === SERVICES_META_QUERY) {
            answers.push({ name: SERVICES_META_QUERY, type: 'PTR', ttl: this.ttl(s, opts), data: `${s.type}.local` });
          } else if (name === full && (type === 'SRV' || type === 'TXT' || type === 'ANY')) {
            const [, srv, txt] = this.serviceRecords(s, opts);
            if (type !== 'TXT') answers.push(srv!);
            if (type !== 'SRV') answers.push(txt!);
            additionals.push(...this.addressRecords(s, opts, []));
          } else if (name === s.host.toLowerCase().replace(/\.$/, '') && (type === 'A' || type === 'ANY')) {
            answers.push(...this.addressRecords(s, opts, []));
          }
        }
      }
      const unique = dedupe(answers, []);
      // The unicast responder answers every query, with nothing when it has nothing, as a
      // unicast DNS server does: pyatv's unicast scan waits for one answer per query packet
      // it sent and drops everything it heard when one stays out (pyatv: core/mdns.py).
      if (unique.length === 0 && via !== 'unicast') return;
      const response: dnsPacket.Packet = {
        type: 'response',
        answers: unique,
        additionals: dedupe(additionals, unique),
      };
      if (legacy) {
        // A legacy unicast answer echoes the id and the questions, without cache-flush bits.
        response.id = packet.id;
        response.questions = questions.map((q) => ({ name: q.name, type: q.type as dnsPacket.RecordType, class: 'IN' as const }));
        this.sendUnicast(response, rinfo, via);
      } else {
        void this.sendMulticast({ answers: response.answers!, additionals: response.additionals! });
      }
    } catch (err) {
      this.logger.debug(`ignored a DNS-SD query from ${rinfo.address}: ${(err as Error).message}`);
    }
  }

  private sendUnicast(response: dnsPacket.Packet, rinfo: dgram.RemoteInfo, via: 'multicast' | 'unicast'): void {
    const target = { address: rinfo.address, port: rinfo.port };
    const onSent = (err: Error | null): void => {
      if (err) this.logger.debug(`DNS-SD answer to ${rinfo.address}:${rinfo.port} failed: ${err.message}`);
    };
    const bytes = encodeResponse(response);
    if (via === 'unicast') this.unicastSocket?.send(bytes, target.port, target.address, onSent);
    else void this.mdns?.send(bytes, target);
  }
}

/** A response message; every answer of ours is authoritative. */
function encodeResponse(response: dnsPacket.Packet): Buffer {
  return dnsPacket.encode({ ...response, type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER });
}

function recordKey(r: Answer): string {
  const data = (r as { data?: unknown }).data;
  const d = Buffer.isBuffer(data) || Array.isArray(data) ? JSON.stringify(data) : JSON.stringify(data ?? null);
  return `${r.type}|${r.name.toLowerCase()}|${d}`;
}

/** `records` without duplicates and without anything already in `exclude`. */
function dedupe(records: Answer[], exclude: Answer[]): Answer[] {
  const seen = new Set(exclude.map(recordKey));
  const out: Answer[] = [];
  for (const r of records) {
    const k = recordKey(r);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r);
  }
  return out;
}
