/** Figures of the package as a whole: how long `require()` of its entry takes in a fresh process. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { median, missing, round, type Measurement, type Suite } from './measure';

const ENTRY = join(__dirname, '..', 'lib', 'index.js');
const RUNS = 7;

/** The time of `require(entry)` measured inside a fresh Node process (startup excluded). */
function requireTimeMs(entry: string): number {
  const script = `const t = process.hrtime.bigint(); require(${JSON.stringify(entry)}); process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));`;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

export const packageSuite: Suite = {
  name: 'package',
  async run(): Promise<Measurement[]> {
    if (!existsSync(ENTRY)) return [missing('package', 'require() of the package entry', 'ms', `${ENTRY} not built`)];
    const samples = Array.from({ length: RUNS }, () => requireTimeMs(ENTRY));
    return [
      {
        suite: 'package',
        name: 'require() of dist/lib/index.js',
        value: round(median(samples), 1),
        unit: 'ms',
        detail: `median of ${RUNS} fresh processes (min ${round(Math.min(...samples), 1)}, max ${round(Math.max(...samples), 1)})`,
      },
    ];
  },
};
