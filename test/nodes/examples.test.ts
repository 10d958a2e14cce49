import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../lib/simulator';
import { REPO_ROOT } from '../support/paths';
import { startNodeRed, type NodeRedRuntime } from './runtime';
import { pair } from '../../lib/core/pairing';
import { DASHBOARD_DIR, DEMO_DMAP_CREDENTIALS, MRP_TEST_PIN, examples, mrpStats, pairMrp, startMrpSimulator, startSimulator, until, type FlowNode } from './support';

const CORE_TYPES = new Set(['tab', 'comment', 'inject', 'debug', 'switch', 'change', 'catch', 'status']);
const MODULE = '@atvlink/node-red-apple-tv';

const ourTypes = Object.keys(
  (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } })['node-red'].nodes,
);

describe('examples/', () => {
  it('has a flow for every non-config node plus a remote control, core nodes only, a Comment each', () => {
    const all = examples();
    assert.ok(all.length >= 6, all.map((e) => e.file).join());
    assert.ok(all.some((e) => /remote control/i.test(e.file)));
    const used = new Set<string>();
    for (const { file, nodes } of all) {
      assert.ok(nodes.some((n) => n.type === 'comment'), `${file}: a Comment node`);
      const dashboard = file.startsWith(`${DASHBOARD_DIR}/`);
      for (const n of nodes) {
        assert.ok(
          CORE_TYPES.has(n.type) || ourTypes.includes(n.type) || (dashboard && n.type.startsWith('ui-')),
          `${file}: ${n.type} is neither core nor ours${dashboard ? ' nor Dashboard 2' : ''}`,
        );
        used.add(n.type);
        assert.ok(!('credentials' in n), `${file}: no credentials in an example`);
      }
      const ids = nodes.map((n) => n.id);
      assert.equal(new Set(ids).size, ids.length, `${file}: unique ids`);
      for (const n of nodes) {
        for (const out of (n.wires as string[][] | undefined) ?? []) for (const target of out) assert.ok(ids.includes(target), `${file}: ${n.id} wired to a missing ${target}`);
        if (typeof n.device === 'string') assert.ok(ids.includes(n.device), `${file}: ${n.id} has its device config`);
      }
    }
    for (const type of ourTypes.filter((t) => t !== 'atvlink-device')) assert.ok(used.has(type), `no example uses ${type}`);
  });

  it('can be imported together: no id is in two examples, and each has its own device node found by identifier', () => {
    // One number per example in the Import menu.
    const numbers = examples().map((e) => /^(\d+) - /.exec(basename(e.file))?.[1]).filter((n) => n !== undefined);
    assert.equal(new Set(numbers).size, numbers.length, `example numbers are unique: ${numbers.join(', ')}`);
    const seen = new Map<string, string>();
    for (const { file, nodes } of examples()) {
      for (const n of nodes) {
        assert.ok(!seen.has(n.id), `${n.id} is in ${seen.get(n.id)} and ${file}: importing both raises "nodes already exist"`);
        seen.set(n.id, file);
      }
      for (const device of nodes.filter((n) => n.type === 'atvlink-device')) {
        // No typed GUID and no fixed address: the device is looked up by its identifier (the
        // simulator's under npm start, which tells Node-RED where it answers DNS-SD).
        assert.match(String(device.identifier), /^[0-9A-F]{16}$/);
        assert.equal(device.host, '', `${file}: no manual host`);
      }
    }
    const dashboard = examples().filter((e) => e.file.startsWith(`${DASHBOARD_DIR}/`));
    assert.equal(dashboard.length, 1, 'a Dashboard 2 example');
    const types = new Set(dashboard[0]!.nodes.map((n) => n.type));
    for (const t of ['ui-template', 'ui-button', 'ui-slider', 'atvlink-artwork', 'atvlink-playstatus', 'atvlink-command', 'atvlink-property']) assert.ok(types.has(t), `the dashboard uses ${t}`);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    assert.ok(pkg.devDependencies['@flowfuse/node-red-dashboard'], 'Dashboard 2 is a devDependency');
    assert.ok(!pkg.dependencies['@flowfuse/node-red-dashboard'], 'never a runtime dependency');
  });

  describe('in a real Node-RED against the simulator', () => {
    let sim: Simulator;
    let red: NodeRedRuntime;

    before(async () => {
      sim = await startSimulator({ mdnsPort: 0 });
      red = await startNodeRed();
    });
    after(async () => {
      await red?.stop();
      await sim?.stop();
    });

    it('lists the examples in Import → Examples', async () => {
      const res = await red.request(`library/examples/flows/${MODULE}`, { headers: { Accept: 'application/json' } });
      assert.equal(res.status, 200);
      const listing = JSON.stringify(await res.json());
      for (const { file } of examples()) {
        const folder = dirname(file);
        // A sub-folder is a sub-menu, listed by its own request.
        const shown = folder === '.' ? listing : JSON.stringify(await (await red.request(`library/examples/flows/${MODULE}/${folder}`, { headers: { Accept: 'application/json' } })).json());
        assert.ok(shown.includes(basename(file).replace(/\.json$/, '')), `${file} listed: ${shown}`);
      }
    });

    it('deploys every example; the remote control flow drives the simulator', async () => {
      let logins = 0;
      sim.on('login', () => logins++);
      // The Dashboard 2 example needs the dashboard's nodes: the npm start tests run it.
      for (const { file, nodes } of examples().filter((e) => !e.file.startsWith(`${DASHBOARD_DIR}/`))) {
        // Point the example at this simulator (and keep discovery on unicast loopback).
        const flows = nodes.map((n) => {
          if (n.type === 'atvlink-device') return { ...n, host: '127.0.0.1', dmapPort: String(sim.dmapPort), credentials: { dmap: DEMO_DMAP_CREDENTIALS } };
          if (n.type === 'atvlink-discover') return { ...n, hosts: '127.0.0.1', port: String(sim.mdnsPort), timeout: '1' };
          return n;
        });
        const loginsBefore = logins;
        await red.deploy(flows);
        const deployed = (await red.getJson('flows')) as { flows: FlowNode[] };
        assert.equal(deployed.flows.length, nodes.length, file);
        if (nodes.some((n) => n.type === 'atvlink-device')) {
          await until(() => logins === loginsBefore + 1, `${file}: one login for the whole flow`, 10_000);
        }
        if (/remote control/i.test(file)) {
          const next = nodes.find((n) => n.type === 'inject' && n.payload === 'next')!;
          sim.state.play();
          const before = sim.state.index;
          const res = await red.request(`inject/${next.id}`, { method: 'POST' });
          assert.equal(res.status, 200);
          await until(() => sim.state.index === before + 1, 'the next button to reach the simulator', 5000);
        }
      }
      assert.ok(!red.output.join('').includes(DEMO_DMAP_CREDENTIALS), 'no credential in the log');
    });

    it('the remote control flow drives an MRP device, home and power buttons included', async () => {
      const mrpSim = await startMrpSimulator({ name: 'Example MRP TV' });
      try {
        const credentials = await pairMrp(mrpSim);
        const { nodes } = examples().find((e) => /remote control/i.test(e.file))!;
        await red.deploy(
          nodes.map((n) =>
            n.type === 'atvlink-device' ? { ...n, host: '127.0.0.1', dmapPort: '', mrpPort: String(mrpSim.mrpPort), credentials: { mrp: credentials } } : n,
          ),
        );
        await until(() => mrpStats(mrpSim).verifiedSessions === 1, 'the example connected over MRP', 10_000);
        const press = async (payload: string) => {
          const button = nodes.find((n) => n.type === 'inject' && n.payload === payload && !(n.props as { p: string }[]).some((p) => p.p === 'action'));
          assert.ok(button, `a ${payload} button`);
          assert.equal((await red.request(`inject/${button.id}`, { method: 'POST' })).status, 200);
        };
        await press('home');
        await until(() => mrpSim.state.lastKey?.name === 'home', 'home to reach the device');
        await press('turnOff');
        await until(() => mrpSim.state.power === 'off', 'the device to turn off', 5000);
        await press('turnOn');
        await until(() => mrpSim.state.power === 'on', 'the device to turn on', 5000);
        const [ltpk, ltsk] = credentials.split(':') as [string, string];
        const everything = red.output.join('') + JSON.stringify(await red.getJson('flows'));
        assert.ok(!everything.includes(ltsk) && !everything.includes(ltpk), 'no MRP credential in the log or the flows');
      } finally {
        await red.deploy([]);
        await mrpSim.stop();
      }
    });

    it('the power and apps, keyboard and play URL examples drive a tvOS 18 Apple TV once AirPlay and Companion are paired', async () => {
      const tv = await startSimulator({ name: 'Example tvOS TV', protocols: ['airplay', 'companion'], pin: MRP_TEST_PIN });
      try {
        const credentials: Record<string, string> = {};
        for (const protocol of ['airplay', 'companion'] as const) {
          const pairing = pair(protocol, { config: tv.config(), name: 'Node-RED tests', timeout: 10_000 });
          try {
            await pairing.begin();
            pairing.setPin(tv.pin!);
            credentials[protocol] = await pairing.finish();
          } finally {
            await pairing.close();
          }
        }
        const chosen = examples().filter((e) => /power and apps|search box|play a url/i.test(e.file));
        assert.equal(chosen.length, 3, chosen.map((e) => e.file).join());
        const nodes = chosen.flatMap((e) => e.nodes);
        await red.deploy(
          nodes.map((n) =>
            n.type === 'atvlink-device'
              ? { ...n, host: '127.0.0.1', airplayPort: String(tv.airplayPort), companionPort: String(tv.companionPort), credentials }
              : n,
          ),
        );
        // The three device nodes each open their session of each protocol (paired, verified).
        await until(
          () => tv.server('companion')!.stats().verifiedSessions >= 3 && tv.server('airplay')!.stats().verifications >= 3,
          'the examples connected over Companion and AirPlay',
          15_000,
        );
        const press = async (name: string) => {
          const button = nodes.find((n) => n.type === 'inject' && n.name === name);
          assert.ok(button, `a "${name}" button`);
          const res = await red.request(`inject/${button.id}`, { method: 'POST' });
          assert.equal(res.status, 200, `${name}: ${await res.text()}`);
        };
        await press('turn off');
        await until(() => tv.state.power === 'off', 'the TV to turn off (Companion)', 10_000);
        await press('turn on');
        await until(() => tv.state.power === 'on', 'the TV to turn on', 10_000);
        tv.state.launchApp('com.apple.TVPhotos');
        await press('Music');
        await until(() => tv.state.app?.bundleId === 'com.apple.TVMusic', 'Music to come to the front', 10_000);
        // A search box opens: the node watching the focus types "news" into it at once.
        tv.state.focusTextField('');
        await until(() => tv.state.text === 'news', `"news" typed as the search box opened (${JSON.stringify(tv.state.text)})`, 10_000);
        await press('search: star wars');
        await until(() => tv.state.text === 'star wars', `the text typed into the search box (${JSON.stringify(tv.state.text)})`, 10_000);
        await press('play this URL');
        await until(() => tv.state.playingUrl === 'https://example.com/movie.mp4', 'the URL to play over AirPlay', 10_000);
        await press('stop');
        await until(() => tv.state.playingUrl === null, 'the playback to stop', 10_000);
        const everything = red.output.join('') + JSON.stringify(await red.getJson('flows'));
        for (const value of Object.values(credentials)) for (const part of value.split(':')) assert.ok(part.length < 16 || !everything.includes(part), 'no credential in the log or the flows');
      } finally {
        await red.deploy([]);
        await tv.stop();
      }
    });
  });
});
