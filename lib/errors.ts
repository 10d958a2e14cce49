/**
 * The library's typed errors. Every error the library raises is an `AtvError` with a stable
 * `code`, so callers (the CLI, the Node-RED nodes) can branch on the kind of failure and show
 * a message the user can act on. Messages never contain a PIN, key or credential.
 */

export type AtvErrorCode =
  /** Credentials missing, wrong or revoked: pair again. */
  | 'AUTH'
  /** The device could not be reached (refused, unreachable, connect timeout). */
  | 'UNREACHABLE'
  /** A request got no answer in time. */
  | 'TIMEOUT'
  /** The device or the chosen protocol cannot do this. */
  | 'NOT_SUPPORTED'
  /** The device sent bytes that break the protocol (truncated, malformed, oversized). */
  | 'PROTOCOL'
  /** An established connection dropped. */
  | 'CONNECTION_LOST'
  /** Pairing failed (wrong PIN, refused, device busy). */
  | 'PAIRING'
  /** The device asks us to wait before trying again (`retryAfter` seconds). */
  | 'BACKOFF'
  /** The caller passed something invalid (unknown command, value out of range). */
  | 'INVALID_ARGUMENT'
  /** The object was used after it was closed. */
  | 'CLOSED';

export interface AtvErrorOptions {
  cause?: unknown;
}

export class AtvError extends Error {
  readonly code: AtvErrorCode;

  constructor(code: AtvErrorCode, message: string, options: AtvErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

export class AuthenticationError extends AtvError {
  constructor(message: string, options?: AtvErrorOptions) {
    super('AUTH', message, options);
  }
}

export class UnreachableError extends AtvError {
  constructor(message: string, options?: AtvErrorOptions) {
    super('UNREACHABLE', message, options);
  }
}

export class TimeoutError extends AtvError {
  constructor(message: string, options?: AtvErrorOptions) {
    super('TIMEOUT', message, options);
  }
}

export class NotSupportedError extends AtvError {
  constructor(message: string, options?: AtvErrorOptions) {
    super('NOT_SUPPORTED', message, options);
  }
}

/**
 * A connected device cannot do something over the protocols that are connected, though
 * others it offers could: `unpaired` were not tried for want of credentials, `failed` did
 * not connect. `base` is the message without the hints (a caller may give its own).
 */
export class FeatureUnavailableError extends NotSupportedError {
  readonly base: string;
  readonly unpaired: readonly string[];
  readonly failed: readonly string[];

  constructor(base: string, hints: { unpaired: readonly string[]; failed: readonly string[]; message: string }, options?: AtvErrorOptions) {
    super(hints.message ? `${base}; ${hints.message}` : base, options);
    this.base = base;
    this.unpaired = hints.unpaired;
    this.failed = hints.failed;
  }
}

/**
 * `connect()` found no protocol it may use on this device (none offered, none allowed, or
 * every one the device offers disabled by the device itself, e.g. direct MRP on tvOS 15+): a
 * NOT_SUPPORTED that the configuration decides, unlike a session refusing one request.
 */
export class NoUsableProtocolError extends NotSupportedError {}

/** Bytes from a device that violate the protocol. `offset` points into the input when known. */
export class ProtocolError extends AtvError {
  readonly offset: number | undefined;

  constructor(message: string, options: AtvErrorOptions & { offset?: number } = {}) {
    super('PROTOCOL', message, options);
    this.offset = options.offset;
  }
}

/** A codec could not decode its input (a kind of protocol error). */
export class DecodeError extends ProtocolError {}

/** An HTTP exchange ended with an unexpected status. */
export class HttpStatusError extends ProtocolError {
  readonly status: number;

  constructor(status: number, message: string, options?: AtvErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

export class ConnectionLostError extends AtvError {
  constructor(message: string, options?: AtvErrorOptions) {
    super('CONNECTION_LOST', message, options);
  }
}

export class PairingError extends AtvError {
  constructor(message: string, options?: AtvErrorOptions) {
    super('PAIRING', message, options);
  }
}

/** The device refuses for now; try again after `retryAfter` seconds. */
export class BackOffError extends AtvError {
  readonly retryAfter: number;

  constructor(retryAfter: number, message: string, options?: AtvErrorOptions) {
    super('BACKOFF', message, options);
    this.retryAfter = retryAfter;
  }
}

export class InvalidArgumentError extends AtvError {
  constructor(message: string, options?: AtvErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

export class ClosedError extends AtvError {
  constructor(message = 'the connection was closed', options?: AtvErrorOptions) {
    super('CLOSED', message, options);
  }
}

/**
 * Turns a socket-level error (ECONNREFUSED, EHOSTUNREACH, ...) into a typed error with a
 * message naming the endpoint. Anything already typed passes through unchanged.
 */
export function networkError(err: unknown, endpoint: string): AtvError {
  if (err instanceof AtvError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return new UnreachableError(`${endpoint} refused the connection (is the device on and the port right?)`, { cause: err });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'EADDRNOTAVAIL':
      return new UnreachableError(`${endpoint} is unreachable from this host (${code})`, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UnreachableError(`cannot resolve the host of ${endpoint}`, { cause: err });
    case 'ETIMEDOUT':
      return new TimeoutError(`${endpoint} did not answer in time`, { cause: err });
    case 'ECONNRESET':
    case 'EPIPE':
      return new ConnectionLostError(`${endpoint} closed the connection unexpectedly`, { cause: err });
    default: {
      const detail = err instanceof Error ? err.message : String(err);
      return new ConnectionLostError(`network error talking to ${endpoint}: ${detail}`, { cause: err });
    }
  }
}
