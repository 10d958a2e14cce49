/**
 * What every `atvlink` subcommand gets: its parsed arguments, the process's streams (real
 * ones in the bin, in-memory ones in tests), an abort signal for Ctrl-C, and an output helper
 * that keeps stdout machine-readable under `--json` and scrubs secrets from stderr.
 */
import { createInterface } from 'node:readline';
import type { Protocol } from '../device/interfaces';
import type { Logger } from '../log';
import type { OptionSpec, ParsedArgs } from './args';

/** Anything with `write`, like `process.stdout` or a test's collector. */
export interface CliOutput {
  write(chunk: string | Uint8Array): unknown;
}

export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Lines typed by the user (`simulate` reads PINs, MRP pairing reads the device's PIN). */
  stdin?: NodeJS.ReadableStream | null;
  /** Environment variables (credentials may come from here); default none. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Aborting stops a long-running command (watch, simulate, pair) cleanly. */
  signal?: AbortSignal;
}

export const REDACTED = '‹redacted›';

export class Output {
  readonly json: boolean;
  private readonly io: CliIo;
  private readonly secrets = new Set<string>();

  constructor(io: CliIo, json: boolean) {
    this.io = io;
    this.json = json;
  }

  /** Marks a value (a credential) that must never appear on stderr. */
  secret(value: string | undefined | null): void {
    if (value && value.length >= 4) this.secrets.add(value);
  }

  /** Replaces every known secret in `text` (error messages, debug lines). */
  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join(REDACTED);
    return out;
  }

  /** A result line on stdout (human mode). */
  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** A result on stdout as one JSON line. */
  result(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Raw bytes on stdout (`artwork --out -`). */
  bytes(data: Uint8Array): void {
    this.io.stdout.write(data);
  }

  /** Progress and instructions: stdout for people, stderr under --json (stdout stays JSON). */
  info(text = ''): void {
    if (this.json) this.error(text);
    else this.line(text);
  }

  /** A line on stderr, with secrets scrubbed. */
  error(text: string): void {
    this.io.stderr.write(`${this.redact(text)}\n`);
  }
}

export interface CommandContext {
  readonly args: ParsedArgs;
  readonly out: Output;
  readonly io: CliIo;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C / SIGTERM (or by the test). */
  readonly signal: AbortSignal;
  /** Present with --debug. */
  readonly logger: Logger | undefined;
  readonly debug: boolean;
  /** What the command was doing, so a failure message can name it (filled in as it goes). */
  readonly failure: FailureContext;
}

export interface FailureContext {
  /** `host:port` being talked to. */
  endpoint?: string;
  /** The protocol in use, for "pair again with `atvlink pair --protocol …`". */
  protocol?: Protocol;
  /** What was asked, e.g. `command "home"`, for "… is not supported". */
  action?: string;
}

export interface PositionalSpec {
  readonly name: string;
  readonly help: string;
  readonly optional?: boolean;
}

export interface CliCommand {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  readonly positionals: readonly PositionalSpec[];
  /** Option groups, each with a heading, in help order. */
  readonly options: readonly { readonly heading: string; readonly specs: readonly OptionSpec[] }[];
  /** Extra help paragraphs (tables generated from the library's tables). */
  readonly details?: () => string[];
  readonly examples: readonly string[];
  run(ctx: CommandContext): Promise<number>;
}

/** Resolves when `signal` aborts (never rejects). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Thrown when the user cancelled a command that was waiting for something. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** Waits for `promise`, or throws `CancelledError` as soon as `signal` aborts. */
export async function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    throw new CancelledError();
  }
  let onAbort: (() => void) | undefined;
  const cancelled = new Promise<never>((_, reject) => {
    onAbort = () => reject(new CancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, cancelled]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
    promise.catch(() => undefined);
  }
}

/**
 * Delivers the lines of `input` to `onLine` until EOF, abort or `stop()`. Resolves with why it
 * ended. Leaves the stream paused, so a finished command does not keep the process alive.
 */
export function readLines(
  input: NodeJS.ReadableStream,
  signal: AbortSignal,
  onLine: (line: string) => void,
): { done: Promise<'eof' | 'aborted' | 'stopped'>; stop(): void } {
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  let finish!: (why: 'eof' | 'aborted' | 'stopped') => void;
  let reason: 'eof' | 'aborted' | 'stopped' = 'eof';
  const done = new Promise<'eof' | 'aborted' | 'stopped'>((resolve) => (finish = resolve));
  const onAbort = (): void => {
    reason = 'aborted';
    rl.close();
  };
  rl.on('line', (line) => onLine(line));
  rl.on('close', () => {
    signal.removeEventListener('abort', onAbort);
    input.pause();
    finish(reason);
  });
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    done,
    stop() {
      if (reason === 'eof') reason = 'stopped';
      rl.close();
    },
  };
}
