/**
 * `npm run bench`: prints speed and size figures of the library as one table, each round trip
 * beside its floor (what the machine allows for the same bytes, bench/floor.ts) and its
 * target. Asserts nothing, touches only 127.0.0.1 (no multicast), and takes about a minute.
 * Each suite is one file and runs in a fresh Node process of its own, so the garbage one
 * suite leaves (a 3.6 MB DMAP listing, 2000 decoded SET_STATEs) is never collected in the
 * middle of another suite's latencies. A protocol's figures are one more entry in SUITES.
 *
 *   node dist/bench/index.js [suite ...]      only the named suites (e.g. `MRP scale`)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { bplistSuite } from './bplist';
import { dmapSuite } from './dmap';
import { dnsFloodSuite } from './dns-flood';
import { formatTable, missing, type Measurement, type Suite } from './measure';
import { mrpSuite } from './mrp';
import { opackSuite } from './opack';
import { packageSuite } from './package';
import { scaleSuite } from './scale';

const SUITES: readonly Suite[] = [packageSuite, dmapSuite, mrpSuite, bplistSuite, opackSuite, dnsFloodSuite, scaleSuite];
/** Marks the one line of the child's stdout that carries its rows. */
const ROWS = 'atvlink-bench-rows ';

/** Runs one suite in this process and prints its rows as JSON (the child side). */
async function runHere(name: string): Promise<void> {
  const suite = SUITES.find((s) => s.name === name);
  if (!suite) throw new Error(`no suite ${name}`);
  let rows: Measurement[];
  try {
    rows = await suite.run();
  } catch (err) {
    rows = [missing(suite.name, 'suite failed', '', err instanceof Error ? err.message : String(err))];
  }
  process.stdout.write(`${ROWS}${JSON.stringify(rows)}\n`);
  // Whatever a suite left open (a socket in TIME_WAIT, an unref'd timer) must not hold the run up.
  process.exit(0);
}

async function runInChild(suite: Suite): Promise<Measurement[]> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [__filename, '--suite', suite.name], {
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
      timeout: 10 * 60_000,
    });
    const line = stdout.split('\n').find((l) => l.startsWith(ROWS));
    if (!line) throw new Error('the suite printed no figures');
    return JSON.parse(line.slice(ROWS.length)) as Measurement[];
  } catch (err) {
    return [missing(suite.name, 'suite failed', '', err instanceof Error ? err.message.split('\n')[0]! : String(err))];
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--suite') return runHere(args[1] ?? '');
  const chosen = args.length > 0 ? SUITES.filter((s) => args.includes(s.name)) : SUITES;
  const started = Date.now();
  const rows: Measurement[] = [];
  for (const suite of chosen) {
    process.stderr.write(`running ${suite.name} ...\n`);
    rows.push(...(await runInChild(suite)));
  }
  console.log(`atvlink benchmarks (Node ${process.version}, ${process.platform}/${process.arch})`);
  console.log('');
  for (const line of formatTable(rows)) console.log(line);
  console.log('');
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

void main();
