#!/usr/bin/env node
// Builds the package into dist/: every TypeScript file under lib/, nodes/, test/ and bench/
// is transpiled one by one with esbuild (no bundling, CommonJS, as Node-RED loads it), and
// the editor/help/locale files of the nodes are copied beside their runtime .js files.
// Type checking is a separate step (`npm run typecheck`, also run by `npm test`), so a type
// error in one file never stops the others from building.
// `--types` also emits the library's .d.ts files (done by `prepare`, so a published package
// carries them).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
// Build into a fresh folder and swap it in at the end, so a build never leaves stale files
// behind and never pulls dist/ from under a test run that is using it.
const out = join(root, `.dist-build-${process.pid}`);
const sourceDirs = ['lib', 'nodes', 'test', 'bench'];
const assetPattern = /\.(html|json|proto|png|jpg|svg)$/;

function walk(dir, files = []) {
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'fixtures' && name !== 'node_modules') walk(path, files);
    } else files.push(path);
  }
  return files;
}

const started = Date.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const all = sourceDirs.flatMap((d) => walk(join(root, d)));
const entryPoints = all.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
await build({
  entryPoints,
  outdir: out,
  outbase: root,
  bundle: false,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});
for (const file of all.filter((f) => assetPattern.test(f))) {
  const dest = join(out, relative(root, file));
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(file, dest);
}
for (const hook of all.filter((f) => f.endsWith('.build.mjs'))) {
  // A folder that needs a generated artefact (e.g. precompiled protobuf descriptors)
  // owns a `<name>.build.mjs` beside its sources; it receives the dist/ path.
  const mod = await import(hook);
  await mod.default({ root, out });
}
const cli = join(out, 'lib', 'cli', 'index.js');
if (existsSync(cli)) chmodSync(cli, 0o755);
const old = join(root, `.dist-old-${process.pid}`);
if (existsSync(dist)) renameSync(dist, old);
renameSync(out, dist);
rmSync(old, { recursive: true, force: true });
if (process.argv.includes('--types')) {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
}
if (!process.argv.includes('--quiet')) {
  console.log(`built ${entryPoints.length} files into dist/ in ${Date.now() - started} ms`);
}
