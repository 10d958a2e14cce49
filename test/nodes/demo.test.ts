/**
 * `npm start` as a user runs it (without the build step, which the suite did), in its default
 * mode (a simulated tvOS 18 Apple TV the demo paired with over AirPlay and Companion) and in
 * `--mrp`: the demo's Node-RED, seen only through its admin API, the simulated TV page and
 * the editor's comms websocket. The nodes must show connected or playing, the buttons must
 * reach the simulator (their debug messages come back, the TV page shows the change), the
 * examples must connect as they are, and the demo's own credentials must show up nowhere.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../support/paths';
import { freePort } from './runtime';
import { examples, until } from './support';
import type { Protocol } from '../../lib/device/interfaces';
import { credentialFlags } from '../support/node-types';
import { EPHEMERAL_DEMO_PORTS } from '../editor/browser';

/** The bit of the `ws` package (Node-RED's own dependency) these tests use. */
interface CommsSocket {
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  send(text: string): void;
  close(): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const WebSocket = require('ws') as new (url: string) => CommsSocket;

interface CommsMessage {
  topic: string;
  data: { text?: string; name?: string; msg?: string; id?: string; z?: string };
}

/** What the editor would see: every node's latest status text and the debug sidebar. */
class Comms {
  readonly statuses = new Map<string, string>();
  readonly debug: CommsMessage['data'][] = [];
  private readonly socket: CommsSocket;
  readonly opened: Promise<void>;

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.socket.on('open', () => {
        this.socket.send(JSON.stringify({ subscribe: 'status/#' }));
        this.socket.send(JSON.stringify({ subscribe: 'debug' }));
        resolve();
      });
      this.socket.on('error', reject);
    });
    this.socket.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as CommsMessage | CommsMessage[];
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        if (m.topic.startsWith('status/')) this.statuses.set(m.topic.slice('status/'.length), m.data.text ?? '');
        else if (m.topic === 'debug') this.debug.push(m.data);
      }
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** The demo flow's nodes that use the device, and those only the modes with Companion have. */
const DEMO_NODES = ['demo-command', 'demo-volume', 'demo-playstatus', 'demo-title', 'demo-artwork'];
const COMPANION_NODES = ['demo-power', 'demo-apps-list', 'demo-apps-launch'];
/** Connected and well: "connected", or what the node kind shows then (what plays, the last command, value or image). */
const showsConnected = (text: string | undefined) =>
  text === 'connected' || text === 'connected (AirPlay)' || /^(▶|❚❚) .+|^nothing playing$|^sent .+|^\w+: .+|^\d+×\d+ \w+$|^no artwork$/.test(text ?? '');

/** What the simulated TV page reports. */
interface TvState {
  nowPlaying: { title: string };
  volume: number;
  power: string;
  app: { bundleId: string } | null;
}

/** The demo modes tested: how each is started and what its device node must use. */
interface DemoMode {
  title: string;
  args: string[];
  /** The protocols its device node uses (a port and credentials each). */
  uses: Protocol[];
  talks: string;
  /** What a command node of a device node without credentials shows (null: not checked). */
  unpaired: string | null;
  /** Run the long checks too (the examples, power and apps). */
  everything: boolean;
}
const MODES: DemoMode[] = [
  {
    title: 'npm start (default: a tvOS 18 Apple TV over AirPlay and Companion)',
    args: [],
    uses: ['airplay', 'companion'],
    talks: 'AirPlay and Companion',
    unpaired: 'unpaired: AIRPLAY',
    everything: true,
  },
  { title: 'npm start -- --mrp', args: ['--mrp'], uses: ['mrp'], talks: 'MRP', unpaired: 'unpaired: MRP', everything: false },
  { title: 'npm start -- --dmap', args: ['--dmap'], uses: ['dmap'], talks: 'DMAP', unpaired: null, everything: false },
];

for (const mode of MODES) {
  describe(mode.title, () => {
    let child: ChildProcess;
    let output = '';
    let base = '';
    let comms: Comms;
    let exited: Promise<number | null>;
    const v2 = { headers: { 'Node-RED-API-Version': 'v2' } };
    const tv = async () => (await (await fetch(`${base}simulator/state`)).json()) as TvState;
    const press = async (id: string) => assert.equal((await fetch(`${base}inject/${id}`, { method: 'POST' })).status, 200, id);
    const users = mode.uses.includes('companion') ? [...DEMO_NODES, ...COMPANION_NODES] : DEMO_NODES;

    before(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}/`;
      child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'start.mjs'), ...mode.args, '--no-build'], {
        cwd: REPO_ROOT,
        env: { ...process.env, PORT: String(port), ...EPHEMERAL_DEMO_PORTS, ATV_DEMO_HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      await until(() => output.includes('Open the editor') || child.exitCode !== null, 'the demo to start', 60_000);
      assert.equal(child.exitCode, null, output);
      comms = new Comms(`ws://127.0.0.1:${port}/comms`);
      await comms.opened;
    });

    after(async () => {
      comms?.close();
      if (child && child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    });

    it('listens for the editor before the simulator takes any port (no race for the editor port)', () => {
      const lines = output.split('\n');
      const listeningLine = lines.findIndex((l) => /\[demo\] editor port \d+ taken on 127\.0\.0\.1/.test(l));
      const simulatorLine = lines.findIndex((l) => /\[demo\] .*(DMAP|MRP|AirPlay|Companion|DNS-SD)/.test(l));
      assert.ok(listeningLine >= 0, output);
      assert.ok(simulatorLine > listeningLine, `the simulator started before the editor listened:\n${output}`);
    });

    it(`${mode.uses.includes('dmap') ? 'logged in' : 'paired'} with its simulator over ${mode.talks} and deployed the demo flow against those ports only`, async () => {
      // DMAP logs in with the simulator's demo pairing GUID: nothing to pair.
      if (!mode.uses.includes('dmap')) assert.match(output, new RegExp(`paired with the simulator over ${mode.talks}`));
      else assert.doesNotMatch(output, /paired with the simulator|Pair with it yourself/);
      assert.match(output, new RegExp(`The demo flow talks ${mode.talks} to it`));
      for (const protocol of mode.uses.filter((p) => p !== 'dmap')) assert.match(output, new RegExp(`npx atvlink pair --protocol ${protocol} --host 127\\.0\\.0\\.1 --port \\d+`));
      const flows = (await (await fetch(`${base}flows`, v2)).json()) as { flows: Record<string, unknown>[] };
      const device = flows.flows.find((n) => n.type === 'atvlink-device');
      assert.ok(device);
      for (const protocol of ['dmap', 'mrp', 'airplay', 'companion']) {
        if ((mode.uses as string[]).includes(protocol)) assert.match(String(device[`${protocol}Port`]), /^\d+$/, protocol);
        else assert.equal(device[`${protocol}Port`], '', `no ${protocol} port`);
      }
      const credentials = (await (await fetch(`${base}credentials/atvlink-device/${String(device.id)}`)).json()) as Record<string, boolean>;
      assert.deepEqual(credentials, credentialFlags(...mode.uses));
    });

    it('every device node shows connected or playing', async () => {
      await until(() => users.every((id) => showsConnected(comms.statuses.get(id))), `connected statuses (${JSON.stringify([...comms.statuses])})`, 15_000);
    });

    it('the buttons work: next, then volume 30, acknowledged in the debug sidebar', async () => {
      const before = comms.debug.length;
      const title = (d: CommsMessage['data']) => (d.name === 'now playing' ? (JSON.parse(d.msg ?? '{}') as { title?: string }).title : undefined);
      const titles = () => comms.debug.map(title).filter(Boolean);
      // What plays now, as the simulated TV page shows it (the message sent on deploy went out
      // before this test listened).
      const first = (await tv()).nowPlaying.title;

      await press('demo-next');
      await until(() => comms.debug.slice(before).some((d) => d.name === 'command acknowledged' && d.msg === 'next'), 'next acknowledged');
      await until(() => titles().some((t) => t !== first), `the new title pushed over ${mode.talks}`);
      assert.notEqual((await tv()).nowPlaying.title, first, 'the simulated TV plays the next track');

      await press('demo-volume-30');
      await until(() => comms.debug.slice(before).some((d) => d.name === 'volume now' && d.msg === '30'), 'the volume the device reported');
      assert.equal((await tv()).volume, 30);
    });

    if (mode.uses.includes('companion')) {
      it('power and apps over Companion: off, on, the app list, a launch, each reaching the TV', async () => {
        const before = comms.debug.length;
        const said = (name: string, msg: RegExp) => comms.debug.slice(before).some((d) => d.name === name && msg.test(d.msg ?? ''));
        await press('demo-turn-off');
        await until(() => said('power', /^off$/), 'the power node to say off');
        assert.equal((await tv()).power, 'off', 'the simulated TV is off');
        await press('demo-turn-on');
        await until(() => said('power', /^on$/), 'the power node to say on');
        assert.equal((await tv()).power, 'on');
        await press('demo-list-apps');
        await until(() => said('apps', /Photos/), 'the app list in the debug sidebar');
        await press('demo-launch-photos');
        await until(() => said('launched', /com\.apple\.TVPhotos/), 'the launch acknowledged');
        assert.equal((await tv()).app?.bundleId, 'com.apple.TVPhotos', 'Photos in front on the simulated TV');
        await press('demo-launch-music');
        await until(() => said('launched', /com\.apple\.TVMusic/), 'Music launched again');
      });
    }

    // (DMAP: the demo device logs in with a GUID the simulator accepts, nothing to pair.)
    if (mode.unpaired !== null) {
      it(`a device node without credentials shows "${mode.unpaired}" (translated, within 20 characters)`, async () => {
        const flows = (await (await fetch(`${base}flows`, v2)).json()) as { flows: Record<string, unknown>[] };
        const device = flows.flows.find((n) => n.type === 'atvlink-device')!;
        const tab = flows.flows.find((n) => n.type === 'tab')!;
        const added = [
          { ...device, id: 'unpaired-device', name: 'Unpaired' },
          { id: 'unpaired-command', type: 'atvlink-command', z: tab.id, device: 'unpaired-device', command: 'play', x: 100, y: 900, wires: [] },
        ];
        const res = await fetch(`${base}flows`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'nodes' },
          body: JSON.stringify({ flows: [...flows.flows, ...added] }),
        });
        assert.equal(res.status, 200, await res.text());
        await until(() => comms.statuses.get('unpaired-command') === mode.unpaired, `the status (${comms.statuses.get('unpaired-command')})`, 10_000);
      });
    }

    if (mode.everything) {
      it('takes every example as it is: no GUID to type, no id conflict, their nodes connect, the discover example finds the simulator', async () => {
        const deployed = ((await (await fetch(`${base}flows`, v2)).json()) as { flows: { id: string }[] }).flows;
        const all = examples().flatMap((e) => e.nodes);
        for (const n of all) assert.ok(!deployed.some((d) => d.id === n.id), `${n.id} is deployed already: importing it would raise "nodes already exist"`);
        const res = await fetch(`${base}flows`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'nodes' },
          body: JSON.stringify({ flows: [...deployed, ...all] }),
        });
        assert.equal(res.status, 200, await res.text());
        // The examples' devices are found by identifier (the simulator's responder is in the
        // demo's settings.js) and log in over DMAP with its Home Sharing id: connected. An
        // example cannot carry credentials, so the protocols the simulator offers besides
        // (AirPlay, here) show as "also pair …": the nodes needing them say so.
        const exampleUsers = all.filter((n) => n.type.startsWith('atvlink-') && typeof n.device === 'string').map((n) => n.id);
        const fine = (id: string) => showsConnected(comms.statuses.get(id)) || /^also pair /.test(comms.statuses.get(id) ?? '');
        await until(() => exampleUsers.every(fine), `every example node connected (${JSON.stringify(exampleUsers.map((id) => [id, comms.statuses.get(id)]))})`, 20_000);
        const watcher = all.find((n) => n.type === 'atvlink-discover' && n.watch !== false)!;
        await until(() => /^1 device/.test(comms.statuses.get(watcher.id) ?? ''), `the watching discover node sees the simulator (${comms.statuses.get(watcher.id)})`, 15_000);
        const scanButton = all.find((n) => n.type === 'inject' && (n.wires as string[][])[0]?.some((w) => all.find((m) => m.id === w)?.type === 'atvlink-discover'))!;
        const before = comms.debug.length;
        await press(scanButton.id);
        await until(() => comms.debug.slice(before).some((d) => d.name === 'devices found' && /Simulated Apple TV/.test(d.msg ?? '')), 'the scan to find the simulator', 15_000);
        // A Companion example before pairing: its power button says what to pair, in the sidebar.
        const turnOff = all.find((n) => n.type === 'inject' && n.name === 'turn off' && String(n.z).startsWith('atvlink-ex-'))!;
        const errorsBefore = comms.debug.length;
        await press(turnOff.id);
        // power: Companion (never tried without credentials) and AirPlay (refused) could both do it
        await until(() => comms.debug.slice(errorsBefore).some((d) => /COMPANION, AIRPLAY is not paired/.test(d.msg ?? '')), 'the power example to say what to pair', 10_000);
        assert.equal((await tv()).power, 'on', 'the TV stays on');
        // the app list: only Companion can, so only Companion is named
        const listApps = all.find((n) => n.type === 'inject' && n.name === 'list apps' && String(n.z).startsWith('atvlink-ex-'))!;
        const appsBefore = comms.debug.length;
        await press(listApps.id);
        await until(() => comms.debug.slice(appsBefore).some((d) => /appList.{0,12} over dmap; COMPANION is not paired/.test(d.msg ?? '')), 'the apps example to name Companion', 10_000).catch((err: Error) => {
          throw new Error(`${err.message}: ${JSON.stringify(comms.debug.slice(appsBefore))}`);
        });
        assert.ok(!comms.debug.slice(appsBefore).some((d) => /AIRPLAY/.test(d.msg ?? '')), 'AirPlay cannot list apps: not named');
      });
    }

    it('shows no credential and stops cleanly on Ctrl-C, removing its user directory', async () => {
      const userDir = /User directory: +(\S+)/.exec(output)?.[1];
      assert.ok(userDir && existsSync(userDir), output);
      child.kill('SIGINT');
      assert.equal(await exited, 0, output);
      assert.match(output, /stopped; bye/);
      assert.ok(!existsSync(userDir), 'the user directory is gone');
      // HAP keys are 64 hex digits; the demo GUIDs are far shorter
      assert.doesNotMatch(output, /[0-9a-f]{64}/i, 'no key or credential in the output');
    });
  });
}

/** Runs `npm start` (no build) to its end with `env`; its own temporary directory is `tmp`. */
function runDemo(env: Record<string, string>, args: string[] = []): { code: number | null; output: string; leftovers: string[] } {
  const tmp = mkdtempSync(join(tmpdir(), 'atvlink-demo-test-'));
  try {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'start.mjs'), '--no-build', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...EPHEMERAL_DEMO_PORTS, ATV_DEMO_HOST: '127.0.0.1', ...env, TMPDIR: tmp },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: run.status, output: `${run.stdout}${run.stderr}`, leftovers: readdirSync(tmp) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function occupy(host: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

describe('npm start: startup failures, the port race and the exposed editor', () => {
  it('the editor port taken: fails with a clear message and leaves no user directory (with its credentials) behind', async () => {
    const { server, port } = await occupy('127.0.0.1');
    try {
      const run = runDemo({ PORT: String(port) });
      assert.notEqual(run.code, 0, run.output);
      assert.match(run.output, /EADDRINUSE|in use/);
      assert.deepEqual(run.leftovers, [], `left behind: ${run.leftovers.join(', ')}\n${run.output}`);
    } finally {
      server.close();
    }
  });

  it('the simulator port taken: fails after the editor started, and still removes the user directory', async () => {
    const { server, port } = await occupy('127.0.0.1');
    try {
      const run = runDemo({ PORT: String(await freePort()), ATV_DEMO_DMAP_PORT: String(port) });
      assert.notEqual(run.code, 0, run.output);
      assert.match(run.output, /EADDRINUSE|in use/);
      assert.deepEqual(run.leftovers, [], `left behind: ${run.leftovers.join(', ')}\n${run.output}`);
    } finally {
      server.close();
    }
  });

  it('the usage warns loudly that ATV_DEMO_HOST=0.0.0.0 opens an editor without a password', () => {
    const run = runDemo({}, ['--help']);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /WARNING.*0\.0\.0\.0.*(no password|without a password)/is);
  });

  it(
    'ATV_DEMO_HOST=0.0.0.0 warns at start, before the editor listens',
    { skip: process.env.ATV_TEST_NETNS === '1' ? false : 'listens on every interface: only inside a private network namespace (npm test makes one when run as root)' },
    async () => {
      // the port is taken, so the demo stops right after the point where it would listen
      const { server, port } = await occupy('0.0.0.0');
      try {
        const run = runDemo({ PORT: String(port), ATV_DEMO_HOST: '0.0.0.0' });
        assert.notEqual(run.code, 0, run.output);
        const warning = run.output.search(/WARNING.*0\.0\.0\.0/);
        assert.ok(warning >= 0, run.output);
        assert.ok(warning < run.output.search(/EADDRINUSE|in use/), run.output);
        assert.deepEqual(run.leftovers, []);
      } finally {
        server.close();
      }
    },
  );
});
