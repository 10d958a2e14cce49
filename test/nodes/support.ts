/**
 * Shared harness of the Node-RED node tests: the test helper pointed at the Node-RED under
 * test (`ATV_NODE_RED`, default the `node-red` devDependency; `node-red-5` for the Node 22
 * leg), our node modules, a simulator on loopback, and recorders for messages and statuses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node, NodeMessage } from 'node-red';
import helper from 'node-red-node-test-helper';
import { pair } from '../../lib/core/pairing';
import { Simulator, DEMO_DMAP_CREDENTIALS, type SimulatorOptions, type DmapSimulatorServer, type MrpSimulatorServer } from '../../lib/simulator';
import artworkNode from '../../nodes/atvlink-artwork/atvlink-artwork';
import commandNode from '../../nodes/atvlink-command/atvlink-command';
import deviceNode from '../../nodes/atvlink-device/atvlink-device';
import discoverNode from '../../nodes/atvlink-discover/atvlink-discover';
import playNode from '../../nodes/atvlink-play/atvlink-play';
import playstatusNode from '../../nodes/atvlink-playstatus/atvlink-playstatus';
import propertyNode from '../../nodes/atvlink-property/atvlink-property';
import powerNode from '../../nodes/atvlink-power/atvlink-power';
import appsNode from '../../nodes/atvlink-apps/atvlink-apps';
import keyboardNode from '../../nodes/atvlink-keyboard/atvlink-keyboard';
import { REPO_ROOT } from '../support/paths';

export const NODE_RED_PACKAGE = process.env.ATV_NODE_RED || 'node-red';
helper.init(require.resolve(NODE_RED_PACKAGE));
// Fast reconnects keep the restart tests short (the fastest the config node allows);
// production defaults are 1 s .. 60 s.
export const TEST_RETRY = { initial: 250, max: 1000 };
helper.settings({ atvlinkDeviceRetry: TEST_RETRY } as Record<string, unknown>);

export { helper };
export const ALL_NODES = [deviceNode, discoverNode, commandNode, propertyNode, artworkNode, playstatusNode, playNode, powerNode, appsNode, keyboardNode];
export { DEMO_DMAP_CREDENTIALS };

export const TAB = 'f1';

/** The Dashboard 2 examples' folder: these may use ui-* nodes (a devDependency, never a runtime one). */
export const DASHBOARD_DIR = 'dashboard-2';

/** Every example flow, sub-folders included (file: the path under examples/). */
export function examples(): { file: string; nodes: FlowNode[] }[] {
  const root = join(REPO_ROOT, 'examples');
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
    );
  return walk('')
    .sort()
    .map((file) => ({ file, nodes: JSON.parse(readFileSync(join(root, file), 'utf8')) as FlowNode[] }));
}

export type FlowNode = Record<string, unknown> & { id: string; type: string };

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new Simulator({ name: 'Test TV', host: '127.0.0.1', ...options });
  await sim.start();
  return sim;
}

export function dmapStats(sim: Simulator): ReturnType<DmapSimulatorServer['stats']> {
  return (sim.server('dmap') as DmapSimulatorServer).stats();
}

export function mrpStats(sim: Simulator): ReturnType<MrpSimulatorServer['stats']> {
  return sim.server('mrp')!.stats();
}

/** The PIN the MRP simulators of these tests show (fixed, so pairing needs no 'pin' event). */
export const MRP_TEST_PIN = '1234';

/** An MRP simulator (MRP only unless `protocols` says otherwise) with a fixed PIN. */
export function startMrpSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  return startSimulator({ protocols: ['mrp'], pin: MRP_TEST_PIN, ...options });
}

/**
 * Pairs with the simulator over MRP, as `atvlink pair --protocol mrp` does, and returns the
 * credentials (pyatv's format). Costs a 3072-bit SRP exchange: once per test file.
 */
export async function pairMrp(sim: Simulator): Promise<string> {
  const pairing = pair('mrp', { config: sim.config(), name: 'Node-RED tests', timeout: 10_000 });
  try {
    await pairing.begin();
    pairing.setPin(sim.pin!);
    return await pairing.finish();
  } finally {
    await pairing.close();
  }
}

/** A device config node pointing at the simulator's MRP port only. */
export function mrpDeviceConfig(sim: Simulator, id = 'dev1', extra: Record<string, unknown> = {}): FlowNode {
  return { id, type: 'atvlink-device', name: 'Test TV', host: '127.0.0.1', mrpPort: String(sim.mrpPort), ...extra };
}

/** A device config node pointing at the simulator by manual host and port. */
export function deviceConfig(sim: Simulator, id = 'dev1', extra: Record<string, unknown> = {}): FlowNode {
  return { id, type: 'atvlink-device', name: 'Test TV', host: '127.0.0.1', dmapPort: String(sim.dmapPort), ...extra };
}

export function demoCredentials(id = 'dev1'): Record<string, { dmap: string }> {
  return { [id]: { dmap: DEMO_DMAP_CREDENTIALS } };
}

/**
 * A flow on one tab with `nodes` plus a Status node and a Catch node feeding the helper
 * nodes `statuses` and `caught`.
 */
export function flow(nodes: FlowNode[]): FlowNode[] {
  // The Status node first: a status set while a node is constructed reaches only the
  // Status nodes that already exist.
  return [
    { id: TAB, type: 'tab', label: 'test' },
    { id: 'statuses', type: 'helper', z: TAB, wires: [] },
    { id: 'status-all', type: 'status', z: TAB, scope: null, wires: [['statuses']] },
    { id: 'caught', type: 'helper', z: TAB, wires: [] },
    { id: 'catch-all', type: 'catch', z: TAB, scope: null, uncaught: false, wires: [['caught']] },
    ...nodes.map((n) => (n.type === 'atvlink-device' ? n : { z: TAB, wires: [], ...n })),
  ];
}

/** Keeps every message a helper node receives and lets a test wait for one. */
export class Recorder {
  readonly items: NodeMessage[] = [];
  private waiters: { pred: (m: NodeMessage) => boolean; since: number; resolve: (m: NodeMessage) => void }[] = [];

  constructor(node: Node) {
    node.on('input', (msg: NodeMessage) => {
      this.items.push(msg);
      for (const w of [...this.waiters]) {
        if (w.pred(msg)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
    });
  }

  /** Where the next message will land; pass it as `since` to ignore older ones. */
  mark(): number {
    return this.items.length;
  }

  waitFor(pred: (m: NodeMessage) => boolean, what: string, timeout = 5000, since = 0): Promise<NodeMessage> {
    const seen = this.items.slice(since).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        since,
        resolve: (m: NodeMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; got ${JSON.stringify(this.items.slice(since).slice(-5))}`));
      }, timeout);
      this.waiters.push(waiter);
    });
  }
}

export interface StatusMessage extends NodeMessage {
  status: { fill?: string; shape?: string; text?: string; source: { id: string; type: string } };
}

/**
 * Every status a node set, including those set while it was constructed (which no Status
 * node can see): read from the helper's spy on `Node.prototype.status`.
 */
export function statusCalls(id: string): string[] {
  const spy = (helper as unknown as { _NodePrototype: { status: { getCalls(): { thisValue: { id: string }; args: [{ text?: string }] }[] } } })
    ._NodePrototype.status;
  return spy
    .getCalls()
    .filter((c) => c.thisValue.id === id)
    .map((c) => c.args[0]?.text ?? '');
}

/** The latest status text of each node, as the Status node reported it. */
export function latestStatus(statuses: Recorder, id: string): string | undefined {
  const mine = (statuses.items as StatusMessage[]).filter((m) => m.status.source.id === id);
  return mine[mine.length - 1]?.status.text;
}

/** Waits until every node in `ids` reports a status text satisfying `pred` (after `since`). */
export async function waitForStatus(
  statuses: Recorder,
  ids: string[],
  pred: (text: string) => boolean,
  what: string,
  timeout = 8000,
  since = 0,
): Promise<void> {
  await Promise.all(
    ids.map((id) =>
      statuses.waitFor(
        (m) => (m as StatusMessage).status.source.id === id && pred((m as StatusMessage).status.text ?? ''),
        `${id} to show ${what}`,
        timeout,
        since,
      ),
    ),
  );
}

/** Connected and well: "connected" ("connected (AirPlay)" through the tunnel), or what a node kind shows then (what plays, the last command, value or artwork). */
export const isConnected = (text: string): boolean =>
  text === 'atvlink-device.status.connected' ||
  text === 'atvlink-device.status.connectedVia' ||
  /^atvlink-(playstatus|command|property|artwork)\.status\./.test(text);

/** Connected over some protocols while another failed: "also pair MRP" or "without MRP". */
export const isPartlyConnected = (text: string): boolean =>
  text === 'atvlink-device.status.connectedPair' || text === 'atvlink-device.status.connectedWithout';

export { sleep, until } from '../support/wait';
