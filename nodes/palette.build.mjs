// The palette colour of every Apple TV node, once: each node's editor file says
// `color: ATVLINK_COLOR` and the build writes the colour in. A light blue of our own,
// so the nodes stand out from the grey of unstyled nodes and from the core nodes' colours
// (inject's grey-blue, function's orange), and reads in the light and dark editor themes.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PALETTE_COLOR = '#8FC1E3';
const TOKEN = 'ATVLINK_COLOR';

export default function paletteColor({ out }) {
  const nodes = join(out, 'nodes');
  if (!existsSync(nodes)) return;
  for (const name of readdirSync(nodes)) {
    const file = join(nodes, name, `${name}.html`);
    if (!statSync(join(nodes, name)).isDirectory() || !existsSync(file)) continue;
    const html = readFileSync(file, 'utf8');
    if (html.includes(TOKEN)) writeFileSync(file, html.split(TOKEN).join(JSON.stringify(PALETTE_COLOR)));
  }
}
