#!/usr/bin/env node
// `npm test`: build, type-check, then run every test file under dist/test with Node's own
// test runner, in one run so the closing summary covers the whole suite.
//
// The whole run happens inside a private network namespace made with `unshare --net`
// whose only interface is a loopback that carries multicast: the discovery and pairing
// tests multicast there and can never reach a real network. Where no namespace can be
// made (not root, no unshare/ip), the suite runs as it is and the multicast tests skip
// themselves, each printing why.
//
// The Node-RED 5 leg needs Node >= 22.9. When this Node is older, a Node 22 binary comes from
// $ATV_NODE22, from .cache/node22, or is fetched there once (the npm package
// node-<platform>-<arch>@22), before the namespace is made because that needs the registry.
// When it cannot be had, the leg is skipped saying why. Under CI (CI or ATV_CI set) nothing
// skips for a missing prerequisite: no namespace, no Node 22 or no Chromium fails the run.
//
//   node scripts/test.mjs [substring ...]   run only test files whose path contains one
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  return r.status ?? 1;
}

if (run(process.execPath, [join(root, 'scripts', 'build.mjs')]) !== 0) process.exit(1);
console.log('type-checking (tsc --noEmit) ...');
if (run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--noEmit']) !== 0) {
  console.error('type check failed');
  process.exit(1);
}

function walk(dir, files = []) {
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, files);
    else if (name.endsWith('.test.js')) files.push(path);
  }
  return files;
}
const files = walk(join(root, 'dist', 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const env = { ...process.env, ATV_REPO_ROOT: root };
// Under CI nothing may be skipped for a missing prerequisite (test/support/ci.ts).
const inCi = ['CI', 'ATV_CI'].some((k) => process.env[k] !== undefined && !/^(|0|false)$/i.test(process.env[k]));
if (inCi) env.ATV_CI = '1';
if (files.some((f) => f.includes('node-red-5.test'))) {
  const node22 = findNode22();
  if (node22.path) env.ATV_NODE22 = node22.path;
  else env.ATV_NODE22_MISSING = node22.reason;
}
const nodeArgs = ['--test', '--test-timeout=180000', ...files];

/** A Node >= 22.9 binary for the Node-RED 5 leg: `{ path }`, or `{ reason }` it cannot be had. */
function findNode22() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 9)) return { path: process.execPath };
  if (process.env.ATV_NODE22) {
    return existsSync(process.env.ATV_NODE22) ? { path: process.env.ATV_NODE22 } : { reason: `ATV_NODE22=${process.env.ATV_NODE22} does not exist` };
  }
  const pkg = `node-${process.platform}-${process.arch}`;
  const prefix = join(root, '.cache', 'node22');
  const binary = join(prefix, 'node_modules', pkg, 'bin', 'node');
  if (existsSync(binary)) return { path: binary };
  console.log(`fetching Node 22 for the Node-RED 5 leg (npm package ${pkg}@22 into .cache/node22, once) ...`);
  // Bounded: an offline machine must get its skip (and reason) soon, not after npm's retries.
  const bounds = ['--fetch-retries=1', '--fetch-timeout=30000'];
  const r = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', ...bounds, `${pkg}@22`], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status === 0 && existsSync(binary)) return { path: binary };
  const detail = (r.error?.message ?? r.stderr ?? '')
    .split('\n')
    .map((line) => line.replace(/^npm (error|ERR!) /, '').trim())
    .filter((line) => line !== '' && !line.startsWith('A complete log'))
    .slice(-1)[0];
  const reason = `no Node 22 binary: fetching ${pkg}@22 failed (${detail || `exit code ${r.status}`}); set ATV_NODE22 to one`;
  console.log(`NOTE: ${reason}`);
  return { reason };
}

function namespaceProblem() {
  if (process.platform !== 'linux') return 'not Linux';
  for (const tool of ['unshare', 'ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `\`${tool}\` is not installed`;
    }
  }
  const probe = spawnSync('unshare', ['--net', 'true'], { stdio: 'ignore' });
  if (probe.status !== 0) return 'unshare --net is not permitted (run as root or with CAP_SYS_ADMIN)';
  return null;
}

const problem = process.env.ATV_TEST_NO_NETNS ? 'ATV_TEST_NO_NETNS is set' : namespaceProblem();
let status;
if (problem && inCi) {
  console.error(`no private network namespace (${problem}): CI must run the multicast tests`);
  process.exit(1);
}
if (problem) {
  console.log(`NOTE: no private network namespace (${problem}); multicast tests will be skipped.`);
  status = run(process.execPath, nodeArgs, { env });
} else {
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$@"';
  status = run('unshare', ['--net', '--', 'sh', '-c', setup, 'netns', process.execPath, ...nodeArgs], {
    env: { ...env, ATV_TEST_NETNS: '1' },
  });
}
process.exit(status);
