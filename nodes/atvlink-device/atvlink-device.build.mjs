// The device config node's per-protocol fields come from the library's protocol table
// (dist/lib/protocols/table.js), so a protocol added there gets its port and credentials
// fields, their labels, placeholders and help without an edit here. The build writes them
// into the built editor file (markers in atvlink-device.html) and its locale catalog.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export default function protocolFields({ out }) {
  const require = createRequire(import.meta.url);
  const { PROTOCOL_TABLE } = require(join(out, 'lib', 'protocols', 'table.js'));
  // Every protocol the library speaks or pairs: `session` ones get a port field, those with
  // credentials a credential field, `pairable` ones a Pair button in the dialog's wizard.
  const all = PROTOCOL_TABLE.filter((d) => d.createSession || d.createPairing).map((d) => ({
    protocol: d.protocol,
    label: d.label,
    devices: d.devices,
    portHint: d.manualPort.hint,
    credentials: d.credentials ? d.credentials.format : null,
    pairing: d.pairing,
    session: Boolean(d.createSession),
    pairable: Boolean(d.createPairing) && d.pairing !== null && d.pairing !== 'none',
  }));
  const protocols = all.filter((p) => p.session);
  const dir = join(out, 'nodes', 'atvlink-device');
  const htmlFile = join(dir, 'atvlink-device.html');
  const ns = 'atvlink-device';
  const portRows = protocols
    .map(
      (p) => `  <div class="form-row">
    <label for="node-config-input-${p.protocol}Port"><i class="fa fa-plug"></i> <span data-i18n="${ns}.label.${p.protocol}Port"></span></label>
    <input type="text" id="node-config-input-${p.protocol}Port" style="width: 200px" data-i18n="[placeholder]${ns}.placeholder.${p.protocol}Port" />
  </div>`,
    )
    .join('\n');
  const credentialRows = protocols
    .filter((p) => p.credentials)
    .map(
      (p) => `  <div class="form-row">
    <label for="node-config-input-${p.protocol}" style="padding-left: 20px" data-i18n="${ns}.label.${p.protocol}"></label>
    <input type="password" id="node-config-input-${p.protocol}" autocomplete="off" data-i18n="[placeholder]${ns}.placeholder.${p.protocol}" />
  </div>`,
    )
    .join('\n');
  const helpRows = [
    ...protocols.map(
      (p) => `    <dt class="optional">${escape(p.label)} port <span class="property-type">number</span></dt>
    <dd>The ${escape(p.label)} port (${escape(p.devices)}), with a manual host; ${escape(p.portHint)}. Leave it empty to have the host asked which port it uses.</dd>`,
    ),
    ...protocols
      .filter((p) => p.credentials)
      .map(
        (p) => `    <dt class="optional">${escape(p.label)} credentials <span class="property-type">password</span></dt>
    <dd>For ${escape(p.devices)}: ${escape(p.credentials)}.${p.pairable ? ' Filled in by <b>Pair</b>;' : ''} or paste them from <code>npx atvlink pair --protocol ${p.protocol}</code>.</dd>`,
      ),
  ].join('\n');
  let html = readFileSync(htmlFile, 'utf8');
  for (const [marker, value] of [
    ['/*ATVLINK:PROTOCOLS*/[]', JSON.stringify(all)],
    ['<!--ATVLINK:PORT_FIELDS-->', portRows],
    ['<!--ATVLINK:CREDENTIAL_FIELDS-->', credentialRows],
    ['<!--ATVLINK:HELP_FIELDS-->', helpRows],
  ]) {
    if (!html.includes(marker)) throw new Error(`atvlink-device.html lacks the marker ${marker}`);
    html = html.replace(marker, value);
  }
  writeFileSync(htmlFile, html);

  const catalogFile = join(dir, 'locales', 'en-US', 'atvlink-device.json');
  const catalog = JSON.parse(readFileSync(catalogFile, 'utf8'));
  const strings = catalog[ns];
  for (const p of protocols) {
    strings.label[`${p.protocol}Port`] = `${p.label} port`;
    strings.placeholder[`${p.protocol}Port`] = `${p.portHint}; empty: ask`;
    if (!p.credentials) continue;
    strings.label[p.protocol] = p.label;
    strings.placeholder[p.protocol] = p.credentials;
  }
  const how = (p) =>
    p.pairing === 'device-shows-pin'
      ? `npx atvlink pair --protocol ${p.protocol} --host <address>, then type the PIN the TV shows`
      : `npx atvlink pair --protocol ${p.protocol}`;
  strings.tip.credentials =
    'Press Pair above, or paste what the command line prints (for setups without a browser): ' +
    protocols
      .filter((p) => p.credentials)
      .map((p) => `${p.label}: ${p.devices} (${how(p)}).`)
      .join(' ') + " Credentials from pyatv work as they are. Stored encrypted in the credentials file, never in the flow.";
  writeFileSync(catalogFile, `${JSON.stringify(catalog, null, 2)}\n`);
}
