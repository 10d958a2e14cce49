import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../lib/simulator';
import { REPO_ROOT } from '../support/paths';
import { startNodeRed, type NodeRedRuntime } from './runtime';
import { DEMO_DMAP_CREDENTIALS, mrpStats, pairMrp, startMrpSimulator, startSimulator, until, type FlowNode } from './support';

const EXAMPLES = join(REPO_ROOT, 'examples');
const CORE_TYPES = new Set(['tab', 'comment', 'inject', 'debug', 'switch', 'change', 'catch', 'status']);
const MODULE = '@atvlink/node-red-apple-tv';

function examples(): { file: string; nodes: FlowNode[] }[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, nodes: JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as FlowNode[] }));
}

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
      for (const n of nodes) {
        assert.ok(CORE_TYPES.has(n.type) || ourTypes.includes(n.type), `${file}: ${n.type} is neither core nor ours`);
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
      for (const { file } of examples()) assert.ok(listing.includes(file.replace(/\.json$/, '')), `${file} listed: ${listing}`);
    });

    it('deploys every example; the remote control flow drives the simulator', async () => {
      let logins = 0;
      sim.on('login', () => logins++);
      for (const { file, nodes } of examples()) {
        // Point the example at this simulator (and keep discovery on unicast loopback).
        const flows = nodes.map((n) => {
          if (n.type === 'atvlink-device') return { ...n, dmapPort: String(sim.dmapPort), credentials: { dmap: DEMO_DMAP_CREDENTIALS } };
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
            n.type === 'atvlink-device' ? { ...n, dmapPort: '', mrpPort: String(mrpSim.mrpPort), credentials: { mrp: credentials } } : n,
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
  });
});
