// Node-RED (4.x and 5.x) looks for a module's icons only in an `icons/` folder beside each
// runtime file named in package.json's `node-red.nodes` (@node-red/registry
// localfilesystem.js, getModuleNodeFiles), never at the package root. The sources keep one
// `icons/` at the root; the build copies it beside every built node, so an installed
// tarball finds them with no build on the user's side.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export default function copyIcons({ root, out }) {
  const icons = join(root, 'icons');
  const nodes = join(out, 'nodes');
  if (!existsSync(icons) || !existsSync(nodes)) return;
  for (const name of readdirSync(nodes)) {
    const dir = join(nodes, name);
    if (statSync(dir).isDirectory() && existsSync(join(dir, `${name}.js`))) {
      cpSync(icons, join(dir, 'icons'), { recursive: true });
    }
  }
}
