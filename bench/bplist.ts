/**
 * Binary plist figures: decode and encode throughput on the bodies AirPlay 2 exchanges (the
 * `ap2-*` plistlib vectors: SETUP requests and replies, /feedback, data-stream payloads) and
 * on the largest plist an Apple TV sends there (its event-channel `updateInfo`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { decodeBplist, encodeBplist } from '../lib/codecs/bplist';
import { fixture } from '../test/support/paths';
import { missing, round, throughput, type Measurement, type Suite } from './measure';

const SUITE = 'bplist';

function measure(name: string, bodies: Buffer[]): Measurement[] {
  const bytes = bodies.reduce((sum, body) => sum + body.length, 0);
  const values = bodies.map((body) => decodeBplist(body));
  const size = `${bodies.length} plist${bodies.length === 1 ? '' : 's'}, ${bytes} bytes`;
  const decode = throughput(bytes, () => bodies.forEach((body) => decodeBplist(body)), 1000);
  const encode = throughput(bytes, () => values.forEach((value) => encodeBplist(value)), 1000);
  const perSecond = (mbPerSecond: number): string => `${round((mbPerSecond * 1024 * 1024 * bodies.length) / bytes / 1000, 0)}k plists/s`;
  return [
    { suite: SUITE, name: `decode, ${name}`, value: round(decode.mbPerSecond, 1), unit: 'MB/s', detail: `${size}, ${perSecond(decode.mbPerSecond)}` },
    { suite: SUITE, name: `encode, ${name}`, value: round(encode.mbPerSecond, 1), unit: 'MB/s', detail: `${size}, ${perSecond(encode.mbPerSecond)}` },
  ];
}

export const bplistSuite: Suite = {
  name: SUITE,
  run(): Promise<Measurement[]> {
    const file = fixture('plistlib', 'bplist-vectors.jsonl');
    if (!existsSync(file)) return Promise.resolve([missing(SUITE, 'codec throughput', 'MB/s', 'fixture not found')]);
    const vectors = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { name: string; hex: string });
    const bodies = (prefix: string): Buffer[] => vectors.filter((v) => v.name.startsWith(prefix)).map((v) => Buffer.from(v.hex, 'hex'));
    return Promise.resolve([...measure('AirPlay 2 bodies', bodies('ap2-')), ...measure('Apple TV updateInfo', bodies('doc-appletv-event-updateInfo'))]);
  },
};
