/**
 * The README's CLI section is the user's manual: it must name every subcommand and option
 * the CLI has and carry the same exit-code table as the code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EXIT_CODE_TABLE } from '../../../lib/cli/exit-codes';
import { CLI_COMMANDS } from '../../../lib/cli/run';
import { REPO_ROOT } from '../../support/paths';

function cliSection(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('<!-- cli:start -->');
  const end = readme.indexOf('<!-- cli:end -->');
  assert.ok(start >= 0 && end > start, 'the README has the cli markers');
  return readme.slice(start, end);
}

describe('README: the CLI section', () => {
  const section = cliSection();

  it('documents every subcommand and every option', () => {
    for (const command of CLI_COMMANDS) {
      assert.ok(section.includes(`atvlink ${command.name}`), `atvlink ${command.name}`);
      for (const spec of command.options.flatMap((g) => g.specs)) {
        const documented = section.includes(`--${spec.name}`) || (spec.negatable === true && section.includes(`--no-${spec.name}`));
        assert.ok(documented, `${command.name} --${spec.name}`);
      }
    }
  });

  it('carries the exit-code table of the code', () => {
    const rows = [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => ({ code: Number(m[1]), meaning: m[2] }));
    assert.deepEqual(rows, EXIT_CODE_TABLE.map(({ code, meaning }) => ({ code, meaning })));
  });

  it('describes the --json output of every subcommand that has it', () => {
    for (const command of CLI_COMMANDS) {
      if (!command.options.some((g) => g.specs.some((s) => s.name === 'json'))) continue;
      assert.match(section, new RegExp(`^\\| [^|]*\`${command.name}\``, 'm'), `--json of ${command.name}`);
    }
  });
});
