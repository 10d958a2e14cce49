/**
 * Discovery node: in watch mode it reports every device that appears, changes or goes away
 * (one message each); on an input message it scans once and sends the list. Multicast by
 * default, unicast to given hosts where multicast does not reach.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { DeviceConfig } from '../../lib/device/interfaces';
import { InvalidArgumentError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import { DeviceWatcher, publicDevice, scanDevices } from '../discovery';
import { onInput } from '../flow-node';

export interface DiscoverNodeDef extends NodeDef {
  /** Keep watching and report changes (default true). */
  watch?: boolean;
  /** Comma-separated hosts for unicast DNS-SD; empty: multicast. */
  hosts?: string;
  port?: string | number;
  /** IPv4 address of the interface to multicast on; empty: all. */
  interface?: string;
  /** Scan duration in seconds for an input-triggered scan. */
  timeout?: string | number;
}

interface Where {
  hosts?: string[];
  port?: number;
  interface?: string;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-discover.${key}`, substitutions);

  function where(def: DiscoverNodeDef): Where {
    const hosts = (def.hosts ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const out: Where = {};
    if (hosts.length) out.hosts = hosts;
    if (def.port !== undefined && String(def.port).trim() !== '') {
      const port = Number(def.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(t('errors.badPort'));
      out.port = port;
    }
    if (def.interface?.trim()) out.interface = def.interface.trim();
    return out;
  }

  function AtvlinkDiscoverNode(this: Node, def: DiscoverNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const logger: Logger = { debug: (m) => node.debug(m), warn: (m) => node.warn(m) };
    // Aborted on close: a scan still running then ends for this node (no message, no status).
    const closing = new AbortController();
    const open = () => !closing.signal.aborted;
    let target: Where | null = null;
    let configProblem: Error | null = null;
    try {
      target = where(def);
    } catch (err) {
      configProblem = err instanceof Error ? err : new InvalidArgumentError(String(err));
      node.status({ fill: 'red', shape: 'ring', text: t('status.badConfig') });
      node.error(configProblem.message);
    }
    const seconds = Number(def.timeout);
    const timeout = Number.isFinite(seconds) && seconds > 0 && seconds <= 60 ? Math.round(seconds * 1000) : 3000;
    let browser: DeviceWatcher | null = null;

    const watching = () => {
      if (!open()) return;
      const count = browser?.devices().length ?? 0;
      node.status({ fill: 'blue', shape: 'dot', text: t('status.watching', { count }) });
    };

    if (target && def.watch !== false) {
      browser = new DeviceWatcher({ ...target, logger });
      const report = (topic: 'added' | 'changed' | 'removed') => (device: DeviceConfig) => {
        if (!open()) return;
        node.send({ topic, payload: publicDevice(device) });
        watching();
      };
      browser.on('added', report('added'));
      browser.on('changed', report('changed'));
      browser.on('removed', report('removed'));
      node.status({ fill: 'yellow', shape: 'ring', text: t('status.starting') });
      browser.start().then(watching, (err: unknown) => {
        if (!open()) return;
        node.status({ fill: 'red', shape: 'ring', text: t('status.failed') });
        node.error(t('errors.watchFailed', { error: err instanceof Error ? err.message : String(err) }));
      });
    } else if (target) {
      node.status({});
    }

    onInput(node, async (msg, send) => {
      // Every message gets an answer, also when the node's own settings cannot work.
      if (configProblem || !target) throw configProblem ?? new InvalidArgumentError(t('errors.badPort'));
      node.status({ fill: 'yellow', shape: 'ring', text: t('status.scanning') });
      let devices: DeviceConfig[];
      try {
        devices = await scanDevices({ ...target, timeout, logger }, closing.signal);
      } catch (err) {
        if (!open()) return;
        throw err;
      } finally {
        if (open()) {
          if (browser) watching();
          else node.status({});
        }
      }
      if (!open()) return;
      msg.payload = devices.map(publicDevice);
      send(msg);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing.abort();
      const stopping = browser ? browser.stop() : Promise.resolve();
      browser = null;
      stopping.then(done, (err: unknown) => {
        node.warn(err instanceof Error ? err.message : String(err));
        done();
      });
    });
  }

  RED.nodes.registerType('atvlink-discover', AtvlinkDiscoverNode);
}
