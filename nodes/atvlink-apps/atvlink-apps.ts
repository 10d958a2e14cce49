/**
 * Apps node: lists the apps the Apple TV can launch (for a dashboard dropdown), launches one
 * (the node's bundle id or URL, or `msg.payload`), or reads the app in the foreground; and,
 * when asked, sends the app in the foreground whenever it changes.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Device } from '../../lib/core/facade';
import type { AppInfo } from '../../lib/device/state';
import { InvalidArgumentError } from '../../lib/errors';
import type { DeviceLink } from '../connections';
import { attachToDevice, onInput, withDevice } from '../flow-node';

export const APPS_ACTIONS = ['list', 'launch', 'current'] as const;
export type AppsAction = (typeof APPS_ACTIONS)[number];

export interface AppsNodeDef extends NodeDef {
  device?: string;
  action?: string;
  /** What to launch (bundle id or URL); empty: `msg.payload`. */
  app?: string;
  /** Send the app in the foreground whenever it changes. */
  changes?: boolean;
}

/** Apps by name (a dropdown's order), and as `{label, value}` items for a dashboard dropdown. */
export function appOptions(apps: readonly AppInfo[]): { sorted: AppInfo[]; options: { label: string; value: string }[] } {
  const sorted = [...apps].sort((a, b) => (a.name ?? a.bundleId ?? '').localeCompare(b.name ?? b.bundleId ?? ''));
  const options = sorted.filter((a) => a.bundleId).map((a) => ({ label: a.name ?? a.bundleId!, value: a.bundleId! }));
  return { sorted, options };
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-apps.${key}`, substitutions);

  function AtvlinkAppsNode(this: Node, def: AppsNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const action = (def.action || 'list') as AppsAction;
    let link: DeviceLink<Device> | null = null;

    link = attachToDevice(node, def.device, {
      // the app the device reports next (not the one in front when the connection opens)
      readings: (readings, changed, initial) => {
        if (def.changes && !initial && changed.includes('app')) node.send({ topic: link?.name ?? '', payload: readings.app });
      },
    });

    onInput(node, async (msg, send) => {
      switch (action) {
        case 'list': {
          const { sorted, options } = appOptions(await withDevice(link, (device) => device.appList()));
          msg.payload = sorted;
          msg.options = options;
          break;
        }
        case 'launch': {
          const target = def.app?.trim() || msg.payload;
          if (typeof target !== 'string' || target.trim() === '') throw new InvalidArgumentError(t('errors.noApp'));
          await withDevice(link, (device) => device.launchApp(target));
          msg.payload = target.trim();
          break;
        }
        case 'current':
          msg.payload = await withDevice(link, async (device) => device.currentApp());
          break;
        default:
          throw new InvalidArgumentError(t('errors.badAction', { action: String(def.action) }));
      }
      msg.topic = link?.name ?? '';
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-apps', AtvlinkAppsNode);
}
