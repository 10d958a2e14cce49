/**
 * DNS-SD on the wire: query messages (encoded with `dns-packet`, plus the QU bit it cannot
 * encode), decoding of untrusted packets (our bounded decoder, never dns-packet's), and
 * `RecordCache`, the TTL-aware store that turns PTR/SRV/TXT/A records from many packets into
 * `ServiceRecord`s.
 */
import * as dnsPacket from 'dns-packet';
import { isIPv4 } from 'node:net';
import { decodeDnsMessage, DNS_CLASS_ANY, DNS_CLASS_IN, type DnsMessage, type DnsRecord, type DnsSrvData } from '../codecs/dns-message';
import { decodeTxt, isLinkLocalIPv4 } from './txt';
import type { ServiceRecord } from './types';

export const MDNS_ADDRESS = '224.0.0.251';
export const MDNS_PORT = 5353;
/** Every browse asks for this too: a sleep proxy answering for a device reveals deep sleep. */
export const SLEEP_PROXY_TYPE = '_sleep-proxy._udp';
/** Service types per query message (pyatv's choice; keeps answers well under one MTU). */
export const TYPES_PER_MESSAGE = 3;

export type QuestionType = 'PTR' | 'SRV' | 'TXT' | 'A' | 'ANY';

export interface QueryQuestion {
  name: string;
  type: QuestionType;
  /** Ask for a unicast answer (the QU bit, RFC 6762 §5.4). */
  unicastResponse?: boolean;
}

const QU_BIT = 0x8000;

/** A DNS query message; dns-packet writes the class field, we then set the QU bits. */
export function encodeQuery(id: number, questions: readonly QueryQuestion[]): Buffer {
  const buf = dnsPacket.encode({
    type: 'query',
    id,
    flags: 0,
    // @types/dns-packet lacks 'ANY', which dns-packet itself knows (255).
    questions: questions.map((q) => ({ name: q.name, type: q.type as dnsPacket.RecordType, class: 'IN' as const })),
  });
  // dns-packet never compresses names, so the question section is plain label runs.
  let offset = 12;
  for (const q of questions) {
    while (buf[offset] !== 0) offset += buf[offset]! + 1;
    offset += 1;
    if (q.unicastResponse) buf.writeUInt16BE(DNS_CLASS_IN | QU_BIT, offset + 2);
    offset += 4;
  }
  return buf;
}

export interface QueryMessage {
  id: number;
  /** The service types asked for (without `.local`). */
  types: string[];
  bytes: Buffer;
}

/**
 * PTR queries for service types, `TYPES_PER_MESSAGE` types per message, each message also
 * asking for `_sleep-proxy._udp` when `sleepProxy` is set. Message ids start at `firstId`
 * so unicast answers (which echo the id) can be matched to their message.
 */
export function serviceQueries(
  types: readonly string[],
  options: { sleepProxy: boolean; unicastResponse: boolean; firstId: number },
): QueryMessage[] {
  const asked = types.filter((t) => !(options.sleepProxy && t.toLowerCase() === SLEEP_PROXY_TYPE));
  const messages: QueryMessage[] = [];
  for (let i = 0; i < asked.length || (i === 0 && options.sleepProxy); i += TYPES_PER_MESSAGE) {
    const chunk = asked.slice(i, i + TYPES_PER_MESSAGE);
    const names = [...chunk, ...(options.sleepProxy ? [SLEEP_PROXY_TYPE] : [])];
    const id = (options.firstId + messages.length) & 0xffff;
    messages.push({
      id,
      types: names,
      bytes: encodeQuery(
        id,
        names.map((t) => ({ name: `${t}.local`, type: 'PTR', unicastResponse: options.unicastResponse })),
      ),
    });
  }
  return messages;
}

/**
 * Decodes a packet from the network with the bounded decoder; anything malformed → null
 * (never throws), to be dropped at once.
 */
export function decodePacket(bytes: Buffer): DnsMessage | null {
  try {
    return decodeDnsMessage(bytes);
  } catch {
    return null;
  }
}

/** Whether a question's class is one we answer (IN or ANY; the QU bit is already split off). */
export function answerableClass(cls: number): boolean {
  return cls === DNS_CLASS_IN || cls === DNS_CLASS_ANY;
}

// ---------------------------------------------------------------------------------------
// Record cache

type Kind = 'PTR' | 'SRV' | 'TXT' | 'A';

interface Entry {
  kind: Kind;
  /** Owner name as received. */
  name: string;
  lname: string;
  /** PTR: target; SRV: {port,target}; TXT: decoded map; A: address. */
  ptr?: string;
  srv?: { port: number; target: string };
  txt?: Record<string, string>;
  a?: string;
  /** Comparable form of the data (change detection). */
  dataKey: string;
  ttl: number;
  receivedAt: number;
  expiresAt: number;
  source: string;
  sleepProxy: boolean;
  refreshAsked: boolean;
}

export interface IngestOptions {
  now?: number;
  /**
   * The answer to a unicast query, which echoes its questions: for every PTR question, the
   * answer is the complete list from that responder, so cached PTRs from the same source
   * that it no longer lists are gone.
   */
  authoritative?: boolean;
  /**
   * Keep records this long instead of their TTL: when polling hosts by unicast, presence is
   * decided by the answers (whose TTLs are capped at 10 s, RFC 6762 §6.7), not by TTLs.
   */
  lifetimeMs?: number;
  /**
   * Instance names (lower-case) asked of a sleep proxy → the proxy's address: their SRV/TXT
   * are flagged `sleepProxy` when that proxy answers (not when the awake device does).
   */
  sleepProxyNames?: ReadonlyMap<string, string>;
}

/** Longest TTL honoured: bounds what a hostile packet can pin in memory. */
const MAX_TTL_SECONDS = 24 * 3600;
const DEFAULT_MAX_ENTRIES = 4096;
const MAX_RECORDS_PER_PACKET = 256;
const MAX_QUESTIONS_PER_PACKET = 16;

/**
 * TTL-aware store of the DNS-SD records of the watched service types (plus the A records
 * their SRV targets need). Bounded: at most `maxEntries` records, oldest evicted first.
 */
export class RecordCache {
  private readonly entries = new Map<string, Entry>();
  /** lower-case `_type._proto` → spelling to report. */
  private readonly types = new Map<string, string>();
  private readonly maxEntries: number;

  constructor(types: readonly string[], options: { maxEntries?: number } = {}) {
    for (const t of types) this.types.set(t.toLowerCase().replace(/\.local\.?$/, ''), t.replace(/\.local\.?$/, ''));
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  /** The watched type a PTR owner (`_airplay._tcp.local`) names, or undefined. */
  private ptrType(lname: string): string | undefined {
    return lname.endsWith('.local') ? this.types.get(lname.slice(0, -6)) : undefined;
  }

  /** The watched type and instance of a service owner name, or undefined. */
  private splitInstance(name: string): { type: string; instance: string } | undefined {
    const lname = name.toLowerCase();
    for (const [ltype, type] of this.types) {
      const suffix = `.${ltype}.local`;
      if (lname.length > suffix.length && lname.endsWith(suffix)) {
        return { type, instance: name.slice(0, name.length - suffix.length) };
      }
    }
    return undefined;
  }

  /** Adds the records of a response; true when something other than a TTL changed. */
  ingest(packet: DnsMessage, source: string, options: IngestOptions = {}): boolean {
    const now = options.now ?? Date.now();
    // Real responses carry a few dozen records; the caps bound what a hostile packet costs.
    const records = [...packet.answers, ...packet.additionals].slice(0, MAX_RECORDS_PER_PACKET);
    const questions = packet.questions.slice(0, MAX_QUESTIONS_PER_PACKET);
    let changed = false;

    const parsed: Entry[] = [];
    const srvTargets = new Set<string>();
    const aNamesWithFlush = new Set<string>();
    for (const r of records) {
      const entry = this.parseRecord(r, source, now, options);
      if (!entry) continue;
      if (entry.kind === 'SRV' && entry.ttl > 0) srvTargets.add(entry.srv!.target.toLowerCase());
      if (entry.kind === 'A' && r.flush && entry.ttl > 0) aNamesWithFlush.add(entry.lname);
      parsed.push(entry);
    }

    if (options.authoritative) {
      const listed = new Set(parsed.filter((e) => e.kind === 'PTR').map((e) => this.key(e)));
      for (const q of questions) {
        if (q.type !== 'PTR' && q.type !== 'ANY') continue;
        const qname = q.name.toLowerCase();
        if (!this.ptrType(qname)) continue;
        for (const [key, e] of this.entries) {
          if (e.kind === 'PTR' && e.lname === qname && e.source === source && !listed.has(key)) {
            this.deleteWithInstance(key, e);
            changed = true;
          }
        }
      }
    }

    for (const name of aNamesWithFlush) {
      const fresh = new Set(parsed.filter((e) => e.kind === 'A' && e.lname === name).map((e) => e.a));
      for (const [key, e] of this.entries) {
        if (e.kind === 'A' && e.lname === name && !fresh.has(e.a)) {
          this.entries.delete(key);
          changed = true;
        }
      }
    }

    let cachedTargets: Set<string> | undefined;
    for (const entry of parsed) {
      const key = this.key(entry);
      const existing = this.entries.get(key);
      if (entry.ttl === 0) {
        // Goodbye (RFC 6762 §10.1). A goodbye PTR takes its instance's SRV/TXT with it.
        if (existing) {
          this.deleteWithInstance(key, existing);
          changed = true;
        } else if (entry.kind === 'PTR') {
          changed = this.deleteInstance(entry.ptr!) || changed;
        }
        continue;
      }
      if (entry.kind === 'A' && !srvTargets.has(entry.lname) && !(cachedTargets ??= this.srvTargets()).has(entry.lname)) continue;
      if (!existing || existing.dataKey !== entry.dataKey || existing.sleepProxy !== entry.sleepProxy) changed = true;
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    this.evict();
    return changed;
  }

  /** Drops expired records; true when any went. */
  expire(now = Date.now()): boolean {
    let changed = false;
    for (const [key, e] of this.entries) {
      if (e.expiresAt <= now && this.entries.has(key)) {
        this.deleteWithInstance(key, e);
        changed = true;
      }
    }
    return changed;
  }

  /**
   * Service types with a record past 80 % of its TTL (RFC 6762 §5.2): query them again
   * so a live device refreshes them. Each record is reported once.
   */
  dueForRefresh(now = Date.now()): string[] {
    const due = new Set<string>();
    for (const e of this.entries.values()) {
      if (e.refreshAsked || e.kind === 'A') continue;
      if (now < e.receivedAt + e.ttl * 800) continue;
      e.refreshAsked = true;
      const type = e.kind === 'PTR' ? this.ptrType(e.lname) : this.splitInstance(e.name)?.type;
      if (type) due.add(type);
    }
    return [...due];
  }

  /** PTR targets with neither SRV nor TXT: what a sleep proxy answers for a sleeping device. */
  bareInstances(): { source: string; name: string }[] {
    const out: { source: string; name: string }[] = [];
    for (const e of this.entries.values()) {
      if (e.kind !== 'PTR') continue;
      const lt = e.ptr!.toLowerCase();
      if (!this.entries.has(`SRV|${lt}`) && !this.entries.has(`TXT|${lt}`)) out.push({ source: e.source, name: e.ptr! });
    }
    return out;
  }

  /** The service instances the cache knows, in the order they were first seen. */
  records(now = Date.now()): ServiceRecord[] {
    const instances = new Map<string, { type: string; instance: string }>();
    const ptrByTarget = new Map<string, Entry>();
    const aByHost = new Map<string, string[]>();
    for (const e of this.entries.values()) {
      if (e.kind === 'A') {
        if (isLinkLocalIPv4(e.a!)) continue;
        const list = aByHost.get(e.lname);
        if (!list) aByHost.set(e.lname, [e.a!]);
        else if (!list.includes(e.a!)) list.push(e.a!);
        continue;
      }
      const full = e.kind === 'PTR' ? e.ptr! : e.name;
      const lfull = full.toLowerCase();
      if (e.kind === 'PTR' && !ptrByTarget.has(lfull)) ptrByTarget.set(lfull, e);
      if (instances.has(lfull)) continue;
      const split = this.splitInstance(full);
      if (split) instances.set(lfull, split);
    }

    const out: ServiceRecord[] = [];
    for (const [lfull, { type, instance }] of instances) {
      const srv = this.entries.get(`SRV|${lfull}`);
      const txt = this.entries.get(`TXT|${lfull}`);
      const ptr = ptrByTarget.get(lfull);
      const present = [srv, txt, ptr].filter((e): e is Entry => e !== undefined);
      const source = (srv ?? txt ?? ptr)!.source;
      const host = srv ? srv.srv!.target : null;
      let addresses = host !== null ? [...(aByHost.get(host.toLowerCase()) ?? [])] : [];
      if (addresses.length === 0 && !isLinkLocalIPv4(source)) addresses = [source];
      const remaining = Math.min(...present.map((e) => Math.max(0, Math.ceil((e.expiresAt - now) / 1000))));
      const record: ServiceRecord = {
        type,
        instance,
        host,
        port: srv ? srv.srv!.port : 0,
        addresses,
        txt: txt ? { ...txt.txt! } : {},
        ttl: remaining,
        source,
      };
      if ((!srv && !txt) || present.some((e) => e.sleepProxy)) record.sleepProxy = true;
      out.push(record);
    }
    return out;
  }

  private key(e: Entry): string {
    switch (e.kind) {
      case 'PTR':
        return `PTR|${e.lname}|${e.ptr!.toLowerCase()}`;
      case 'A':
        return `A|${e.lname}|${e.a}`;
      default:
        return `${e.kind}|${e.lname}`;
    }
  }

  private srvTargets(): Set<string> {
    const out = new Set<string>();
    for (const e of this.entries.values()) if (e.kind === 'SRV') out.add(e.srv!.target.toLowerCase());
    return out;
  }

  private deleteWithInstance(key: string, e: Entry): void {
    this.entries.delete(key);
    if (e.kind === 'PTR') this.deleteInstance(e.ptr!);
  }

  private deleteInstance(full: string): boolean {
    const lfull = full.toLowerCase();
    const a = this.entries.delete(`SRV|${lfull}`);
    const b = this.entries.delete(`TXT|${lfull}`);
    return a || b;
  }

  private evict(): void {
    if (this.entries.size <= this.maxEntries) return;
    // Map order is insertion order and every upsert re-inserts, so the first keys are the
    // least recently refreshed. Evict a tenth at once so a flood costs O(n) per packet.
    const drop = this.entries.size - Math.floor(this.maxEntries * 0.9);
    let n = 0;
    for (const key of this.entries.keys()) {
      if (n++ >= drop) break;
      this.entries.delete(key);
    }
  }

  private parseRecord(rec: DnsRecord, source: string, now: number, options: IngestOptions): Entry | null {
    if (rec.class !== DNS_CLASS_IN) return null;
    const ttl = Math.min(rec.ttl, MAX_TTL_SECONDS);
    const lname = rec.name.toLowerCase();
    const lifetime = ttl === 0 ? 0 : (options.lifetimeMs ?? ttl * 1000);
    const base = {
      name: rec.name,
      lname,
      ttl,
      receivedAt: now,
      expiresAt: now + lifetime,
      source,
      sleepProxy: false,
      refreshAsked: false,
    };
    switch (rec.type) {
      case 'PTR': {
        const target = rec.data as string;
        if (!this.ptrType(lname) || !this.splitInstance(target)) return null;
        return { ...base, kind: 'PTR', ptr: target, dataKey: target };
      }
      case 'SRV': {
        const d = rec.data as DnsSrvData;
        if (!this.splitInstance(rec.name)) return null;
        // Target "." means "no service here" (RFC 2782).
        if (d.target.length === 0 || d.target === '.') return null;
        const srv = { port: d.port, target: d.target };
        return { ...base, kind: 'SRV', srv, dataKey: `${srv.port} ${srv.target.toLowerCase()}`, sleepProxy: options.sleepProxyNames?.get(lname) === source };
      }
      case 'TXT': {
        if (!this.splitInstance(rec.name)) return null;
        const txt = decodeTxt(rec.data as Buffer[]);
        return { ...base, kind: 'TXT', txt, dataKey: JSON.stringify(txt), sleepProxy: options.sleepProxyNames?.get(lname) === source };
      }
      case 'A': {
        const address = rec.data as string;
        if (!isIPv4(address)) return null;
        return { ...base, kind: 'A', a: address, dataKey: address };
      }
      default:
        return null;
    }
  }
}
