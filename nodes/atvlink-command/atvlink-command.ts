/**
 * Command node: sends one command from the library's command table (picked in the editor,
 * or named by `msg.command` / `msg.payload`) and passes the message on once the device has
 * acknowledged it, so flows can chain commands.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { checkCommand, COMMANDS, CommandError, findCommand, type CommandRequest } from '../../lib/device/commands';
import { InvalidArgumentError } from '../../lib/errors';
import { fitted } from '../connections';
import { attachToDevice, onInput, refreshStatus, withDevice } from '../flow-node';

export interface CommandNodeDef extends NodeDef {
  device?: string;
  /** A command name from the table; empty: taken from the message. */
  command?: string;
  action?: string;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-command.${key}`, substitutions);

  /** The node's own words for what is wrong with a command (the library's otherwise). */
  function translated(err: CommandError): Error {
    const problem = err.problem;
    switch (problem.kind) {
      case 'unknown-command':
        return new InvalidArgumentError(t('errors.unknownCommand', { command: problem.given.slice(0, 40), known: COMMANDS.map((c) => c.name).join(', ') }));
      case 'unknown-action':
        return new InvalidArgumentError(t('errors.badAction', { action: problem.given.slice(0, 20) }));
      default:
        return err;
    }
  }

  function AtvlinkCommandNode(this: Node, def: CommandNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    let sent: string | null = null;
    const link = attachToDevice(node, def.device, {}, () => (sent ? fitted(t, 'status.sent', 'command', sent) : null));

    onInput(node, async (msg, send) => {
      const requested = def.command || msg.command || msg.payload;
      if (typeof requested !== 'string' || requested.trim() === '') {
        throw new InvalidArgumentError(t('errors.noCommand'));
      }
      let request: CommandRequest;
      try {
        const spec = findCommand(requested);
        // The node's Press is for the buttons it may be sent (a node taking its command from the
        // message gets "play" as well as "down"); msg.action asks for one command and is strict.
        const action = msg.action ?? (spec?.button ? def.action || 'single' : 'single');
        request = checkCommand(requested, { action, ...(msg.interval !== undefined && { interval: Number(msg.interval) }) });
      } catch (err) {
        throw err instanceof CommandError ? translated(err) : err;
      }
      await withDevice(link, (device) => device.sendCommand(request));
      sent = request.action === 'single' ? request.command : `${request.action} ${request.command}`;
      refreshStatus(node);
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-command', AtvlinkCommandNode);
}
