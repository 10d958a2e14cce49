/**
 * THE command table: every remote-control command the library knows, once. Protocols map
 * these names to their own wire actions (DACP paths, MRP commands and HID usages, ...);
 * the CLI's help, the Node-RED command node's dropdown and input parsing all read this table.
 */
import { InvalidArgumentError } from '../errors';

export type CommandGroup = 'transport' | 'navigation' | 'arrow' | 'touch' | 'volume' | 'power';

/** How a button is pressed. Only keys sent as button events honour double and hold. */
export const INPUT_ACTIONS = ['single', 'double', 'hold'] as const;
export type InputAction = (typeof INPUT_ACTIONS)[number];

export interface CommandSpec {
  readonly name: string;
  readonly group: CommandGroup;
  /** English label for menus (the Node-RED editor translates by name). */
  readonly label: string;
  /** Other spellings accepted from users (compared case- and punctuation-insensitively). */
  readonly aliases: readonly string[];
  /** A button press: accepts `single`, `double` and `hold` where the protocol can. */
  readonly button: boolean;
  /** Takes a skip interval in seconds. */
  readonly interval?: boolean;
}

export const COMMANDS = [
  { name: 'play', group: 'transport', label: 'Play', aliases: [], button: false },
  { name: 'pause', group: 'transport', label: 'Pause', aliases: [], button: false },
  { name: 'playPause', group: 'transport', label: 'Play/pause', aliases: ['toggle'], button: false },
  { name: 'stop', group: 'transport', label: 'Stop', aliases: [], button: false },
  { name: 'next', group: 'transport', label: 'Next', aliases: ['nextItem', 'nextTrack'], button: false },
  { name: 'previous', group: 'transport', label: 'Previous', aliases: ['prev', 'prevItem', 'previousTrack'], button: false },
  { name: 'skipForward', group: 'transport', label: 'Skip forward', aliases: ['forward', 'ff'], button: false, interval: true },
  { name: 'skipBackward', group: 'transport', label: 'Skip backward', aliases: ['backward', 'rewind', 'rw'], button: false, interval: true },
  { name: 'up', group: 'arrow', label: 'Up', aliases: [], button: true },
  { name: 'down', group: 'arrow', label: 'Down', aliases: [], button: true },
  { name: 'left', group: 'arrow', label: 'Left', aliases: [], button: true },
  { name: 'right', group: 'arrow', label: 'Right', aliases: [], button: true },
  { name: 'select', group: 'navigation', label: 'Select', aliases: ['ok', 'enter'], button: true },
  { name: 'menu', group: 'navigation', label: 'Menu', aliases: ['back'], button: true },
  { name: 'topMenu', group: 'navigation', label: 'Top menu', aliases: [], button: true },
  { name: 'home', group: 'navigation', label: 'Home', aliases: [], button: true },
  // Buttons only Companion sends (pyatv: protocols/companion/api.py HidCommand).
  { name: 'guide', group: 'navigation', label: 'Guide', aliases: ['epg', 'tvGuide'], button: true },
  { name: 'channelUp', group: 'navigation', label: 'Channel up', aliases: ['chUp', 'channelIncrement'], button: true },
  { name: 'channelDown', group: 'navigation', label: 'Channel down', aliases: ['chDown', 'channelDecrement'], button: true },
  { name: 'screensaver', group: 'navigation', label: 'Screensaver', aliases: ['screenSaver'], button: true },
  { name: 'controlCenter', group: 'navigation', label: 'Control Center', aliases: ['controlCentre'], button: true },
  { name: 'siri', group: 'navigation', label: 'Siri', aliases: [], button: true },
  // The remote's touch surface (Companion): apps that read swipes, and the light tap that shows the time left (pyatv #2202, #783).
  { name: 'swipeUp', group: 'touch', label: 'Swipe up', aliases: [], button: false },
  { name: 'swipeDown', group: 'touch', label: 'Swipe down', aliases: [], button: false },
  { name: 'swipeLeft', group: 'touch', label: 'Swipe left', aliases: [], button: false },
  { name: 'swipeRight', group: 'touch', label: 'Swipe right', aliases: [], button: false },
  { name: 'tap', group: 'touch', label: 'Tap', aliases: ['lightTap', 'touch'], button: false },
  { name: 'volumeUp', group: 'volume', label: 'Volume up', aliases: ['volUp'], button: false },
  { name: 'volumeDown', group: 'volume', label: 'Volume down', aliases: ['volDown'], button: false },
  { name: 'turnOn', group: 'power', label: 'Turn on', aliases: ['on', 'wake', 'wakeUp', 'powerOn'], button: false },
  { name: 'turnOff', group: 'power', label: 'Turn off', aliases: ['off', 'sleep', 'powerOff'], button: false },
] as const satisfies readonly CommandSpec[];

export type CommandName = (typeof COMMANDS)[number]['name'];
/** Commands the Power capability carries out (turn on, turn off). */
export type PowerCommandName = Extract<(typeof COMMANDS)[number], { group: 'power' }>['name'];
/** Commands a RemoteControl sends. */
export type RemoteCommandName = Exclude<CommandName, PowerCommandName>;

export function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

export function isPowerCommand(name: CommandName): name is PowerCommandName {
  return COMMANDS.some((c) => c.name === name && c.group === 'power');
}

export const COMMAND_NAMES: readonly CommandName[] = COMMANDS.map((c) => c.name);

const normalize = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

const byKey = new Map<string, CommandSpec & { name: CommandName }>();
for (const spec of COMMANDS) {
  byKey.set(normalize(spec.name), spec);
  for (const alias of spec.aliases) byKey.set(normalize(alias), spec);
}

/** The spec of a command given as a user might type it (`play_pause`, `PlayPause`, `nextitem`). */
export function findCommand(input: string): (CommandSpec & { name: CommandName }) | undefined {
  return byKey.get(normalize(input));
}

export function isInputAction(value: unknown): value is InputAction {
  return typeof value === 'string' && (INPUT_ACTIONS as readonly string[]).includes(value);
}

export interface CommandOptions {
  /** Button press style; only for commands with `button: true`. Default `single`. */
  action?: InputAction;
  /** Seconds to skip for `skipForward`/`skipBackward`. */
  interval?: number;
}

/** A command checked where it entered (a node, the CLI, the facade): the layers below trust it. */
export interface CommandRequest {
  readonly command: CommandName;
  readonly action: InputAction;
  /** Seconds to skip (skip commands only). */
  readonly interval?: number;
}

/** What is wrong with a requested command, so each entry point can say it in its own words. */
export type CommandProblem =
  | { readonly kind: 'unknown-command'; readonly given: string }
  | { readonly kind: 'unknown-action'; readonly given: string }
  | { readonly kind: 'not-a-button'; readonly command: CommandName; readonly action: InputAction }
  | { readonly kind: 'bad-interval'; readonly command: CommandName; readonly takesInterval: boolean };

function problemText(problem: CommandProblem): string {
  switch (problem.kind) {
    case 'unknown-command':
      return `unknown command "${problem.given.slice(0, 40)}"; known commands: ${COMMANDS.map((c) => c.name).join(', ')}`;
    case 'unknown-action':
      return `unknown action "${problem.given.slice(0, 20)}"; use single, double or hold`;
    case 'not-a-button':
      return `"${problem.command}" is not a button: it takes no ${problem.action} press`;
    case 'bad-interval':
      return problem.takesInterval ? 'the skip interval must be a positive number of seconds' : `"${problem.command}" takes no interval`;
  }
}

/** A command that cannot be sent as asked; `problem` says why. */
export class CommandError extends InvalidArgumentError {
  constructor(readonly problem: CommandProblem) {
    super(problemText(problem));
  }
}

/**
 * Checks a command as a user gave it (`play_pause`, `PlayPause`, an action, an interval) and
 * returns the request the facade sends; a CommandError says what is wrong.
 */
export function checkCommand(name: unknown, options: { action?: unknown; interval?: unknown } = {}): CommandRequest {
  const spec = typeof name === 'string' ? findCommand(name) : undefined;
  if (!spec) throw new CommandError({ kind: 'unknown-command', given: String(name) });
  const action = options.action ?? 'single';
  if (!isInputAction(action)) throw new CommandError({ kind: 'unknown-action', given: String(action) });
  if (action !== 'single' && !spec.button) throw new CommandError({ kind: 'not-a-button', command: spec.name, action });
  if (options.interval === undefined) return { command: spec.name, action };
  const interval = options.interval;
  if (!spec.interval || typeof interval !== 'number' || !(Number.isFinite(interval) && interval > 0)) {
    throw new CommandError({ kind: 'bad-interval', command: spec.name, takesInterval: spec.interval === true });
  }
  return { command: spec.name, action, interval };
}
