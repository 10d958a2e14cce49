/**
 * The package as users get it: `npm pack`, then `npm install <tarball>` into a fresh Node-RED
 * user directory (no build step on their side), then Node-RED loads all six node types,
 * serves their icons and runs a flow against the simulator. npm resolves the dependencies
 * from a loopback registry made of this checkout's node_modules (see runtime.ts): no network,
 * no warm npm cache.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO_DMAP_CREDENTIALS, Simulator } from '../../lib/simulator';
import { REPO_ROOT } from '../support/paths';
import { startNodeRed, type NodeRedRuntime } from './runtime';
import { nodeTypes } from '../support/node-types';

const MODULE = '@atvlink/node-red-apple-tv';

describe('the packed tarball installed into a Node-RED user directory', { timeout: 180_000 }, () => {
  let packDir = '';
  let runtime: NodeRedRuntime | undefined;
  let sim: Simulator | undefined;

  before(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'atvlink-pack-'));
    // --ignore-scripts: dist/ is already built by the test run; prepare would rebuild it.
    execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', packDir], { cwd: REPO_ROOT, stdio: 'pipe' });
    const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    runtime = await startNodeRed({ install: join(packDir, tarball) });
    sim = new Simulator({ name: 'Tarball TV', homeSharing: false });
    await sim.start();
  });

  after(async () => {
    await runtime?.stop();
    await sim?.stop();
    rmSync(packDir, { recursive: true, force: true });
  });

  it('installs without building: dist/ ships, no TypeScript or sources needed', () => {
    const installed = join(runtime!.userDir, 'node_modules', '@atvlink', 'node-red-apple-tv');
    assert.ok(existsSync(join(installed, 'dist', 'nodes', 'atvlink-device', 'atvlink-device.js')));
    assert.ok(!existsSync(join(installed, 'lib')), 'TypeScript sources are not shipped');
    assert.ok(!existsSync(join(installed, 'dist', 'test')), 'tests are not shipped');
    assert.ok(!existsSync(join(runtime!.userDir, 'node_modules', 'typescript')), 'no build tool pulled in');
    // ...and its runtime dependencies came along, resolved from their version ranges.
    const { dependencies } = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(dependencies)) {
      assert.ok(existsSync(join(runtime!.userDir, 'node_modules', dep, 'package.json')), `${dep} is installed`);
    }
  });

  it('loads every node type from the installed module', async () => {
    const nodes = (await runtime!.getJson('nodes')) as { module: string; types: string[]; enabled: boolean; err?: string }[];
    const ours = nodes.filter((n) => n.module === MODULE);
    assert.deepEqual(ours.flatMap((n) => n.types).sort(), nodeTypes());
    for (const set of ours) assert.ok(set.enabled && !set.err, JSON.stringify(set));
  });

  it('serves the icons of the installed module', async () => {
    const res = await runtime!.request(`icons/${MODULE}/atvlink-tv.svg`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<svg/);
  });

  it('runs a flow: a command reaches the simulator', async () => {
    // Credentials travel in the deploy body, as the editor sends them.
    await runtime!.deploy([
      { id: 'tab', type: 'tab', label: 'tarball' },
      { id: 'dev', type: 'atvlink-device', name: 'Tarball TV', host: '127.0.0.1', dmapPort: String(sim!.dmapPort), credentials: { dmap: DEMO_DMAP_CREDENTIALS } },
      { id: 'inj', type: 'inject', z: 'tab', payload: 'play', payloadType: 'str', once: true, onceDelay: 0.5, wires: [['cmd']] },
      { id: 'cmd', type: 'atvlink-command', z: 'tab', device: 'dev', command: '', wires: [[]] },
    ]);
    const deadline = Date.now() + 15_000;
    while (sim!.state.status !== 'playing' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(sim!.state.status, 'playing');
  });
});
