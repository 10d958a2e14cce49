/**
 * `npm run fuzz`: runs every target of THE table (test/fuzz/targets.ts) with a million
 * mutated inputs each (after its regression cases) and prints a summary: cases, crashes,
 * stalls, the slowest input. Each failing input is saved as a new regression case under
 * test/fuzz/regressions/<target>/, which `npm test` then runs forever after. Exit code 1
 * when anything failed.
 *
 *   npm run fuzz -- [--cases N] [--seed S] [--target NAME[,NAME]] [--stall-ms MS]
 */
import { relative } from 'node:path';
import { fuzz, regressionCases, saveRegression } from '../support/fuzz';
import { REPO_ROOT } from '../support/paths';
import { FUZZ_TARGETS } from './targets';

function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return args[i]!.includes('=') ? args[i]!.slice(args[i]!.indexOf('=') + 1) : args[i + 1];
}

const cases = Number(option('cases') ?? 1_000_000);
const seed = Number(option('seed') ?? Math.floor(Math.random() * 2 ** 31));
const stallMs = Number(option('stall-ms') ?? 50);
const wanted = option('target')?.split(',');
const targets = FUZZ_TARGETS.filter((t) => !wanted || wanted.includes(t.name));
if (!Number.isInteger(cases) || cases < 0 || !Number.isInteger(seed) || !(stallMs > 0) || targets.length === 0) {
  console.error(`usage: npm run fuzz -- [--cases N] [--seed S] [--stall-ms MS] [--target ${FUZZ_TARGETS.map((t) => t.name).join(',')}]`);
  process.exit(2);
}

console.log(`fuzzing ${targets.length} targets, ${cases.toLocaleString('en-US')} cases each, seed ${seed} (repeat with --seed ${seed}), stall > ${stallMs} ms`);
let failed = 0;
const rows: string[][] = [['target', 'cases', 'crashes', 'stalls', 'slowest', 'cases/s', 'slowest input (hex, first 32 bytes)']];
for (const target of targets) {
  const fixed = regressionCases(target.name).map((c) => c.input);
  const report = fuzz(target, { cases, seed, stallMs, fixed, maxFailures: 50 });
  const crashes = report.failures.filter((f) => f.kind === 'crash');
  const stalls = report.failures.filter((f) => f.kind === 'stall');
  rows.push([
    target.name,
    report.cases.toLocaleString('en-US'),
    String(crashes.length),
    String(stalls.length),
    report.slowest.ms < 1 ? `${(report.slowest.ms * 1000).toFixed(1)} µs` : `${report.slowest.ms.toFixed(2)} ms`,
    Math.round(report.cases / (report.ms / 1000)).toLocaleString('en-US'),
    `${report.slowest.input.subarray(0, 32).toString('hex')}${report.slowest.input.length > 32 ? '…' : ''} (${report.slowest.input.length} B)`,
  ]);
  for (const failure of report.failures) {
    failed++;
    const path = saveRegression(target.name, failure);
    console.log(`  ${target.name} ${failure.kind}: ${failure.detail.split('\n')[0]} → ${relative(REPO_ROOT, path)}`);
  }
  process.stdout.write(`  ${target.name} done in ${(report.ms / 1000).toFixed(1)} s\n`);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log('');
for (const row of rows) console.log(row.map((cell, i) => (i === 0 || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
if (failed > 0) {
  console.log(`\n${failed} failing inputs saved as regression cases: fix the codec, then commit them.`);
  process.exit(1);
}
