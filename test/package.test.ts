/**
 * What the published package promises, checked against the tree: every node type in the
 * `node-red.nodes` map is built with its editor file, locale and help beside it, the files
 * list ships them, and the Flow Library scorecard's package rules hold.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './support/paths';

interface PackageJson {
  name: string;
  license: string;
  keywords: string[];
  main: string;
  types: string;
  bin: Record<string, string>;
  files: string[];
  engines: { node: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  repository: { url: string };
  'node-red': { version: string; nodes: Record<string, string> };
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;
const shipped = (path: string): boolean => pkg.files.some((f) => path === f || path.startsWith(`${f}/`));

describe('package', () => {
  it('meets the Flow Library scorecard package rules', () => {
    assert.match(pkg.name, /^@[a-z0-9-]+\/node-red-/, 'P04 scoped name');
    assert.equal(pkg.license, 'MIT', 'P01 SPDX licence');
    assert.ok(pkg.repository.url, 'P03 repository');
    assert.ok(pkg.keywords.includes('node-red'), 'P05 keyword');
    assert.equal(pkg['node-red'].version, '>=4.0.0', 'P06');
    assert.ok(pkg.engines.node, 'P07');
    assert.ok(Object.keys(pkg.dependencies).length <= 6, 'D01 at most six dependencies');
  });

  it('maps every node type to a built runtime file with its editor HTML and en-US locale', () => {
    const types = Object.keys(pkg['node-red'].nodes);
    assert.deepEqual(types.sort(), readdirSync(join(REPO_ROOT, 'nodes'), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name.startsWith('atvlink-')).map((d) => d.name).sort());
    for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
      assert.ok(type.startsWith('atvlink-'), `${type}: unique prefix`);
      assert.equal(file, `dist/nodes/${type}/${type}.js`);
      assert.ok(shipped(file), `${file} is in "files"`);
      for (const built of [file, `dist/nodes/${type}/${type}.html`, `dist/nodes/${type}/locales/en-US/${type}.json`]) {
        assert.ok(existsSync(join(REPO_ROOT, built)), `${built} is built`);
      }
    }
  });

  it('ships the library with its types, the CLI, the examples and the icons', () => {
    assert.equal(pkg.main, 'dist/lib/index.js');
    assert.equal(pkg.types, 'dist/lib/index.d.ts');
    assert.match(pkg.scripts.prepare!, /--types/, 'prepare (run by npm ci, pack and publish) emits the .d.ts files');
    for (const path of [pkg.main, pkg.types, ...Object.values(pkg.bin), 'examples', 'icons']) assert.ok(shipped(path), `${path} is in "files"`);
    assert.ok(existsSync(join(REPO_ROOT, 'lib', 'index.ts')));
    assert.ok(readdirSync(join(REPO_ROOT, 'examples')).filter((f) => f.endsWith('.json')).length >= 6);
  });
});
