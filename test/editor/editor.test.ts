/**
 * The editor in a real browser (Debian's Chromium driven by playwright-core): our palette
 * category and node types, the command dropdown filled from the library's command table
 * (and a Done pressed before such a list arrived keeping the saved choices),
 * the device config dialog (DMAP and MRP ports and credentials), a deploy from the editor,
 * the status text against the simulator (an Apple TV 4K serving DMAP and MRP), and no
 * credential coming back from the flow API.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { COMMANDS } from '../../lib/device/commands';
import type { Simulator } from '../../lib/simulator';
import { startNodeRed, type NodeRedRuntime } from '../nodes/runtime';
import { DEMO_DMAP_CREDENTIALS, mrpStats, pairMrp, startMrpSimulator, type FlowNode } from '../nodes/support';
import { skipOutsideCi } from '../support/ci';
import { credentialFlags } from '../support/node-types';

const CHROMIUM = process.env.ATV_CHROMIUM ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`;
const skip = skipOutsideCi(missing);
if (skip) console.log(`# editor tests skipped: ${skip}`);

// The flags known to work on this kind of machine: no GPU, no sandbox as root, and no
// background connections (the closed network refuses them, many at a time).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

declare const RED: {
  nodes: {
    getType(type: string): unknown;
    node(id: string): { id: string; type: string; [k: string]: unknown } | null;
    eachConfig(cb: (n: { id: string; type: string }) => void): void;
    dirty(): boolean;
  };
  editor: { edit(node: unknown): void };
  view: { importNodes(nodes: unknown[], options?: Record<string, unknown>): void; redraw(full?: boolean): void };
  actions: { invoke(name: string): void };
  workspaces: { active(): string };
};

describe('the editor in Chromium', { skip }, () => {
  let sim: Simulator;
  let red: NodeRedRuntime;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let mrpCredentials: string;
  const consoleErrors: string[] = [];

  before(async () => {
    sim = await startMrpSimulator({ name: 'Editor TV', protocols: ['dmap', 'mrp'], mdnsPort: 0 });
    mrpCredentials = await pairMrp(sim);
    red = await startNodeRed();
    const { chromium } = await import('playwright-core');
    profile = mkdtempSync(join(tmpdir(), 'atvlink-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    await page.goto(red.url);
    await page.waitForFunction(() => typeof RED !== 'undefined' && !!RED.nodes && !!RED.nodes.getType('atvlink-command'), null, { timeout: 30_000 });
    await page.waitForSelector('.red-ui-palette-node[data-palette-type="atvlink-command"]', { timeout: 15_000 });
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await red?.stop();
    await sim?.stop();
  });

  it('shows the Apple TV palette category with our flow nodes', async () => {
    const types = await page.$$eval('.red-ui-palette-node[data-palette-type^="atvlink-"]', (els) =>
      els.map((e) => e.getAttribute('data-palette-type')),
    );
    assert.deepEqual([...types].sort(), [
      'atvlink-apps',
      'atvlink-artwork',
      'atvlink-command',
      'atvlink-discover',
      'atvlink-keyboard',
      'atvlink-play',
      'atvlink-playstatus',
      'atvlink-power',
      'atvlink-property',
    ]);
    const headers = await page.$$eval('.red-ui-palette-header', (els) => els.map((e) => e.textContent?.trim() ?? ''));
    assert.ok(headers.some((h) => /apple tv/i.test(h)), headers.join(' | '));
    // the icons load (an icon missing from the package shows as a broken image)
    const icon = await page.$eval('.red-ui-palette-node[data-palette-type="atvlink-command"] .red-ui-palette-icon', (el) =>
      getComputedStyle(el).backgroundImage,
    );
    assert.match(icon, /atvlink-remote\.svg/);
  });

  it('lists the command table in the command dropdown', async () => {
    await page.evaluate(() => {
      RED.view.importNodes([{ id: 'ed-cmd', type: 'atvlink-command', x: 300, y: 120, name: '', device: '', command: 'next', action: 'single', wires: [] }], {
        generateIds: false,
        touchImport: true,
      });
      RED.editor.edit(RED.nodes.node('ed-cmd'));
    });
    await page.waitForSelector('#node-input-command optgroup option', { state: 'attached', timeout: 10_000 });
    await page.waitForFunction(() => (document.querySelector('#node-input-action') as HTMLSelectElement | null)?.options.length === 3);
    const options = await page.$$eval('#node-input-command option', (els) => els.map((e) => (e as HTMLOptionElement).value));
    assert.deepEqual(
      options.filter(Boolean),
      COMMANDS.map((c) => c.name),
    );
    assert.equal(options[0], '', 'first: take the command from the message');
    assert.equal(await page.$eval('#node-input-command', (el) => (el as HTMLSelectElement).value), 'next', 'keeps the saved choice');
    const presses = await page.$$eval('#node-input-action option', (els) => els.map((e) => (e as HTMLOptionElement).value));
    assert.deepEqual(presses, ['single', 'double', 'hold']);
  });

  it('adds a device in the config dialog, deploys, and shows connected against the simulator', async () => {
    // no device yet: the select offers "Add new Apple TV device..."; the + button opens it
    assert.match(await page.$eval('#node-input-device', (el) => el.textContent ?? ''), /Add new Apple TV device/);
    await page.click('#node-input-btn-device-add');
    await page.waitForSelector('#node-config-input-host', { state: 'visible', timeout: 10_000 });
    // Scan asks the simulator's unicast DNS-SD port through our admin route; picking the
    // device fills in name, identifier, host and port
    await page.fill('#node-config-input-scanHost', `127.0.0.1:${sim.mdnsPort}`);
    await page.click('#node-config-input-scan');
    await page.waitForFunction(() => ((document.querySelector('#node-config-input-found') as HTMLSelectElement | null)?.options.length ?? 0) > 1, null, {
      timeout: 10_000,
    });
    await page.selectOption('#node-config-input-found', '0');
    assert.equal(await page.inputValue('#node-config-input-name'), 'Editor TV');
    assert.equal(await page.inputValue('#node-config-input-identifier'), sim.config().identifier);
    assert.equal(await page.inputValue('#node-config-input-host'), '127.0.0.1');
    assert.equal(await page.inputValue('#node-config-input-dmapPort'), String(sim.dmapPort));
    assert.equal(await page.inputValue('#node-config-input-mrpPort'), String(sim.mrpPort), 'the MRP port the scan found');
    await page.fill('#node-config-input-dmap', DEMO_DMAP_CREDENTIALS);
    assert.equal(await page.getAttribute('#node-config-input-dmap', 'type'), 'password', 'the credential is masked');
    await page.click('#node-config-dialog-ok');
    await page.waitForSelector('#node-config-input-host', { state: 'detached', timeout: 10_000 });
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-input-command', { state: 'detached', timeout: 10_000 });

    const loginsBefore = (sim.server('dmap') as unknown as { stats(): { logins: number } }).stats().logins;
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 15_000 });
    const label = page.locator('.red-ui-flow-node-status-label');
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('.red-ui-flow-node-status-label')).some((e) => /connected|playing/.test(e.textContent ?? '')),
      null,
      { timeout: 15_000 },
    );
    const text = (await label.allTextContents()).join(' | ');
    // Scan filled in the MRP port too, and only DMAP has credentials yet: connected over DMAP,
    // and the status says MRP wants pairing (within Node-RED's 20 characters)
    assert.equal(text, 'connected; pair MRP');
    assert.equal((sim.server('dmap') as unknown as { stats(): { logins: number } }).stats().logins, loginsBefore + 1);
  });

  it('gets no credential back from the flow API after the deploy', async () => {
    const flows = (await red.getJson('flows')) as { flows: FlowNode[] };
    const device = flows.flows.find((n) => n.type === 'atvlink-device');
    assert.ok(device, 'the device config node was deployed');
    assert.equal(device.host, '127.0.0.1');
    const json = JSON.stringify(flows);
    assert.ok(!json.includes(DEMO_DMAP_CREDENTIALS), 'no credential in GET /flows');
    const fromPage = await page.evaluate(async () => (await fetch('flows', { headers: { 'Node-RED-API-Version': 'v2' } })).text());
    assert.ok(!fromPage.includes(DEMO_DMAP_CREDENTIALS), 'nor as the editor fetches it');
    assert.deepEqual(consoleErrors.filter((e) => /atvlink/i.test(e)), [], 'no editor errors from our nodes');
  });

  it('shows the MRP port and the MRP credential field, labelled and explained', async () => {
    await page.evaluate(() => RED.editor.edit(RED.nodes.node('ed-cmd')));
    // the pencil beside the device select (its id changed between Node-RED versions)
    const pencil = '#node-input-btn-device-edit, #node-input-lookup-device';
    await page.waitForSelector(pencil, { state: 'visible', timeout: 10_000 });
    await page.click(pencil);
    await page.waitForSelector('#node-config-input-mrpPort', { state: 'visible', timeout: 10_000 });
    assert.equal(await page.inputValue('#node-config-input-mrpPort'), String(sim.mrpPort), 'the saved MRP port');
    assert.match(await page.textContent('label[for="node-config-input-mrpPort"]') ?? '', /MRP port/);
    assert.match(await page.getAttribute('#node-config-input-mrpPort', 'placeholder') ?? '', /empty: ask the host/);
    assert.ok(await page.isVisible('#node-config-input-mrp'), 'the MRP credential field');
    assert.equal(await page.getAttribute('#node-config-input-mrp', 'type'), 'password', 'masked');
    assert.match(await page.textContent('label[for="node-config-input-mrp"]') ?? '', /MRP/);
    assert.match(await page.getAttribute('#node-config-input-mrp', 'placeholder') ?? '', /ltpk:ltsk:atv_id:client_id.*atvlink pair --protocol mrp/);
    const tips = (await page.$$eval('.form-tips', (els) => els.map((e) => e.textContent ?? ''))).join(' ');
    assert.match(tips, /atvlink pair --protocol mrp/);
    assert.match(tips, /pyatv/);
    assert.match(tips, /MRP port of an Apple TV can change/);
  });

  it('saves MRP credentials from the dialog: the device is used over MRP, the credential never comes back', async () => {
    assert.equal(mrpStats(sim).verifiedSessions, 0, 'no MRP session without MRP credentials');
    await page.fill('#node-config-input-mrp', mrpCredentials);
    await page.click('#node-config-dialog-ok');
    await page.waitForSelector('#node-config-input-mrpPort', { state: 'detached', timeout: 10_000 });
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-input-command', { state: 'detached', timeout: 10_000 });
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 15_000 });
    const deadline = Date.now() + 15_000;
    while (mrpStats(sim).verifiedSessions !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(mrpStats(sim).verifiedSessions, 1, 'one verified MRP session with the pasted credentials');
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('.red-ui-flow-node-status-label')).some((e) => /^(connected|playing ".*")$/.test(e.textContent ?? '')),
      null,
      { timeout: 15_000 },
    );

    const [ltpk, ltsk] = mrpCredentials.split(':') as [string, string];
    const flows = JSON.stringify(await red.getJson('flows'));
    assert.match(flows, new RegExp(`"mrpPort":"${sim.mrpPort}"`));
    for (const part of [mrpCredentials, ltsk, ltpk]) assert.ok(!flows.includes(part), 'no MRP credential in GET /flows');
    const fromPage = await page.evaluate(async () => (await fetch('flows', { headers: { 'Node-RED-API-Version': 'v2' } })).text());
    assert.ok(!fromPage.includes(ltsk), 'nor as the editor fetches it');
    const device = (JSON.parse(flows) as { flows: FlowNode[] }).flows.find((n) => n.type === 'atvlink-device')!;
    assert.deepEqual(await red.getJson(`credentials/atvlink-device/${device.id}`), credentialFlags('dmap', 'mrp'));
    assert.deepEqual(consoleErrors.filter((e) => /atvlink/i.test(e)), [], 'no editor errors from our nodes');
  });

  /**
   * Opens `node` in the editor while the admin routes that fill its lists (atvlink/...) hang,
   * clicks Done at once, and returns the node as the editor saved it.
   */
  async function doneBeforeTheListsArrive(node: Record<string, unknown>, field: string): Promise<Record<string, unknown>> {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pattern = '**/atvlink/**';
    await page.route(pattern, async (route) => {
      await gate;
      await route.continue().catch(() => undefined);
    });
    try {
      await page.evaluate((n) => {
        RED.view.importNodes([n], { generateIds: false, touchImport: true });
        RED.editor.edit(RED.nodes.node(n.id as string));
      }, node);
      await page.waitForSelector(`#node-input-${field}`, { state: 'attached', timeout: 10_000 });
      await page.waitForSelector('#node-dialog-ok', { state: 'visible', timeout: 10_000 });
      await page.click('#node-dialog-ok');
      await page.waitForSelector(`#node-input-${field}`, { state: 'detached', timeout: 10_000 });
      return await page.evaluate((id) => {
        const saved = RED.nodes.node(id)!;
        return JSON.parse(JSON.stringify({ command: saved.command, action: saved.action, property: saved.property, fields: saved.fields, initial: saved.initial }));
      }, node.id as string);
    } finally {
      release();
      await page.unroute(pattern);
    }
  }

  it('Done before the command list arrives keeps the saved command and press', async () => {
    const saved = await doneBeforeTheListsArrive(
      { id: 'ed-slow-cmd', type: 'atvlink-command', x: 300, y: 300, z: await page.evaluate(() => RED.workspaces.active()), name: '', device: '', command: 'next', action: 'double', wires: [] },
      'command',
    );
    assert.equal(saved.command, 'next', 'not switched to "from msg"');
    assert.equal(saved.action, 'double');
  });

  it('Done before the property list arrives keeps the saved property', async () => {
    const saved = await doneBeforeTheListsArrive(
      { id: 'ed-slow-prop', type: 'atvlink-property', x: 300, y: 360, z: await page.evaluate(() => RED.workspaces.active()), name: '', device: '', property: 'shuffle', value: 'payload', valueType: 'msg', wires: [] },
      'property',
    );
    assert.equal(saved.property, 'shuffle');
  });

  it('Done before the field list arrives keeps the playstatus fields', async () => {
    const saved = await doneBeforeTheListsArrive(
      { id: 'ed-slow-ps', type: 'atvlink-playstatus', x: 300, y: 420, z: await page.evaluate(() => RED.workspaces.active()), name: '', device: '', fields: ['title', 'artist'], initial: true, wires: [] },
      'initial',
    );
    assert.deepEqual(saved.fields, ['title', 'artist'], 'not reset to the defaults');
    assert.equal(saved.initial, true);
    // the lists that arrive after the dialog closed break nothing
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(consoleErrors.filter((e) => /atvlink/i.test(e)), [], 'no editor errors from our nodes');
  });
});
