/**
 * `npm run bench`: prints speed and size figures of the library as one table. Asserts
 * nothing, touches only 127.0.0.1 (no multicast), and takes well under a minute. Each suite
 * is one file; a protocol's figures are one more entry in SUITES.
 */
import { bplistSuite } from './bplist';
import { dmapSuite } from './dmap';
import { dnsFloodSuite } from './dns-flood';
import { formatTable, missing, type Measurement, type Suite } from './measure';
import { mrpSuite } from './mrp';
import { opackSuite } from './opack';
import { packageSuite } from './package';

const SUITES: readonly Suite[] = [packageSuite, dmapSuite, mrpSuite, bplistSuite, opackSuite, dnsFloodSuite];

async function main(): Promise<void> {
  const started = Date.now();
  const rows: Measurement[] = [];
  for (const suite of SUITES) {
    process.stderr.write(`running ${suite.name} ...\n`);
    try {
      rows.push(...(await suite.run()));
    } catch (err) {
      rows.push(missing(suite.name, 'suite failed', '', err instanceof Error ? err.message : String(err)));
    }
  }
  console.log(`atvlink benchmarks (Node ${process.version}, ${process.platform}/${process.arch})`);
  console.log('');
  for (const line of formatTable(rows)) console.log(line);
  console.log('');
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

void main();
