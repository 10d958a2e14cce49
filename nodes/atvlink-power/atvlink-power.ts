/**
 * Power node: turns the TV on or off (the node's action, or `msg.payload` on/off/toggle) and
 * reads whether it is on; sends the power state the device reports, and, when asked, every
 * change the device pushes (Companion tells when the TV goes to sleep by itself) and the
 * state once connected after a deploy. `msg.payload` is `on`, `off` or `unknown`.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Device } from '../../lib/core/facade';
import type { PowerState } from '../../lib/device/interfaces';
import { InvalidArgumentError } from '../../lib/errors';
import type { DeviceLink } from '../connections';
import { attachToDevice, onInput, withDevice } from '../flow-node';

/** What the node does with an input: read, turn on, turn off, toggle, or what `msg.payload` says. */
export const POWER_ACTIONS = ['msg', 'read', 'on', 'off', 'toggle'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

export interface PowerNodeDef extends NodeDef {
  device?: string;
  action?: string;
  /** Send a message whenever the device reports a new power state (default true). */
  changes?: boolean;
  /** Send the power state once connected after a deploy. */
  initial?: boolean;
}

/**
 * What `msg.payload` asks for: on (`on`, `true`, 1), off (`off`, `false`, 0), `toggle`, or
 * a read for anything else an inject sends by default (a timestamp, an empty string, `state`).
 */
export function requestedPower(payload: unknown): 'read' | 'on' | 'off' | 'toggle' {
  if (payload === true || payload === 1) return 'on';
  if (payload === false || payload === 0) return 'off';
  if (typeof payload !== 'string') return 'read';
  const word = payload.trim().toLowerCase();
  if (word === 'on' || word === 'true' || word === 'wake') return 'on';
  if (word === 'off' || word === 'false' || word === 'sleep') return 'off';
  if (word === 'toggle') return 'toggle';
  return 'read';
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-power.${key}`, substitutions);

  function AtvlinkPowerNode(this: Node, def: PowerNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const action = (def.action || 'msg') as PowerAction;
    if (!(POWER_ACTIONS as readonly string[]).includes(action)) node.warn(t('errors.badAction', { action: String(def.action) }));
    let last: PowerState | null = null;
    let link: DeviceLink<Device> | null = null;
    /** Inputs under way: the change they cause is reported by their own answer, not twice. */
    let acting = 0;

    const report = (state: PowerState): void => {
      const first = last === null;
      const changed = state !== last;
      last = state;
      if (acting > 0) return;
      if (first ? def.initial === true : changed && def.changes !== false) node.send({ topic: link?.name ?? '', payload: state });
    };

    link = attachToDevice(node, def.device, {
      // every connection's first state (a reconnect's only when it differs), then each change
      readings: (readings, changed, initial) => {
        if (initial || changed.includes('power')) report(readings.power);
      },
    });

    onInput(node, async (msg, send) => {
      const wanted = action === 'msg' ? requestedPower(msg.payload) : action;
      if (!(['read', 'on', 'off', 'toggle'] as const).includes(wanted as never)) throw new InvalidArgumentError(t('errors.badAction', { action: String(wanted) }));
      acting++;
      let state: PowerState;
      try {
        state = await withDevice(link, async (device) => {
          if (wanted === 'read') return device.powerState();
          const target = wanted === 'toggle' ? (device.powerState() === 'on' ? 'off' : 'on') : wanted;
          return device.setPower(target);
        });
      } finally {
        acting--;
      }
      // The answer is this message; the change event for the same state is not sent again.
      last = state;
      msg.topic = link?.name ?? '';
      msg.payload = state;
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-power', AtvlinkPowerNode);
}
