/**
 * Discovery node: in watch mode it reports every device that appears, changes or goes away
 * (one message each); on an input message it scans once and sends the list. Multicast by
 * default, unicast to given hosts where multicast does not reach.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { DeviceConfig } from '../../lib/device/interfaces';
import { DeviceBrowser } from '../../lib/discovery';
import { InvalidArgumentError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import { publicDevice, scanDevices } from '../discovery';
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
    let target: Where;
    try {
      target = where(def);
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.badConfig') });
      node.error(err instanceof Error ? err.message : String(err));
      return;
    }
    const seconds = Number(def.timeout);
    const timeout = Number.isFinite(seconds) && seconds > 0 && seconds <= 60 ? Math.round(seconds * 1000) : 3000;
    let browser: DeviceBrowser | null = null;

    const watching = () => {
      const count = browser?.devices().length ?? 0;
      node.status({ fill: 'blue', shape: 'dot', text: t('status.watching', { count }) });
    };

    if (def.watch !== false) {
      browser = new DeviceBrowser({ ...target, logger });
      const report = (topic: 'added' | 'changed' | 'removed') => (device: DeviceConfig) => {
        node.send({ topic, payload: publicDevice(device) });
        watching();
      };
      browser.on('added', report('added'));
      browser.on('changed', report('changed'));
      browser.on('removed', report('removed'));
      node.status({ fill: 'yellow', shape: 'ring', text: t('status.starting') });
      browser.start().then(watching, (err: unknown) => {
        node.status({ fill: 'red', shape: 'ring', text: t('status.failed') });
        node.error(t('errors.watchFailed', { error: err instanceof Error ? err.message : String(err) }));
      });
    } else {
      node.status({});
    }

    onInput(node, async (msg, send) => {
      node.status({ fill: 'yellow', shape: 'ring', text: t('status.scanning') });
      try {
        const devices = await scanDevices({ ...target, timeout, logger });
        msg.payload = devices.map(publicDevice);
        send(msg);
      } finally {
        if (browser) watching();
        else node.status({});
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
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
