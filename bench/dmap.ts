/**
 * DMAP figures: the TLV codec's throughput on a large library listing and on a real
 * playstatus body, and, against the simulator on 127.0.0.1, the DACP command round trip,
 * the push latency (state change in the simulator → the Device's 'nowPlaying' event) and
 * the memory a connected Device costs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { decodeDmap, encodeDmap, encodeTag } from '../lib/codecs/dmap';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../lib/simulator';
import { fixture } from '../test/support/paths';
import { liveDeviceMeasurements } from './device';
import { missing, round, throughput, type Measurement, type Suite } from './measure';

const SUITE = 'DMAP';
const LISTING_ITEMS = 20_000;

/** A `daap.playlistsongs` answer with `items` tracks, as a music server sends for a big library. */
export function libraryListing(items: number): Buffer {
  const tracks: Buffer[] = [];
  for (let i = 0; i < items; i++) {
    tracks.push(
      encodeTag('mlit', [
        encodeTag('mikd', 2),
        encodeTag('miid', i + 1),
        encodeTag('mper', 0x0123456789abcdefn + BigInt(i)),
        encodeTag('minm', `Track ${i + 1}: a song title of ordinary length`),
        encodeTag('asar', `Artist ${i % 500}`),
        encodeTag('asal', `Album ${i % 1500} (Deluxe Edition)`),
        encodeTag('asgn', ['Rock', 'Jazz', 'Electronic', 'Classical'][i % 4]!),
        encodeTag('astm', 180_000 + (i % 120_000)),
        encodeTag('asai', 0x1000n + BigInt(i % 1500)),
      ]),
    );
  }
  return encodeTag('apso', [
    encodeTag('mstt', 200),
    encodeTag('muty', 0),
    encodeTag('mtco', items),
    encodeTag('mrco', items),
    encodeTag('mlcl', tracks),
  ]);
}

function codecMeasurements(): Measurement[] {
  const rows: Measurement[] = [];
  const listing = libraryListing(LISTING_ITEMS);
  const size = `${LISTING_ITEMS.toLocaleString('en-US')} mlit items, ${round(listing.length / 1024 / 1024, 1)} MB`;
  const decode = throughput(listing.length, () => decodeDmap(listing), 1000);
  rows.push({ suite: SUITE, name: 'TLV decode, library listing', value: round(decode.mbPerSecond, 1), unit: 'MB/s', detail: `${size}, ${decode.calls} runs` });
  const tree = decodeDmap(listing);
  const encode = throughput(listing.length, () => encodeDmap(tree), 1000);
  rows.push({ suite: SUITE, name: 'TLV encode, library listing', value: round(encode.mbPerSecond, 1), unit: 'MB/s', detail: `${size}, ${encode.calls} runs` });

  const playstatusFile = fixture('owntone-29.3', 'playstatusupdate-2-playing.bin');
  if (existsSync(playstatusFile)) {
    const body = readFileSync(playstatusFile);
    const small = throughput(body.length, () => decodeDmap(body));
    rows.push({
      suite: SUITE,
      name: 'TLV decode, OwnTone playstatus',
      value: round(small.mbPerSecond, 1),
      unit: 'MB/s',
      detail: `${body.length} bytes, ${small.calls.toLocaleString('en-US')} runs (${round((small.mbPerSecond * 1024 * 1024) / body.length / 1000, 0)}k bodies/s)`,
    });
  } else {
    rows.push(missing(SUITE, 'TLV decode, OwnTone playstatus', 'MB/s', 'fixture not found'));
  }
  return rows;
}

async function liveMeasurements(): Promise<Measurement[]> {
  const sim = new Simulator({ name: 'Benchmark TV', homeSharing: false });
  await sim.start();
  try {
    return await liveDeviceMeasurements({
      suite: SUITE,
      sim,
      config: sim.config(),
      protocol: 'dmap',
      credentials: DEMO_DMAP_CREDENTIALS,
      port: sim.dmapPort,
      commandName: 'DACP command round trip',
      commandDetail: 'commands (play/pause), one at a time',
    });
  } finally {
    await sim.stop();
  }
}

export const dmapSuite: Suite = {
  name: SUITE,
  async run(): Promise<Measurement[]> {
    return [...codecMeasurements(), ...(await liveMeasurements())];
  },
};
