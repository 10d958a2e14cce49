/**
 * Command node: sends one command from the library's command table (picked in the editor,
 * or named by `msg.command` / `msg.payload`) and passes the message on once the device has
 * acknowledged it, so flows can chain commands.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { COMMANDS, findCommand, isInputAction, type CommandOptions } from '../../lib/device/commands';
import { InvalidArgumentError } from '../../lib/errors';
import { attachToDevice, onInput, withDevice } from '../flow-node';

export interface CommandNodeDef extends NodeDef {
  device?: string;
  /** A command name from the table; empty: taken from the message. */
  command?: string;
  action?: string;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-command.${key}`, substitutions);

  function AtvlinkCommandNode(this: Node, def: CommandNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = attachToDevice(node, def.device);

    onInput(node, async (msg, send) => {
      const requested = def.command || msg.command || msg.payload;
      if (typeof requested !== 'string' || requested.trim() === '') {
        throw new InvalidArgumentError(t('errors.noCommand'));
      }
      const spec = findCommand(requested);
      if (!spec) {
        throw new InvalidArgumentError(
          t('errors.unknownCommand', { command: requested.slice(0, 40), known: COMMANDS.map((c) => c.name).join(', ') }),
        );
      }
      // The node's Press is for the buttons it may be sent (a node taking its command from the
      // message gets "play" as well as "down"); msg.action asks for one command and is strict.
      const action = msg.action ?? (spec.button ? def.action || 'single' : 'single');
      if (!isInputAction(action)) throw new InvalidArgumentError(t('errors.badAction', { action: String(action).slice(0, 20) }));
      const options: CommandOptions = { action };
      if (msg.interval !== undefined) options.interval = Number(msg.interval);
      await withDevice(link, (device) => device.command(spec.name, options));
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-command', AtvlinkCommandNode);
}
