/**
 * Sockets for DNS-SD: the shared mDNS socket on *:5353 (`MulticastDns`), plain UDP sockets
 * for queries from an ephemeral port and for unicast, and the TCP "knock" that wakes a device
 * sleeping behind a Bonjour sleep proxy. Whatever arrives is decoded by the bounded decoder
 * (lib/codecs/dns-message.ts) before anything else looks at it.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { DnsMessage } from '../codecs/dns-message';
import { UnreachableError } from '../errors';
import type { Logger } from '../log';
import { emitContained } from '../support/emit';
import { decodePacket, MDNS_ADDRESS, MDNS_PORT } from './dns';
import { isLinkLocalIPv4 } from './txt';

/** Node 18.0-18.3 reported the family as a number. */
const isIPv4Interface = (iface: NetworkInterfaceInfo): boolean => (iface.family as string | number) === 'IPv4' || (iface.family as string | number) === 4;

/**
 * IPv4 addresses of this host's interfaces, link-local ones left out: the interfaces
 * discovery queries and announces on. Any other address counts, private, carrier-grade NAT
 * (100.64/10) or public alike: a LAN may be numbered from any of them.
 */
export function localIPv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const iface of list ?? []) {
      if (isIPv4Interface(iface) && !isLinkLocalIPv4(iface.address) && !out.includes(iface.address)) {
        out.push(iface.address);
      }
    }
  }
  return out;
}

/**
 * The addresses to publish in our own A records (a device connects back to them), or just
 * `pinned` when the caller chose an interface: the interfaces of `localIPv4Addresses`
 * without loopback, which a device elsewhere would take for itself; loopback only when a
 * host has nothing else (then whatever pairs with us runs on this host).
 */
export function announcedIPv4Addresses(pinned?: string): string[] {
  if (pinned) return [pinned];
  const all = localIPv4Addresses();
  const reachable = all.filter((address) => !address.startsWith('127.'));
  return reachable.length > 0 ? reachable : all;
}

let subnetCache: { at: number; nets: { net: number; mask: number }[] } | null = null;

const ipToInt = (address: string): number => address.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);

/**
 * True when `address` is on one of this host's IPv4 subnets (or loopback). RFC 6762 §11:
 * a responder answers unicast queries only from its own link, so it cannot be used to
 * reflect traffic at someone elsewhere.
 */
export function isOnLocalLink(address: string): boolean {
  if (address.startsWith('127.')) return true;
  const now = Date.now();
  if (!subnetCache || now - subnetCache.at > 5000) {
    const nets: { net: number; mask: number }[] = [];
    for (const list of Object.values(networkInterfaces())) {
      for (const iface of list ?? []) {
        if (!isIPv4Interface(iface)) continue;
        const mask = ipToInt(iface.netmask);
        nets.push({ net: (ipToInt(iface.address) & mask) >>> 0, mask });
      }
    }
    subnetCache = { at: now, nets };
  }
  const ip = ipToInt(address);
  return subnetCache.nets.some(({ net, mask }) => ((ip & mask) >>> 0) === net);
}

export interface MulticastDnsEvents {
  query: [message: DnsMessage, rinfo: dgram.RemoteInfo];
  response: [message: DnsMessage, rinfo: dgram.RemoteInfo];
}

/** How often the memberships are checked for interfaces that came up since. */
const MEMBERSHIP_REFRESH_MS = 5000;

/**
 * The shared mDNS socket on *:5353, member of 224.0.0.251 on one interface or all. Every
 * datagram is decoded by the bounded decoder before anyone sees it; what fails its checks is
 * dropped at once (counted in `dropped`), so a flood of hostile packets costs microseconds
 * each, not the event loop.
 */
export class MulticastDns extends EventEmitter<MulticastDnsEvents> {
  /** Datagrams dropped because they are not a well-formed DNS message. */
  dropped = 0;
  private readonly memberships = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly socket: dgram.Socket,
    private readonly iface: string | undefined,
    private readonly logger: Logger,
  ) {
    super();
    socket.on('message', (bytes, rinfo) => {
      const message = decodePacket(bytes);
      if (!message) {
        this.dropped++;
        return;
      }
      // From a socket callback: a listener that throws must not take the process down.
      emitContained<MulticastDnsEvents, 'query' | 'response'>(this, message.type, [message, rinfo], logger);
    });
    socket.on('error', (err) => logger.debug(`mDNS socket: ${err.message}`));
    socket.setMulticastTTL(255);
    socket.setMulticastLoopback(true);
    this.join();
    this.timer = setInterval(() => this.join(), MEMBERSHIP_REFRESH_MS);
    this.timer.unref();
  }

  /** Joins the group on every interface not joined yet (all of them, or the pinned one). */
  private join(): void {
    let joined = false;
    for (const address of this.iface ? [this.iface] : firstIPv4OfEachInterface()) {
      if (this.memberships.has(address)) continue;
      try {
        this.socket.addMembership(MDNS_ADDRESS, address);
        this.memberships.add(address);
        joined = true;
      } catch (err) {
        this.logger.debug(`mDNS: cannot join ${MDNS_ADDRESS} on ${address}: ${(err as Error).message}`);
      }
    }
    if (!joined) return;
    try {
      this.socket.setMulticastInterface(this.iface ?? defaultMulticastInterface());
    } catch (err) {
      this.logger.debug(`mDNS: cannot choose the multicast interface: ${(err as Error).message}`);
    }
  }

  /** Sends an encoded message to 224.0.0.251:5353, or to `to` (a unicast answer). */
  send(bytes: Buffer, to: { address: string; port: number } = { address: MDNS_ADDRESS, port: MDNS_PORT }): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise((resolve) =>
      this.socket.send(bytes, to.port, to.address, (err) => {
        if (err) this.logger.debug(`mDNS send to ${to.address}:${to.port} failed: ${err.message}`);
        resolve();
      }),
    );
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      clearInterval(this.timer);
      for (const address of this.memberships) {
        try {
          this.socket.dropMembership(MDNS_ADDRESS, address);
        } catch {
          // the interface may be gone
        }
      }
      this.memberships.clear();
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }
}

/** One IPv4 address per interface, loopback included: a membership is per interface. */
function firstIPv4OfEachInterface(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    const first = (list ?? []).find(isIPv4Interface);
    if (first) out.push(first.address);
  }
  return out;
}

/** Any address (the kernel's choice by route) when the host has a real interface, else loopback. */
function defaultMulticastInterface(): string {
  const external = Object.values(networkInterfaces()).some((list) =>
    (list ?? []).some((iface) => isIPv4Interface(iface) && !iface.internal),
  );
  return external ? '0.0.0.0' : '127.0.0.1';
}

/**
 * Opens the mDNS socket on *:5353 and joins 224.0.0.251 on `iface` (or every interface).
 * With a pinned interface it still binds 0.0.0.0: a socket bound to a unicast address never
 * sees multicast datagrams.
 */
export function openMulticast(iface: string | undefined, logger: Logger): Promise<MulticastDns> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const onError = (err: NodeJS.ErrnoException): void => {
      try {
        socket.close();
      } catch {
        // never bound
      }
      const hint =
        err.code === 'EADDRINUSE'
          ? ' (another program holds UDP 5353 exclusively; use unicast `hosts` instead)'
          : err.code === 'EADDRNOTAVAIL' || err.code === 'EINVAL'
            ? ` (is ${iface ?? 'the interface'} an IPv4 address of this host?)`
            : '';
      reject(new UnreachableError(`cannot listen for mDNS on UDP ${MDNS_PORT}: ${err.code ?? err.message}${hint}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.bind(MDNS_PORT, '0.0.0.0', () => {
      socket.off('error', onError);
      try {
        resolve(new MulticastDns(socket, iface, logger));
      } catch (err) {
        onError(err as NodeJS.ErrnoException);
      }
    });
  });
}

/**
 * A socket that sends multicast DNS out of one interface: bound to *:5353 (receivers drop
 * mDNS responses from any other source port, RFC 6762 §6) with the outgoing multicast
 * interface set to `address`. The advertiser uses one per interface when none is pinned,
 * so a host on several networks announces on all of them, not only the default route.
 */
export function openMulticastSender(address: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.close();
      reject(new UnreachableError(`cannot send mDNS from ${address}: ${err.code ?? err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.bind(MDNS_PORT, '0.0.0.0', () => {
      try {
        socket.setMulticastInterface(address);
        socket.setMulticastTTL(255);
        socket.setMulticastLoopback(true);
      } catch (err) {
        onError(err as NodeJS.ErrnoException);
        return;
      }
      socket.off('error', onError);
      // Incoming datagrams are the main mDNS socket's business; these only send.
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

export function closeMulticast(mdns: MulticastDns): Promise<void> {
  return mdns.close();
}

/** A UDP socket bound to `address:port` (port 0 = ephemeral). */
export function openUdp(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4' });
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.close();
      reject(new UnreachableError(`cannot bind UDP ${address}:${port}: ${err.code ?? err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

export function closeUdp(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/** Ports a device normally listens on (pyatv issue #580): DMAP, AirPlay, MRP, Companion. */
export const KNOCK_PORTS = [3689, 7000, 49152, 32498] as const;

/**
 * Opens (and at once drops) TCP connections to `ports` on `host`: a Bonjour sleep proxy
 * wakes the device it answers for when someone connects to one of its services. Errors
 * are ignored. Returns a function that aborts knocks still in flight.
 */
export function knock(host: string, ports: readonly number[], timeoutMs: number, logger: Logger): () => void {
  const sockets = new Set<Socket>();
  for (const port of ports) {
    const socket = connect({ host, port });
    sockets.add(socket);
    const done = (): void => {
      sockets.delete(socket);
      socket.destroy();
    };
    socket.setTimeout(timeoutMs, done);
    socket.once('connect', done);
    socket.once('error', done);
    socket.once('close', () => sockets.delete(socket));
  }
  logger.debug(`knocked on ${host} ports ${ports.join(', ')}`);
  return () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
}
