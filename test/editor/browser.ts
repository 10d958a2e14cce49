/**
 * The browser the editor tests drive: Debian's Chromium through playwright-core (no browser
 * download), headless, with a throw-away profile, plus the demo `npm start` run as a user
 * runs it, for the tests that start from the demo.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { freePort } from '../nodes/runtime';
import { until } from '../support/wait';
import { skipOutsideCi } from '../support/ci';
import { REPO_ROOT } from '../support/paths';

/** The bits of the editor's global `RED` the tests call inside the page. */
declare global {
  const RED: {
    nodes: {
      getType(type: string): unknown;
      node(id: string): { id: string; type: string; [k: string]: unknown } | null;
      eachConfig(cb: (n: { id: string; type: string }) => void): void;
      dirty(value?: boolean): boolean;
    };
    editor: { edit(node: unknown): void };
    view: { importNodes(nodes: unknown[], options?: Record<string, unknown>): void; redraw(full?: boolean): void };
    actions: { invoke(name: string): void };
    workspaces: { active(): string };
  };
}

export const CHROMIUM = process.env.ATV_CHROMIUM ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`;
/** The `skip` option of a browser suite. */
export const chromiumSkip = skipOutsideCi(missing);

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

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Errors the pages logged (console errors and uncaught exceptions). */
  errors: string[];
  close(): Promise<void>;
}

export async function launchChromium(viewport = { width: 1400, height: 1000 }): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'atvlink-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport });
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  return {
    context,
    page,
    errors,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the editor at `url` and waits until our palette is in. */
export async function openEditor(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => typeof RED !== 'undefined' && !!RED.nodes && !!RED.nodes.getType('atvlink-command'), null, { timeout: 30_000 });
  await page.waitForSelector('.red-ui-palette-node[data-palette-type="atvlink-command"]', { timeout: 15_000 });
}

/**
 * Saves a screenshot of `what` as `name`.png when ATV_SCREENSHOTS names a folder (the README's
 * pictures come from such a run); does nothing otherwise.
 */
export async function screenshot(what: Page | Locator, name: string): Promise<void> {
  const dir = process.env.ATV_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await what.screenshot({ path: join(dir, `${name}.png`) });
}

export interface Demo {
  /** The editor's address, with a trailing slash. */
  base: string;
  readonly output: string;
  stop(): Promise<number | null>;
}

/** The demo's simulator ports, all ephemeral: tests never take fixed ones. */
export const EPHEMERAL_DEMO_PORTS = { ATV_DEMO_DMAP_PORT: '0', ATV_DEMO_MRP_PORT: '0', ATV_DEMO_AIRPLAY_PORT: '0', ATV_DEMO_COMPANION_PORT: '0' };

/** `npm start [args]` (without the build, which the suite did) on free ports, until it prints its addresses. */
export async function startDemo(args: string[] = []): Promise<Demo> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'start.mjs'), '--no-build', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port), ...EPHEMERAL_DEMO_PORTS, ATV_DEMO_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await until(() => output.includes('Press Ctrl-C') || child.exitCode !== null, 'the demo to start', 60_000);
  if (child.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
  return {
    base: `http://127.0.0.1:${port}/`,
    get output() {
      return output;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** What the simulated TV page of the demo reports (its JSON API). */
export interface TvState {
  nowPlaying: { title: string | null; contentIdentifier: string | null };
  volume: number;
  power: string;
  /** The app in front. */
  app: { name: string | null; bundleId: string | null } | null;
  /** The text of the search box that has the focus, or null when none has. */
  search: string | null;
  /** How often a remote logged in, per protocol. */
  logins: Record<string, number>;
  pin: { protocol: string; pin: string; remoteName: string | null } | null;
}

export async function tvState(demo: Demo): Promise<TvState> {
  return (await (await fetch(`${demo.base}simulator/state`)).json()) as TvState;
}

/** Waits until the simulated TV reports a state that passes `check` (polling its page's JSON API). */
export async function tvReaches(demo: Demo, check: (state: TvState) => boolean, what: string, timeout = 15_000): Promise<TvState> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const state = await tvState(demo);
    if (check(state)) return state;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (the TV reports ${JSON.stringify(state)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
