/**
 * A real Node-RED runtime in a child process, for what the test helper cannot show: the
 * files Node-RED writes (flows, credentials), the admin HTTP API and the editor. It runs
 * `red.js` of the Node-RED under test (`ATV_NODE_RED`) with a throw-away user directory, our
 * package loaded from the checkout through `nodesDir`, and no network use of its own
 * (telemetry, tours and the palette catalogue off).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../support/paths';
import { startLocalRegistry } from './local-registry';
import type { FlowNode } from './support';

export const NODE_RED_PACKAGE = process.env.ATV_NODE_RED || 'node-red';

export interface RuntimeOptions {
  /** Encrypt the credentials file with this key (default a fixed test key). */
  credentialSecret?: string;
  /** Console log level (default `warn`). */
  logLevel?: string;
  /** Extra settings, merged in. */
  settings?: Record<string, unknown>;
  /**
   * Install this package tarball into the user directory with npm, as a user does, and load
   * our nodes from there instead of from the checkout.
   */
  install?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export class NodeRedRuntime {
  readonly output: string[] = [];
  private exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    readonly userDir: string,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (process.env.ATV_NODE_RED_VERBOSE) process.stderr.write(chunk);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(new URL(path, this.url), init);
  }

  async getJson(path: string): Promise<unknown> {
    const res = await this.request(path, { headers: { Accept: 'application/json', 'Node-RED-API-Version': 'v2' } });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return res.json();
  }

  /** A full deploy, as the editor's Deploy button does it. */
  async deploy(flows: FlowNode[]): Promise<void> {
    const res = await this.request('flows', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows }),
    });
    if (!res.ok) throw new Error(`deploy: HTTP ${res.status} ${await res.text()}`);
  }

  /** Stops Node-RED (SIGINT, as Ctrl-C would) and removes the user directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.userDir, { recursive: true, force: true });
  }
}

/**
 * `npm install <tarball>` in `userDir` as a user runs it, but with the dependencies served by
 * a loopback registry made from this checkout's node_modules, an empty npm cache of its own
 * and no user npmrc: it needs no network and no warm cache, so it passes on a fresh machine
 * and inside the test network namespace alike.
 */
async function installFromLocalRegistry(tarball: string, userDir: string): Promise<void> {
  const registry = await startLocalRegistry(REPO_ROOT);
  const cache = mkdtempSync(join(tmpdir(), 'atvlink-npm-cache-'));
  const userconfig = join(cache, 'npmrc');
  writeFileSync(userconfig, '');
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        'npm',
        ['install', '--no-audit', '--no-fund', '--loglevel=error', `--registry=${registry.url}`, `--cache=${cache}`, `--userconfig=${userconfig}`, '--fetch-retries=0', tarball],
        { cwd: userDir, timeout: 120_000, env: { ...process.env, npm_config_update_notifier: 'false' } },
        (err, _stdout, stderr) => (err ? reject(new Error(`npm install ${tarball} failed: ${err.message}\n${stderr}`)) : resolve()),
      );
    });
  } finally {
    await registry.close();
    rmSync(cache, { recursive: true, force: true });
  }
}

export async function startNodeRed(options: RuntimeOptions = {}): Promise<NodeRedRuntime> {
  const userDir = mkdtempSync(join(tmpdir(), 'atvlink-nr-'));
  const port = await freePort();
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: options.credentialSecret ?? 'atvlink-test-secret',
    nodesDir: options.install ? [] : [REPO_ROOT],
    logging: { console: { level: options.logLevel ?? 'warn', metrics: false, audit: false } },
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    externalModules: { palette: { allowInstall: false } },
    editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
    ...options.settings,
  };
  writeFileSync(join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  if (options.install) {
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    await installFromLocalRegistry(options.install, userDir);
  }
  const redJs = join(dirname(require.resolve(`${NODE_RED_PACKAGE}/package.json`)), 'red.js');
  const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--settings', join(userDir, 'settings.js')], {
    cwd: userDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const runtime = new NodeRedRuntime(child, userDir, port);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited (${child.exitCode}):\n${runtime.output.join('')}`);
    try {
      // With adminAuth the API answers 401 once it is up (the test then logs in).
      const up = (res: Response) => res.ok || (res.status === 401 && options.settings?.adminAuth !== undefined);
      const res = await runtime.request('settings');
      if (up(res)) {
        // /settings answers before the flows run: wait for the (empty) flows to be loaded
        const flows = await runtime.request('flows', { headers: { 'Node-RED-API-Version': 'v2' } });
        if (up(flows)) break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await runtime.stop();
      throw new Error(`Node-RED did not start in 30 s:\n${runtime.output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return runtime;
}
