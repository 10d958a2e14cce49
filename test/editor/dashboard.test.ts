/**
 * The Dashboard 2 remote that `npm start` deploys (the example examples/dashboard-2), in
 * Chromium as a user sees it, against the default demo (a tvOS 18 Apple TV over AirPlay and
 * Companion): the cover and the title of what plays; pressing next changes both; moving the
 * volume slider sets the simulated TV's volume; the slider follows a volume change made on
 * the TV itself (its page, standing for the TV's own remote); the app dropdown lists the TV's
 * apps and choosing one brings it to the front on the TV; the power switch turns the TV off
 * and on and follows the TV's own power button.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip, launchChromium, screenshot, startDemo, tvReaches, tvState, type Browser, type Demo } from './browser';

describe('the Dashboard 2 remote of npm start', { skip: chromiumSkip }, () => {
  let demo: Demo;
  let browser: Browser;
  let page: Page;

  before(async () => {
    demo = await startDemo();
    assert.match(demo.output, /Open the dashboard: +http:\/\/127\.0\.0\.1:\d+\/dashboard\/apple-tv/);
    browser = await launchChromium({ width: 1100, height: 760 });
    page = browser.page;
    await page.goto(`${demo.base}dashboard/apple-tv`);
    await page.waitForSelector('.atv-title', { timeout: 30_000 });
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const title = () => page.textContent('.atv-title').then((t) => (t ?? '').trim());
  const cover = () => page.getAttribute('img.atv-cover', 'src').then((s) => s ?? '');
  /** The slider's value as the page shows it (Vuetify keeps it on the thumb). */
  const slider = () => page.getAttribute('.atv-volume [role="slider"]', 'aria-valuenow').then((v) => Number(v));

  it('shows the cover and the title of what plays', async () => {
    const playing = (await tvState(demo)).nowPlaying.title!;
    await page.waitForFunction((t) => document.querySelector('.atv-title')?.textContent?.trim() === t, playing, { timeout: 15_000 });
    assert.match(await cover(), /^data:image\/png;base64,/);
    assert.match((await page.textContent('.atv-artist')) ?? '', /\S/);
    await screenshot(page, 'dashboard');
  });

  it('next changes the title and the cover', async () => {
    const [before, art] = [await title(), await cover()];
    await page.click('.atv-button-next button');
    await page.waitForFunction((t) => (document.querySelector('.atv-title')?.textContent?.trim() ?? t) !== t, before, { timeout: 15_000 });
    assert.equal(await title(), (await tvState(demo)).nowPlaying.title, 'the title the TV plays now');
    await page.waitForFunction((a) => document.querySelector('img.atv-cover')?.getAttribute('src') !== a, art, { timeout: 15_000 });
  });

  it('the slider follows the TV and sets it', async () => {
    // The TV's own remote (its page) turns the volume down: the slider follows.
    await page.waitForFunction(() => document.querySelector('.atv-volume [role="slider"]') !== null, null, { timeout: 10_000 });
    await fetch(`${demo.base}simulator/volume`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ level: 20 }) });
    await page.waitForFunction(() => document.querySelector('.atv-volume [role="slider"]')?.getAttribute('aria-valuenow') === '20', null, { timeout: 15_000 });
    // The user drags the slider's thumb to about 80 %: it sends when released.
    const thumb = (await page.locator('.atv-volume [role="slider"]').boundingBox())!;
    const track = (await page.locator('.atv-volume .v-slider-track').boundingBox())!;
    await page.mouse.move(thumb.x + thumb.width / 2, thumb.y + thumb.height / 2);
    await page.mouse.down();
    await page.mouse.move(track.x + track.width * 0.8, thumb.y + thumb.height / 2, { steps: 8 });
    await page.mouse.up();
    const deadline = Date.now() + 15_000;
    while ((await tvState(demo)).volume === 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const level = (await tvState(demo)).volume;
    assert.equal(level, await slider(), 'the TV has the volume the slider shows');
    assert.ok(level > 60, `the TV's volume went up to about 80 (${level})`);
    await screenshot(page, 'dashboard-volume');
    assert.deepEqual(browser.errors.filter((e) => /atv|template/i.test(e)), [], 'no errors from the remote');
  });

  it('the app dropdown lists the apps of the TV; choosing one brings it to the front on the TV', async () => {
    assert.equal((await tvState(demo)).app?.bundleId, 'com.apple.TVMusic', 'the TV starts in Music');
    await page.waitForSelector('.atv-apps', { state: 'visible', timeout: 15_000 });
    // The dropdown shows the app in front; open it and pick Photos.
    await page.waitForFunction(() => /Music/.test(document.querySelector('.atv-apps .v-select__selection')?.textContent ?? ''), null, { timeout: 15_000 });
    await page.click('.atv-apps .v-field');
    const photos = page.locator('.v-overlay-container .v-list-item', { hasText: 'Photos' });
    await photos.waitFor({ timeout: 15_000 });
    const offered = (await page.locator('.v-overlay-container .v-list-item').allTextContents()).map((t) => t.trim());
    assert.deepEqual(offered, ['Music', 'Netflix', 'Photos', 'Settings', 'TV', 'YouTube'], 'the apps of the TV, by name');
    await screenshot(page, 'dashboard-apps');
    await photos.click();
    await tvReaches(demo, (tv) => tv.app?.bundleId === 'com.apple.TVPhotos', 'Photos in front on the TV');
    // Launched from elsewhere (the demo flow's Music button): the dropdown shows the app in front.
    assert.equal((await fetch(`${demo.base}inject/demo-launch-music`, { method: 'POST' })).status, 200);
    await tvReaches(demo, (tv) => tv.app?.bundleId === 'com.apple.TVMusic', 'Music in front on the TV');
    await page.waitForFunction(() => /Music/.test(document.querySelector('.atv-apps .v-select__selection')?.textContent ?? ''), null, { timeout: 15_000 });
  });

  it('the power switch turns the TV off and on, and follows the TV', async () => {
    const power = page.locator('.atv-power input[type="checkbox"]');
    await page.waitForFunction(() => (document.querySelector('.atv-power input[type="checkbox"]') as HTMLInputElement | null)?.checked === true, null, { timeout: 15_000 });
    await power.click();
    await tvReaches(demo, (tv) => tv.power === 'off', 'the TV to turn off');
    await page.waitForFunction(() => (document.querySelector('.atv-power input[type="checkbox"]') as HTMLInputElement | null)?.checked === false, null, { timeout: 15_000 });
    await power.click();
    await tvReaches(demo, (tv) => tv.power === 'on', 'the TV to turn on');
    // The TV's own power button (its page): the switch follows what Companion reports.
    await fetch(`${demo.base}simulator/power`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal((await tvState(demo)).power, 'off');
    await page.waitForFunction(() => (document.querySelector('.atv-power input[type="checkbox"]') as HTMLInputElement | null)?.checked === false, null, { timeout: 15_000 });
    assert.deepEqual(browser.errors.filter((e) => /atv|template/i.test(e)), [], 'no errors from the remote');
  });
});
