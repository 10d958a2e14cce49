import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../lib/simulator';
import { startNodeRed, type NodeRedRuntime } from './runtime';
import { mrpStats, pairMrp, startMrpSimulator, startSimulator, until } from './support';
import { credentialFlags, nodeTypes } from '../support/node-types';

const SECRET = '0x00000000C0FFEE42';

describe('credentials in a real Node-RED runtime', () => {
  let sim: Simulator;
  let red: NodeRedRuntime;

  before(async () => {
    sim = await startSimulator({ credentials: [SECRET], homeSharing: false });
    red = await startNodeRed();
  });
  after(async () => {
    await red?.stop();
    await sim?.stop();
  });

  it('loads our node types from the checkout', async () => {
    const nodes = (await red.getJson('nodes')) as { module: string; types: string[] }[];
    const ours = nodes.filter((n) => n.module === '@atvlink/node-red-apple-tv').flatMap((n) => n.types);
    assert.deepEqual(ours.sort(), nodeTypes());
    assert.ok(ours.length >= 6);
    const icon = await red.request('icons/@atvlink/node-red-apple-tv/atvlink-remote.svg');
    assert.equal(icon.status, 200, 'the icons are served');
    assert.match(await icon.text(), /<svg/);
  });

  it('keeps the credentials out of the saved flow and the flow API, and uses them', async () => {
    let loggedIn = 0;
    sim.on('login', () => loggedIn++);
    await red.deploy([
      { id: 'tab1', type: 'tab', label: 'demo' },
      {
        id: 'dev1',
        type: 'atvlink-device',
        name: 'Sim',
        host: '127.0.0.1',
        dmapPort: String(sim.dmapPort),
        credentials: { dmap: SECRET, mrp: 'mrp-secret-value' },
      },
      { id: 'ps1', type: 'atvlink-playstatus', z: 'tab1', device: 'dev1', initial: true, wires: [] },
    ]);
    // the deployed flow logged in with the credential it was given
    await until(() => loggedIn === 1, 'a login with the deployed credential', 10_000);

    const flowsFile = readFileSync(join(red.userDir, 'flows.json'), 'utf8');
    assert.match(flowsFile, /atvlink-device/);
    assert.ok(!flowsFile.includes('C0FFEE42'), 'the DMAP credential is not in flows.json');
    assert.ok(!flowsFile.includes('mrp-secret-value'), 'the MRP credential is not in flows.json');
    assert.ok(!/"credentials"/.test(flowsFile));

    const credFile = join(red.userDir, 'flows_cred.json');
    assert.ok(existsSync(credFile), 'Node-RED wrote a credentials file');
    const cred = readFileSync(credFile, 'utf8');
    assert.ok(!cred.includes('C0FFEE42') && !cred.includes('mrp-secret-value'), 'the credentials file is encrypted');
    assert.match(cred, /"\$"/);

    const api = JSON.stringify(await red.getJson('flows'));
    assert.ok(api.includes('atvlink-device'));
    assert.ok(!api.includes('C0FFEE42') && !api.includes('mrp-secret-value'), 'GET /flows has no credential');

    // the editor sees only that a credential is set, never its value
    const editorView = JSON.stringify(await red.getJson('credentials/atvlink-device/dev1'));
    assert.deepEqual(JSON.parse(editorView), credentialFlags('dmap', 'mrp'));
    assert.ok(!red.output.join('').includes('C0FFEE42'), 'not in the runtime log either');
  });

  it('keeps real MRP credentials out of every file and API, and connects with them', async () => {
    const mrpSim = await startMrpSimulator({ name: 'MRP Creds TV' });
    try {
      const credentials = await pairMrp(mrpSim);
      const [ltpk, ltsk] = credentials.split(':') as [string, string];
      await red.deploy([
        { id: 'tab1', type: 'tab', label: 'mrp' },
        { id: 'dev2', type: 'atvlink-device', name: 'MRP', host: '127.0.0.1', mrpPort: String(mrpSim.mrpPort), credentials: { mrp: credentials } },
        { id: 'ps2', type: 'atvlink-playstatus', z: 'tab1', device: 'dev2', initial: true, wires: [] },
      ]);
      await until(() => mrpStats(mrpSim).verifiedSessions === 1, 'a verified MRP session with the deployed credentials', 10_000);

      const leaks = (text: string) => [credentials, ltsk, ltpk, ltsk.toUpperCase()].filter((part) => text.includes(part));
      const flowsFile = readFileSync(join(red.userDir, 'flows.json'), 'utf8');
      assert.match(flowsFile, /"mrpPort"/);
      assert.deepEqual(leaks(flowsFile), [], 'not in flows.json');
      assert.deepEqual(leaks(readFileSync(join(red.userDir, 'flows_cred.json'), 'utf8')), [], 'the credentials file is encrypted');
      assert.deepEqual(leaks(JSON.stringify(await red.getJson('flows'))), [], 'not in GET /flows');
      assert.deepEqual(await red.getJson('credentials/atvlink-device/dev2'), credentialFlags('mrp'));
      assert.deepEqual(leaks(red.output.join('')), [], 'not in the runtime log');
    } finally {
      await red.deploy([]);
      await mrpSim.stop();
    }
  });
});
