#!/usr/bin/env node
// `npm start`: a newcomer's first taste, with no Apple TV. Builds the package, takes the
// editor's port (first, so the simulator's ephemeral ports can never be it), starts the
// simulator on 127.0.0.1 (no multicast: it answers DNS-SD only on a unicast port, which the
// demo's settings.js tells our nodes to ask as well, so Scan, the discover node and the
// examples find it), makes a throw-away Node-RED user directory, deploys a demo flow against
// the simulator and, when @flowfuse/node-red-dashboard is installed (a devDependency), the
// Dashboard 2 remote example; and serves a "simulated TV" page that shows the pairing PINs
// the TV would show and takes the PIN a DMAP remote shows, so pairing from the editor works
// with a browser only. Ctrl-C, or a failure at any step, stops Node-RED and the simulator
// and removes the user directory (it holds a credentials file).
//
// The demo device is one MODE of the table below. The default is the modern case: an Apple
// TV 4K on tvOS 18 that serves AirPlay (MRP travels through its tunnel) and Companion (power,
// apps, keyboard); the demo pairs with both in-process (the library's pair() with the fixed
// demo PIN) and its device node uses those two only. That simulator serves DMAP too, which a
// real tvOS 18 Apple TV does not: the examples cannot carry credentials, and DMAP with the
// simulator's Home Sharing id is the one login that needs none, so they connect as they are
// (and show that AirPlay or Companion could be paired). `--dmap` (an Apple TV 3) and `--mrp`
// (an Apple TV 4K on tvOS 14, MRP on its own port) keep the older demos.
//
//   npm start -- --mrp               another mode (or ATV_DEMO_PROTOCOL=mrp npm start)
//   PORT=1881 npm start            editor port (default 1880, or the next free one)
//   ATV_DEMO_HOST=0.0.0.0 npm start  let other machines open the editor (default 127.0.0.1);
//                                    it has no password: anyone who reaches it runs code here
//   ATV_DEMO_DMAP_PORT, ATV_DEMO_MRP_PORT, ATV_DEMO_AIRPLAY_PORT, ATV_DEMO_COMPANION_PORT
//                                    simulator ports (default 3689, 49152, 7000 and 49153
//                                    when free, else any; 0 = any)
//   --no-build                       skip the build (dist/ is up to date)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mountSimulatedTv } from './demo-tv.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const uiHost = process.env.ATV_DEMO_HOST || '127.0.0.1';
const nodeRedPackage = process.env.ATV_NODE_RED || 'node-red';
/** The PIN the demo's simulated Apple TV shows for MRP, AirPlay and Companion pairing (a demo, so it is fixed). */
const DEMO_PIN = '1111';

/** The editor is reachable from elsewhere unless it listens on loopback only. */
const exposed = !['127.0.0.1', 'localhost', '::1'].includes(uiHost);
const EXPOSED_WARNING = [
  `WARNING: ATV_DEMO_HOST=${uiHost} opens the Node-RED editor with no password to every machine that`,
  'can reach this one. Anyone there can deploy flows and run code as you (function and exec nodes).',
  'Use it only on a network you trust, and never on a public one; the default 127.0.0.1 is safe.',
];

/**
 * The simulator port of each protocol: the environment variable that sets it, the port taken
 * when that is unset and the port is free (a real device's usual one), and the Simulator option.
 */
const PORTS = {
  dmap: { variable: 'ATV_DEMO_DMAP_PORT', preferred: 3689, option: 'dmapPort' },
  mrp: { variable: 'ATV_DEMO_MRP_PORT', preferred: 49152, option: 'mrpPort' },
  airplay: { variable: 'ATV_DEMO_AIRPLAY_PORT', preferred: 7000, option: 'airplayPort' },
  companion: { variable: 'ATV_DEMO_COMPANION_PORT', preferred: 49153, option: 'companionPort' },
};

/**
 * THE demo modes (the first is the default): what the simulator serves and which of those
 * protocols the demo's device node uses (`uses`; each one the demo pairs with by itself, DMAP
 * with the simulator's demo pairing GUID). A mode per device is one entry here.
 */
const MODES = {
  airplay: {
    protocols: ['dmap', 'airplay', 'companion'],
    uses: ['airplay', 'companion'],
  },
  dmap: {
    protocols: ['dmap'],
    uses: ['dmap'],
  },
  mrp: {
    protocols: ['dmap', 'mrp'],
    uses: ['mrp'],
  },
};
const MODE_NAMES = Object.keys(MODES);

const USAGE = [
  `usage: npm start [-- ${MODE_NAMES.map((m) => `--${m}`).join(' | ')}] [--no-build]`,
  `  environment: PORT, ATV_DEMO_HOST, ATV_DEMO_PROTOCOL=${MODE_NAMES.join('|')}, ${Object.values(PORTS).map((p) => p.variable).join(', ')}`,
  '  WARNING: ATV_DEMO_HOST=0.0.0.0 (or any address other than 127.0.0.1) opens the editor with no password',
  '  to every machine that can reach this one: anyone there can run code as you.',
].join('\n');

function parseArgs(argv) {
  const options = { protocol: (process.env.ATV_DEMO_PROTOCOL || MODE_NAMES[0]).toLowerCase(), build: true };
  for (const arg of argv) {
    if (MODE_NAMES.includes(arg.replace(/^--/, '')) && arg.startsWith('--')) options.protocol = arg.slice(2);
    else if (arg === '--no-build') options.build = false;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`[demo] unknown option ${arg}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (!MODE_NAMES.includes(options.protocol)) {
    console.error(`[demo] ATV_DEMO_PROTOCOL must be ${MODE_NAMES.join(', ')}\n${USAGE}`);
    process.exit(2);
  }
  return options;
}

/** A simulator port: the environment's, else `preferred` when it is free, else any (0). */
async function simulatorPort(variable, preferred) {
  const given = process.env[variable];
  if (given !== undefined && given !== '') {
    const port = Number(given);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw demoError(`${variable} must be a port number from 0 to 65535`);
    return port;
  }
  return (await portFree(preferred, '127.0.0.1')) ? preferred : 0;
}

function log(line) {
  console.log(`[demo] ${line}`);
}

/** Resolves with whether `port` can be bound on `host` right now. */
function portFree(port, host) {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** An error whose message says it all (printed without a stack). */
function demoError(message) {
  return Object.assign(new Error(message), { code: 'DEMO' });
}

/**
 * Listens on `port` (or, when null, the first of 1880.. that is free) and resolves with the
 * port. Binding it is the check: a port found free and bound later could be taken meanwhile.
 */
async function listen(server, port, host) {
  const attempt = (p) =>
    new Promise((resolve, reject) => {
      const fail = (err) => {
        server.off('listening', ok);
        reject(err);
      };
      const ok = () => {
        server.off('error', fail);
        resolve(server.address().port);
      };
      server.once('error', fail);
      server.once('listening', ok);
      server.listen(p, host);
    });
  if (port !== null) {
    return attempt(port).catch((err) => {
      throw err.code === 'EADDRINUSE' ? demoError(`port ${port} (PORT) is in use on ${host} (EADDRINUSE): pick another`) : err;
    });
  }
  for (let p = 1880; p < 1930; p++) {
    try {
      return await attempt(p);
    } catch (err) {
      if (err.code !== 'EADDRINUSE') throw err;
    }
  }
  throw demoError(`no free port from 1880 to 1929 on ${host}: set PORT`);
}

/** "AirPlay and Companion", "MRP": how a list of protocols reads in a sentence. */
function protocolNames(protocols) {
  const label = (p) => ({ dmap: 'DMAP', mrp: 'MRP', airplay: 'AirPlay', companion: 'Companion' })[p] ?? p;
  const names = protocols.map(label);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0];
}

/** What the simulator plays, as a scan reports it: "Apple TV 4K (gen 3) on tvOS 18.1". */
function deviceModel(sim) {
  const { model, operatingSystem, osVersion } = sim.config().deviceInfo;
  return osVersion ? `${model} on ${operatingSystem} ${osVersion}` : model;
}

/**
 * The demo flow: every node of the package wired to core nodes only. `link` says how the
 * device node reaches the simulator: `{ ports: { protocol: port }, credentials: { protocol: … } }`,
 * one entry per protocol the mode's device node uses. The power and apps nodes join when the
 * device node has Companion (the protocol that lists and launches apps).
 */
function demoFlow(sim, mode, link) {
  const model = deviceModel(sim);
  const tab = 'atvlink-demo-tab';
  const device = 'atvlink-demo-device';
  const z = { z: tab };
  const over = protocolNames(mode.uses);
  const companion = mode.uses.includes('companion');
  const button = (id, label, payload, y, target, payloadType = 'str') => ({
    id,
    type: 'inject',
    ...z,
    name: label,
    props: [{ p: 'payload' }],
    payload,
    payloadType,
    repeat: '',
    once: false,
    x: 150,
    y,
    wires: [[target]],
  });
  const debug = (id, name, x, y, status = false) => ({
    id,
    type: 'debug',
    ...z,
    name,
    active: true,
    tosidebar: true,
    console: false,
    tostatus: status,
    complete: 'payload',
    targetType: 'msg',
    statusVal: status ? 'payload' : '',
    statusType: 'auto',
    x,
    y,
    wires: [],
  });
  const deviceNode = {
    id: device,
    type: 'atvlink-device',
    name: sim.name,
    identifier: '',
    host: '127.0.0.1',
    // A port for each protocol the node uses, none for the others (then they are not used).
    ...Object.fromEntries(Object.keys(PORTS).map((p) => [`${p}Port`, link.ports[p] ? String(link.ports[p]) : ''])),
    // Deployed through Node-RED's runtime API, which stores them encrypted in the
    // credentials file, never in flows.json.
    credentials: link.credentials,
  };
  const howPaired = mode.uses.includes('dmap')
    ? 'its demo pairing credential'
    : `the ${over} credentials the demo got by pairing with the simulator (PIN ${DEMO_PIN}, as \`atvlink pair\` would)`;
  const flow = [
    { id: tab, type: 'tab', label: 'Apple TV demo', info: `Talks ${over} to the simulator that \`npm start\` runs on 127.0.0.1 (${model}).` },
    deviceNode,
    {
      id: 'demo-comment',
      type: 'comment',
      ...z,
      name: `Demo: a simulated Apple TV on 127.0.0.1 over ${over} (npm start)`,
      info:
        'Press the buttons on the left, watch the debug sidebar (Ctrl/Cmd-G D).\n\n' +
        `The device config node points at the simulator (${model}) by host and ${over} port${mode.uses.length > 1 ? 's' : ''}, with ${howPaired}, ` +
        'stored as a Node-RED credential. To pair yourself, add a device (any node → the pencil beside Device → Add), press Scan, ' +
        'click the simulated Apple TV and press Pair: the simulated TV (/simulator/ beside the editor) shows the PIN to type, or, for DMAP, ' +
        'takes the PIN the dialog shows under Settings → Remotes. A real Apple TV works the same way. The Dashboard 2 remote is at /dashboard/apple-tv.' +
        (companion ? '\n\nPower and apps go over Companion: turn the TV off and on, list its apps, launch one (the simulated TV page shows the app in front).' : ''),
      x: 250,
      y: 40,
      wires: [],
    },
    button('demo-play-pause', 'play/pause', 'playPause', 100, 'demo-command'),
    button('demo-next', 'next', 'next', 140, 'demo-command'),
    button('demo-previous', 'previous', 'previous', 180, 'demo-command'),
    button('demo-menu', 'menu', 'menu', 220, 'demo-command'),
    {
      id: 'demo-command',
      type: 'atvlink-command',
      ...z,
      name: '',
      device,
      command: '',
      action: 'single',
      x: 390,
      y: 160,
      wires: [['demo-command-debug']],
    },
    debug('demo-command-debug', 'command acknowledged', 610, 160),
    button('demo-volume-30', 'volume 30', '30', 280, 'demo-volume', 'num'),
    button('demo-volume-70', 'volume 70', '70', 320, 'demo-volume', 'num'),
    {
      id: 'demo-volume',
      type: 'atvlink-property',
      ...z,
      name: 'set volume',
      device,
      property: 'volume',
      value: 'payload',
      valueType: 'msg',
      x: 380,
      y: 300,
      wires: [['demo-volume-debug']],
    },
    debug('demo-volume-debug', 'volume now', 590, 300, true),
    {
      id: 'demo-playstatus',
      type: 'atvlink-playstatus',
      ...z,
      name: 'now playing',
      device,
      fields: [],
      initial: true,
      x: 140,
      y: 400,
      wires: [['demo-playstatus-debug']],
    },
    { ...debug('demo-playstatus-debug', 'now playing', 390, 400, true), statusVal: 'payload.title', statusType: 'msg' },
    {
      id: 'demo-title',
      type: 'atvlink-playstatus',
      ...z,
      name: 'title changed',
      device,
      fields: ['title', 'contentIdentifier'],
      initial: true,
      x: 140,
      y: 480,
      wires: [['demo-artwork']],
    },
    {
      id: 'demo-artwork',
      type: 'atvlink-artwork',
      ...z,
      name: '',
      device,
      width: '200',
      height: '',
      output: 'buffer',
      x: 350,
      y: 480,
      wires: [['demo-artwork-debug']],
    },
    { ...debug('demo-artwork-debug', 'artwork', 540, 480), complete: 'true', targetType: 'full' },
    { id: 'demo-scan', type: 'inject', ...z, name: 'scan', props: [{ p: 'payload' }], payload: '', payloadType: 'date', repeat: '', once: false, x: 130, y: 560, wires: [['demo-discover']] },
    {
      id: 'demo-discover',
      type: 'atvlink-discover',
      ...z,
      name: 'find the simulator',
      watch: false,
      // Empty: "the network" (multicast), plus the simulator's responder from settings.js.
      hosts: '',
      port: '',
      interface: '',
      timeout: '1',
      x: 330,
      y: 560,
      wires: [['demo-discover-debug']],
    },
    debug('demo-discover-debug', 'devices', 540, 560),
  ];
  if (!companion) return flow;
  return [
    ...flow,
    button('demo-turn-off', 'turn off', 'off', 640, 'demo-power'),
    button('demo-turn-on', 'turn on', 'on', 680, 'demo-power'),
    {
      id: 'demo-power',
      type: 'atvlink-power',
      ...z,
      name: 'power',
      device,
      action: 'msg',
      // Every change the TV reports (also from its own remote: the simulated TV page), and
      // the state once connected.
      changes: true,
      initial: true,
      x: 370,
      y: 660,
      wires: [['demo-power-debug']],
    },
    debug('demo-power-debug', 'power', 570, 660, true),
    { ...button('demo-list-apps', 'list apps', '', 740, 'demo-apps-list'), payloadType: 'date' },
    {
      id: 'demo-apps-list',
      type: 'atvlink-apps',
      ...z,
      name: 'list apps',
      device,
      action: 'list',
      app: '',
      changes: false,
      x: 370,
      y: 740,
      wires: [['demo-apps-debug']],
    },
    debug('demo-apps-debug', 'apps', 570, 740),
    button('demo-launch-photos', 'Photos', 'com.apple.TVPhotos', 800, 'demo-apps-launch'),
    button('demo-launch-music', 'Music', 'com.apple.TVMusic', 840, 'demo-apps-launch'),
    {
      id: 'demo-apps-launch',
      type: 'atvlink-apps',
      ...z,
      name: 'launch',
      device,
      action: 'launch',
      app: '',
      changes: false,
      x: 360,
      y: 820,
      wires: [['demo-launched-debug']],
    },
    debug('demo-launched-debug', 'launched', 570, 820, true),
  ];
}

/**
 * How the demo's device node reaches the simulator: the port of each protocol the mode uses
 * and its credentials: DMAP's demo pairing GUID, or what pairing with the simulator gives, as
 * `atvlink pair --protocol …` would (the simulator shows the fixed demo PIN). The credentials
 * go into the demo flow's Node-RED credentials only: never printed, never in a file of ours.
 */
async function deviceLink(sim, mode, { DEMO_DMAP_CREDENTIALS }) {
  const { pair } = require(join(root, 'dist', 'lib', 'core', 'pairing.js'));
  const link = { ports: {}, credentials: {} };
  for (const protocol of mode.uses) {
    link.ports[protocol] = sim[PORTS[protocol].option];
    if (protocol === 'dmap') {
      link.credentials.dmap = DEMO_DMAP_CREDENTIALS;
      continue;
    }
    const pairing = pair(protocol, { config: sim.config(), name: 'Node-RED demo', timeout: 10_000 });
    try {
      await pairing.begin();
      pairing.setPin(sim.pin);
      link.credentials[protocol] = await pairing.finish();
    } finally {
      await pairing.close();
    }
  }
  return link;
}

/** A UDP port free on 127.0.0.1 right now. */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** The folder of @flowfuse/node-red-dashboard (a devDependency), or null when it is not installed. */
function dashboardPackage() {
  try {
    return dirname(require.resolve('@flowfuse/node-red-dashboard/package.json', { paths: [root] }));
  } catch {
    return null;
  }
}

/**
 * The Dashboard 2 example under ids of its own (so importing the example into the demo
 * raises no "nodes already exist"), its nodes pointed at the demo's device node (whose
 * protocol is the mode's).
 */
function dashboardFlow(device) {
  const nodes = JSON.parse(readFileSync(join(root, 'examples', 'dashboard-2', 'Apple TV remote.json'), 'utf8')).filter((n) => n.type !== 'atvlink-device');
  const ids = new Map(nodes.map((n) => [n.id, `atvlink-demo-dash-${n.id}`]));
  const exampleDevice = (n) => typeof n.device === 'string' && n.type.startsWith('atvlink-');
  // An id wherever it is: a property (device, group), a wire, a Catch node's scope.
  const mapped = (value) => (Array.isArray(value) ? value.map(mapped) : typeof value === 'string' && ids.has(value) ? ids.get(value) : value);
  return nodes.map((n) => {
    const copy = Object.fromEntries(Object.entries(n).map(([k, v]) => [k, mapped(v)]));
    if (exampleDevice(n)) copy.device = device;
    return copy;
  });
}

/** Resolves once `url` answers 200 (Node-RED answers 503 until it has started). */
async function answering(url) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw demoError(`${url} did not answer within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (exposed) for (const line of EXPOSED_WARNING) log(line);
  if (options.build) {
    log('building ...');
    const built = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet'], { stdio: 'inherit', cwd: root });
    if (built.status !== 0) process.exit(built.status ?? 1);
  }

  // What there is to stop and remove, as far as startup got: every way out (Ctrl-C, a
  // failure anywhere, a normal exit) goes through here, so no simulator keeps running and no
  // user directory with a credentials file is left behind.
  const running = { server: null, RED: null, redStarted: false, sim: null, userDir: null };
  let stopping = false;
  async function stop(reason, code) {
    if (stopping) {
      log('stopping anyway');
      process.exit(1);
    }
    stopping = true;
    log(`${reason}: stopping Node-RED and the simulator ...`);
    const force = setTimeout(() => {
      log('shutdown took more than 20 s; exiting');
      process.exit(1);
    }, 20_000);
    if (running.redStarted) {
      try {
        await running.RED.stop();
      } catch (err) {
        log(`Node-RED stop: ${err.message}`);
      }
    }
    if (running.server?.listening) {
      running.server.closeAllConnections?.();
      await new Promise((resolve) => running.server.close(() => resolve()));
    }
    if (running.sim) await running.sim.stop().catch((err) => log(`simulator stop: ${err.message}`));
    removeUserDir();
    clearTimeout(force);
    log(code === 0 ? 'stopped; bye' : 'stopped');
    process.exit(code);
  }
  function removeUserDir() {
    if (running.userDir) rmSync(running.userDir, { recursive: true, force: true });
    running.userDir = null;
  }
  // Synchronous, so it also runs on a process.exit() from anywhere.
  process.on('exit', removeUserDir);
  process.on('SIGINT', () => void stop('SIGINT', 0));
  process.on('SIGTERM', () => void stop('SIGTERM', 0));

  try {
    // The editor's port first: the simulator's ephemeral ports (port 0) can then never be it.
    const nodeRedMain = require.resolve(nodeRedPackage, { paths: [root] });
    const RED = require(nodeRedMain);
    const express = createRequire(nodeRedMain)('express');
    const app = express();
    running.server = createServer(app);
    const wanted = process.env.PORT ? Number(process.env.PORT) : null;
    if (wanted !== null && !(Number.isInteger(wanted) && wanted >= 0 && wanted <= 65535)) throw demoError('PORT must be a port number from 0 to 65535');
    const port = await listen(running.server, wanted, uiHost);
    const shown = uiHost === '0.0.0.0' ? '127.0.0.1' : uiHost;
    // No URL yet: the editor answers only once Node-RED has started (below).
    log(`editor port ${port} taken on ${uiHost}; starting the simulator and Node-RED ...`);
    running.userDir = mkdtempSync(join(tmpdir(), 'atvlink-demo-'));

    const simulatorModule = require(join(root, 'dist', 'lib', 'simulator', 'index.js'));
    const { Simulator, trackArtwork } = simulatorModule;
    const mode = MODES[options.protocol];
    // Each port its usual one when free (3689 for DACP, 7000 for AirPlay, as a real device
    // has them; MRP and Companion ports are dynamic on a real Apple TV, a stable one makes the
    // CLI lines reusable), else any.
    const ports = {};
    for (const protocol of mode.protocols) ports[PORTS[protocol].option] = await simulatorPort(PORTS[protocol].variable, PORTS[protocol].preferred);
    const paired = mode.uses.filter((p) => p !== 'dmap');
    const sim = new Simulator({
      name: 'Simulated Apple TV',
      host: '127.0.0.1',
      protocols: mode.protocols,
      ...ports,
      ...(paired.length > 0 ? { pin: DEMO_PIN } : {}),
      mdnsPort: 0,
      multicast: false,
      autoplay: true,
    });
    running.sim = sim;
    await sim.start();
    for (const line of sim.describe()) log(line);
    const link = await deviceLink(sim, mode, simulatorModule);
    if (paired.length > 0) log(`paired with the simulator over ${protocolNames(paired)}; the demo device node holds the credentials (not shown)`);
    // From now on a remote pairing is someone at the keyboard: the simulated TV page shows the
    // PIN, as a TV would on its screen; the log says only where to look (no PIN in a log line).
    sim.on('pin', (request) => log(`the simulated TV shows a pairing PIN for "${request.remoteName ?? 'a remote'}" on its page (/simulator/)`));

    // The editor's DMAP pairing announces the remote on loopback, on a UDP port the
    // simulated TV asks (no multicast, as for the simulator itself).
    const announcePort = await freeUdpPort();
    const dashboard = dashboardPackage();
    const settings = {
      userDir: running.userDir,
      uiHost,
      uiPort: port,
      httpAdminRoot: '/',
      httpNodeRoot: '/',
      flowFile: 'flows.json',
      credentialSecret: randomBytes(16).toString('hex'),
      nodesDir: [root, ...(dashboard ? [dashboard] : [])],
      logging: { console: { level: 'info', metrics: false, audit: false } },
      telemetry: { enabled: false, updateNotification: false },
      diagnostics: { enabled: false, ui: false },
      externalModules: { palette: { allowInstall: false } },
      editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
      functionExternalModules: false,
      // Our nodes ask the simulator's unicast DNS-SD responder besides multicast: Scan, the
      // discover node and the examples' devices (looked up by identifier) find it.
      atvlinkDeviceDiscovery: { hosts: [`127.0.0.1:${sim.mdnsPort}`] },
      atvlinkDevicePairing: { interface: '127.0.0.1', multicast: false, announcePort },
    };
    mountSimulatedTv(app, express, sim, { port: announcePort }, { trackArtwork });
    RED.init(running.server, settings);
    running.RED = RED;
    app.use(settings.httpAdminRoot, RED.httpAdmin);
    app.use(settings.httpNodeRoot, RED.httpNode);
    await RED.start();
    running.redStarted = true;
    const flows = [...demoFlow(sim, mode, link), ...(dashboard ? dashboardFlow('atvlink-demo-device') : [])];
    await RED.runtime.flows.setFlows({ flows: { flows }, deploymentType: 'full' });

    const base = `http://${shown}:${port}`;
    const dashboardUrl = `${base}/dashboard/apple-tv`;
    // Print the addresses once they answer, not before (a click would get "Not started").
    await answering(`${base}/`);
    if (dashboard) await answering(dashboardUrl);
    console.log('');
    console.log(`  Node-RED ${RED.version()} with the Apple TV nodes and a simulated Apple TV is running.`);
    console.log(`  The demo flow talks ${protocolNames(mode.uses)} to it, an ${deviceModel(sim)} (${MODE_NAMES.filter((m) => m !== options.protocol).map((m) => `npm start -- --${m}`).join(', ')} for the other modes).`);
    console.log(`  Open the editor:     ${base}/`);
    if (dashboard) console.log(`  Open the dashboard:  ${dashboardUrl}`);
    else console.log('  (no dashboard: npm install @flowfuse/node-red-dashboard for the Dashboard 2 remote)');
    console.log(`  The simulated TV:    ${base}/simulator/ (its PIN screen and Settings → Remotes, for pairing)`);
    if (exposed) for (const line of EXPOSED_WARNING) console.log(`  ${line}`);
    paired.forEach((protocol, i) =>
      console.log(`  ${i === 0 ? 'Pair with it yourself:' : '                      '} npx atvlink pair --protocol ${protocol} --host 127.0.0.1 --port ${sim[PORTS[protocol].option]}`),
    );
    if (paired.length > 0) console.log(`                         (the simulated TV shows PIN ${DEMO_PIN})`);
    console.log(`  User directory:   ${running.userDir} (removed on exit)`);
    console.log('  Press Ctrl-C to stop.');
    console.log('');
  } catch (err) {
    // The library's typed errors (a code) say what to do; anything else gets its stack.
    console.error(`[demo] ${err.code && err.message ? err.message : err.stack || err.message}`);
    await stop('startup failed', 1);
  }
}

main().catch((err) => {
  console.error(`[demo] ${err.stack || err.message}`);
  process.exit(1);
});
