/** Fake Apple TV advertisements and event helpers for the discovery tests. */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { AdvertisedService } from '../../../lib/mdns/types';

export interface FakeIds {
  mrp: string;
  airplay: string;
  companion: string;
  raop: string;
  dmap: string;
}

/** Identifiers unique to this test run (other test processes share the namespace). */
export function fakeIds(): FakeIds {
  const hex = (n: number): string => randomBytes(n).toString('hex').toUpperCase();
  return {
    mrp: `${hex(4)}-MRP`,
    airplay: hex(6).match(/../g)!.join(':'),
    companion: `${hex(4)}-COMP`,
    raop: hex(6),
    dmap: hex(8),
  };
}

/**
 * Everything an Apple TV 4K on tvOS 14 announces, so a unicast scan gets an answer to each
 * of its query messages.
 */
export function fakeAppleTv(name: string, address: string, ids: FakeIds, opts: { ttl?: number } = {}): AdvertisedService[] {
  const host = `${name.replace(/\W+/g, '-')}-${ids.raop}.local`;
  const base = { host, addresses: [address], ...(opts.ttl ? { ttl: opts.ttl } : {}) };
  return [
    { ...base, type: '_mediaremotetv._tcp', instance: name, port: 49152, txt: { Name: name, UniqueIdentifier: ids.mrp, SystemBuildVersion: '18M60', AllowPairing: 'YES', macAddress: ids.airplay } },
    { ...base, type: '_airplay._tcp', instance: name, port: 7000, txt: { deviceid: ids.airplay, model: 'AppleTV6,2', osvers: '14.7', features: '0x5A7FFFF7,0x1E', flags: '0x244' } },
    { ...base, type: '_companion-link._tcp', instance: name, port: 49153, txt: { rpMRtID: ids.companion, rpFl: '0x36782', rpMd: 'AppleTV6,2' } },
    { ...base, type: '_raop._tcp', instance: `${ids.raop}@${name}`, port: 7000, txt: { am: 'AppleTV6,2', sf: '0x4' } },
    { ...base, type: '_touch-able._tcp', instance: `${ids.dmap}_1`, port: 3689, txt: { CtlN: name } },
    { ...base, type: '_device-info._tcp', instance: name, port: 0, txt: { model: 'J105aAP' } },
  ];
}

/** Resolves with the first `event` whose arguments pass `match`; rejects after `ms`. */
export function waitForEvent<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  match: (...args: A) => boolean,
  ms: number,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]): void => {
      if (!match(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no matching "${event}" event within ${ms} ms`));
    }, ms);
    emitter.on(event, listener);
  });
}

/** Malformed and hostile DNS packets. */
export function hostilePackets(): Buffer[] {
  const out: Buffer[] = [Buffer.alloc(0), Buffer.alloc(5, 0xff), randomBytes(12), randomBytes(200), randomBytes(1400)];
  // Header claiming 65535 of every section, no body.
  const counts = Buffer.alloc(12);
  counts.writeUInt16BE(0x8400, 2);
  for (const o of [4, 6, 8, 10]) counts.writeUInt16BE(0xffff, o);
  out.push(counts);
  // A name whose compression pointer points at itself.
  out.push(Buffer.from('000000000001000000000000c00c000c0001', 'hex'));
  // A label running past the end.
  out.push(Buffer.from('00000000000100000000000040414141', 'hex'));
  // A response whose TXT length field lies.
  const lying = Buffer.from('000084000000000100000000' + '045f6172' + '00' + '0010000100000078' + 'ffff' + '0361', 'hex');
  out.push(lying);
  out.push(...STALLING_PACKETS);
  return out;
}

/**
 * Packets that stalled dns-packet's decoder (issue 7, D1): a TXT whose length lies sent it
 * past the end, its offset turned NaN and it decoded 3 x 65535 records from offset 0; header
 * counts alone (13 bytes) still cost milliseconds each.
 */
export const STALLING_PACKETS: readonly Buffer[] = [
  Buffer.from('000084000000ffffffffffff00001000010000007800ff00', 'hex'),
  Buffer.from('00008400ffffffffffffffff00', 'hex'),
];
