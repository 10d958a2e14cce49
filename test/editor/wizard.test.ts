/**
 * Pairing from the editor, as a user with only a browser does it, for every protocol: first
 * from `npm start -- --mrp` (a simulated Apple TV 4K serving DMAP and MRP): Scan in the device
 * dialog finds it, picking it shows its model and protocols, Pair runs each protocol's
 * pairing (MRP: the simulated TV page shows the PIN, typed into the dialog; DMAP: the dialog
 * shows our PIN, typed on the simulated TV's Settings → Remotes), Add, Deploy, and the node
 * turns green and a command reaches the TV; plus a wrong PIN (MRP and DMAP) and a cancel,
 * each shown in the dialog; and no credential ever reaches the browser or the log. (Back-off,
 * timeouts and abandoned sessions: test/nodes/pairing.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { Simulator } from '../../lib/simulator';
import { chromiumSkip, launchChromium, openEditor, screenshot, startDemo, tvReaches, tvState, type Browser, type Demo } from './browser';
import { credentialFlags } from '../support/node-types';


const row = (protocol: string) => `.atvlink-pairing-row[data-protocol="${protocol}"]`;

describe('pairing from the device dialog, against npm start -- --mrp', { skip: chromiumSkip }, () => {
  let demo: Demo;
  let browser: Browser;
  let page: Page;
  /** Every response body the editor received from our admin routes. */
  const answers: string[] = [];

  before(async () => {
    demo = await startDemo(['--mrp']);
    browser = await launchChromium();
    page = browser.page;
    page.on('response', (res) => {
      if (res.url().includes('/atvlink/')) void res.text().then((t) => answers.push(t), () => undefined);
    });
    await openEditor(page, demo.base);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it('Scan finds the simulated Apple TV by itself and shows its model, OS and protocols', async () => {
    // A button wired to a command node with no device yet: the user adds one from there.
    await page.evaluate(() => {
      const z = RED.workspaces.active();
      RED.view.importNodes(
        [
          { id: 'wiz-next', type: 'inject', z, x: 160, y: 660, name: 'next', props: [{ p: 'payload' }], payload: 'next', payloadType: 'str', repeat: '', once: false, wires: [['wiz-cmd']] },
          { id: 'wiz-cmd', type: 'atvlink-command', z, x: 380, y: 660, name: 'wizard', device: '', command: '', action: 'single', wires: [] },
        ],
        { generateIds: false, touchImport: true },
      );
      RED.editor.edit(RED.nodes.node('wiz-cmd'));
    });
    await page.click('#node-input-btn-device-add');
    await page.waitForSelector('#node-config-input-scan', { state: 'visible', timeout: 10_000 });
    assert.equal(await page.isVisible('#atvlink-device-scan-note'), false, 'no empty hint bar');
    // Empty scan host: "the network", which under npm start includes the simulator's responder.
    await page.click('#node-config-input-scan');
    await page.waitForSelector('.atvlink-device-found-item', { timeout: 15_000 });
    const item = (await page.textContent('.atvlink-device-found-item')) ?? '';
    assert.match(item, /Simulated Apple TV/);
    assert.match(item, /Apple TV 4K/, 'the model');
    assert.match(item, /tvOS/, 'the OS');
    assert.match(item, /MRP/);
    assert.match(item, /DMAP/);
    await page.click('.atvlink-device-found-item');
    assert.equal(await page.inputValue('#node-config-input-name'), 'Simulated Apple TV');
    assert.notEqual(await page.inputValue('#node-config-input-identifier'), '');
    await page.waitForSelector(`${row('mrp')} .atvlink-pair`);
    await page.waitForSelector(`${row('dmap')} .atvlink-pair`);
    await screenshot(page.locator('.red-ui-tray').last(), 'pairing-1-scan');
  });

  it('MRP: a wrong PIN is refused and said so; a cancel ends the pairing on the TV', async () => {
    await page.click(`${row('mrp')} .atvlink-pair`);
    await page.waitForSelector(`${row('mrp')} .atvlink-pairing-pin-input`, { timeout: 15_000 });
    const shown = (await tvState(demo)).pin;
    assert.equal(shown?.protocol, 'mrp', 'the simulated TV shows a PIN');
    const wrong = shown!.pin === '0000' ? '1234' : '0000';
    await page.fill(`${row('mrp')} .atvlink-pairing-pin-input`, wrong);
    await page.click(`${row('mrp')} .atvlink-pairing-send`);
    await page.waitForSelector(`${row('mrp')} [data-phase="failed"]`, { timeout: 15_000 });
    assert.match((await page.textContent(row('mrp'))) ?? '', /Try again/);
    assert.match((await page.textContent(`${row('mrp')} .atvlink-pairing-error`)) ?? '', /wrong PIN/);
    await screenshot(page.locator(row('mrp')), 'pairing-2-wrong-pin');

    // Try again, then Cancel: the pairing ends (the TV takes new requests at once).
    await page.click(`${row('mrp')} .atvlink-pair`);
    await page.waitForSelector(`${row('mrp')} .atvlink-pairing-pin-input`, { timeout: 15_000 });
    await page.click(`${row('mrp')} .atvlink-pairing-cancel`);
    await page.waitForSelector(`${row('mrp')} [data-phase="cancelled"]`);
    assert.match((await page.textContent(row('mrp'))) ?? '', /nothing was stored/);
  });

  it('MRP: Pair, type the PIN the TV shows, paired', async () => {
    await page.click(`${row('mrp')} .atvlink-pair`);
    await page.waitForSelector(`${row('mrp')} .atvlink-pairing-pin-input`, { timeout: 15_000 });
    const pin = (await tvState(demo)).pin!.pin;
    await screenshot(page.locator('.red-ui-tray').last(), 'pairing-3-mrp-pin');
    await page.fill(`${row('mrp')} .atvlink-pairing-pin-input`, pin);
    await page.press(`${row('mrp')} .atvlink-pairing-pin-input`, 'Enter');
    await page.waitForSelector(`${row('mrp')} [data-phase="paired"]`, { timeout: 20_000 });
  });

  it('DMAP: the dialog shows our PIN; a wrong PIN typed on the TV is reported, the right one pairs', async () => {
    await page.click(`${row('dmap')} .atvlink-pair`);
    await page.waitForSelector(`${row('dmap')} .atvlink-pairing-pin`, { timeout: 15_000 });
    const ours = ((await page.textContent(`${row('dmap')} .atvlink-pairing-pin`)) ?? '').trim();
    assert.match(ours, /^\d{4}$/);
    await screenshot(page.locator('.red-ui-tray').last(), 'pairing-4-dmap-pin');
    // The simulated TV, in a second tab, as the user would use it.
    const tv = await browser.context.newPage();
    await tv.goto(`${demo.base}simulator/`);
    const typeOnTv = async (pin: string, expect: RegExp) => {
      await tv.fill('#remote-pin', pin);
      await tv.click('#remote-pair');
      await tv.waitForFunction((pattern) => new RegExp(pattern).test(document.getElementById('remote-result')?.textContent ?? ''), expect.source, { timeout: 15_000 });
    };
    await typeOnTv(ours === '0000' ? '1111' : '0000', /refused|wrong|500/i);
    await page.waitForSelector(`${row('dmap')} .atvlink-pairing-wrong`, { timeout: 10_000 });
    await typeOnTv(ours, /Paired/);
    await screenshot(tv, 'pairing-5-simulated-tv');
    await tv.close();
    await page.waitForSelector(`${row('dmap')} [data-phase="paired"]`, { timeout: 15_000 });
    await screenshot(page.locator('.red-ui-tray').last(), 'pairing-6-paired');
  });

  it('Add, Deploy: the node turns green over MRP and a command reaches the TV; the credentials reach Node-RED only', async () => {
    await page.click('#node-config-dialog-ok');
    await page.waitForSelector('#node-config-input-scan', { state: 'detached', timeout: 10_000 });
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-input-command', { state: 'detached', timeout: 10_000 });
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 15_000 });
    const device = await page.evaluate(() => String(RED.nodes.node('wiz-cmd')!.device));
    assert.deepEqual(await (await fetch(`${demo.base}credentials/atvlink-device/${device}`)).json(), credentialFlags('mrp', 'dmap'));
    const status = (id: string) => page.evaluate((i) => document.querySelector(`[id="${i}"] .red-ui-flow-node-status-label`)?.textContent ?? '', id);
    const dot = (id: string) => page.evaluate((i) => document.querySelector(`[id="${i}"] .red-ui-flow-node-status`)?.getAttribute('class') ?? '', id);
    await page.waitForFunction(() => (document.querySelector('[id="wiz-cmd"] .red-ui-flow-node-status-label')?.textContent ?? '') === 'connected', null, { timeout: 20_000 });
    assert.match(await dot('wiz-cmd'), /green/);
    const before = (await tvState(demo)).nowPlaying.title;
    assert.equal((await fetch(`${demo.base}inject/wiz-next`, { method: 'POST' })).status, 200);
    await page.waitForFunction(() => (document.querySelector('[id="wiz-cmd"] .red-ui-flow-node-status-label')?.textContent ?? '') === 'sent next', null, { timeout: 10_000 });
    assert.notEqual((await tvState(demo)).nowPlaying.title, before, 'the TV plays the next track');
    assert.equal(await status('wiz-cmd'), 'sent next');
    await screenshot(page, 'pairing-7-deployed');

    // No credential in the flow, in what the editor got from our routes, or in the log.
    // (The flows' "rev" is a SHA-256 of the flows, not a key.)
    const flows = (await (await fetch(`${demo.base}flows`, { headers: { 'Node-RED-API-Version': 'v2' } })).text()).replace(/"rev":"[0-9a-f]{64}"/, '');
    const everything = [flows, ...answers, demo.output].join('\n');
    assert.doesNotMatch(everything, /[0-9a-f]{64}/i, 'no HAP key anywhere the browser or the log sees');
    const guids = (everything.match(/0x[0-9A-F]{16}/gi) ?? []).filter((g) => g.toUpperCase() !== '0X0000000000000001');
    assert.deepEqual(guids, [], 'no DMAP pairing GUID but the demo one the simulator prints');
    assert.deepEqual(browser.errors.filter((e) => /atvlink/i.test(e)), [], 'no editor errors from our nodes');
  });
});

/**
 * The same from the default `npm start` (a simulated tvOS 18 Apple TV 4K serving AirPlay,
 * Companion and DMAP): AirPlay and Companion pair from the dialog with the PIN the simulated
 * TV shows (a wrong AirPlay PIN first, a Companion cancel), then Add, Deploy: the node turns
 * green, `next` goes over MRP through the AirPlay tunnel and an app launch over Companion
 * (which alone lists and launches apps); no credential reaches the browser or the log. A
 * HomePod (AirPlay with transient pairing) found by the same Scan: no pairing needed.
 */
describe('pairing AirPlay and Companion from the device dialog, against npm start', { skip: chromiumSkip }, () => {
  let demo: Demo;
  let browser: Browser;
  let page: Page;
  let homepod: Simulator;
  const answers: string[] = [];
  const statusOf = (id: string) => page.evaluate((i) => document.querySelector(`[id="${i}"] .red-ui-flow-node-status-label`)?.textContent ?? '', id);

  before(async () => {
    demo = await startDemo();
    homepod = new Simulator({ name: 'Simulated HomePod', device: 'homepod', host: '127.0.0.1', mdnsPort: 0 });
    await homepod.start();
    browser = await launchChromium();
    page = browser.page;
    page.on('response', (res) => {
      if (res.url().includes('/atvlink/')) void res.text().then((t) => answers.push(t), () => undefined);
    });
    await openEditor(page, demo.base);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
    await homepod?.stop();
  });

  /** Pair `protocol`: the simulated TV shows a PIN, typed into the dialog. */
  async function pairWithTvPin(protocol: string, pin?: string): Promise<void> {
    await page.click(`${row(protocol)} .atvlink-pair`);
    await page.waitForSelector(`${row(protocol)} .atvlink-pairing-pin-input`, { timeout: 15_000 });
    const shown = (await tvState(demo)).pin;
    assert.equal(shown?.protocol, protocol, `the simulated TV shows a ${protocol} PIN`);
    await page.fill(`${row(protocol)} .atvlink-pairing-pin-input`, pin ?? shown!.pin);
    await page.press(`${row(protocol)} .atvlink-pairing-pin-input`, 'Enter');
  }

  it('Scan shows a tvOS 18 Apple TV with AirPlay and Companion to pair', async () => {
    await page.evaluate(() => {
      const z = RED.workspaces.active();
      RED.view.importNodes(
        [
          { id: 'wiz2-next', type: 'inject', z, x: 160, y: 960, name: 'next', props: [{ p: 'payload' }], payload: 'next', payloadType: 'str', repeat: '', once: false, wires: [['wiz2-cmd']] },
          { id: 'wiz2-cmd', type: 'atvlink-command', z, x: 380, y: 960, name: 'wizard', device: '', command: '', action: 'single', wires: [] },
        ],
        { generateIds: false, touchImport: true },
      );
      RED.editor.edit(RED.nodes.node('wiz2-cmd'));
    });
    await page.click('#node-input-btn-device-add');
    await page.waitForSelector('#node-config-input-scan', { state: 'visible', timeout: 10_000 });
    await page.click('#node-config-input-scan');
    await page.waitForSelector('.atvlink-device-found-item', { timeout: 15_000 });
    const item = (await page.textContent('.atvlink-device-found-item')) ?? '';
    assert.match(item, /Simulated Apple TV/);
    assert.match(item, /Apple TV 4K/);
    assert.match(item, /tvOS 18/);
    assert.match(item, /AirPlay/);
    assert.match(item, /Companion/);
    await page.click('.atvlink-device-found-item');
    await page.waitForSelector(`${row('airplay')} .atvlink-pair`);
    await page.waitForSelector(`${row('companion')} .atvlink-pair`);
    await screenshot(page.locator('.red-ui-tray').last(), 'pairing-8-airplay-companion');
  });

  it('AirPlay: a wrong PIN is refused and said so; Try again with the PIN the TV shows pairs', async () => {
    await page.click(`${row('airplay')} .atvlink-pair`);
    await page.waitForSelector(`${row('airplay')} .atvlink-pairing-pin-input`, { timeout: 15_000 });
    const shown = (await tvState(demo)).pin;
    assert.equal(shown?.protocol, 'airplay', 'the simulated TV shows an AirPlay PIN');
    await page.fill(`${row('airplay')} .atvlink-pairing-pin-input`, shown!.pin === '0000' ? '1234' : '0000');
    await page.click(`${row('airplay')} .atvlink-pairing-send`);
    await page.waitForSelector(`${row('airplay')} [data-phase="failed"]`, { timeout: 15_000 });
    assert.match((await page.textContent(`${row('airplay')} .atvlink-pairing-error`)) ?? '', /wrong PIN/);
    await pairWithTvPin('airplay');
    await page.waitForSelector(`${row('airplay')} [data-phase="paired"]`, { timeout: 20_000 });
  });

  it('Companion: a cancel ends the pairing; then Pair with the PIN the TV shows', async () => {
    await page.click(`${row('companion')} .atvlink-pair`);
    await page.waitForSelector(`${row('companion')} .atvlink-pairing-pin-input`, { timeout: 15_000 });
    await page.click(`${row('companion')} .atvlink-pairing-cancel`);
    await page.waitForSelector(`${row('companion')} [data-phase="cancelled"]`);
    await pairWithTvPin('companion');
    await page.waitForSelector(`${row('companion')} [data-phase="paired"]`, { timeout: 20_000 });
    await screenshot(page.locator('.red-ui-tray').last(), 'pairing-9-paired-airplay-companion');
  });

  it('Add, Deploy: green; next goes through the AirPlay tunnel, an app launch over Companion; no credential in the browser or the log', async () => {
    await page.click('#node-config-dialog-ok');
    await page.waitForSelector('#node-config-input-scan', { state: 'detached', timeout: 10_000 });
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-input-command', { state: 'detached', timeout: 10_000 });
    // An apps node on the device just added (as a user picks it in the apps node's dialog).
    await page.evaluate(() => {
      const z = RED.workspaces.active();
      const device = RED.nodes.node('wiz2-cmd')!.device;
      RED.view.importNodes(
        [
          { id: 'wiz2-photos', type: 'inject', z, x: 160, y: 1020, name: 'Photos', props: [{ p: 'payload' }], payload: 'com.apple.TVPhotos', payloadType: 'str', repeat: '', once: false, wires: [['wiz2-launch']] },
          { id: 'wiz2-launch', type: 'atvlink-apps', z, x: 380, y: 1020, name: 'wizard launch', device, action: 'launch', app: '', changes: false, wires: [] },
        ],
        { generateIds: false, touchImport: true },
      );
    });
    const loginsBefore = (await tvState(demo)).logins;
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 15_000 });
    const device = await page.evaluate(() => String(RED.nodes.node('wiz2-cmd')!.device));
    // The new device node logs in over AirPlay (MRP's tunnel) and Companion with what it paired.
    await tvReaches(
      demo,
      (tv) => (tv.logins.airplay ?? 0) > (loginsBefore.airplay ?? 0) && (tv.logins.companion ?? 0) > (loginsBefore.companion ?? 0),
      'the paired device to log in over AirPlay and Companion',
    );
    assert.deepEqual(await (await fetch(`${demo.base}credentials/atvlink-device/${device}`)).json(), credentialFlags('airplay', 'companion'));
    await page.waitForFunction(() => (document.querySelector('[id="wiz2-cmd"] .red-ui-flow-node-status-label')?.textContent ?? '') === 'connected', null, { timeout: 20_000 });
    assert.match((await page.evaluate(() => document.querySelector('[id="wiz2-cmd"] .red-ui-flow-node-status')?.getAttribute('class') ?? '')), /green/);

    const before = (await tvState(demo)).nowPlaying.title;
    assert.equal((await fetch(`${demo.base}inject/wiz2-next`, { method: 'POST' })).status, 200);
    await page.waitForFunction(() => (document.querySelector('[id="wiz2-cmd"] .red-ui-flow-node-status-label')?.textContent ?? '') === 'sent next', null, { timeout: 10_000 });
    assert.notEqual((await tvState(demo)).nowPlaying.title, before, 'the TV plays the next track');

    assert.notEqual((await tvState(demo)).app?.bundleId, 'com.apple.TVPhotos');
    assert.equal((await fetch(`${demo.base}inject/wiz2-photos`, { method: 'POST' })).status, 200);
    await tvReaches(demo, (tv) => tv.app?.bundleId === 'com.apple.TVPhotos', 'Photos launched over Companion');
    assert.equal(await statusOf('wiz2-launch'), 'connected');
    await screenshot(page, 'pairing-10-deployed-airplay-companion');

    const flows = (await (await fetch(`${demo.base}flows`, { headers: { 'Node-RED-API-Version': 'v2' } })).text()).replace(/"rev":"[0-9a-f]{64}"/, '');
    const everything = [flows, ...answers, demo.output].join('\n');
    assert.doesNotMatch(everything, /[0-9a-f]{64}/i, 'no HAP key anywhere the browser or the log sees');
    assert.deepEqual(browser.errors.filter((e) => /atvlink/i.test(e)), [], 'no editor errors from our nodes');
  });

  it('a HomePod found by Scan needs no pairing, and the dialog says so', async () => {
    await page.evaluate(() => {
      const z = RED.workspaces.active();
      RED.view.importNodes([{ id: 'wiz2-homepod', type: 'atvlink-command', z, x: 380, y: 1080, name: 'homepod', device: '', command: 'play', action: 'single', wires: [] }], {
        generateIds: false,
        touchImport: true,
      });
      RED.editor.edit(RED.nodes.node('wiz2-homepod'));
    });
    await page.click('#node-input-btn-device-add');
    await page.waitForSelector('#node-config-input-scan', { state: 'visible', timeout: 10_000 });
    await page.fill('#node-config-input-scanHost', `127.0.0.1:${homepod.mdnsPort}`);
    await page.click('#node-config-input-scan');
    await page.waitForSelector('.atvlink-device-found-item', { timeout: 15_000 });
    await page.locator('.atvlink-device-found-item', { hasText: 'Simulated HomePod' }).click();
    await page.waitForSelector(row('airplay'));
    assert.match((await page.textContent(`${row('airplay')} .atvlink-pairing-state`)) ?? '', /no pairing needed/);
    assert.equal(await page.locator(`${row('airplay')} .atvlink-pair`).count(), 0, 'no Pair button');
    await screenshot(page.locator('.red-ui-tray').last(), 'pairing-11-homepod');
    await page.click('#node-config-dialog-cancel');
    await page.click('#node-dialog-cancel');
  });
});
