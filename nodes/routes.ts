/**
 * The editor's admin routes, all in one place and all behind a permission check. The
 * dropdowns of the editor are filled from the library's own tables through these, so a
 * command or property added to the library shows up in the editor without an edit here.
 */
import type { NodeAPI } from 'node-red';
import { COMMANDS, INPUT_ACTIONS } from '../lib/device/commands';
import { PROPERTIES, PROPERTY_NAMES } from '../lib/device/properties';
import { DEFAULT_WATCHED_FIELDS, PLAYSTATUS_FIELDS } from './atvlink-playstatus/atvlink-playstatus';
import { publicDevice, scanDevices } from './discovery';

const READ = 'atvlink-device.read';

/** Parses `?hosts=a,b&port=N&timeout=S` of the discover route; null when malformed. */
export function parseDiscoverQuery(query: Record<string, unknown>): { hosts?: string[]; port?: number; timeout: number } | null {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const hosts = text(query.hosts)
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  if (hosts.some((h) => !/^[A-Za-z0-9.-]{1,253}$/.test(h)) || hosts.length > 16) return null;
  const portText = text(query.port);
  const port = portText ? Number(portText) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) return null;
  const timeoutText = text(query.timeout);
  const seconds = timeoutText ? Number(timeoutText) : 3;
  if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= 30)) return null;
  return { ...(hosts.length ? { hosts } : {}), ...(port ? { port } : {}), timeout: Math.round(seconds * 1000) };
}

export function registerRoutes(RED: NodeAPI): void {
  const needs = RED.auth.needsPermission(READ);

  RED.httpAdmin.get('/atvlink/commands', needs, (_req, res) => {
    res.json(COMMANDS.map((c) => ({ name: c.name, label: c.label, group: c.group, button: c.button, interval: 'interval' in c })));
  });

  RED.httpAdmin.get('/atvlink/actions', needs, (_req, res) => {
    res.json(INPUT_ACTIONS);
  });

  RED.httpAdmin.get('/atvlink/properties', needs, (_req, res) => {
    res.json(PROPERTY_NAMES.map((n) => ({ name: n, label: PROPERTIES[n].label, accepts: PROPERTIES[n].accepts })));
  });

  RED.httpAdmin.get('/atvlink/fields', needs, (_req, res) => {
    res.json({ fields: PLAYSTATUS_FIELDS, defaults: DEFAULT_WATCHED_FIELDS });
  });

  RED.httpAdmin.get('/atvlink/discover', needs, (req, res) => {
    const request = parseDiscoverQuery(req.query as Record<string, unknown>);
    if (!request) {
      res.status(400).json({ error: 'hosts must be addresses separated by commas, port 1-65535, timeout 1-30 s' });
      return;
    }
    // The editor closing its dialog (or the browser going away) ends the scan at once.
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    scanDevices(request, gone.signal).then(
      (devices) => res.json(devices.map(publicDevice)),
      (err: unknown) => {
        if (!gone.signal.aborted) res.status(500).json({ error: err instanceof Error ? err.message : String(err) });
      },
    );
  });
}
