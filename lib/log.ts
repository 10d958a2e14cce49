/**
 * The library's logging hook. Nothing logs unless the caller passes a logger; the CLI passes
 * one for `--debug`, the Node-RED config node passes its own `debug`/`warn`. Log lines never
 * contain a PIN, key or credential.
 */
export interface Logger {
  debug(message: string): void;
  warn(message: string): void;
}

export const silentLogger: Logger = {
  debug() {},
  warn() {},
};
