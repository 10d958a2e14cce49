/**
 * The editor in a real browser (Debian's Chromium driven by playwright-core): our palette
 * category and node types, the command dropdown filled from the library's command table
 * (and a Done pressed before such a list arrived keeping the saved choices),
 * the device config dialog (DMAP and MRP ports and credentials), a deploy from the editor,
 * the status text against the simulator (an Apple TV 4K serving DMAP and MRP), and no
 * credential coming back from the flow API.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { COMMANDS } from '../../lib/device/commands';
import type { Simulator } from '../../lib/simulator';
import { startNodeRed, type NodeRedRuntime } from '../nodes/runtime';
import { DEMO_DMAP_CREDENTIALS, mrpStats, pairMrp, startMrpSimulator, type FlowNode } from '../nodes/support';
import { credentialFlags } from '../support/node-types';
import { REPO_ROOT } from '../support/paths';
import { chromiumSkip, launchChromium, openEditor, type Browser } from './browser';


describe('the editor in Chromium', { skip: chromiumSkip }, () => {
  let sim: Simulator;
  let red: NodeRedRuntime;
  let browser: Browser;
  let page: Page;
  let mrpCredentials: string;
  let consoleErrors: string[] = [];

  before(async () => {
    sim = await startMrpSimulator({ name: 'Editor TV', protocols: ['dmap', 'mrp'], mdnsPort: 0 });
    mrpCredentials = await pairMrp(sim);
    red = await startNodeRed();
    browser = await launchChromium();
    page = browser.page;
    consoleErrors = browser.errors;
    await openEditor(page, red.url);
  });

  after(async () => {
    await browser?.close();
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
    // a colour of our own, the same on every node (one truth: nodes/palette.build.mjs)
    const colours = await page.$$eval('.red-ui-palette-node[data-palette-type^="atvlink-"]', (els) => els.map((e) => getComputedStyle(e).backgroundColor));
    const ours = /PALETTE_COLOR = '#([0-9A-F]{6})'/i.exec(readFileSync(join(REPO_ROOT, 'nodes', 'palette.build.mjs'), 'utf8'))![1]!;
    const rgb = `rgb(${[0, 2, 4].map((i) => parseInt(ours.slice(i, i + 2), 16)).join(', ')})`;
    assert.deepEqual([...new Set(colours)], [rgb]);
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
    await page.waitForSelector('.atvlink-device-found-item', { timeout: 10_000 });
    assert.match((await page.textContent('.atvlink-device-found-item')) ?? '', /Editor TV.*Apple TV 4K.*MRP.*DMAP/s, 'name, model and protocols');
    await page.click('.atvlink-device-found-item');
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
    assert.equal(text, 'also pair MRP');
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
    assert.match(await page.getAttribute('#node-config-input-mrpPort', 'placeholder') ?? '', /empty: ask/);
    // placeholders are not cut: each fits its field
    for (const field of ['scanHost', 'identifier', 'host', 'mrpPort', 'dmapPort']) {
      const fits = await page.$eval(`#node-config-input-${field}`, (el) => {
        const input = el as HTMLInputElement;
        const probe = document.createElement('span');
        probe.style.font = getComputedStyle(input).font;
        probe.style.whiteSpace = 'pre';
        probe.textContent = input.placeholder;
        document.body.appendChild(probe);
        const room = input.clientWidth - parseFloat(getComputedStyle(input).paddingLeft) - parseFloat(getComputedStyle(input).paddingRight);
        const fit = probe.getBoundingClientRect().width <= room;
        probe.remove();
        return fit;
      });
      assert.ok(fits, `the ${field} placeholder fits its field`);
    }
    assert.ok(await page.isVisible('#node-config-input-mrp'), 'the MRP credential field');
    assert.equal(await page.getAttribute('#node-config-input-mrp', 'type'), 'password', 'masked');
    assert.match(await page.textContent('label[for="node-config-input-mrp"]') ?? '', /MRP/);
    assert.match(await page.getAttribute('#node-config-input-mrp', 'placeholder') ?? '', /ltpk:ltsk:atv_id:client_id/);
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
      () => Array.from(document.querySelectorAll('.red-ui-flow-node-status-label')).some((e) => e.textContent === 'connected'),
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

  it("previews the current cover in the artwork node's dialog, and the node's status shows the image fetched", async () => {
    const device = await page.evaluate(() => String(RED.nodes.node('ed-cmd')!.device));
    await page.evaluate((dev) => {
      const z = RED.workspaces.active();
      RED.view.importNodes(
        [
          { id: 'ed-art-go', type: 'inject', z, x: 120, y: 480, props: [{ p: 'payload' }], payload: '', payloadType: 'date', repeat: '', once: false, wires: [['ed-art']] },
          { id: 'ed-art', type: 'atvlink-artwork', z, x: 320, y: 480, name: '', device: dev, width: '120', widthType: 'num', height: '', heightType: 'num', output: 'buffer', wires: [] },
        ],
        { generateIds: false, touchImport: true },
      );
      RED.nodes.dirty(true);
    }, device);
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 15_000 });
    await page.evaluate(() => RED.editor.edit(RED.nodes.node('ed-art')));
    await page.waitForSelector('#atvlink-artwork-preview-image', { state: 'visible', timeout: 15_000 });
    assert.match((await page.getAttribute('#atvlink-artwork-preview-image', 'src')) ?? '', /^data:image\/png;base64,/);
    assert.match((await page.textContent('#atvlink-artwork-preview-note')) ?? '', /\d+×\d+ image\/png/);
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#atvlink-artwork-preview-image', { state: 'detached', timeout: 10_000 });
    assert.equal((await red.request('inject/ed-art-go', { method: 'POST' })).status, 200);
    await page.waitForFunction(() => /^\d+×\d+ PNG$/.test(document.querySelector('[id="ed-art"] .red-ui-flow-node-status-label')?.textContent ?? ''), null, { timeout: 10_000 });
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
