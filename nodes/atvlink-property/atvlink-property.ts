/**
 * Property node: sets position, shuffle, repeat or volume (picked in the editor, or named by
 * `msg.property` when the node says so) to a value from the editor or the message (typed
 * input) and passes the message on with the value the device reports after; or, set to
 * "get", reads the property on demand.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { checkProperty, isPropertyName, PROPERTY_NAMES } from '../../lib/device/properties';
import { InvalidArgumentError } from '../../lib/errors';
import { fitted } from '../connections';
import { attachToDevice, evaluate, onInput, refreshStatus, withDevice } from '../flow-node';

export interface PropertyNodeDef extends NodeDef {
  device?: string;
  /** A property name; empty: taken from `msg.property` (the only case that reads it). */
  property?: string;
  value?: string;
  valueType?: string;
  /** `set` (default, also for flows saved before) or `get`. */
  mode?: string;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-property.${key}`, substitutions);

  function AtvlinkPropertyNode(this: Node, def: PropertyNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const getting = def.mode === 'get';
    let lastValue: { name: string; value: unknown } | null = null;
    const own = () => (lastValue ? fitted((key, v) => t(key, { property: lastValue!.name, ...v }), 'status.value', 'value', String(lastValue.value ?? '–')) : null);
    const link = attachToDevice(node, def.device, {}, own);

    onInput(node, async (msg, send) => {
      // msg.property is also what this node sends on: read it only when told to, or a node
      // wired after another would set the other's property instead of its own.
      const fromMsg = !def.property;
      const name = fromMsg ? msg.property : def.property;
      if (fromMsg && (typeof name !== 'string' || name === '')) throw new InvalidArgumentError(t('errors.noProperty'));
      if (!isPropertyName(name)) {
        throw new InvalidArgumentError(t('errors.unknownProperty', { property: String(name).slice(0, 40), known: PROPERTY_NAMES.join(', ') }));
      }
      if (getting) {
        msg.payload = await withDevice(link, (device) => device.getProperty(name));
      } else {
        const raw = await evaluate(RED, node, def.value ?? 'payload', def.valueType || 'msg', msg);
        const request = checkProperty(name, raw);
        msg.payload = await withDevice(link, (device) => device.applyProperty(request));
      }
      msg.property = name;
      lastValue = { name, value: msg.payload };
      refreshStatus(node);
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-property', AtvlinkPropertyNode);
}
