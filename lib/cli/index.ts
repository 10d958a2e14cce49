#!/usr/bin/env node
/**
 * The `atvlink` executable: wires `runCli` to the real process (argv, streams, environment,
 * Ctrl-C/SIGTERM). Everything else lives in run.ts, which tests call in-process.
 */
import { runCli } from './run';

export { runCli, CLI_COMMANDS, describeFailure, cliVersion } from './run';
export type { CliIo, CliOutput } from './run';
export { EXIT, EXIT_CODE_TABLE, EXIT_BY_ERROR_CODE } from './exit-codes';

/** Seconds a finished run may take to let go of its handles before the process is ended. */
const EXIT_GRACE_MS = 1000;

function main(): void {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    // A second Ctrl-C means "now": skip the clean shutdown.
    if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `atvlink watch | head -1`: a closed pipe ends the command quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') controller.abort();
  });
  runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // A handle left open (a paused stdin, a socket in its close handshake) must not keep a
      // finished command running; the timer itself does not hold the process open.
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
    },
    (err: unknown) => {
      process.stderr.write(`atvlink: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) main();
