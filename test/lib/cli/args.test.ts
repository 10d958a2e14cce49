import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closest, parseArgs, UsageError, type OptionSpec } from '../../../lib/cli/args';
import { CLI_COMMANDS } from '../../../lib/cli/run';
import { COMMANDS } from '../../../lib/device/commands';
import { PROPERTIES, PROPERTY_NAMES } from '../../../lib/device/properties';
import { cli } from './support';

const SPECS: OptionSpec[] = [
  { name: 'host', type: 'string', help: '' },
  { name: 'port', type: 'integer', min: 1, max: 65535, help: '' },
  { name: 'timeout', type: 'number', min: 0.1, help: '' },
  { name: 'hosts', type: 'list', help: '' },
  { name: 'credentials', type: 'string', repeatable: true, help: '' },
  { name: 'multicast', type: 'boolean', negatable: true, help: '' },
  { name: 'json', type: 'boolean', help: '' },
  { name: 'help', short: 'h', type: 'boolean', help: '' },
];

describe('CLI argument parsing', () => {
  it('reads --name value, --name=value, lists, repeats, negations and positionals', () => {
    const args = parseArgs(
      ['volume', '--host', '10.0.0.5', '--port=3689', '--hosts', 'a, b,,c', '--credentials', 'x', '--credentials=dmap=y', '--no-multicast', '--json', '30', '--timeout', '2.5'],
      SPECS,
      'set',
      2,
    );
    assert.deepEqual(args.positionals, ['volume', '30']);
    assert.equal(args.string('host'), '10.0.0.5');
    assert.equal(args.number('port'), 3689);
    assert.equal(args.number('timeout'), 2.5);
    assert.deepEqual(args.strings('hosts'), ['a', 'b', 'c']);
    assert.deepEqual(args.strings('credentials'), ['x', 'dmap=y']);
    assert.equal(args.boolean('multicast'), false);
    assert.equal(args.boolean('json'), true);
    assert.equal(args.boolean('help'), undefined);
    assert.equal(parseArgs(['-h'], SPECS, 'x', 0).boolean('help'), true);
    assert.deepEqual(parseArgs(['--', '--json'], SPECS, 'x', 1).positionals, ['--json']);
    assert.deepEqual(parseArgs(['-5'], SPECS, 'x', 1).positionals, ['-5']);
  });

  it('rejects unknown options with a hint, bad values, missing values and extra words', () => {
    const fails = (argv: string[], pattern: RegExp, max = 0): void => {
      assert.throws(() => parseArgs(argv, SPECS, 'state', max), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(`${err.message} ${err.hint ?? ''}`, pattern);
        return true;
      });
    };
    fails(['--hots', 'x'], /unknown option --hots.*did you mean --hosts\?/);
    fails(['--port', '70000'], /--port must be from 1 to 65535/);
    fails(['--port', '12.5'], /whole number/);
    fails(['--timeout', 'soon'], /needs a number/);
    fails(['--host'], /--host needs a value/);
    fails(['--host', '--json'], /--host needs a value/);
    fails(['--port', '1', '--port', '2'], /given twice/);
    fails(['--no-json'], /unknown option --no-json/);
    fails(['--json=maybe'], /is a flag/);
    fails(['extra'], /unexpected argument "extra"/);
    fails(['a', 'b'], /too many arguments/, 1);
  });

  it('suggests close names only', () => {
    assert.equal(closest('stat', ['state', 'scan', 'set']), 'state');
    assert.equal(closest('--mdsn-port', ['--mdns-port', '--port']), '--mdns-port');
    assert.equal(closest('xyzzy', ['state', 'scan']), null);
  });
});

describe('CLI help and usage errors', () => {
  it('lists every subcommand and the exit codes', async () => {
    const { code, stdout } = await cli(['--help']);
    assert.equal(code, 0);
    for (const c of CLI_COMMANDS) assert.match(stdout, new RegExp(`^  ${c.name} `, 'm'));
    assert.match(stdout, /Exit codes:/);
    assert.match(stdout, /^ {4}3 {2}wrong or missing credentials/m);
  });

  it('generates the command help from THE command table and the property help from THE property table', async () => {
    const command = await cli(['command', '--help']);
    assert.equal(command.code, 0);
    for (const spec of COMMANDS) {
      assert.ok(command.stdout.includes(spec.name), `${spec.name} in the help`);
      for (const alias of spec.aliases) assert.ok(command.stdout.includes(alias), `${alias} in the help`);
    }
    const set = await cli(['help', 'set']);
    assert.equal(set.code, 0);
    for (const name of PROPERTY_NAMES) assert.ok(set.stdout.includes(PROPERTIES[name].accepts), `${name} values in the help`);
    for (const c of CLI_COMMANDS) {
      const help = await cli([c.name, '-h']);
      assert.equal(help.code, 0, c.name);
      assert.match(help.stdout, new RegExp(`^usage: atvlink ${c.name}`));
    }
  });

  it('answers unknown commands, options and values with exit code 2 and a hint', async () => {
    const unknown = await cli(['stat']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "stat"/);
    assert.match(unknown.stderr, /did you mean `atvlink state`\?/);
    assert.equal(unknown.stdout, '');

    const option = await cli(['state', '--hots', '127.0.0.1']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /usage: atvlink state \[options\]/);

    const bare = await cli([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /usage: atvlink <command>/);

    const noDevice = await cli(['state']);
    assert.equal(noDevice.code, 2);
    assert.match(noDevice.stderr, /which device\? give --host ADDR --port N, or --id ID/);

    const badCommand = await cli(['command', 'jump', '--host', '127.0.0.1', '--port', '1']);
    assert.equal(badCommand.code, 2);
    assert.match(badCommand.stderr, /unknown command "jump"/);

    const badValue = await cli(['set', 'volume', 'loud', '--host', '127.0.0.1', '--port', '1']);
    assert.equal(badValue.code, 2);
    assert.match(badValue.stderr, /volume must be a number/);

    const badProtocol = await cli(['state', '--host', '127.0.0.1', '--port', '1', '--protocol', 'carrier-pigeon']);
    assert.equal(badProtocol.code, 2);
    assert.match(badProtocol.stderr, /unknown protocol/);

    const json = await cli(['state', '--json', '--bogus']);
    assert.equal(json.code, 2);
    const parsed = JSON.parse(json.stderr) as { error: { code: string; exitCode: number; message: string } };
    assert.equal(parsed.error.code, 'USAGE');
    assert.equal(parsed.error.exitCode, 2);
  });

  it('prints the package version', async () => {
    const { code, stdout } = await cli(['--version']);
    assert.equal(code, 0);
    assert.match(stdout, /^\d+\.\d+\.\d+/);
  });
});
