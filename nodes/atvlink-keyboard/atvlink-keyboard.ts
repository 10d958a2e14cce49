/**
 * Keyboard node: types into the text field that has the focus on the Apple TV (a search
 * box): set, append or clear its text, or read it; text from the node or `msg.payload`.
 * When asked, it sends a message whenever a text field gets or loses the focus, so a flow can
 * type the moment a search box opens.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Device } from '../../lib/core/facade';
import { InvalidArgumentError } from '../../lib/errors';
import type { DeviceLink } from '../connections';
import { attachToDevice, onInput, withDevice } from '../flow-node';

export const KEYBOARD_ACTIONS = ['set', 'append', 'clear', 'get'] as const;
export type KeyboardAction = (typeof KEYBOARD_ACTIONS)[number];

export interface KeyboardNodeDef extends NodeDef {
  device?: string;
  action?: string;
  /** The text to type; empty: `msg.payload`. */
  text?: string;
  /** Send a message when a text field gets or loses the focus. */
  focus?: boolean;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-keyboard.${key}`, substitutions);

  function AtvlinkKeyboardNode(this: Node, def: KeyboardNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const action = (def.action || 'set') as KeyboardAction;
    let link: DeviceLink<Device> | null = null;

    link = attachToDevice(node, def.device, {
      readings: (readings, changed, initial) => {
        const state = readings.textFocus;
        if (def.focus && !initial && changed.includes('textFocus')) node.send({ topic: link?.name ?? '', payload: state, focused: state === 'focused' });
      },
    });

    onInput(node, async (msg, send) => {
      if (!(KEYBOARD_ACTIONS as readonly string[]).includes(action)) throw new InvalidArgumentError(t('errors.badAction', { action: String(def.action) }));
      const typed = (): string => {
        const text = def.text ? def.text : msg.payload;
        if (typeof text === 'number' || typeof text === 'boolean') return String(text);
        if (typeof text !== 'string') throw new InvalidArgumentError(t('errors.noText'));
        return text;
      };
      switch (action) {
        case 'get':
          msg.payload = await withDevice(link, (device) => device.textGet());
          break;
        case 'clear':
          await withDevice(link, (device) => device.textClear());
          msg.payload = '';
          break;
        case 'set': {
          const text = typed();
          await withDevice(link, (device) => device.textSet(text));
          msg.payload = text;
          break;
        }
        case 'append': {
          const text = typed();
          await withDevice(link, (device) => device.textAppend(text));
          msg.payload = text;
          break;
        }
      }
      msg.topic = link?.name ?? '';
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-keyboard', AtvlinkKeyboardNode);
}
