/**
 * OPACK figures: encode and decode speed of the codec on a real Companion message (pyatv's
 * `_systemInfo`, from the recorded vectors) and on a large app-list reply
 * (`FetchLaunchableApplicationsEvent` answers with one bundle id → name pair per app).
 */
import { existsSync } from 'node:fs';
import { decodeOpack, encodeOpack, type OpackObject, type OpackValue } from '../lib/codecs/opack';
import { fixture } from '../test/support/paths';
import { fromTypedJson, readOpackVectors } from '../test/support/typed-json-opack';
import { missing, round, throughput, type Measurement, type Suite } from './measure';

const SUITE = 'OPACK';
const APPS = 2000;

function appListReply(apps: number): OpackObject {
  const names: Record<string, string> = {};
  for (let i = 0; i < apps; i++) names[`com.example.vendor${i % 50}.app${i}`] = `App number ${i}`;
  return { _c: names, _t: 3, _x: 40123 };
}

function measure(label: string, value: OpackValue, detail: string): Measurement[] {
  const bytes = encodeOpack(value);
  const decode = throughput(bytes.length, () => decodeOpack(bytes));
  const decoded = decodeOpack(bytes);
  const encode = throughput(bytes.length, () => encodeOpack(decoded));
  const row = (name: string, mbPerSecond: number): Measurement => {
    const perSecond = Math.round((mbPerSecond * 1024 * 1024) / bytes.length).toLocaleString('en-US');
    const value = round(mbPerSecond, 1);
    return { suite: SUITE, name: `${name}, ${label}`, value, unit: 'MB/s', detail: `${detail}, ${bytes.length} bytes, ${perSecond} per s` };
  };
  return [row('decode', decode.mbPerSecond), row('encode', encode.mbPerSecond)];
}

export const opackSuite: Suite = {
  name: SUITE,
  async run(): Promise<Measurement[]> {
    const rows: Measurement[] = [];
    if (existsSync(fixture('pyatv-0.16.1', 'opack-vectors.jsonl'))) {
      const systemInfo = readOpackVectors().find((v) => v.name === 'companion-_systemInfo')!;
      rows.push(...measure('_systemInfo message', fromTypedJson(systemInfo.value), 'as pyatv sends it'));
    } else {
      rows.push(missing(SUITE, 'decode, _systemInfo message', 'MB/s', 'fixture not found'));
    }
    rows.push(...measure('app list reply', appListReply(APPS), `${APPS} apps`));
    return rows;
  },
};
