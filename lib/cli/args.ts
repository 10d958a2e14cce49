/**
 * Argument parsing for `atvlink`, by hand (no dependency): `--name value`, `--name=value`,
 * `--no-name` for negatable flags, `--` ends the options. Every option is declared once in an
 * `OptionSpec`, which also writes the help text; anything undeclared is a usage error with a
 * "did you mean" hint.
 */
import { InvalidArgumentError } from '../errors';

export type OptionType = 'string' | 'integer' | 'number' | 'boolean' | 'list';

export interface OptionSpec {
  /** Long name without the dashes, e.g. `mdns-port`. */
  readonly name: string;
  readonly type: OptionType;
  /** Placeholder of the value in help texts, e.g. `N`, `ADDR`. */
  readonly metavar?: string;
  readonly help: string;
  /** Booleans: `--no-<name>` sets false. */
  readonly negatable?: boolean;
  /** Strings: may be given several times (collected in order). */
  readonly repeatable?: boolean;
  /** Numbers: inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
  /** One-letter alias, e.g. `h`. */
  readonly short?: string;
}

/** A mistake in the command line: exit code 2, the command's usage line and a hint. */
export class UsageError extends InvalidArgumentError {
  readonly command: string | null;
  readonly hint: string | null;

  constructor(message: string, command: string | null, hint: string | null = null) {
    super(message);
    this.command = command;
    this.hint = hint;
  }
}

type Value = string | number | boolean | string[];

export class ParsedArgs {
  readonly positionals: readonly string[];
  private readonly values: ReadonlyMap<string, Value>;
  private readonly specs: ReadonlyMap<string, OptionSpec>;

  constructor(values: Map<string, Value>, positionals: string[], specs: Map<string, OptionSpec>) {
    this.values = values;
    this.positionals = positionals;
    this.specs = specs;
  }

  /** Whether this command declares the option at all. */
  declares(name: string): boolean {
    return this.specs.has(name);
  }

  has(name: string): boolean {
    this.spec(name);
    return this.values.has(name);
  }

  string(name: string): string | undefined {
    const v = this.get(name, ['string']);
    return typeof v === 'string' ? v : undefined;
  }

  number(name: string): number | undefined {
    const v = this.get(name, ['integer', 'number']);
    return typeof v === 'number' ? v : undefined;
  }

  boolean(name: string): boolean | undefined {
    const v = this.get(name, ['boolean']);
    return typeof v === 'boolean' ? v : undefined;
  }

  /** A `list` option (comma-separated) or a repeatable string option. */
  strings(name: string): string[] {
    const v = this.get(name, ['list', 'string']);
    if (Array.isArray(v)) return [...v];
    return typeof v === 'string' ? [v] : [];
  }

  /** The names of the options that were given. */
  given(): string[] {
    return [...this.values.keys()];
  }

  private spec(name: string): OptionSpec {
    const spec = this.specs.get(name);
    // A programming error, never a user's: the option was not declared for this command.
    if (!spec) throw new Error(`option --${name} is not declared for this command`);
    return spec;
  }

  private get(name: string, types: OptionType[]): Value | undefined {
    const spec = this.spec(name);
    if (!types.includes(spec.type)) throw new Error(`option --${name} is a ${spec.type}, not ${types.join('/')}`);
    return this.values.get(name);
  }
}

/** Edit distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest of `candidates` to `input`, if it is close enough to be a likely typo. */
export function closest(input: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  const lower = input.toLowerCase();
  for (const c of candidates) {
    const d = c.toLowerCase().startsWith(lower) && lower.length >= 2 ? 0.5 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : null;
}

function parseValue(spec: OptionSpec, raw: string, command: string | null): Value {
  const flag = `--${spec.name}`;
  switch (spec.type) {
    case 'string':
      return raw;
    case 'list': {
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (items.length === 0) throw new UsageError(`${flag} needs at least one value`, command);
      return items;
    }
    case 'integer':
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      const whole = spec.type === 'integer';
      if (!Number.isFinite(n) || (whole && !Number.isInteger(n))) {
        throw new UsageError(`${flag} needs ${whole ? 'a whole number' : 'a number'}, got ${JSON.stringify(raw)}`, command);
      }
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        const range =
          spec.max === undefined ? `at least ${spec.min}` : spec.min === undefined ? `at most ${spec.max}` : `from ${spec.min} to ${spec.max}`;
        throw new UsageError(`${flag} must be ${range}, got ${raw}`, command);
      }
      return n;
    }
    case 'boolean': {
      const v = raw.toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return true;
      if (['false', 'no', '0', 'off'].includes(v)) return false;
      throw new UsageError(`${flag} is a flag: give it alone (or ${flag}=true / ${flag}=false)`, command);
    }
  }
}

/**
 * Parses `argv` (the words after the command name) against `specs`. At most `maxPositionals`
 * plain words are accepted.
 */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], command: string | null, maxPositionals: number): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values = new Map<string, Value>();
  const positionals: string[] = [];
  const known = specs.flatMap((s) => [`--${s.name}`, ...(s.negatable ? [`--no-${s.name}`] : [])]);

  const set = (spec: OptionSpec, value: Value): void => {
    if (spec.repeatable) {
      const before = values.get(spec.name);
      values.set(spec.name, [...(Array.isArray(before) ? before : []), ...(Array.isArray(value) ? value : [String(value)])]);
      return;
    }
    if (values.has(spec.name) && spec.type !== 'boolean') {
      throw new UsageError(`--${spec.name} was given twice`, command);
    }
    values.set(spec.name, value);
  };

  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (onlyPositionals || word === '-' || !word.startsWith('-')) {
      positionals.push(word);
      continue;
    }
    if (word === '--') {
      onlyPositionals = true;
      continue;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    let negated = false;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      inline = eq < 0 ? undefined : word.slice(eq + 1);
      spec = byName.get(name);
      if (!spec && name.startsWith('no-')) {
        const positive = byName.get(name.slice(3));
        if (positive?.negatable) {
          spec = positive;
          negated = true;
        }
      }
    } else if (/^-[A-Za-z]$/.test(word)) {
      spec = byShort.get(word.slice(1));
    } else if (/^-\d/.test(word)) {
      // A negative number where a value belongs (e.g. `set position -5`) is a positional.
      positionals.push(word);
      continue;
    }
    if (!spec) {
      const name = word.split('=')[0]!;
      const guess = closest(name, known);
      throw new UsageError(`unknown option ${name}`, command, guess ? `did you mean ${guess}?` : null);
    }
    if (spec.type === 'boolean') {
      if (negated && inline !== undefined) throw new UsageError(`--no-${spec.name} takes no value`, command);
      set(spec, negated ? false : inline === undefined ? true : parseValue(spec, inline, command));
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new UsageError(`--${spec.name} needs a value${spec.metavar ? ` (${spec.metavar})` : ''}`, command);
      }
      raw = next;
      i++;
    }
    set(spec, parseValue(spec, raw, command));
  }
  if (positionals.length > maxPositionals) {
    const extra = positionals[maxPositionals]!;
    throw new UsageError(
      maxPositionals === 0 ? `unexpected argument ${JSON.stringify(extra)}` : `too many arguments (unexpected ${JSON.stringify(extra)})`,
      command,
    );
  }
  return new ParsedArgs(values, positionals, byName);
}
