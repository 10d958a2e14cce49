/**
 * `runCli(argv, io)`: the whole command-line tool as a function, so tests run it in-process
 * with in-memory streams; the bin (`index.ts`) only wires it to the real process. Every
 * failure ends here and becomes a message the user can act on, on stderr, with the exit
 * code of its class (exit-codes.ts). Credentials never reach stderr.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AtvError, BackOffError } from '../errors';
import type { Logger } from '../log';
import { closest, parseArgs, UsageError } from './args';
import { COMPANION_CLI_COMMANDS } from './commands/apps';
import { pairCommand } from './commands/pair';
import { NothingToShowError, REMOTE_COMMANDS } from './commands/remote';
import { playCommand } from './commands/play';
import { scanCommand } from './commands/scan';
import { simulateCommand } from './commands/simulate';
import { credentialsEnv, DEFAULT_PROTOCOL } from './connection';
import { CancelledError, Output, type CliCommand, type CliIo, type CommandContext, type FailureContext } from './context';
import { EXIT, EXIT_BY_ERROR_CODE } from './exit-codes';
import { commandHelp, GENERAL_OPTIONS, mainHelp, usageLine } from './help';

export type { CliIo, CliOutput } from './context';

/** Every subcommand, in help order. */
export const CLI_COMMANDS: readonly CliCommand[] = [scanCommand, pairCommand, ...REMOTE_COMMANDS, playCommand, ...COMPANION_CLI_COMMANDS, simulateCommand];

const byName = new Map(CLI_COMMANDS.map((c) => [c.name, c]));

export function cliVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

interface Failure {
  exitCode: number;
  code: string;
  message: string;
  hint: string | null;
  /** Seconds the device asks us to wait (back-off), also in the --json error object. */
  retryAfter?: number;
}

/** The message and exit code for anything a command threw. */
export function describeFailure(err: unknown, command: string | null, context: FailureContext): Failure {
  const helpHint = command ? `run \`atvlink ${command} --help\`` : 'run `atvlink --help`';
  if (err instanceof UsageError) {
    return { exitCode: EXIT.usage, code: 'USAGE', message: err.message, hint: err.hint ?? helpHint };
  }
  if (err instanceof NothingToShowError) {
    return { exitCode: EXIT.nothing, code: 'NOTHING', message: err.message, hint: null };
  }
  if (err instanceof CancelledError) {
    return { exitCode: EXIT.cancelled, code: 'CANCELLED', message: 'cancelled', hint: null };
  }
  if (!(err instanceof AtvError)) {
    const message = err instanceof Error ? err.message : String(err);
    return { exitCode: EXIT.failure, code: 'UNEXPECTED', message: `unexpected error: ${message}`, hint: 'run again with --debug for details' };
  }
  const exitCode = EXIT_BY_ERROR_CODE[err.code] ?? EXIT.failure;
  const endpoint = context.endpoint;
  const at = endpoint && !err.message.includes(endpoint) ? ` at ${endpoint}` : '';
  const protocol = context.protocol ?? DEFAULT_PROTOCOL;
  const base = { exitCode, code: err.code };
  switch (err.code) {
    case 'AUTH':
      return {
        ...base,
        message: `wrong or missing credentials: ${err.message}`,
        hint:
          `pair again with \`atvlink pair --protocol ${protocol}\`, then pass them with --credentials or ${credentialsEnv(protocol)}` +
          (context.protocol ? '' : ' (for a device with several protocols, say whose: --credentials PROTOCOL=C)'),
      };
    case 'UNREACHABLE':
      return {
        ...base,
        message: `device unreachable${at}: ${err.message}`,
        hint: 'is it on and on this network? check --host and --port, or find it with `atvlink scan`',
      };
    case 'CONNECTION_LOST':
      return { ...base, message: `lost the connection${at}: ${err.message}`, hint: 'is the device still on? run the command again' };
    case 'TIMEOUT':
      return { ...base, message: `no answer in time${at}: ${err.message}`, hint: 'is the device awake? a longer --timeout may help' };
    case 'NOT_SUPPORTED':
      return {
        ...base,
        message: `${context.action ?? 'this'} is not supported by this device/protocol: ${err.message}`,
        hint: '`atvlink features` lists what the device can do now',
      };
    case 'PAIRING':
      return { ...base, message: `pairing failed: ${err.message}`, hint: null };
    case 'BACKOFF': {
      const seconds = err instanceof BackOffError && err.retryAfter > 0 ? err.retryAfter : null;
      // The library's message already says how long when it knows; say it once, plainly.
      const said = seconds !== null && err.message.includes(`${seconds} s`);
      return {
        ...base,
        message: err.message,
        hint: seconds === null || said ? null : `wait ${seconds} s, then try again`,
        ...(seconds !== null ? { retryAfter: seconds } : {}),
      };
    }
    case 'INVALID_ARGUMENT':
      return { ...base, message: err.message, hint: helpHint };
    case 'PROTOCOL':
      return { ...base, message: `the device sent something unexpected${at}: ${err.message}`, hint: 'run with --debug to see the exchange' };
    case 'CLOSED':
      return { ...base, message: err.message, hint: null };
  }
}

function stackOf(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    parts.push(current instanceof Error ? current.stack ?? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}

function debugLogger(out: Output): Logger {
  return {
    debug: (message) => out.error(`debug: ${message}`),
    warn: (message) => out.error(`warning: ${message}`),
  };
}

/**
 * Runs `atvlink` with `argv` (the words after the program name) and resolves with the exit
 * code. Aborting `io.signal` stops a long-running command (watch, simulate, pair).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const words = [...argv];
  const jsonWanted = words.includes('--json');
  let out = new Output(io, jsonWanted);
  let debug = words.includes('--debug');
  let commandName: string | null = null;
  const failure: FailureContext = {};
  const report = (err: unknown): number => {
    const f = describeFailure(err, commandName, failure);
    if (f.code === 'CANCELLED') return f.exitCode;
    if (out.json) {
      const extra = { ...(f.hint ? { hint: f.hint } : {}), ...(f.retryAfter !== undefined ? { retryAfter: f.retryAfter } : {}) };
      out.error(JSON.stringify({ error: { code: f.code, exitCode: f.exitCode, message: f.message, ...extra } }));
    } else {
      out.error(`atvlink: ${f.message}`);
      if (err instanceof UsageError && commandName && byName.has(commandName)) out.error(usageLine(byName.get(commandName)!));
      if (f.hint) out.error(`hint: ${f.hint}`);
    }
    if (debug) out.error(stackOf(err));
    return f.exitCode;
  };

  try {
    // Options before the command: only the general ones, and --json, which the command
    // must then offer as if it came after it.
    let help = false;
    let jsonBefore = false;
    while (words.length > 0 && words[0]!.startsWith('-')) {
      const word = words.shift()!;
      if (word === '--help' || word === '-h') help = true;
      else if (word === '--debug') debug = true;
      else if (word === '--version' || word === '-V') {
        out.line(cliVersion());
        return EXIT.ok;
      } else if (word === '--json') jsonBefore = true;
      else throw new UsageError(`unknown option ${word} before the command`, null, 'options go after the command: atvlink <command> [options]');
    }
    const name = words.shift();
    if (name === undefined) {
      if (help) {
        io.stdout.write(mainHelp(CLI_COMMANDS, cliVersion()));
        return EXIT.ok;
      }
      io.stderr.write(mainHelp(CLI_COMMANDS, cliVersion()));
      return EXIT.usage;
    }
    if (name === 'help') {
      const topic = words[0];
      const command = topic === undefined ? undefined : byName.get(topic);
      if (topic !== undefined && !command) {
        const guess = closest(topic, [...byName.keys()]);
        throw new UsageError(`unknown command ${JSON.stringify(topic)}`, null, guess ? `did you mean ${guess}?` : 'run `atvlink --help`');
      }
      io.stdout.write(command ? commandHelp(command) : mainHelp(CLI_COMMANDS, cliVersion()));
      return EXIT.ok;
    }
    const command = byName.get(name);
    if (!command) {
      const guess = closest(name, [...byName.keys()]);
      throw new UsageError(`unknown command ${JSON.stringify(name)}`, null, guess ? `did you mean \`atvlink ${guess}\`?` : 'run `atvlink --help` for the list');
    }
    commandName = command.name;
    const specs = [...command.options.flatMap((g) => g.specs), ...GENERAL_OPTIONS];
    const args = parseArgs(words, specs, command.name, command.positionals.length);
    if (help || args.boolean('help')) {
      io.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    debug = args.boolean('debug') ?? debug;
    if (jsonBefore && !args.declares('json')) {
      throw new UsageError(`unknown option --json: ${command.name} has no JSON output`, command.name);
    }
    out = new Output(io, args.declares('json') ? args.boolean('json') === true || jsonBefore : false);
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    if (io.signal?.aborted) controller.abort();
    else io.signal?.addEventListener('abort', onAbort, { once: true });
    const ctx: CommandContext = {
      args,
      out,
      io,
      env: io.env ?? {},
      signal: controller.signal,
      logger: debug ? debugLogger(out) : undefined,
      debug,
      failure,
    };
    try {
      return await command.run(ctx);
    } finally {
      io.signal?.removeEventListener('abort', onAbort);
    }
  } catch (err) {
    return report(err);
  }
}
