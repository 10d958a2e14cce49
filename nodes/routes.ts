/**
 * The editor's admin routes, all in one place and all behind a permission check. The
 * dropdowns of the editor are filled from the library's own tables through these, so a
 * command or property added to the library shows up in the editor without an edit here.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { COMMANDS, INPUT_ACTIONS } from '../lib/device/commands';
import { ARTWORK_MAX_EDGE, PROTOCOLS, type DeviceConfig, type Protocol } from '../lib/device/interfaces';
import { PROPERTIES, PROPERTY_NAMES } from '../lib/device/properties';
import { AtvError, InvalidArgumentError } from '../lib/errors';
import type { PairOptions } from '../lib/protocols/descriptor';
import { DEFAULT_WATCHED_FIELDS, PLAYSTATUS_FIELDS } from './atvlink-playstatus/atvlink-playstatus';
import { getLink } from './connections';
import { deviceMatches } from '../lib/discovery';
import { publicDevice, scanDevices } from './discovery';
import { PairingRegistry } from './pairing';

const READ = 'atvlink-device.read';
/** Pairing opens connections and stores credentials: it needs the right to change the device. */
const WRITE = 'atvlink-device.write';
/** The name a device lists the editor's pairings under. */
export const PAIRING_NAME = 'Node-RED';

/** Devices the last scans found (with what pairing needs: ports, TXT), by identifier, for a while. */
const SCAN_MEMORY_MS = 30 * 60_000;
const SCAN_MEMORY_MAX = 64;
const scanned = new Map<string, { config: DeviceConfig; at: number }>();

function remember(devices: readonly DeviceConfig[]): void {
  const now = Date.now();
  for (const d of devices) if (d.identifier) scanned.set(d.identifier.toLowerCase(), { config: d, at: now });
  for (const [key, seen] of scanned) if (now - seen.at > SCAN_MEMORY_MS || scanned.size > SCAN_MEMORY_MAX) scanned.delete(key);
}

/** A device the editor scanned, by any of its identifiers. */
export function scannedDevice(identifier: string): DeviceConfig | null {
  const wanted = identifier.trim().toLowerCase();
  const direct = scanned.get(wanted);
  if (direct) return direct.config;
  for (const { config } of scanned.values()) if (deviceMatches(config, wanted)) return config;
  return null;
}

/** What the routes need from the device config node's module (it owns how a device is found). */
export interface RouteContext {
  /** Finds the device the dialog describes (identifier, host, ports), as the node would. */
  resolveDevice(form: Record<string, unknown>): Promise<DeviceConfig>;
  /** DMAP: where to announce the remote while pairing (settings.js). */
  announce: Pick<PairOptions, 'interface' | 'advertiser'>;
}

/** The one registry of the editor's pairing sessions. */
export const pairings = new PairingRegistry();

function sendError(res: Response, err: unknown): void {
  const code = err instanceof AtvError ? err.code : 'ERROR';
  const status = code === 'INVALID_ARGUMENT' || code === 'NOT_SUPPORTED' ? 400 : 500;
  res.status(status).json({ error: err instanceof Error ? err.message : String(err), code });
}

/** A config node id as the editor makes them (16 hex digits, or any id of letters, digits, ".", "-", "_"). */
function nodeId(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(value)) throw new InvalidArgumentError('the device config node id is missing or malformed');
  return value;
}

function protocolOf(value: unknown): Protocol {
  if (typeof value !== 'string' || !(PROTOCOLS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`protocol must be one of ${PROTOCOLS.join(', ')}`);
  }
  return value as Protocol;
}

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

export function registerRoutes(RED: NodeAPI, context: RouteContext): void {
  const needs = RED.auth.needsPermission(READ);
  const needsWrite = RED.auth.needsPermission(WRITE);
  const body = (req: Request): Record<string, unknown> => (req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {});

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
      (devices) => {
        remember(devices);
        res.json(devices.map(publicDevice));
      },
      (err: unknown) => {
        if (!gone.signal.aborted) res.status(500).json({ error: err instanceof Error ? err.message : String(err) });
      },
    );
  });
  // ---- Pairing from the device dialog. The browser never receives a credential: the
  // sessions keep them until the dialog is saved, then `commit` stores them as the config
  // node's credentials (Node-RED's encrypted store) and the sessions forget them.

  RED.httpAdmin.post('/atvlink/pairings', needsWrite, (req, res) => {
    const form = body(req);
    let node: string;
    let protocol: Protocol;
    try {
      node = nodeId(form.node);
      protocol = protocolOf(form.protocol);
    } catch (err) {
      sendError(res, err);
      return;
    }
    const identifier = typeof form.identifier === 'string' ? form.identifier.trim() : '';
    const host = typeof form.host === 'string' ? form.host.trim() : '';
    // A device the dialog scanned has its TXT records (what some pairings need); one typed in
    // by hand is found as the node will find it.
    const known = identifier ? scannedDevice(identifier) : null;
    const device = known && (!host || known.address === host) ? Promise.resolve(known) : context.resolveDevice(form);
    device
      .then((config) => pairings.start({ node, protocol, device: config, name: PAIRING_NAME, announce: context.announce }))
      .then((view) => res.status(201).json(view), (err: unknown) => sendError(res, err));
  });

  RED.httpAdmin.get('/atvlink/pairings/:id', needsWrite, (req, res) => {
    try {
      res.json(pairings.status(String(req.params.id), nodeId(req.query.node)));
    } catch (err) {
      sendError(res, err);
    }
  });

  RED.httpAdmin.post('/atvlink/pairings/:id/pin', needsWrite, (req, res) => {
    try {
      const form = body(req);
      res.json(pairings.enterPin(String(req.params.id), nodeId(form.node), form.pin));
    } catch (err) {
      sendError(res, err);
    }
  });

  RED.httpAdmin.delete('/atvlink/pairings/:id', needsWrite, (req, res) => {
    let node: string;
    try {
      node = nodeId(req.query.node);
    } catch (err) {
      sendError(res, err);
      return;
    }
    pairings.cancel(String(req.params.id), node).then(
      () => res.status(204).end(),
      (err: unknown) => sendError(res, err),
    );
  });

  /** The dialog was saved: the paired sessions' credentials become the node's credentials. */
  RED.httpAdmin.post('/atvlink/pairings/commit', needsWrite, (req, res) => {
    const form = body(req);
    let node: string;
    try {
      node = nodeId(form.node);
    } catch (err) {
      sendError(res, err);
      return;
    }
    const ids = Array.isArray(form.ids) ? form.ids.filter((id): id is string => typeof id === 'string').slice(0, 16) : [];
    const taken = pairings.take(node, ids);
    if (taken.size === 0) {
      res.json({ committed: [] });
      return;
    }
    const existing = (RED.nodes.getCredentials(node) ?? {}) as Record<string, unknown>;
    const merged: Record<string, unknown> = { ...existing };
    for (const [protocol, credentials] of taken) merged[protocol] = credentials;
    Promise.resolve(RED.nodes.addCredentials(node, merged)).then(
      () => res.json({ committed: [...taken.keys()] }),
      (err: unknown) => sendError(res, err),
    );
  });

  /** The current cover of a deployed device, small, for the artwork node's dialog. */
  RED.httpAdmin.get('/atvlink/artwork/:device', needs, (req, res) => {
    const link = getLink(String(req.params.device));
    const edge = Number(req.query.size ?? 160);
    if (!link || !(Number.isInteger(edge) && edge >= 16 && edge <= Math.min(ARTWORK_MAX_EDGE, 600))) {
      res.status(404).json({ error: link ? 'size must be 16 to 600 pixels' : 'this device is not deployed' });
      return;
    }
    link.use((device) => device.fetchArtwork({ width: edge, height: edge }), 5_000).then(
      (artwork) =>
        res.json(
          artwork
            ? { dataUri: `data:${artwork.mimeType};base64,${artwork.bytes.toString('base64')}`, contentType: artwork.mimeType, width: artwork.width, height: artwork.height }
            : { dataUri: null },
        ),
      (err: unknown) => res.status(503).json({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}
