/** Help texts, generated from the command definitions, the option specs and the exit codes. */
import type { OptionSpec } from './args';
import type { CliCommand } from './context';
import { EXIT_CODE_TABLE } from './exit-codes';

export const GENERAL_OPTIONS: readonly OptionSpec[] = [
  { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  { name: 'debug', type: 'boolean', help: 'log what happens on stderr, show stack traces (credentials are never shown)' },
];

function optionLabel(spec: OptionSpec): string {
  const name = spec.negatable ? `--[no-]${spec.name}` : `--${spec.name}`;
  const short = spec.short ? `-${spec.short}, ` : '';
  return `${short}${name}${spec.type === 'boolean' ? '' : ` ${spec.metavar ?? 'VALUE'}`}`;
}

function labelWidth(specs: readonly OptionSpec[]): number {
  return Math.min(30, Math.max(...specs.map((s) => optionLabel(s).length)));
}

function optionLines(specs: readonly OptionSpec[], width = labelWidth(specs)): string[] {
  return specs.map((s) => {
    const label = optionLabel(s);
    return label.length > width ? `  ${label}\n  ${' '.repeat(width)}  ${s.help}` : `  ${label.padEnd(width)}  ${s.help}`;
  });
}

export function exitCodeLines(): string[] {
  return ['Exit codes:', ...EXIT_CODE_TABLE.map(({ code, meaning }) => `  ${String(code).padStart(3)}  ${meaning}`)];
}

export function usageLine(command: CliCommand): string {
  const positionals = command.positionals.map((p) => (p.optional ? `[${p.name}]` : p.name));
  return `usage: atvlink ${[command.name, ...positionals].join(' ')} [options]`;
}

export function commandHelp(command: CliCommand): string {
  const lines = [usageLine(command), '', `${command.summary.charAt(0).toUpperCase()}${command.summary.slice(1)}.`];
  if (command.positionals.length > 0) {
    lines.push('', 'Arguments:');
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(10)}  ${p.help}`);
  }
  if (command.details) lines.push('', ...command.details());
  const width = labelWidth([...command.options.flatMap((g) => g.specs), ...GENERAL_OPTIONS]);
  for (const group of command.options) lines.push('', `${group.heading} options:`, ...optionLines(group.specs, width));
  lines.push('', 'General options:', ...optionLines(GENERAL_OPTIONS, width));
  if (command.examples.length > 0) lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  lines.push('', ...exitCodeLines());
  return `${lines.join('\n')}\n`;
}

export function mainHelp(commands: readonly CliCommand[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = [
    `atvlink ${version}: find, pair with and remote-control Apple TVs, HomePods and iTunes-like media servers`,
    '',
    'usage: atvlink <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  show the help of a command (same as atvlink <command> --help)`,
    '',
    'Talking to a device: --host ADDR --port N, or --id ID (found by a scan); credentials from `atvlink pair`',
    'with --credentials C, or in ATVLINK_CREDENTIALS / ATVLINK_<PROTOCOL>_CREDENTIALS so they stay out of the shell history.',
    '',
    'General options:',
    ...optionLines([...GENERAL_OPTIONS, { name: 'version', short: 'V', type: 'boolean', help: 'print the version' }]),
    '',
    ...exitCodeLines(),
    '',
    'Run `atvlink <command> --help` for its options and examples.',
  ];
  return `${lines.join('\n')}\n`;
}
