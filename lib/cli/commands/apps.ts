/**
 * The subcommands for what a current Apple TV does over Companion, through the facade (so
 * the best protocol serves each): power, apps, user accounts and the on-screen keyboard.
 * A device needs Companion credentials for these (`atvlink pair --protocol companion`).
 */
import type { PowerState } from '../../device/interfaces';
import { UsageError, type OptionSpec } from '../args';
import { CONNECTION_OPTIONS, withDevice } from '../connection';
import type { CliCommand } from '../context';
import { EXIT } from '../exit-codes';
import { table } from '../format';
import { NothingToShowError } from './remote';

const JSON_OPTION: OptionSpec = { name: 'json', type: 'boolean', help: 'machine output: one JSON value per line on stdout' };
const connection = { heading: 'Connection', specs: CONNECTION_OPTIONS };
const output = { heading: 'Output', specs: [JSON_OPTION] };
const BY_ID = '--id 00:11:22:33:44:55';
const PAIRING_NOTE = 'Needs Companion: pair it with `atvlink pair --protocol companion`, then pass --credentials companion=C.';

export const powerCommand: CliCommand = {
  name: 'power',
  summary: 'print whether the device is on (or turn it on or off)',
  positionals: [{ name: 'STATE', help: 'on or off: turn the device on or off first', optional: true }],
  options: [output, connection],
  details: () => [
    'Prints on, off or unknown: the state the device reports (over Companion it is pushed by the device, not guessed).',
    `With --json prints {"power": "on" | "off" | "unknown"}. ${PAIRING_NOTE}`,
  ],
  examples: [`atvlink power ${BY_ID} --json`, `atvlink power off ${BY_ID}`],
  async run(ctx) {
    const wanted = ctx.args.positionals[0]?.toLowerCase();
    if (wanted !== undefined && wanted !== 'on' && wanted !== 'off') throw new UsageError(`power takes on or off, not ${JSON.stringify(wanted)}`, 'power');
    ctx.failure.action = wanted === undefined ? 'reading the power state' : `turning the device ${wanted}`;
    return withDevice(ctx, 'power', async (device) => {
      const state: PowerState = wanted === undefined ? device.powerState() : await device.setPower(wanted);
      if (ctx.out.json) ctx.out.result({ power: state });
      else ctx.out.line(state);
      return EXIT.ok;
    });
  },
};

export const appsCommand: CliCommand = {
  name: 'apps',
  summary: 'list the apps the device can launch',
  positionals: [],
  options: [output, connection],
  details: () => [`With --json prints an array of {name, bundleId}. ${PAIRING_NOTE}`],
  examples: [`atvlink apps ${BY_ID}`, `atvlink apps ${BY_ID} --json`],
  async run(ctx) {
    ctx.failure.action = 'listing apps';
    return withDevice(ctx, 'apps', async (device) => {
      const apps = await device.appList();
      if (ctx.out.json) ctx.out.result(apps);
      else for (const line of table(['NAME', 'BUNDLE ID'], apps.map((a) => [a.name ?? '', a.bundleId ?? '']))) ctx.out.line(line);
      return EXIT.ok;
    });
  },
};

export const launchCommand: CliCommand = {
  name: 'launch',
  summary: 'launch an app by bundle id, or open a URL',
  positionals: [{ name: 'ID_OR_URL', help: 'a bundle id (see `atvlink apps`) or a URL / deep link' }],
  options: [output, connection],
  details: () => ['Something with a scheme (https:, netflix:) is opened as a URL; anything else is a bundle id.', PAIRING_NOTE],
  examples: [`atvlink launch com.apple.TVMusic ${BY_ID}`, `atvlink launch https://tv.apple.com/ ${BY_ID}`],
  async run(ctx) {
    const target = ctx.args.positionals[0];
    if (target === undefined || target.trim() === '') throw new UsageError('what to launch? give a bundle id or a URL', 'launch', 'list them with `atvlink apps`');
    ctx.failure.action = `launching ${target}`;
    return withDevice(ctx, 'launch', async (device) => {
      await device.launchApp(target);
      if (ctx.out.json) ctx.out.result({ launched: target.trim() });
      else ctx.out.line(`launched ${target.trim()}`);
      return EXIT.ok;
    });
  },
};

export const accountsCommand: CliCommand = {
  name: 'accounts',
  summary: 'list the user accounts (profiles) of the device',
  positionals: [],
  options: [output, connection],
  details: () => [`With --json prints an array of {id, name}. ${PAIRING_NOTE}`],
  examples: [`atvlink accounts ${BY_ID}`],
  async run(ctx) {
    ctx.failure.action = 'listing accounts';
    return withDevice(ctx, 'accounts', async (device) => {
      const accounts = await device.accountList();
      if (ctx.out.json) ctx.out.result(accounts);
      else for (const line of table(['ID', 'NAME'], accounts.map((a) => [a.id, a.name]))) ctx.out.line(line);
      return EXIT.ok;
    });
  },
};

export const switchAccountCommand: CliCommand = {
  name: 'switch-account',
  summary: 'make another user account the active one',
  positionals: [{ name: 'ID', help: 'an account id (see `atvlink accounts`)' }],
  options: [output, connection],
  details: () => [PAIRING_NOTE],
  examples: [`atvlink switch-account 1234-5678 ${BY_ID}`],
  async run(ctx) {
    const id = ctx.args.positionals[0];
    if (id === undefined || id.trim() === '') throw new UsageError('which account? give its ID', 'switch-account', 'list them with `atvlink accounts`');
    ctx.failure.action = 'switching accounts';
    return withDevice(ctx, 'switch-account', async (device) => {
      await device.switchAccount(id);
      if (ctx.out.json) ctx.out.result({ account: id.trim() });
      else ctx.out.line(`switched to account ${id.trim()}`);
      return EXIT.ok;
    });
  },
};

const TEXT_ACTIONS = ['get', 'set', 'append', 'clear'] as const;
type TextAction = (typeof TEXT_ACTIONS)[number];

export const textCommand: CliCommand = {
  name: 'text',
  summary: 'read or type into the text field that has the focus (a search box)',
  positionals: [
    { name: 'ACTION', help: TEXT_ACTIONS.join(', ') },
    { name: 'TEXT', help: 'what to type (set, append); quote it when it has spaces', optional: true },
  ],
  options: [output, connection],
  details: () => [
    'get prints the text in the field; set replaces it, append types after it, clear empties it.',
    `Exit code ${EXIT.nothing} for get when no text field has the focus. ${PAIRING_NOTE}`,
  ],
  examples: [`atvlink text set "star wars" ${BY_ID}`, `atvlink text get ${BY_ID} --json`],
  async run(ctx) {
    const action = ctx.args.positionals[0];
    if (!(TEXT_ACTIONS as readonly string[]).includes(action ?? '')) {
      throw new UsageError(action === undefined ? 'which action? get, set, append or clear' : `unknown action ${JSON.stringify(action)}`, 'text');
    }
    const text = ctx.args.positionals[1];
    const takesText = action === 'set' || action === 'append';
    if (takesText && text === undefined) throw new UsageError(`${action} needs the TEXT to type`, 'text', 'e.g. atvlink text set "star wars" …');
    if (!takesText && text !== undefined) throw new UsageError(`${action} takes no TEXT`, 'text');
    ctx.failure.action = `text ${action}`;
    return withDevice(ctx, 'text', async (device) => {
      switch (action as TextAction) {
        case 'get': {
          const current = await device.textGet();
          if (current === null) throw new NothingToShowError('no text field has the focus');
          if (ctx.out.json) ctx.out.result({ text: current });
          else ctx.out.line(current);
          return EXIT.ok;
        }
        case 'set':
          await device.textSet(text!);
          break;
        case 'append':
          await device.textAppend(text!);
          break;
        case 'clear':
          await device.textClear();
          break;
      }
      if (ctx.out.json) ctx.out.result({ action, ...(takesText ? { text } : {}) });
      else ctx.out.line(action === 'clear' ? 'cleared the text field' : `typed ${JSON.stringify(text)}`);
      return EXIT.ok;
    });
  },
};

export const COMPANION_CLI_COMMANDS: readonly CliCommand[] = [powerCommand, appsCommand, launchCommand, accountsCommand, switchAccountCommand, textCommand];
