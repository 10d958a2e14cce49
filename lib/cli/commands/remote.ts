/**
 * The subcommands that talk to one device through the facade: state, watch, command, set,
 * get, artwork, features. Help texts and validation come from THE command and property
 * tables; the protocol is whatever the facade picks (or `--protocol`).
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { COMMANDS, INPUT_ACTIONS, findCommand, isInputAction, type CommandGroup, type CommandOptions } from '../../device/commands';
import { FEATURES } from '../../device/interfaces';
import { PROPERTIES, PROPERTY_NAMES, isPropertyName, parsePropertyValue } from '../../device/properties';
import { NOW_PLAYING_FIELDS } from '../../device/state';
import { DeviceSupervisor } from '../../core/supervisor';
import { AtvError, ClosedError } from '../../errors';
import { closest, UsageError, type OptionSpec } from '../args';
import { CONNECTION_OPTIONS, prepareTarget, withDevice } from '../connection';
import { aborted, type CliCommand } from '../context';
import { EXIT } from '../exit-codes';
import { nowPlayingLines, nowPlayingSummary, table } from '../format';

const JSON_OPTION: OptionSpec = { name: 'json', type: 'boolean', help: 'machine output: one JSON value per line on stdout' };
const connection = { heading: 'Connection', specs: CONNECTION_OPTIONS };

/** A "no artwork" outcome: its own exit code, so scripts can tell it from a failure. */
export class NothingToShowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NothingToShowError';
  }
}

const HOST_EXAMPLE = '--host 192.168.1.20 --port 3689';

export const stateCommand: CliCommand = {
  name: 'state',
  summary: 'print what is playing now',
  positionals: [],
  options: [{ heading: 'Output', specs: [JSON_OPTION] }, connection],
  details: () => [
    `With --json prints the library's now-playing object, every key always present (null when unknown): ${NOW_PLAYING_FIELDS.join(', ')}.`,
  ],
  examples: [`atvlink state ${HOST_EXAMPLE} --credentials 0x0000000000000001`, 'atvlink state --id 00:11:22:33:44:55 --json'],
  async run(ctx) {
    return withDevice(ctx, 'state', async (device) => {
      const state = await device.nowPlaying();
      if (ctx.out.json) ctx.out.result(state);
      else for (const line of nowPlayingLines(state)) ctx.out.line(line);
      return EXIT.ok;
    });
  },
};

export const watchCommand: CliCommand = {
  name: 'watch',
  summary: 'print now-playing updates as the device pushes them',
  positionals: [],
  options: [
    {
      heading: 'Output',
      specs: [
        { name: 'count', type: 'integer', metavar: 'N', min: 1, help: 'exit after N updates (default: until Ctrl-C)' },
        { name: 'reconnect', type: 'boolean', help: 'keep watching when the connection drops or cannot be made: reconnect by itself, with back-off' },
        JSON_OPTION,
      ],
    },
    connection,
  ],
  details: () => [
    'The first update is the state when watching starts. With --json each line is a now-playing object (as `state --json`).',
    'Without --reconnect a lost connection ends the command with its exit code; with it, the connection is kept up as the Node-RED nodes keep theirs (connection states go to stderr).',
  ],
  examples: [`atvlink watch ${HOST_EXAMPLE} --json`, 'atvlink watch --id 00:11:22:33:44:55 --count 5', 'atvlink watch --id 00:11:22:33:44:55 --reconnect'],
  async run(ctx) {
    const count = ctx.args.number('count');
    const reconnect = ctx.args.boolean('reconnect') === true;
    const { target, deviceFor } = await prepareTarget(ctx, 'watch');
    const supervisor = new DeviceSupervisor({
      // A device found by a scan is looked up again for each attempt (a new address, a new port).
      resolve: async () => (target.rescan ? await target.rescan() : target.config),
      createDevice: (config, only) => deviceFor(config, only),
      ...(ctx.logger ? { logger: ctx.logger } : {}),
    });
    const finished = new AbortController();
    let seen = 0;
    let last = '';
    let failure: Error | null = null;
    let connectedOnce = false;
    let reported = '';
    supervisor.register(finished, {
      nowPlaying(state) {
        const key = JSON.stringify(state);
        if (finished.signal.aborted || key === last) return;
        last = key;
        if (ctx.out.json) ctx.out.result(state);
        else ctx.out.line(nowPlayingSummary(state));
        seen++;
        if (count !== undefined && seen >= count) finished.abort();
      },
      status(status) {
        if (status.state === 'connected') connectedOnce = true;
        if (status.state === 'connecting' || status.state === 'idle' || status.state === 'closed') return;
        if (status.state !== 'connected' && !reconnect) {
          failure = status.error ?? new ClosedError('the connection ended');
          finished.abort();
          return;
        }
        const line =
          status.state === 'connected'
            ? connectedOnce && reported !== '' ? 'connected again' : ''
            : `${status.state}: ${status.error?.message ?? 'not connected'}${status.retryIn !== null ? `; next attempt in ${Math.round(status.retryIn / 1000)} s` : ''}`;
        if (line !== '' && line !== reported) ctx.out.error(line);
        reported = line;
      },
    });
    try {
      await Promise.race([aborted(finished.signal), aborted(ctx.signal)]);
    } finally {
      await supervisor.close();
    }
    if (failure !== null) throw failure;
    return EXIT.ok;
  },
};

const GROUP_ORDER: readonly CommandGroup[] = ['transport', 'navigation', 'arrow', 'touch', 'volume', 'power'];

function commandTable(): string[] {
  const lines = ['Commands (NAME; other accepted spellings in brackets; * = takes --action, + = takes --interval):'];
  for (const group of GROUP_ORDER) {
    const names = COMMANDS.filter((c) => c.group === group).map(
      (c) => `${c.name}${'button' in c && c.button ? '*' : ''}${'interval' in c && c.interval ? '+' : ''}${c.aliases.length ? ` [${c.aliases.join(', ')}]` : ''}`,
    );
    lines.push(`  ${`${group}:`.padEnd(12)}${names.join(', ')}`);
  }
  lines.push('Which of them a device accepts depends on its protocol: see `atvlink features`.');
  return lines;
}

export const commandCommand: CliCommand = {
  name: 'command',
  summary: 'send a remote-control command (play, next, menu, volumeUp, ...)',
  positionals: [{ name: 'NAME', help: 'a command of the table below' }],
  options: [
    {
      heading: 'Command',
      specs: [
        { name: 'action', type: 'string', metavar: INPUT_ACTIONS.join('|'), help: 'how a button is pressed (default single)' },
        { name: 'interval', type: 'number', metavar: 'S', help: 'seconds to skip (skipForward, skipBackward)' },
        JSON_OPTION,
      ],
    },
    connection,
  ],
  details: commandTable,
  examples: [`atvlink command playPause ${HOST_EXAMPLE}`, 'atvlink command menu --action hold --id 00:11:22:33:44:55', 'atvlink command skipForward --interval 30 --id 00:11:22:33:44:55'],
  async run(ctx) {
    const name = ctx.args.positionals[0];
    if (name === undefined) throw new UsageError('which command? give its NAME', 'command', `e.g. ${COMMANDS.slice(0, 4).map((c) => c.name).join(', ')}`);
    const spec = findCommand(name);
    if (!spec) {
      const guess = closest(name, COMMANDS.flatMap((c) => [c.name, ...c.aliases]));
      throw new UsageError(`unknown command ${JSON.stringify(name)}`, 'command', guess ? `did you mean ${guess}? (see \`atvlink command --help\`)` : 'see `atvlink command --help` for the list');
    }
    const options: CommandOptions = {};
    const action = ctx.args.string('action');
    if (action !== undefined) {
      if (!isInputAction(action)) throw new UsageError(`--action must be one of ${INPUT_ACTIONS.join(', ')}`, 'command');
      options.action = action;
    }
    const interval = ctx.args.number('interval');
    if (interval !== undefined) options.interval = interval;
    ctx.failure.action = `command "${spec.name}"`;
    return withDevice(ctx, 'command', async (device) => {
      await device.command(spec.name, options);
      if (ctx.out.json) ctx.out.result({ command: spec.name, action: options.action ?? 'single', ...(interval !== undefined ? { interval } : {}) });
      else ctx.out.line(`sent ${spec.name}${options.action && options.action !== 'single' ? ` (${options.action})` : ''}`);
      return EXIT.ok;
    });
  },
};

function propertyTable(): string[] {
  return ['Properties:', ...table(['  PROPERTY', 'VALUE'], PROPERTY_NAMES.map((n) => [`  ${n}`, PROPERTIES[n].accepts]))];
}

function propertyName(input: string | undefined, command: string): (typeof PROPERTY_NAMES)[number] {
  if (input === undefined) throw new UsageError('which property? give its name', command, `one of ${PROPERTY_NAMES.join(', ')}`);
  const name = input.trim();
  if (!isPropertyName(name)) {
    const guess = closest(name, PROPERTY_NAMES);
    throw new UsageError(`unknown property ${JSON.stringify(input)}`, command, guess ? `did you mean ${guess}?` : `one of ${PROPERTY_NAMES.join(', ')}`);
  }
  return name;
}

export const setCommand: CliCommand = {
  name: 'set',
  summary: 'set a player property (position, shuffle, repeat, volume)',
  positionals: [
    { name: 'PROPERTY', help: PROPERTY_NAMES.join(', ') },
    { name: 'VALUE', help: 'see the table below' },
  ],
  options: [{ heading: 'Output', specs: [JSON_OPTION] }, connection],
  details: propertyTable,
  examples: [`atvlink set volume 30 ${HOST_EXAMPLE}`, 'atvlink set shuffle songs --id 00:11:22:33:44:55', 'atvlink set position 90 --id 00:11:22:33:44:55'],
  async run(ctx) {
    const name = propertyName(ctx.args.positionals[0], 'set');
    const raw = ctx.args.positionals[1];
    if (raw === undefined) throw new UsageError(`which value? ${name} takes ${PROPERTIES[name].accepts}`, 'set');
    const value = parsePropertyValue(name, raw);
    ctx.failure.action = `setting ${name}`;
    return withDevice(ctx, 'set', async (device) => {
      const reported = await device.setProperty(name, value);
      if (ctx.out.json) ctx.out.result({ property: name, value: reported });
      else ctx.out.line(`${name}: ${String(reported)}`);
      return EXIT.ok;
    });
  },
};

export const getCommand: CliCommand = {
  name: 'get',
  summary: 'read a player property',
  positionals: [{ name: 'PROPERTY', help: PROPERTY_NAMES.join(', ') }],
  options: [{ heading: 'Output', specs: [JSON_OPTION] }, connection],
  details: propertyTable,
  examples: [`atvlink get volume ${HOST_EXAMPLE}`, 'atvlink get repeat --id 00:11:22:33:44:55 --json'],
  async run(ctx) {
    const name = propertyName(ctx.args.positionals[0], 'get');
    ctx.failure.action = `reading ${name}`;
    return withDevice(ctx, 'get', async (device) => {
      const value = await device.getProperty(name);
      if (ctx.out.json) ctx.out.result({ property: name, value });
      else ctx.out.line(`${name}: ${value === null ? 'unknown' : String(value)}`);
      return EXIT.ok;
    });
  },
};

export const artworkCommand: CliCommand = {
  name: 'artwork',
  summary: 'save the cover art of what is playing',
  positionals: [],
  options: [
    {
      heading: 'Artwork',
      specs: [
        { name: 'out', type: 'string', metavar: 'FILE', help: 'file to write (`-` = raw bytes to stdout)' },
        { name: 'width', type: 'integer', metavar: 'W', min: 1, help: 'ask for this width in pixels' },
        { name: 'height', type: 'integer', metavar: 'H', min: 1, help: 'ask for this height in pixels' },
        JSON_OPTION,
      ],
    },
    connection,
  ],
  details: () => [`Exit code ${EXIT.nothing} when there is no artwork (nothing playing, or no cover); no file is written then.`],
  examples: [`atvlink artwork --out cover.png ${HOST_EXAMPLE}`, 'atvlink artwork --out cover.png --width 600 --height 600 --id 00:11:22:33:44:55'],
  async run(ctx) {
    const out = ctx.args.string('out');
    if (out === undefined || out === '') throw new UsageError('where to? give --out FILE', 'artwork', 'e.g. --out cover.png (or --out - for stdout)');
    if (out === '-' && ctx.out.json) throw new UsageError('--out - writes the image to stdout, which --json needs for itself', 'artwork');
    const width = ctx.args.number('width');
    const height = ctx.args.number('height');
    ctx.failure.action = 'artwork';
    return withDevice(ctx, 'artwork', async (device) => {
      const art = await device.artwork({ ...(width !== undefined ? { width } : {}), ...(height !== undefined ? { height } : {}) });
      if (art === null || art.bytes.length === 0) throw new NothingToShowError('no artwork: nothing is playing, or the item has no cover');
      if (out === '-') {
        ctx.out.bytes(art.bytes);
        return EXIT.ok;
      }
      const file = resolve(out);
      await writeFile(file, art.bytes).catch((err: NodeJS.ErrnoException) => {
        throw new AtvError('INVALID_ARGUMENT', `cannot write ${out}: ${err.code ?? err.message}`);
      });
      const size = art.width !== null && art.height !== null ? `${art.width}×${art.height}` : 'size unknown';
      if (ctx.out.json) ctx.out.result({ file, mimeType: art.mimeType, width: art.width, height: art.height, bytes: art.bytes.length });
      else ctx.out.line(`saved ${art.mimeType}, ${size}, ${art.bytes.length} bytes to ${out}`);
      return EXIT.ok;
    });
  },
};

export const featuresCommand: CliCommand = {
  name: 'features',
  summary: 'list what the device can do right now',
  positionals: [],
  options: [{ heading: 'Output', specs: [JSON_OPTION] }, connection],
  details: () => [
    'Each command and feature is available, unavailable (not now), unsupported (never over this protocol) or unknown (the protocol cannot tell).',
    `Features besides the commands: ${FEATURES.join(', ')}.`,
  ],
  examples: [`atvlink features ${HOST_EXAMPLE}`],
  async run(ctx) {
    return withDevice(ctx, 'features', async (device) => {
      const features = device.features();
      if (ctx.out.json) {
        ctx.out.result(features);
        return EXIT.ok;
      }
      ctx.out.line(`${device.name} over ${device.protocols.join(', ')}`);
      for (const line of table(['FEATURE', 'STATE'], Object.entries(features).map(([k, v]) => [k, v]))) ctx.out.line(line);
      return EXIT.ok;
    });
  },
};

export const REMOTE_COMMANDS: readonly CliCommand[] = [
  stateCommand,
  watchCommand,
  commandCommand,
  setCommand,
  getCommand,
  artworkCommand,
  featuresCommand,
];
