/**
 * `DeviceBrowser`: continuous discovery. Multicast mode keeps a TTL-aware cache fed by
 * answers and announcements on 224.0.0.251:5353 and re-asks on a backing-off schedule;
 * devices come and go with announcements, goodbyes (TTL 0) and expiring records. Unicast
 * mode (`hosts`) polls each host instead.
 */
import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { DeviceConfig, Protocol } from '../device/interfaces';
import { InvalidArgumentError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { emitContained } from '../support/emit';
import type { DnsMessage } from '../codecs/dns-message';
import { decodePacket, encodeQuery, MDNS_PORT, RecordCache, serviceQueries } from '../mdns/dns';
import { resolveHosts } from '../mdns/query';
import { scanTypes } from './scan';
import { devicesFromRecords } from './services';
import { closeMulticast, closeUdp, openMulticast, openUdp, type MulticastDns } from '../mdns/transport';
import type { MulticastOptions } from '../mdns/types';

export interface DeviceBrowserOptions extends MulticastOptions {
  /** Poll these hosts with unicast DNS-SD instead of listening to multicast. */
  hosts?: string[];
  /** UDP port the hosts answer DNS-SD on (unicast mode; default 5353). */
  port?: number;
  /**
   * Longest pause between queries in milliseconds (default 10 000). Queries start fast
   * (after 1, 2, 4, 8 s) and back off to this.
   */
  queryInterval?: number;
  /** Only services of these protocols. */
  protocols?: Protocol[];
}

export interface DeviceBrowserEvents {
  added: [device: DeviceConfig];
  /** Name, services, TXT, ports or deep-sleep state changed. */
  changed: [device: DeviceConfig, previous: DeviceConfig];
  removed: [device: DeviceConfig];
}

export interface DeviceBrowserEmitter {
  on<E extends keyof DeviceBrowserEvents>(event: E, listener: (...args: DeviceBrowserEvents[E]) => void): this;
  off<E extends keyof DeviceBrowserEvents>(event: E, listener: (...args: DeviceBrowserEvents[E]) => void): this;
  once<E extends keyof DeviceBrowserEvents>(event: E, listener: (...args: DeviceBrowserEvents[E]) => void): this;
}

export const DEFAULT_QUERY_INTERVAL = 10_000;
const FIRST_QUERY_DELAY = 1000;
const SWEEP_MS = 500;
/** A device's answer often spans several packets: report it once they are in. */
const SETTLE_MS = 200;
/** Unicast: a host's records outlive this many missed polls. */
const UNICAST_LIFETIME_POLLS = 2.5;
const REFRESH_MIN_GAP_MS = 1000;
const SLEEP_PROXY_QUERY_GAP_MS = 5000;
const BROWSER_QUERY_ID = 0x4a10;

export class DeviceBrowser extends EventEmitter implements DeviceBrowserEmitter {
  private readonly options: DeviceBrowserOptions;
  private readonly logger: Logger;
  private readonly queryInterval: number;
  private readonly types: string[];
  private readonly cache: RecordCache;
  private readonly known = new Map<string, { device: DeviceConfig; json: string }>();
  private mdns: MulticastDns | null = null;
  private socket: dgram.Socket | null = null;
  private hosts: string[] = [];
  private queryTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private nextDelay = FIRST_QUERY_DELAY;
  private lastRefresh = 0;
  private lastProxyQuery = 0;
  private readonly sleepProxyNames = new Map<string, string>();
  private state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';

  constructor(options: DeviceBrowserOptions = {}) {
    super();
    const interval = options.queryInterval ?? DEFAULT_QUERY_INTERVAL;
    if (!Number.isFinite(interval) || interval < 100) {
      throw new InvalidArgumentError(`queryInterval must be at least 100 ms, got ${String(options.queryInterval)}`);
    }
    if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) {
      throw new InvalidArgumentError(`port must be a whole number from 1 to 65535, got ${String(options.port)}`);
    }
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.queryInterval = interval;
    this.types = scanTypes(options.protocols);
    this.cache = new RecordCache(this.types);
  }

  override on<E extends keyof DeviceBrowserEvents>(event: E, listener: (...args: DeviceBrowserEvents[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof DeviceBrowserEvents>(event: E, listener: (...args: DeviceBrowserEvents[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  override once<E extends keyof DeviceBrowserEvents>(event: E, listener: (...args: DeviceBrowserEvents[E]) => void): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  /** The devices seen and not gone. */
  devices(): DeviceConfig[] {
    return [...this.known.values()].map((k) => k.device);
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'starting';
    try {
      if (this.options.hosts !== undefined) {
        this.hosts = await resolveHosts(this.options.hosts, this.logger);
        const socket = await openUdp(this.options.interface ?? '0.0.0.0', 0);
        this.socket = socket;
        // Only the polled hosts count: anything else is dropped before it is decoded.
        socket.on('message', (bytes, rinfo) => {
          if (this.hosts.includes(rinfo.address)) this.onPacket(decodePacket(bytes), rinfo, true);
        });
        socket.on('error', (err) => this.logger.debug(`DNS-SD socket: ${err.message}`));
      } else {
        const mdns = await openMulticast(this.options.interface, this.logger);
        this.mdns = mdns;
        mdns.on('response', (packet, rinfo) => this.onPacket(packet, rinfo, false));
      }
    } catch (err) {
      this.state = 'idle';
      await this.closeSockets();
      throw err;
    }
    if ((this.state as string) === 'stopped') {
      await this.closeSockets();
      return;
    }
    this.state = 'running';
    this.query(this.types);
    this.scheduleQuery();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
  }

  /** Stops querying and closes every socket and timer; no events afterwards. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.queryTimer);
    clearInterval(this.sweepTimer);
    clearTimeout(this.settleTimer);
    await this.closeSockets();
  }

  private async closeSockets(): Promise<void> {
    const mdns = this.mdns;
    const socket = this.socket;
    this.mdns = null;
    this.socket = null;
    await Promise.all([mdns ? closeMulticast(mdns) : undefined, socket ? closeUdp(socket) : undefined]);
  }

  private scheduleQuery(): void {
    this.queryTimer = setTimeout(() => {
      if (this.state !== 'running') return;
      this.query(this.types);
      this.nextDelay = Math.min(this.nextDelay * 2, this.queryInterval);
      this.scheduleQuery();
    }, Math.min(this.nextDelay, this.queryInterval));
  }

  private query(types: string[]): void {
    if (this.mdns) {
      // From port 5353 without the QU bit: responders multicast full-TTL answers that every
      // browser on the link shares (RFC 6762 §5.2). Multicast queries carry id 0 (§18.1).
      for (const m of serviceQueries(types, { sleepProxy: false, unicastResponse: false, firstId: 0 })) {
        void this.mdns.send(encodeQuery(0, m.types.map((t) => ({ name: `${t}.local`, type: 'PTR' }))));
      }
    } else if (this.socket) {
      const socket = this.socket;
      const port = this.options.port ?? MDNS_PORT;
      for (const m of serviceQueries(types, { sleepProxy: true, unicastResponse: true, firstId: BROWSER_QUERY_ID })) {
        for (const host of this.hosts) {
          socket.send(m.bytes, port, host, (err) => {
            if (err && this.state === 'running') this.logger.debug(`DNS-SD query to ${host}:${port} failed: ${err.message}`);
          });
        }
      }
    }
  }

  private onPacket(packet: DnsMessage | null, rinfo: dgram.RemoteInfo, unicast: boolean): void {
    if (this.state !== 'running' || !packet || packet.type !== 'response') return;
    try {
      if (unicast ? !this.hosts.includes(rinfo.address) : rinfo.port !== MDNS_PORT) return;
      const changed = this.cache.ingest(packet, rinfo.address, {
        authoritative: unicast,
        sleepProxyNames: this.sleepProxyNames,
        ...(unicast ? { lifetimeMs: this.queryInterval * UNICAST_LIFETIME_POLLS } : {}),
      });
      if (changed) this.scheduleSettle();
    } catch (err) {
      this.logger.debug(`ignored a DNS-SD packet from ${rinfo.address}: ${(err as Error).message}`);
    }
  }

  private sweep(): void {
    if (this.state !== 'running') return;
    const now = Date.now();
    if (this.cache.expire(now)) this.scheduleSettle();
    if (this.mdns && now - this.lastRefresh >= REFRESH_MIN_GAP_MS) {
      const due = this.cache.dueForRefresh(now);
      if (due.length > 0) {
        this.lastRefresh = now;
        this.query(due);
      }
    }
    if (this.mdns && now - this.lastProxyQuery >= SLEEP_PROXY_QUERY_GAP_MS) {
      // A sleep proxy announces a sleeping device with bare PTRs; asking for the instances
      // brings the SRV/TXT (answered by the proxy, so flagged deep sleep).
      const bare = this.cache.bareInstances().slice(0, 16);
      if (bare.length > 0) {
        this.lastProxyQuery = now;
        if (this.sleepProxyNames.size > 1024) this.sleepProxyNames.clear();
        for (const { source, name } of bare) this.sleepProxyNames.set(name.toLowerCase(), source);
        void this.mdns.send(encodeQuery(0, bare.map(({ name }) => ({ name, type: 'ANY' }))));
      }
    }
  }

  private scheduleSettle(): void {
    if (this.settleTimer !== undefined) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      if (this.state === 'running') this.publish();
    }, SETTLE_MS);
  }

  private publish(): void {
    let devices = devicesFromRecords(this.cache.records());
    const protocols = this.options.protocols;
    if (protocols) {
      devices = devices
        .map((d) => ({ ...d, services: d.services.filter((s) => protocols.includes(s.protocol)) }))
        .filter((d) => d.services.length > 0);
    }
    const seen = new Set<string>();
    for (const device of devices) {
      seen.add(device.address);
      const json = JSON.stringify(device);
      const before = this.known.get(device.address);
      this.known.set(device.address, { device, json });
      if (!before) this.emitSafely('added', device);
      else if (before.json !== json) this.emitSafely('changed', device, before.device);
    }
    for (const [address, { device }] of this.known) {
      if (seen.has(address)) continue;
      this.known.delete(address);
      this.emitSafely('removed', device);
    }
  }

  /** Emitted from timers: a listener's bug must not stop discovery or starve the others. */
  private emitSafely<E extends keyof DeviceBrowserEvents>(event: E, ...args: DeviceBrowserEvents[E]): void {
    emitContained(this as unknown as EventEmitter<DeviceBrowserEvents>, event, args, this.logger);
  }

}
