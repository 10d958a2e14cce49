/**
 * One-shot DNS-SD collection, shared by `scan` and `browseServices`: ask for service types
 * (multicast, or unicast straight to hosts), re-ask every second, gather the answers into a
 * `RecordCache`, and stop at the timeout or when the caller has seen enough.
 *
 * Multicast: queries go to 224.0.0.251 from one ephemeral-port socket per local address
 * with the QU bit, so responders answer straight back to that socket (a source port other
 * than 5353 makes it a "legacy unicast" query, RFC 6762 §6.7, which every responder answers
 * by unicast); a socket on *:5353 also takes in multicast answers and announcements.
 * Unicast: the same queries go to host:port; only those hosts' answers count.
 */
import type dgram from 'node:dgram';
import type { DnsMessage } from '../codecs/dns-message';
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { ClosedError, InvalidArgumentError, UnreachableError } from '../errors';
import { silentLogger, type Logger } from '../log';
import {
  decodePacket,
  encodeQuery,
  MDNS_ADDRESS,
  MDNS_PORT,
  RecordCache,
  serviceQueries,
  type QueryMessage,
} from './dns';
import { closeMulticast, closeUdp, knock, KNOCK_PORTS, localIPv4Addresses, openMulticast, openUdp, type MulticastDns } from './transport';
import type { ServiceRecord } from './types';

export interface CollectProgress {
  /** Every service instance gathered so far. */
  records(): ServiceRecord[];
  /** Source address → ids of the query messages it has answered. */
  readonly answered: ReadonlyMap<string, ReadonlySet<number>>;
  readonly messages: readonly QueryMessage[];
  /** Stop now. */
  finish(): void;
  /** Stop in `ms` unless stopped earlier. */
  finishIn(ms: number): void;
}

export interface CollectOptions {
  types: readonly string[];
  /** Also ask for `_sleep-proxy._udp` and follow sleep-proxy answers up (device scan). */
  sleepProxy: boolean;
  timeout: number;
  hosts?: readonly string[];
  port?: number;
  interface?: string;
  /** Knock on the device ports of each host first (unicast only). */
  knock?: boolean;
  logger?: Logger;
  /** Called after every answer that changed something. */
  onUpdate?(progress: CollectProgress): void;
  /** Aborting ends the collection at once (sockets closed, knocks stopped) with a ClosedError. */
  signal?: AbortSignal;
}

const RESEND_MS = 1000;
/** Query ids of one-shot queries (pyatv uses 0x35FF; any value works, answers echo it). */
const FIRST_QUERY_ID = 0x35f0;

function checkOptions(options: CollectOptions): void {
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) {
    throw new InvalidArgumentError(`timeout must be a positive number of milliseconds, got ${String(options.timeout)}`);
  }
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) {
    throw new InvalidArgumentError(`port must be a whole number from 1 to 65535, got ${String(options.port)}`);
  }
  if (options.interface !== undefined && !isIPv4(options.interface)) {
    throw new InvalidArgumentError(`interface must be the IPv4 address of a local interface, got "${options.interface}"`);
  }
  if (options.types.length === 0) throw new InvalidArgumentError('give at least one service type to browse for');
  for (const t of options.types) {
    if (!/^_[A-Za-z0-9-]{1,62}\._(tcp|udp)$/.test(t.replace(/\.local\.?$/, ''))) {
      throw new InvalidArgumentError(`"${t}" is not a DNS-SD service type like "_airplay._tcp"`);
    }
  }
}

/** Resolves host names to IPv4 addresses; hosts that do not resolve are skipped with a warning. */
export async function resolveHosts(hosts: readonly string[], logger: Logger): Promise<string[]> {
  const out: string[] = [];
  for (const raw of hosts) {
    const host = raw.trim();
    if (isIPv4(host)) {
      if (!out.includes(host)) out.push(host);
      continue;
    }
    try {
      const { address } = await lookup(host, { family: 4 });
      if (!out.includes(address)) out.push(address);
    } catch (err) {
      logger.warn(`cannot resolve "${host}" to an IPv4 address (${(err as NodeJS.ErrnoException).code ?? 'error'}); skipping it`);
    }
  }
  return out;
}

/** Runs one collection and resolves with every service instance seen. */
export async function collect(options: CollectOptions): Promise<ServiceRecord[]> {
  checkOptions(options);
  const signal = options.signal;
  const aborted = (): ClosedError => new ClosedError('the scan was cancelled');
  if (signal?.aborted) throw aborted();
  const logger = options.logger ?? silentLogger;
  const port = options.port ?? MDNS_PORT;
  const types = options.types.map((t) => t.replace(/\.local\.?$/, ''));
  const cache = new RecordCache(types);
  const messages = serviceQueries(types, { sleepProxy: options.sleepProxy, unicastResponse: true, firstId: FIRST_QUERY_ID });
  const messageIds = new Set(messages.map((m) => m.id));
  const answered = new Map<string, Set<number>>();
  const sleepProxyNames = new Map<string, string>();
  const unicast = options.hosts !== undefined;
  const hosts = unicast ? await resolveHosts(options.hosts!, logger) : [];
  if (unicast && hosts.length === 0) return [];

  const sockets: dgram.Socket[] = [];
  let mdns: MulticastDns | null = null;
  const stopKnocks: (() => void)[] = [];
  let resendTimer: NodeJS.Timeout | undefined;
  let endTimer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let finished = false;
  let finishResolve!: () => void;
  const done = new Promise<void>((resolve) => (finishResolve = resolve));
  const finish = (): void => {
    if (finished) return;
    finished = true;
    finishResolve();
  };
  signal?.addEventListener('abort', finish, { once: true });

  const progress: CollectProgress = {
    records: () => cache.records(),
    answered,
    messages,
    finish,
    finishIn(ms) {
      if (graceTimer === undefined && !finished) graceTimer = setTimeout(finish, ms);
    },
  };

  const onPacket = (packet: DnsMessage | null, rinfo: dgram.RemoteInfo, fromMulticastSocket: boolean): void => {
    if (finished || !packet || packet.type !== 'response') return;
    try {
      if (unicast && !hosts.includes(rinfo.address)) return;
      // RFC 6762 §11: multicast answers must come from port 5353.
      if (fromMulticastSocket && rinfo.port !== MDNS_PORT) return;
      let newlyAnswered = false;
      if (typeof packet.id === 'number' && messageIds.has(packet.id)) {
        let set = answered.get(rinfo.address);
        if (!set) answered.set(rinfo.address, (set = new Set()));
        newlyAnswered = !set.has(packet.id);
        set.add(packet.id);
      }
      const changed = cache.ingest(packet, rinfo.address, {
        authoritative: unicast,
        sleepProxyNames,
      });
      if (unicast && hosts.every((h) => answered.get(h)?.size === messages.length)) {
        finish();
        return;
      }
      if (changed || newlyAnswered) options.onUpdate?.(progress);
    } catch (err) {
      logger.debug(`ignored a DNS-SD packet from ${rinfo.address}: ${(err as Error).message}`);
    }
  };

  const send = (socket: dgram.Socket, bytes: Buffer, host: string, toPort: number): void => {
    socket.send(bytes, toPort, host, (err) => {
      if (err && !finished) logger.debug(`DNS-SD query to ${host}:${toPort} failed: ${err.message}`);
    });
  };

  const sendRound = (): void => {
    if (finished) return;
    if (unicast) {
      for (const host of hosts) for (const m of messages) send(sockets[0]!, m.bytes, host, port);
      return;
    }
    for (const socket of sockets) for (const m of messages) send(socket, m.bytes, MDNS_ADDRESS, MDNS_PORT);
    if (options.sleepProxy) {
      // A sleep proxy answers for a sleeping device with bare PTRs; the rest of the records
      // come from asking the proxy for each instance directly (pyatv issue #724).
      const bySource = new Map<string, string[]>();
      for (const { source, name } of cache.bareInstances()) {
        sleepProxyNames.set(name.toLowerCase(), source);
        bySource.set(source, [...(bySource.get(source) ?? []), name]);
      }
      for (const [source, names] of bySource) {
        const bytes = encodeQuery(
          FIRST_QUERY_ID - 1,
          names.slice(0, 16).map((name) => ({ name, type: 'ANY', unicastResponse: true })),
        );
        // Whichever interface reaches the proxy carries it; the others fail harmlessly.
        for (const socket of sockets) send(socket, bytes, source, MDNS_PORT);
      }
    }
  };

  try {
    if (unicast) {
      const socket = await openUdp(options.interface ?? '0.0.0.0', 0);
      // Only the asked hosts count: anything else is dropped before it is decoded.
      socket.on('message', (bytes, rinfo) => {
        if (hosts.includes(rinfo.address)) onPacket(decodePacket(bytes), rinfo, false);
      });
      socket.on('error', (err) => logger.debug(`DNS-SD socket: ${err.message}`));
      sockets.push(socket);
      if (options.knock) for (const host of hosts) stopKnocks.push(knock(host, KNOCK_PORTS, Math.min(options.timeout, 2000), logger));
    } else {
      try {
        mdns = await openMulticast(options.interface, logger);
        mdns.on('response', (packet, rinfo) => onPacket(packet, rinfo, true));
      } catch (err) {
        // Answers to our queries still arrive on the per-interface sockets.
        logger.debug(`no mDNS listener, relying on direct answers: ${(err as Error).message}`);
      }
      for (const address of options.interface ? [options.interface] : localIPv4Addresses()) {
        try {
          const socket = await openUdp(address, 0);
          sockets.push(socket);
          socket.on('message', (bytes, rinfo) => onPacket(decodePacket(bytes), rinfo, false));
          socket.on('error', (err) => logger.debug(`DNS-SD socket on ${address}: ${err.message}`));
          socket.setMulticastInterface(address);
          socket.setMulticastTTL(255);
        } catch (err) {
          logger.debug(`cannot query from ${address}: ${(err as Error).message}`);
        }
      }
      if (sockets.length === 0) {
        throw new UnreachableError(
          options.interface
            ? `cannot send mDNS queries from ${options.interface} (is it an IPv4 address of this host?)`
            : 'no IPv4 network interface to send mDNS queries from',
        );
      }
    }

    if (signal?.aborted) throw aborted();
    sendRound();
    resendTimer = setInterval(sendRound, RESEND_MS);
    endTimer = setTimeout(finish, options.timeout);
    await done;
    if (signal?.aborted) throw aborted();
    return cache.records();
  } finally {
    finished = true;
    signal?.removeEventListener('abort', finish);
    clearInterval(resendTimer);
    clearTimeout(endTimer);
    clearTimeout(graceTimer);
    for (const stop of stopKnocks) stop();
    await Promise.all([...sockets.map(closeUdp), ...(mdns ? [closeMulticast(mdns)] : [])]);
  }
}
