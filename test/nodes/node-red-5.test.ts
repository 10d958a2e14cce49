/**
 * The Node-RED 5 leg: Node-RED 5 needs Node >= 22.9, newer than the Node this suite may run
 * on, so the node test files run again in a Node 22 child (`ATV_NODE22`, which
 * scripts/test.mjs sets when it finds one) against the `node-red-5` devDependency.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { skipOutsideCi } from '../support/ci';

const node22 = process.env.ATV_NODE22;
const alreadyOnFive = (process.env.ATV_NODE_RED ?? '') === 'node-red-5';
const missing =
  !node22 || !existsSync(node22)
    ? (process.env.ATV_NODE22_MISSING ?? 'no Node 22 binary (`npm test` fetches one into .cache/node22; or set ATV_NODE22)')
    : null;
const skip = alreadyOnFive ? 'this is the Node-RED 5 run itself' : skipOutsideCi(missing ?? false);

describe('Node-RED 5 on Node 22', () => {
  it('passes every node test file', { skip, timeout: 170_000 }, async () => {
    assert.equal(missing, null, `${missing}: CI must run the Node-RED 5 leg`);
    const files = readdirSync(__dirname)
      .filter((f) => f.endsWith('.test.js') && f !== basename(__filename))
      .map((f) => join(__dirname, f));
    assert.ok(files.length >= 4, files.join());
    // NODE_TEST_CONTEXT would make the child report to this runner instead of running
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
    const child = spawn(node22!, ['--test', '--test-reporter=tap', '--test-timeout=120000', ...files], {
      env: { ...env, ATV_NODE_RED: 'node-red-5' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const version = await new Promise<string>((resolve) => {
      const v = spawn(node22!, ['-p', `require(${JSON.stringify(require.resolve('node-red-5/package.json'))}).version + ' on ' + process.version`]);
      let text = '';
      v.stdout.on('data', (d: Buffer) => (text += d.toString()));
      v.once('exit', () => resolve(text.trim()));
    });
    assert.match(version, /^5\.\d+\.\d+ on v22\./);
    assert.equal(code, 0, `Node-RED ${version}: the node tests failed:\n${output.slice(-6000)}`);
    const passed = Number(/^# pass (\d+)$/m.exec(output)?.[1] ?? 0);
    assert.ok(passed >= 55, `only ${passed} tests passed on Node-RED ${version}:\n${output.slice(-3000)}`);
    assert.match(output, /^# fail 0$/m);
    // the MRP suites and the MRP demo ran here too (a file that failed to load would not say ok)
    for (const suite of ['flow nodes against an MRP-only simulator', 'one config node for a device with DMAP and MRP', 'npm start -- --mrp']) {
      assert.match(output, new RegExp(`^ok \\d+ - ${suite.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}$`, 'm'), `${suite} on Node-RED ${version}`);
    }
  });
});
