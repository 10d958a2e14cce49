/**
 * Helpers for the CLI tests: run `runCli` in-process with in-memory streams, or the built
 * bin as a real child process, and wait for lines of their output.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../../lib/cli/run';
import type { CommandName } from '../../../lib/device/commands';
import type { SimulatorState } from '../../../lib/simulator';
import { REPO_ROOT } from '../../support/paths';

export const CLI_BIN = join(REPO_ROOT, 'dist', 'lib', 'cli', 'index.js');

/** Collects what is written and lets a test wait for a line matching a pattern. */
export class Collector extends EventEmitter {
  text = '';

  write(chunk: string | Uint8Array): boolean {
    this.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1');
    this.emit('data');
    return true;
  }

  get lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }

  /** Resolves with the first match of `pattern` in the text so far or to come. */
  waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.text.match(pattern);
        if (m) {
          cleanup();
          resolve(m);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}; got:\n${this.text}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('data', check);
      };
      if (!check()) this.on('data', check);
    });
  }
}

export interface Run {
  stdout: Collector;
  stderr: Collector;
  stdin: PassThrough;
  done: Promise<number>;
  abort(): void;
}

/** Starts `atvlink <argv>` in-process; `env` replaces the environment (default empty). */
export function startCli(argv: string[], env: Record<string, string> = {}): Run {
  const stdout = new Collector();
  const stderr = new Collector();
  const stdin = new PassThrough();
  const controller = new AbortController();
  const done = runCli(argv, { stdout, stderr, stdin, env, signal: controller.signal });
  return { stdout, stderr, stdin, done, abort: () => controller.abort() };
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `atvlink <argv>` in-process to the end. */
export async function cli(argv: string[], env: Record<string, string> = {}): Promise<Result> {
  const run = startCli(argv, env);
  const code = await run.done;
  run.stdin.end();
  return { code, stdout: run.stdout.text, stderr: run.stderr.text };
}

export interface Child {
  process: ChildProcessWithoutNullStreams;
  stdout: Collector;
  stderr: Collector;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The environment for child processes: no credentials leaking in from the caller. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ATVLINK_')) env[k] = v;
  return { ...env, ...extra };
}

/** Starts the built bin as a child process. */
export function spawnCli(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout = new Collector();
  const stderr = new Collector();
  child.stdout.on('data', (d: Buffer) => stdout.write(d));
  child.stderr.on('data', (d: Buffer) => stderr.write(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { process: child, stdout, stderr, exited };
}

/** Runs the built bin to the end (stdin closed at once). */
export async function runChild(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const child = spawnCli(args, env);
  child.process.stdin.end();
  const { code } = await child.exited;
  return { code: code ?? -1, stdout: child.stdout.text, stderr: child.stderr.text };
}

/** Kills a child that is still running (for after() hooks). */
export async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGKILL');
  await child.exited;
}

/** Splits a printed command line (`atvlink state --host … --port …`) into its arguments. */
export function argsOf(line: string): string[] {
  const words = line.trim().split(/\s+/);
  if (words[0] !== 'atvlink') throw new Error(`not an atvlink command line: ${line}`);
  return words.slice(1);
}

export const MULTICAST_SKIP =
  process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)';

/** The simulator's state just before a command, for its check. */
export interface Before {
  index: number;
  keys: number;
  lastKey: SimulatorState['lastKey'];
}

export const stateBefore = (st: SimulatorState): Before => ({ index: st.index, keys: st.keys.length, lastKey: st.lastKey });

export interface CommandEffect {
  /** Puts the simulator where the command has a visible effect. */
  arrange?: () => void;
  check: (before: Before) => void;
}

/**
 * What each command of the table visibly does to the simulator, whatever protocol carried
 * it; `pressed` checks a button's key press (each protocol's tests say how strictly).
 */
export function commandEffects(st: SimulatorState, pressed: (name: CommandName) => (b: Before) => void): Record<CommandName, CommandEffect> {
  return {
    play: { arrange: () => st.pause(), check: () => assert.equal(st.status, 'playing') },
    pause: { arrange: () => st.play(), check: () => assert.equal(st.status, 'paused') },
    playPause: { arrange: () => st.pause(), check: () => assert.equal(st.status, 'playing') },
    stop: { arrange: () => st.play(), check: () => assert.equal(st.status, 'stopped') },
    next: { arrange: () => st.pause(), check: (b) => assert.equal(st.index, (b.index + 1) % st.tracks.length) },
    previous: {
      arrange: () => {
        st.pause();
        st.next();
      },
      check: (b) => assert.equal(st.index, (b.index - 1 + st.tracks.length) % st.tracks.length),
    },
    skipForward: {
      arrange: () => {
        st.pause();
        st.setPosition(5);
      },
      check: () => assert.ok(Math.abs(st.position! - 15) < 1, `at ${st.position}`),
    },
    skipBackward: {
      arrange: () => {
        st.pause();
        st.setPosition(25);
      },
      check: () => assert.ok(Math.abs(st.position! - 15) < 1, `at ${st.position}`),
    },
    up: { check: pressed('up') },
    down: { check: pressed('down') },
    left: { check: pressed('left') },
    right: { check: pressed('right') },
    select: { check: pressed('select') },
    menu: { check: pressed('menu') },
    topMenu: { check: pressed('topMenu') },
    home: { check: pressed('home') },
    guide: { check: pressed('guide') },
    channelUp: { check: pressed('channelUp') },
    channelDown: { check: pressed('channelDown') },
    screensaver: { check: pressed('screensaver') },
    controlCenter: { check: pressed('controlCenter') },
    siri: { check: pressed('siri') },
    swipeUp: { check: pressed('swipeUp') },
    swipeDown: { check: pressed('swipeDown') },
    swipeLeft: { check: pressed('swipeLeft') },
    swipeRight: { check: pressed('swipeRight') },
    tap: { check: pressed('tap') },
    volumeUp: { arrange: () => st.setVolume(50), check: () => assert.ok(st.volume > 50, `volume ${st.volume}`) },
    volumeDown: { arrange: () => st.setVolume(50), check: () => assert.ok(st.volume < 50, `volume ${st.volume}`) },
    turnOn: { arrange: () => st.turnOff(), check: () => assert.equal(st.power, 'on') },
    turnOff: { check: () => assert.equal(st.power, 'off') },
  };
}
