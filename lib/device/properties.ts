/**
 * THE property table: the settable properties of a player, their value types and how a
 * loosely typed input (a CLI argument, a Node-RED message) becomes a valid value.
 */
import { InvalidArgumentError } from '../errors';
import { REPEAT_STATES, SHUFFLE_STATES, type RepeatState, type ShuffleState } from './state';

export interface PropertyValues {
  /** Seconds into the current item. */
  position: number;
  shuffle: ShuffleState;
  repeat: RepeatState;
  /** Absolute volume, 0 to 100. */
  volume: number;
}
export type PropertyName = keyof PropertyValues;
/** The properties of the player (RemoteControl); volume belongs to Audio. */
export type PlayerPropertyName = Exclude<PropertyName, 'volume'>;

export interface PropertySpec<N extends PropertyName = PropertyName> {
  readonly name: N;
  readonly label: string;
  /** What the user may give, for help texts and error messages. */
  readonly accepts: string;
  /** Turns user input into a valid value or throws `InvalidArgumentError`. */
  readonly parse: (input: unknown) => PropertyValues[N];
}

function toNumber(input: unknown, what: string): number {
  const n = typeof input === 'number' ? input : typeof input === 'string' && input.trim() !== '' ? Number(input) : NaN;
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number, got ${describe(input)}`);
  return n;
}

function describe(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input);
  if (input === null || input === undefined) return String(input);
  if (typeof input === 'object') return Array.isArray(input) ? 'an array' : 'an object';
  return String(input);
}

function oneOf<T extends string>(values: readonly T[], input: unknown, what: string, synonyms: Record<string, T>): T {
  if (typeof input === 'boolean') {
    const mapped = synonyms[String(input)];
    if (mapped !== undefined) return mapped;
  }
  if (typeof input === 'number' && synonyms[String(input)] !== undefined) return synonyms[String(input)] as T;
  if (typeof input === 'string') {
    const key = input.trim().toLowerCase();
    if ((values as readonly string[]).includes(key)) return key as T;
    const mapped = synonyms[key];
    if (mapped !== undefined) return mapped;
  }
  throw new InvalidArgumentError(`${what} must be one of ${values.join(', ')}, got ${describe(input)}`);
}

export const PROPERTIES: { readonly [N in PropertyName]: PropertySpec<N> } = {
  position: {
    name: 'position',
    label: 'Position (s)',
    accepts: 'seconds, 0 or more',
    parse(input) {
      const n = toNumber(input, 'position');
      if (n < 0) throw new InvalidArgumentError(`position must be 0 or more seconds, got ${n}`);
      return n;
    },
  },
  shuffle: {
    name: 'shuffle',
    label: 'Shuffle',
    accepts: `${SHUFFLE_STATES.join(', ')} (or true/false)`,
    parse: (input) =>
      oneOf(SHUFFLE_STATES, input, 'shuffle', { true: 'songs', false: 'off', on: 'songs', '1': 'songs', '0': 'off', '2': 'albums' }),
  },
  repeat: {
    name: 'repeat',
    label: 'Repeat',
    accepts: `${REPEAT_STATES.join(', ')}`,
    parse: (input) =>
      oneOf(REPEAT_STATES, input, 'repeat', { false: 'off', one: 'track', song: 'track', '0': 'off', '1': 'track', '2': 'all' }),
  },
  volume: {
    name: 'volume',
    label: 'Volume (0–100)',
    accepts: 'a number from 0 to 100',
    parse(input) {
      const n = toNumber(input, 'volume');
      if (n < 0 || n > 100) throw new InvalidArgumentError(`volume must be between 0 and 100, got ${n}`);
      return n;
    },
  },
};

export const PROPERTY_NAMES = Object.keys(PROPERTIES) as PropertyName[];

export function isPropertyName(value: unknown): value is PropertyName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(PROPERTIES, value);
}

/** Validates and converts `input` for property `name`. */
export function parsePropertyValue<N extends PropertyName>(name: N, input: unknown): PropertyValues[N] {
  return PROPERTIES[name].parse(input);
}

/** A property value checked where it entered: the layers below trust it. */
export interface PropertyRequest<N extends PropertyName = PropertyName> {
  readonly name: N;
  readonly value: PropertyValues[N];
}

/** A property name as a user gave it, checked; InvalidArgumentError lists the known ones. */
export function checkPropertyName(name: unknown): PropertyName {
  if (!isPropertyName(name)) {
    throw new InvalidArgumentError(`unknown property "${String(name).slice(0, 40)}"; known: ${PROPERTY_NAMES.join(', ')}`);
  }
  return name;
}

/** Checks a property name and a loosely typed value; InvalidArgumentError says what is wrong. */
export function checkProperty(name: unknown, value: unknown): PropertyRequest {
  const checked = checkPropertyName(name);
  return { name: checked, value: parsePropertyValue(checked, value) } as PropertyRequest;
}
