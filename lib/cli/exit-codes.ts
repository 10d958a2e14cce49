/**
 * THE exit codes of `atvlink`: one per class of failure, so scripts can branch on them.
 * `--help` and the README print this table; a test checks the README against it.
 */
import type { AtvErrorCode } from '../errors';

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  unreachable: 4,
  timeout: 5,
  notSupported: 6,
  pairing: 7,
  nothing: 8,
  cancelled: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODE_TABLE: readonly { readonly code: ExitCode; readonly meaning: string }[] = [
  { code: EXIT.ok, meaning: 'success (also: watch or simulate stopped with Ctrl-C)' },
  { code: EXIT.failure, meaning: 'unexpected failure, or the device sent something we cannot read' },
  { code: EXIT.usage, meaning: 'usage error: unknown command or option, invalid value' },
  { code: EXIT.auth, meaning: 'wrong or missing credentials: pair again' },
  { code: EXIT.unreachable, meaning: 'device unreachable, not found by the scan, or the connection dropped' },
  { code: EXIT.timeout, meaning: 'the device did not answer in time' },
  { code: EXIT.notSupported, meaning: 'not supported by this device or protocol' },
  { code: EXIT.pairing, meaning: 'pairing failed (wrong PIN, refused, timed out) or the device asks to wait' },
  { code: EXIT.nothing, meaning: 'nothing to output: no artwork (nothing playing, or no cover), no text field with the focus' },
  { code: EXIT.cancelled, meaning: 'pairing cancelled with Ctrl-C' },
];

/** The exit code of each library error class (a new error code is a compile error here). */
export const EXIT_BY_ERROR_CODE: { readonly [C in AtvErrorCode]: ExitCode } = {
  AUTH: EXIT.auth,
  UNREACHABLE: EXIT.unreachable,
  CONNECTION_LOST: EXIT.unreachable,
  TIMEOUT: EXIT.timeout,
  NOT_SUPPORTED: EXIT.notSupported,
  PAIRING: EXIT.pairing,
  BACKOFF: EXIT.pairing,
  INVALID_ARGUMENT: EXIT.usage,
  PROTOCOL: EXIT.failure,
  CLOSED: EXIT.failure,
};
