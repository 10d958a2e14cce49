/**
 * Playstatus node: an event source that sends the library's now-playing state when one of
 * the chosen fields changes (not on every push or position tick), optionally once on
 * deploy, and on demand when a message arrives.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Device } from '../../lib/core/facade';
import { changedFields, NOW_PLAYING_FIELDS, type NowPlaying, type NowPlayingField } from '../../lib/device/state';
import type { DeviceLink } from '../connections';
import { attachToDevice, onInput, withDevice } from '../flow-node';

/** What counts as a change unless the node says otherwise: everything but the position tick. */
export const DEFAULT_WATCHED_FIELDS: readonly NowPlayingField[] = NOW_PLAYING_FIELDS.filter((f) => f !== 'position');

export interface PlaystatusNodeDef extends NodeDef {
  device?: string;
  /** Fields whose change sends a message; empty: `DEFAULT_WATCHED_FIELDS`. */
  fields?: string[] | string;
  /** Send the current state once when the connection is first up after a deploy. */
  initial?: boolean;
}

export function watchedFields(fields: PlaystatusNodeDef['fields']): NowPlayingField[] {
  const list = Array.isArray(fields) ? fields : typeof fields === 'string' ? fields.split(',') : [];
  const known = list.map((f) => f.trim()).filter((f): f is NowPlayingField => (NOW_PLAYING_FIELDS as readonly string[]).includes(f));
  return known.length > 0 ? known : [...DEFAULT_WATCHED_FIELDS];
}

export default function (RED: NodeAPI): void {
  function AtvlinkPlaystatusNode(this: Node, def: PlaystatusNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const fields = watchedFields(def.fields);
    let last: NowPlaying | null = null;
    // Declared before it is attached, so no listener can ever find it uninitialised.
    let link: DeviceLink<Device> | null = null;

    link = attachToDevice(node, def.device, {
      nowPlaying(state) {
        const first = last === null;
        const changed = changedFields(last, state, fields);
        last = state;
        if (first ? def.initial === true : changed.length > 0) {
          node.send({ topic: link?.name ?? '', payload: state, changed });
        }
      },
    });

    onInput(node, async (msg, send) => {
      const state = await withDevice(link, (device) => device.nowPlaying());
      msg.topic = link?.name ?? '';
      msg.payload = state;
      msg.changed = changedFields(last, state, fields);
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-playstatus', AtvlinkPlaystatusNode);
}
