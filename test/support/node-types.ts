/** What the package declares to Node-RED, read from package.json and the protocol table, so tests follow additions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Protocol } from '../../lib/device/interfaces';
import { credentialProtocols } from '../../lib/protocols/table';
import { REPO_ROOT } from './paths';

/** Every node type of package.json's `node-red.nodes`, sorted. */
export function nodeTypes(): string[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
  return Object.keys(pkg['node-red'].nodes).sort();
}

/** What Node-RED's credentials API says of a device node holding credentials for `present`. */
export function credentialFlags(...present: Protocol[]): Record<string, boolean> {
  return Object.fromEntries(credentialProtocols().map((p) => [`has_${p}`, present.includes(p)]));
}
